"""The aiohttp application factory."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from casepush.config import Settings
from casepush.domain.automatic_push import AutomaticPusher
from casepush.domain.connectors import ConnectorRuntime, preconfigured_connectors
from casepush.domain.push import push_automatically
from casepush.http import OutboundClient, create_session
from casepush.metrics import Metrics
from casepush.plugins import PluginHost, load_plugins
from casepush.security.auth import Authenticator, ensure_superuser
from casepush.security.secrets import load_secret_box
from casepush.security.throttle import login_throttle
from casepush.store.backends import opened_store
from casepush.web import (
    automatic_push,
    case_connectors,
    cases,
    comments,
    configure,
    connectors,
    monitoring,
    openapi,
    push,
    security,
    spaces,
    status,
    user_actions,
)
from casepush.web.middleware import MIDDLEWARES
from casepush.web.state import AUTHENTICATOR, CONNECTORS, METRICS, PUSHER, SETTINGS, STORE
from casepush.web.ui import site as ui

log = logging.getLogger(__name__)

#: Route groups in registration order: fixed paths before ``/api/cases/{case_id}``.
ROUTE_GROUPS = (
    status.routes,
    monitoring.routes,
    openapi.routes,
    spaces.routes,
    security.routes,
    security.elasticsearch_routes,
    connectors.routes,
    push.routes,
    case_connectors.routes,
    configure.routes,
    cases.routes,
    comments.routes,
    user_actions.routes,
    automatic_push.routes,
)


def create_app(
    settings: Settings, announce: Callable[[str], None] = print, plugins: PluginHost | None = None
) -> web.Application:
    """Build the app; ``announce`` shows the generated ``elastic`` password on first start.

    ``plugins`` defaults to the installed ones (``CASEPUSH_LOAD_PLUGINS`` narrows them).
    """
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=settings.max_payload_bytes)
    app[SETTINGS] = settings
    metrics = Metrics()
    app[METRICS] = metrics
    plugins = plugins if plugins is not None else load_plugins(settings.load_plugins)
    allowed_hosts = tuple(settings.allowed_hosts)
    preconfigured = preconfigured_connectors(plugins, settings.preconfigured, allowed_hosts)

    async def storage(app: web.Application) -> AsyncIterator[None]:
        async with opened_store(settings) as store:
            app[STORE] = store
            app[AUTHENTICATOR] = Authenticator(store, throttle=login_throttle(settings, store))
            generated = await ensure_superuser(store, settings.elastic_password)
            if generated is not None:
                announce(f"Generated password for the elastic user: {generated}")
            yield

    async def outbound(app: web.Application) -> AsyncIterator[None]:
        """One client session for every connector call of the app."""
        async with create_session() as session:
            app[CONNECTORS] = ConnectorRuntime(
                plugins=plugins,
                secrets=load_secret_box(settings),
                http=OutboundClient.from_settings(session, settings, metrics),
                allowed_hosts=allowed_hosts,
                preconfigured=preconfigured,
                metrics=metrics,
                public_base_url=settings.public_base_url,
                push_lease=settings.push_lease,
            )
            yield

    async def automatic_pushes(app: web.Application) -> AsyncIterator[None]:
        """The worker that runs due automatic pushes, stopped before the store and the client close."""
        pusher = AutomaticPusher(app[STORE], app[CONNECTORS], settings, push_automatically)
        app[PUSHER] = pusher
        worker = asyncio.create_task(pusher.run()) if settings.automatic_push_worker else None
        yield
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    app.cleanup_ctx.append(storage)
    app.cleanup_ctx.append(outbound)
    app.cleanup_ctx.append(automatic_pushes)
    for group in ROUTE_GROUPS:
        group.apply(app)
    ui.install(app)  # the web UI at /app: not API, so not in the OpenAPI document
    app[openapi.OPENAPI] = openapi.Document(ROUTE_GROUPS)
    return app
