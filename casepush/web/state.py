"""Typed app state and the per-request context handed to the domain layer."""

from aiohttp import web

from casepush.config import Settings
from casepush.domain import Context, Store
from casepush.domain.automatic_push import AutomaticPusher
from casepush.domain.connectors import ConnectorRuntime
from casepush.domain.inbound import InboundWebhooks
from casepush.domain.polling import Poller
from casepush.metrics import Metrics
from casepush.security.auth import Authenticator
from casepush.security.authz import Principal
from casepush.types import Space

SETTINGS = web.AppKey("settings", Settings)
CONNECTORS = web.AppKey("connectors", ConnectorRuntime)
STORE = web.AppKey("store", Store)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
METRICS = web.AppKey("metrics", Metrics)
PUSHER = web.AppKey("pusher", AutomaticPusher)
POLLER = web.AppKey("poller", Poller)
INBOUND = web.AppKey("inbound", InboundWebhooks)

#: Request keys set by the middleware.
REQUEST_ID = web.RequestKey("request_id", str)
PRINCIPAL = web.RequestKey("principal", Principal)
SPACE = web.RequestKey("space", Space)

DEFAULT_SPACE = "default"


def space_of(request: web.Request) -> str:
    return request.match_info.get("space_id", DEFAULT_SPACE)


def context(request: web.Request) -> Context:
    principal, space = request[PRINCIPAL], request[SPACE]
    return Context(
        store=request.app[STORE],
        space_id=space.id,
        principal=principal,
        access=principal.access(space.id, space.disabledFeatures),
        connector_types=request.app[CONNECTORS].plugins.types,
    )
