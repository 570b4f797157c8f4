"""The aiohttp application factory."""

import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from casepush.config import Settings
from casepush.security.auth import Authenticator, ensure_superuser
from casepush.store import Store
from casepush.store.sqlite import SqliteStore
from casepush.web import cases, comments, configure, security, spaces, status, user_actions
from casepush.web.middleware import MAX_PAYLOAD_BYTES, MIDDLEWARES
from casepush.web.state import AUTHENTICATOR, SETTINGS, STORE

log = logging.getLogger(__name__)

#: Route groups in registration order: fixed paths before ``/api/cases/{case_id}``.
ROUTE_GROUPS = (
    status.routes,
    spaces.routes,
    security.routes,
    security.elasticsearch_routes,
    configure.routes,
    cases.routes,
    comments.routes,
    user_actions.routes,
)


def open_store(settings: Settings) -> Store:
    return SqliteStore(settings.sqlite_path)


def create_app(settings: Settings, announce: Callable[[str], None] = print) -> web.Application:
    """Build the app; ``announce`` shows the generated ``elastic`` password on first start."""
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=MAX_PAYLOAD_BYTES)
    app[SETTINGS] = settings

    async def storage(app: web.Application) -> AsyncIterator[None]:
        store = open_store(settings)
        await store.open()
        app[STORE] = store
        app[AUTHENTICATOR] = Authenticator(store)
        generated = await ensure_superuser(store, settings.elastic_password)
        if generated is not None:
            announce(f"Generated password for the elastic user: {generated}")
        yield
        await store.close()

    app.cleanup_ctx.append(storage)
    for group in ROUTE_GROUPS:
        group.apply(app)
    return app
