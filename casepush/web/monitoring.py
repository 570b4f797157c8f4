"""What operators watch: a log line and metrics for every request, and ``GET /metrics`` for Prometheus.

``/metrics`` answers without credentials, as scrapers expect: it tells counts and timings by route
template, connector type and status, and nothing about cases, users or secrets.
"""

import logging
import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from casepush.metrics import UNMATCHED_ROUTE
from casepush.web.routing import Handler, Routes
from casepush.web.state import METRICS, PRINCIPAL, REQUEST_ID, SPACE, STORE

#: The request log: one line per request, never with headers, bodies or query strings (they may
#: hold credentials or search terms).
log = logging.getLogger("casepush.requests")

routes = Routes("service", spaced=False)


@routes.get("/metrics", response=str, media_type="text/plain")
async def get_metrics(request: web.Request) -> web.Response:
    """The service's metrics in Prometheus' text format."""
    exposition = request.app[METRICS].exposition(request.app[STORE].pool_usage())
    return web.Response(body=exposition, headers={"Content-Type": CONTENT_TYPE_LATEST})


def route_template(request: web.Request) -> str:
    """The path pattern the request matched (``/api/cases/{case_id}``), never the path itself."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED_ROUTE


@web.middleware
async def observed(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count and time every request and log it once it is answered (inside ``request_ids``, whose id
    the line carries; outside the error middleware, so that the status is the one sent)."""
    started = time.perf_counter()
    # Counted and logged as a 500 if something raises past the error middleware (or the handler is
    # cancelled): the client gets no proper answer then.
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        seconds = time.perf_counter() - started
        route = route_template(request)
        request.app[METRICS].observe_request(request.method, route, status, seconds)
        log_request(request, route, status, seconds)


def log_request(request: web.Request, route: str, status: int, seconds: float) -> None:
    fields = {
        "request_id": request[REQUEST_ID],
        "user": request[PRINCIPAL].user.username if PRINCIPAL in request else "-",
        "space": request[SPACE].id if SPACE in request else "-",
        "method": request.method,
        "route": route,
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
    }
    log.info(" ".join(f"{key}=%s" for key in fields), *fields.values(), extra=fields)
