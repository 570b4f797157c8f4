"""The aiohttp application factory."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from casepush.config import Settings
from casepush.domain.automatic_push import AutomaticPusher
from casepush.domain.connectors import ConnectorRuntime, preconfigured_connectors
from casepush.domain.inbound import InboundLimits, InboundWebhooks
from casepush.domain.polling import Poller
from casepush.domain.push import push_automatically
from casepush.http import OutboundClient, create_session
from casepush.metrics import Metrics
from casepush.plugins import PluginHost
from casepush.security.auth import Authenticator, ensure_superuser
from casepush.security.secrets import load_secret_box
from casepush.security.throttle import login_throttle
from casepush.store.backends import opened_store
from casepush.web import openapi
from casepush.web.api import ROUTE_GROUPS
from casepush.web.middleware import MIDDLEWARES
from casepush.web.state import (
    AUTHENTICATOR,
    CONNECTORS,
    INBOUND,
    METRICS,
    POLLER,
    PUSHER,
    SETTINGS,
    STORE,
)
from casepush.web.ui import site as ui

log = logging.getLogger(__name__)


def create_app(
    settings: Settings, announce: Callable[[str], None] = print, *, plugins: PluginHost
) -> web.Application:
    """Build the app with the loaded ``plugins``; ``announce`` shows the generated ``elastic`` password
    on first start."""
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=settings.max_payload_bytes)
    app[SETTINGS] = settings
    metrics = Metrics()
    app[METRICS] = metrics
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

    async def background_work(app: web.Application) -> AsyncIterator[None]:
        """The workers that run due automatic pushes and polls (each unless turned off), and the inbound
        webhooks' limits; the workers are stopped before the store and the client close."""
        store, rt = app[STORE], app[CONNECTORS]
        app[PUSHER] = AutomaticPusher(store, rt, settings, push_automatically)
        app[POLLER] = Poller(store, rt, settings)
        limits = InboundLimits(
            settings.sync_inbound_max_bytes, settings.sync_inbound_rate, settings.sync_inbound_max_age
        )
        app[INBOUND] = InboundWebhooks(rt, limits)
        running: list[tuple[AutomaticPusher | Poller, bool]] = [
            (app[PUSHER], settings.automatic_push_worker),
            (app[POLLER], settings.sync_poll_worker),
        ]
        workers = [asyncio.create_task(worker.run()) for worker, on in running if on]
        yield
        for worker in workers:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    app.cleanup_ctx.append(storage)
    app.cleanup_ctx.append(outbound)
    app.cleanup_ctx.append(background_work)
    for group in ROUTE_GROUPS:
        group.apply(app)
    ui.install(app)  # the web UI at /app: not API, so not in the OpenAPI document
    app[openapi.OPENAPI] = openapi.Document(ROUTE_GROUPS)
    return app
