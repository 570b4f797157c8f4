"""Request ids, request logs and metrics, Kibana error bodies, authentication, the kbn-xsrf rule and the
space prefix."""

import logging
import re
import uuid
from http import HTTPStatus

from aiohttp import web

from casepush.errors import KibanaError, relayed
from casepush.security.auth import Failure
from casepush.security.authz import Principal
from casepush.security.throttle import Throttled
from casepush.types import ErrorBody
from casepush.web import responses
from casepush.web.decode import NUL_MESSAGE
from casepush.web.limits import bounded_body, client_address
from casepush.web.monitoring import observed
from casepush.web.routing import Handler
from casepush.web.state import AUTHENTICATOR, PRINCIPAL, REQUEST_ID, SPACE, STORE, space_of
from casepush.web.ui import is_ui_path, session

log = logging.getLogger("casepush.http")

#: Paths anyone may call.
PUBLIC_PATHS = frozenset({"/api/status", "/metrics", "/api/openapi.json"})
#: The schemes a client may answer a 401 with, as Elasticsearch offers them.
CHALLENGES = ('Basic realm="security", charset="UTF-8"', "ApiKey")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_REQUEST_ID = re.compile(r"^[\w.:-]{1,128}$")


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    response = responses.json(
        ErrorBody(statusCode=status, error=HTTPStatus(status).phrase, message=message), status
    )
    response.headers.update(headers or {})
    return response


@web.middleware
async def request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Honour a sane incoming ``X-Request-Id`` (or Kibana's ``X-Opaque-Id``), else make one."""
    incoming = request.headers.get("X-Request-Id") or request.headers.get("X-Opaque-Id") or ""
    request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    response = await handler(request)
    response.headers["X-Request-Id"] = request_id
    return response


@web.middleware
async def kibana_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes ``{statusCode, error, message}``; a 5xx is logged, never explained."""
    try:
        return await handler(request)
    except KibanaError as exc:
        if exc.status >= 500:
            log.error("request %s failed: %s", request[REQUEST_ID], exc.message)
        return error_response(exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # Kibana answers 404 for a known path with an unknown method, too.
        status = 404 if exc.status == 405 else exc.status
        return error_response(status, HTTPStatus(status).phrase)
    except Exception:
        log.exception("request %s %s %s failed", request[REQUEST_ID], request.method, request.path)
        return error_response(500, "An internal server error occurred.")


@web.middleware
async def no_nul(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A path or query naming a NUL character is refused (bodies are checked as they are decoded)."""
    if "\x00" in request.path or "\x00" in request.query_string:
        return error_response(400, NUL_MESSAGE)
    return await handler(request)


@web.middleware
async def authentication(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Basic or ApiKey credentials on every path but the public ones; Kibana's 401 otherwise."""
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    if is_ui_path(request.path):  # the web UI signs in with a form and a session cookie
        return await session.authentication(request, handler)
    authorization = request.headers.get("Authorization")
    found = await request.app[AUTHENTICATOR].authenticate(authorization, client_address(request))
    if isinstance(found, Principal):
        request[PRINCIPAL] = found
        return await handler(request)
    if isinstance(found, Throttled):
        return error_response(429, found.message, {"Retry-After": str(found.seconds)})
    message = "Unauthorized"
    if isinstance(found, Failure):
        # Kibana relays Elasticsearch's refusal in the ES client's words.
        message = relayed("security_exception", found.reason(request.path_qs))
    response = error_response(401, message)
    for challenge in CHALLENGES:
        response.headers.add("WWW-Authenticate", challenge)
    return response


@web.middleware
async def xsrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    if is_ui_path(request.path):  # the web UI's forms carry a CSRF token instead
        return await session.csrf(request, handler)
    if request.method in WRITE_METHODS and "kbn-xsrf" not in request.headers:
        return error_response(400, "Request must contain a kbn-xsrf header.")
    return await handler(request)


@web.middleware
async def spaces(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``/s/{space_id}`` must name an existing space; handlers see it (and its disabled features)."""
    if PRINCIPAL not in request:
        return await handler(request)
    async with request.app[STORE].read() as tx:
        space = await tx.get_space(space_of(request))
    if space is None:
        return error_response(404, "Not Found")
    request[SPACE] = space
    return await handler(request)


MIDDLEWARES = (request_ids, observed, kibana_errors, no_nul, authentication, bounded_body, xsrf, spaces)
