"""Request ids, request logs and metrics, Kibana error bodies (Elasticsearch's on its paths),
authentication, the kbn-xsrf rule and the space prefix."""

import logging
import re
import uuid
from http import HTTPStatus

from aiohttp import web

from casepush.domain.spaces import find_space
from casepush.errors import KibanaError, relayed
from casepush.security.auth import Failure
from casepush.security.authz import Principal
from casepush.security.throttle import Throttled
from casepush.types import ErrorBody
from casepush.web import elasticsearch, responses
from casepush.web.decode import NUL_MESSAGE
from casepush.web.limits import bounded_body, client_address
from casepush.web.monitoring import observed
from casepush.web.routing import Handler, is_inbound_path
from casepush.web.state import AUTHENTICATOR, PRINCIPAL, REQUEST_ID, SPACE, STORE, space_of
from casepush.web.ui import is_ui_path, session

log = logging.getLogger("casepush.http")

#: Paths anyone may call.
PUBLIC_PATHS = frozenset({"/api/status", "/metrics", "/api/openapi.json"})
#: The schemes a client may answer a 401 with, as Elasticsearch offers them.
CHALLENGES = ('Basic realm="security", charset="UTF-8"', "ApiKey")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Elasticsearch's 401 when no credentials came.
MISSING_CREDENTIALS = "missing authentication credentials for REST request [{}]"
_REQUEST_ID = re.compile(r"^[\w.:-]{1,128}$")


def error_response(
    request: web.BaseRequest,
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    kind: str | None = None,
) -> web.Response:
    """Kibana's error body, or Elasticsearch's on its paths (of exception type ``kind``)."""
    if elasticsearch.is_elasticsearch_path(request.path):
        response = responses.json(elasticsearch.error_body(status, message, kind), status)
        response[elasticsearch.IS_ERROR] = True
    else:
        body = ErrorBody(statusCode=status, error=HTTPStatus(status).phrase, message=message)
        response = responses.json(body, status)
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
        return error_response(request, exc.status, exc.message, exc.headers, kind=exc.kind)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status in (404, 405) and elasticsearch.is_elasticsearch_path(request.path):
            body = elasticsearch.routing_error_body(request, exc)
            response = responses.json(body, body.status)
            if exc.status == 405:
                response.headers["Allow"] = exc.headers["Allow"]
            return response
        # Kibana answers 404 for a known path with an unknown method, too.
        status = 404 if exc.status == 405 else exc.status
        return error_response(request, status, HTTPStatus(status).phrase)
    except Exception:
        log.exception("request %s %s %s failed", request[REQUEST_ID], request.method, request.path)
        return error_response(request, 500, "An internal server error occurred.")


@web.middleware
async def no_nul(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A path or query naming a NUL character is refused (bodies are checked as they are decoded)."""
    if "\x00" in request.path or "\x00" in request.query_string:
        return error_response(request, 400, NUL_MESSAGE)
    return await handler(request)


@web.middleware
async def authentication(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Basic or ApiKey credentials on every path but the public ones; Kibana's 401 otherwise."""
    if is_public(request.path):
        return await handler(request)
    if is_ui_path(request.path):  # the web UI signs in with a form and a session cookie
        return await session.authentication(request, handler)
    authorization = request.headers.get("Authorization")
    found = await request.app[AUTHENTICATOR].authenticate(authorization, client_address(request))
    if isinstance(found, Principal):
        request[PRINCIPAL] = found
        return await handler(request)
    if isinstance(found, Throttled):
        return error_response(request, 429, found.message, {"Retry-After": str(found.seconds)})
    return unauthorized(request, found)


def is_public(path: str) -> bool:
    """Paths anyone may call (an inbound webhook checks its caller itself)."""
    return path in PUBLIC_PATHS or is_inbound_path(path)


def unauthorized(request: web.Request, failure: Failure | None) -> web.Response:
    """The 401 for missing (``failure`` None) or refused credentials, with both challenges: in
    Elasticsearch's words on its paths (the challenges repeated in the body), relayed in them by Kibana
    elsewhere."""
    if elasticsearch.is_elasticsearch_path(request.path):
        reason = failure.reason(request.path_qs) if failure else MISSING_CREDENTIALS.format(request.path_qs)
        body = elasticsearch.error_body(401, reason, header={"WWW-Authenticate": list(CHALLENGES)})
        response = responses.json(body, 401)
        response[elasticsearch.IS_ERROR] = True
    else:
        message = (
            relayed("security_exception", failure.reason(request.path_qs)) if failure else "Unauthorized"
        )
        response = error_response(request, 401, message)
    for challenge in CHALLENGES:
        response.headers.add("WWW-Authenticate", challenge)
    return response


@web.middleware
async def xsrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    if is_ui_path(request.path):  # the web UI's forms carry a CSRF token instead
        return await session.csrf(request, handler)
    # Elasticsearch's paths have no such header, nor do inbound webhooks' callers: they take no cookie a
    # forged request could ride on.
    if elasticsearch.is_elasticsearch_path(request.path) or is_inbound_path(request.path):
        return await handler(request)
    if request.method in WRITE_METHODS and "kbn-xsrf" not in request.headers:
        return error_response(request, 400, "Request must contain a kbn-xsrf header.")
    return await handler(request)


@web.middleware
async def spaces(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``/s/{space_id}`` must name an existing space; handlers see it (and its disabled features)."""
    if PRINCIPAL not in request:
        return await handler(request)
    space = await find_space(request.app[STORE], space_of(request))
    if space is None:
        return error_response(request, 404, "Not Found")
    request[SPACE] = space
    return await handler(request)


MIDDLEWARES = (
    request_ids,
    observed,
    elasticsearch.answers,
    kibana_errors,
    no_nul,
    authentication,
    bounded_body,
    xsrf,
    spaces,
)
