"""Signing in to the UI: a login form checked by the API's authenticator (the same password check,
credential cache and login throttle as Basic auth), a sealed session cookie, and a CSRF token in every form.

The session lives in the cookie, sealed with the server's encryption key, so that every instance
sharing the key (and the database) accepts it and nothing is stored per login. Signing out deletes the
cookie; a copy of it stays valid until it expires, or until the user's password changes or the user is
disabled or deleted, which each request checks.
"""

import hmac
import secrets
import time

from aiohttp import web
from yarl import URL

from casepush.security.auth import current_password_tag, session_principal
from casepush.security.authz import Principal
from casepush.security.throttle import Throttled
from casepush.web.limits import client_address
from casepush.web.routing import Handler
from casepush.web.state import AUTHENTICATOR, PRINCIPAL, SETTINGS, STORE
from casepush.web.ui import SESSION, UI_PATH, Session
from casepush.web.ui.render import base_path, error_page, seal, set_cookie, unseal

SESSION_COOKIE = "casepush_session"
#: Holds the login form's CSRF token until there is a session (a double-submit cookie).
LOGIN_COOKIE = "casepush_login"
LOGIN_COOKIE_SECONDS = 3600
CSRF_FIELD = "csrf"
#: Sealed tokens are bound to this; no connector id (whose sealed secrets share the key) has a ``/``.
_PURPOSE = "casepush/ui-session"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _rest(request: web.Request) -> str:
    """The path within the UI: ``/cases`` for ``/s/x/app/cases``."""
    match = UI_PATH.match(request.path)
    return (match["rest"] if match else None) or "/"


def _open_to_all(request: web.Request) -> bool:
    rest = _rest(request)
    return rest == "/login" or rest.startswith("/static/")


# --- the middleware's hooks --------------------------------------------------------------------------


async def authentication(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The signed-in user of a UI request, from the session cookie; others go to the login page."""
    if _open_to_all(request):
        return await handler(request)
    found = await _signed_in(request)
    if found is None:
        raise web.HTTPSeeOther(login_url(request))
    request[SESSION], request[PRINCIPAL] = found
    return await handler(request)


async def csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every UI form posts its session's token (the login form: its cookie's); others get a 403."""
    if request.method in _SAFE_METHODS:
        return await handler(request)
    form = await request.post()
    expected = request[SESSION].csrf if SESSION in request else request.cookies.get(LOGIN_COOKIE)
    sent = form.get(CSRF_FIELD)
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        message = "This form has expired or did not come from this site. Reload the page and try again."
        return await error_page(request, 403, message)
    return await handler(request)


# --- sessions ------------------------------------------------------------------------------------------


async def _signed_in(request: web.Request) -> tuple[Session, Principal] | None:
    """The session and its user as they are now (roles re-read), or None if it no longer holds."""
    session = unseal(request, _PURPOSE, request.cookies.get(SESSION_COOKIE), Session)
    if session is None or session.expires <= time.time():
        return None
    principal = await session_principal(request.app[STORE], session.username, session.password)
    return None if principal is None else (session, principal)


def login_url(request: web.Request) -> str:
    """The login page, asked to come back here afterwards (to a page: a form's target is no page)."""
    login = URL(base_path(request) + "/app/login")
    return str(login.with_query(next=request.path_qs) if request.method == "GET" else login)


async def check_password(request: web.Request, username: str, password: str) -> str | Throttled | None:
    """The password's tag, if the password is the user's: the API's Basic check, with its cache and its
    throttle."""
    found = await request.app[AUTHENTICATOR].login(username, password, client_address(request))
    if isinstance(found, Throttled):
        return found
    if not isinstance(found, Principal):
        return None
    return await current_password_tag(request.app[STORE], username)


def start(request: web.Request, response: web.StreamResponse, username: str, password_tag: str) -> None:
    """Set a new session's cookie (and a new CSRF token) on the response."""
    timeout = request.app[SETTINGS].ui_session_timeout
    session = Session(
        username=username,
        expires=time.time() + timeout,
        password=password_tag,
        csrf=secrets.token_urlsafe(24),
    )
    set_cookie(request, response, SESSION_COOKIE, seal(request, _PURPOSE, session), timeout)
    response.del_cookie(LOGIN_COOKIE, path="/")


def end(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")


def login_token(request: web.Request) -> str:
    """The login form's CSRF token: its cookie's, or a new one (``keep_login_token`` sets it)."""
    return request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)


def keep_login_token(request: web.Request, response: web.StreamResponse, token: str) -> None:
    set_cookie(request, response, LOGIN_COOKIE, token, LOGIN_COOKIE_SECONDS)
