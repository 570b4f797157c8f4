"""``GET /api/status``, which answers without credentials: Kibana's status shape, with the database as
the core service and the loaded connector plugins as the plugins."""

import asyncio
import logging
import time

from aiohttp import web

from casepush import __version__
from casepush.plugins import PluginHost
from casepush.store import Store
from casepush.types import (
    CoreStatus,
    DatabaseCheck,
    DatabaseStatus,
    OverallStatus,
    PluginInfo,
    PluginStatus,
    ServiceStatus,
    StatusLevel,
    VersionInfo,
)
from casepush.web import responses
from casepush.web.routing import Routes
from casepush.web.state import CONNECTORS, STORE

log = logging.getLogger(__name__)

#: Seconds the database may take to answer the check before it counts as unavailable: a probe calling
#: the status page must get its answer before its own timeout.
DATABASE_CHECK_TIMEOUT = 2.0
#: The overall summary by the database's level (the plugins are always available).
OVERALL_SUMMARIES = {
    "available": "All services and plugins are available",
    "unavailable": "The database is unavailable",
}

routes = Routes("service", spaced=False)


@routes.get("/api/status", response=ServiceStatus, errors=(503,))
async def get_status(request: web.Request) -> web.Response:
    """The server's name, version and status: overall, the database's and the plugins'."""
    database = await database_status(request.app[STORE])
    overall = StatusLevel(level=database.level, summary=OVERALL_SUMMARIES[database.level])
    status = ServiceStatus(
        name="casepush",
        version=VersionInfo(number=__version__),
        status=OverallStatus(
            overall=overall,
            core=CoreStatus(database=database),
            plugins=plugin_statuses(request.app[CONNECTORS].plugins),
        ),
    )
    # As Kibana, 503 while a core service is unavailable: load balancers stop sending requests here.
    return responses.json(status, 200 if overall.level == "available" else 503)


async def database_status(store: Store) -> DatabaseStatus:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(DATABASE_CHECK_TIMEOUT):
            await store.ping()
    except Exception as exc:
        # The reason goes to the log only: the page is public.
        log.warning("database check failed: %r", exc)
        level, summary = "unavailable", "The database does not answer"
    else:
        level, summary = "available", "The database answers"
    check = DatabaseCheck(latency_ms=round((time.perf_counter() - started) * 1000, 3))
    return DatabaseStatus(level=level, summary=summary, meta=check)


def plugin_statuses(plugins: PluginHost) -> dict[str, PluginStatus]:
    """Every loaded plugin by name; a plugin that failed to load stops the start, so all are available."""
    return {
        plugin.name: PluginStatus(
            level="available",
            summary="Loaded",
            meta=PluginInfo(version=plugin.version, connector_types=plugin.connector_types),
        )
        for plugin in plugins.installed()
    }
