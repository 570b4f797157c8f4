"""Signing in and out of the UI."""

from aiohttp import web

from casepush.security.throttle import Throttled
from casepush.web.ui import UI_PATH, session
from casepush.web.ui.render import base_path, redirect, render
from casepush.web.ui.routing import Pages

pages = Pages()


def _after_login(request: web.Request, wanted: str) -> str:
    """Where the login sends the user: the UI page they asked for (never another site), else the cases."""
    path = wanted.split("?", 1)[0]
    if (
        wanted.isprintable()
        and wanted.startswith("/")
        and not wanted.startswith("//")
        and UI_PATH.match(path)
    ):
        return wanted
    return base_path(request) + "/app/cases"


async def _login_page(
    request: web.Request, status: int = 200, message: str | None = None, username: str = "", wanted: str = ""
) -> web.Response:
    token = session.login_token(request)
    response = await render(
        request,
        "login.html",
        status,
        csrf=token,
        message=message,
        username=username,
        next=wanted or request.query.get("next", ""),
    )
    session.keep_login_token(request, response, token)
    return response


@pages.get("/app/login")
async def login_form(request: web.Request) -> web.Response:
    return await _login_page(request)


@pages.post("/app/login")
async def login(request: web.Request) -> web.Response:
    form = await request.post()
    username, password, wanted = (str(form.get(name, "")) for name in ("username", "password", "next"))
    checked = await session.check_password(request, username, password)
    if isinstance(checked, Throttled):
        page = await _login_page(request, 429, f"{checked.message}.", username, wanted)
        page.headers["Retry-After"] = str(checked.seconds)
        return page
    if checked is None:
        return await _login_page(request, 401, "Wrong username or password.", username, wanted)
    response = web.HTTPSeeOther(_after_login(request, wanted))
    session.start(request, response, username, checked)
    raise response


@pages.post("/app/logout")
async def logout(request: web.Request) -> web.Response:
    response = web.HTTPSeeOther(base_path(request) + "/app/login")
    session.end(response)
    raise response


@pages.get("/app")
@pages.get("/app/")
async def home(request: web.Request) -> web.Response:
    redirect(request, "/app/cases")
