"""Pages from Jinja2 templates (autoescaped), sealed cookies, flash messages and redirects."""

import time
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, NoReturn, TypeVar

import jinja2
import msgspec
from aiohttp import web

from casepush.domain import parse_iso, spaces
from casepush.errors import KibanaError
from casepush.security.authz import ACTIONS_FEATURE
from casepush.security.secrets import SecretsUnavailable
from casepush.types import Space
from casepush.web.state import CONNECTORS, PRINCIPAL, SPACE, context
from casepush.web.ui import SESSION

T = TypeVar("T")

FLASH_COOKIE = "casepush_flash"
#: Pages are never cached, framed, nor allowed to run or load anything but the UI's own files.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _link(url: str | None) -> str | None:
    """An external URL fit for ``href`` (http or https only: never ``javascript:``), else None."""
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None


def duration(seconds: float) -> str:
    """``0.5 s``, ``4 s``, ``3 min 20 s``, ``2 h 5 min``: a span of time in words."""
    if seconds < 60:
        return f"{round(max(0.0, seconds), 1):g} s"
    if seconds < 3600:
        minutes, rest = divmod(int(seconds), 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(int(seconds) // 60, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _from_now(iso: str | None) -> str:
    """How far from now a time is, as the page is made: ``in 4 s``, ``2 min ago``, ``now``."""
    if not iso:
        return ""
    seconds = (parse_iso(iso) - datetime.now(UTC)).total_seconds()
    if abs(seconds) < 1:
        return "now"
    return f"in {duration(round(seconds))}" if seconds > 0 else f"{duration(round(-seconds))} ago"


ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("casepush.web.ui"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters["link"] = _link
ENV.filters["when"] = lambda iso: (iso or "").replace("T", " ")[:19]
ENV.filters["from_now"] = _from_now
ENV.filters["duration"] = duration


def base_path(request: web.Request) -> str:
    """The space prefix of the UI's links: ``/s/{space_id}``, or nothing for the default space."""
    space_id = request.match_info.get("space_id", "default")
    return "" if space_id == "default" else f"/s/{space_id}"


def secure(request: web.Request) -> bool:
    """Whether the browser reached us over HTTPS (directly, or through a proxy that says so)."""
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


# --- sealed cookies ------------------------------------------------------------------------------------


def seal(request: web.Request, purpose: str, value: msgspec.Struct) -> str:
    """Encrypted and authenticated with the connector secrets' key, bound to ``purpose``."""
    return request.app[CONNECTORS].secrets.seal(purpose, msgspec.to_builtins(value))


def unseal(request: web.Request, purpose: str, token: str | None, type_: type[T]) -> T | None:
    """The sealed value, or None when the token is missing, forged, sealed for another purpose or stale."""
    if not token:
        return None
    try:
        return msgspec.convert(request.app[CONNECTORS].secrets.open(purpose, token), type_)
    except (SecretsUnavailable, msgspec.ValidationError):
        return None


def set_cookie(
    request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: float
) -> None:
    response.set_cookie(
        name, value, max_age=int(max_age), path="/", httponly=True, samesite="Lax", secure=secure(request)
    )


# --- flash messages ------------------------------------------------------------------------------------


class Flash(msgspec.Struct, frozen=True):
    """A message for the next page, after a redirect: ``kind`` is ``ok`` or ``error``."""

    kind: str
    text: str
    expires: float


_FLASH_PURPOSE = "casepush/ui-flash"
_FLASH_SECONDS = 60


def redirect(request: web.Request, path: str, flash: tuple[str, str] | None = None) -> NoReturn:
    """Answer ``303 See Other`` to a UI path (in the request's space), with a message for that page."""
    response = web.HTTPSeeOther(base_path(request) + path)
    if flash is not None:
        kind, text = flash
        token = seal(request, _FLASH_PURPOSE, Flash(kind, text[:1000], time.time() + _FLASH_SECONDS))
        set_cookie(request, response, FLASH_COOKIE, token, _FLASH_SECONDS)
    raise response


def _flash(request: web.Request) -> Flash | None:
    found = unseal(request, _FLASH_PURPOSE, request.cookies.get(FLASH_COOKIE), Flash)
    return found if found is not None and found.expires > time.time() else None


# --- pages ---------------------------------------------------------------------------------------------


async def _spaces(request: web.Request) -> list[Space]:
    """The spaces the user may enter, for the space switcher."""
    try:
        return await spaces.list_spaces(context(request))
    except KibanaError:
        return []


async def render(request: web.Request, template: str, status: int = 200, **values: Any) -> web.Response:
    """A page; it knows the user, the space, the session's CSRF token and the pending flash message."""
    signed_in = PRINCIPAL in request and SPACE in request
    flash = _flash(request) if FLASH_COOKIE in request.cookies else None
    page = {
        "base": base_path(request),
        "user": request[PRINCIPAL].user if signed_in else None,
        "space": request[SPACE] if signed_in else None,
        "spaces": await _spaces(request) if signed_in else [],
        "csrf": request[SESSION].csrf if SESSION in request else "",
        "sees_connectors": signed_in and ACTIONS_FEATURE in context(request).access.levels,
        "flash": flash,
    }
    body = ENV.get_template(template).render(page | values)
    response = web.Response(text=body, status=status, content_type="text/html", headers=HEADERS)
    if FLASH_COOKIE in request.cookies:
        response.del_cookie(FLASH_COOKIE, path="/")
    return response


async def error_page(request: web.Request, status: int, message: str) -> web.Response:
    return await render(request, "error.html", status, title=HTTPStatus(status).phrase, message=message)
