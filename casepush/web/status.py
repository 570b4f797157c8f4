"""``GET /api/status``, which answers without credentials: Kibana's status shape, with the database as
the core service and the loaded connector plugins as the plugins.

``version`` is Kibana's: the Kibana version whose API casepush follows (``CASEPUSH_KIBANA_VERSION``), as
clients gate features on it; casepush's own version is in ``casepush.version``.
"""

import asyncio
import logging
import time
from datetime import UTC, datetime

import msgspec
from aiohttp import web

from casepush import __version__
from casepush.domain import Store
from casepush.errors import bad_request
from casepush.plugins import PluginHost
from casepush.types import (
    CasepushInfo,
    CoreStatus,
    DatabaseCheck,
    DatabaseStatus,
    LegacyOverallStatus,
    LegacyServiceStatus,
    LegacyState,
    LegacyStatusInfo,
    LegacyStatusPage,
    OverallStatus,
    PluginInfo,
    PluginStatus,
    ServiceLevel,
    ServiceStatus,
    StatusLevel,
    VersionInfo,
)
from casepush.web import decode, responses
from casepush.web.routing import Routes
from casepush.web.state import CONNECTORS, SETTINGS, STORE

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

#: What Kibana reports for a build that is not one of its distributables (``packageInfo`` in its ``Env``):
#: casepush is no Kibana build, so it has no Kibana commit or build number; the date is the start's.
BUILD_HASH = "X" * 40
BUILD_NUMBER = 2**53 - 1
STARTED_AT = datetime.now(UTC)
SNAPSHOT_SUFFIX = "-SNAPSHOT"


class StatusQuery(msgspec.Struct, forbid_unknown_fields=True):
    """Kibana's format switches: the 8.x format unless ``v7format=true`` or ``v8format=false``."""

    v7format: bool | None = None
    v8format: bool | None = None

    @property
    def legacy(self) -> bool:
        return bool(self.v7format) or self.v8format is False


@routes.get("/api/status", query=StatusQuery, response=(ServiceStatus, LegacyStatusPage), errors=(503,))
async def get_status(request: web.Request) -> web.Response:
    """The server's name, Kibana version and status (``v7format=true``: in Kibana's 7.x format).

    The status is the overall one, the database's and the plugins'; casepush's own version is in
    ``casepush.version``.
    """
    params = decode.query(request, StatusQuery, decode.config_schema_message("request query"))
    if params.v7format is not None and params.v8format is not None:
        raise bad_request("[request query]: provide only one format option: v7format or v8format")
    database = await database_status(request.app[STORE])
    overall = StatusLevel(level=database.level, summary=OVERALL_SUMMARIES[database.level])
    status = OverallStatus(
        overall=overall,
        core=CoreStatus(database=database),
        plugins=plugin_statuses(request.app[CONNECTORS].plugins),
    )
    version = kibana_version(request.app[SETTINGS].kibana_version)
    own = CasepushInfo(version=__version__)
    page: ServiceStatus | LegacyStatusPage
    if params.legacy:
        page = LegacyStatusPage(
            name="casepush", version=version, casepush=own, status=legacy(status, version)
        )
    else:
        page = ServiceStatus(name="casepush", version=version, casepush=own, status=status)
    # As Kibana, 503 while a core service is unavailable: load balancers stop sending requests here.
    return responses.json(page, 200 if overall.level == "available" else 503)


def kibana_version(configured: str) -> VersionInfo:
    """Kibana's ``version`` object: a ``-SNAPSHOT`` suffix is dropped from the number and sets
    ``build_snapshot``, as Kibana does."""
    snapshot = configured.endswith(SNAPSHOT_SUFFIX)
    return VersionInfo(
        number=configured.removesuffix(SNAPSHOT_SUFFIX),
        build_hash=BUILD_HASH,
        build_number=BUILD_NUMBER,
        build_snapshot=snapshot,
        build_date=_iso(STARTED_AT),
    )


def _iso(moment: datetime) -> str:
    """JavaScript's ``toISOString``: milliseconds and ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


#: Kibana's 7.x rendering of each level: state, title, icon and colour, and the overall nickname.
LEGACY_LEVELS: dict[ServiceLevel, tuple[LegacyState, str, str, str]] = {
    "available": ("green", "Green", "success", "Looking good"),
    "degraded": ("yellow", "Yellow", "warning", "I'll be back"),
    "unavailable": ("red", "Red", "danger", "Danger Will Robinson! Danger!"),
    "critical": ("red", "Red", "danger", "Danger Will Robinson! Danger!"),
}


def legacy(status: OverallStatus, version: VersionInfo) -> LegacyStatusInfo:
    """The status in Kibana's 7.x format: the overall state, then each core service and plugin as
    ``core:<name>@<version>`` / ``plugin:<name>@<version>`` (Kibana's version for all, as Kibana does)."""
    since = _iso(datetime.now(UTC))
    state, title, icon, nickname = LEGACY_LEVELS[status.overall.level]
    overall = LegacyOverallStatus(
        since=since, state=state, title=title, nickname=nickname, icon=icon, uiColor=icon
    )
    services: list[tuple[str, StatusLevel]] = [
        *((f"core:{name}", service) for name, service in msgspec.structs.asdict(status.core).items()),
        *((f"plugin:{name}", service) for name, service in status.plugins.items()),
    ]
    return LegacyStatusInfo(
        overall=overall,
        statuses=[_legacy_service(f"{key}@{version.number}", service, since) for key, service in services],
    )


def _legacy_service(id_: str, service: StatusLevel, since: str) -> LegacyServiceStatus:
    state, _, icon, _ = LEGACY_LEVELS[service.level]
    return LegacyServiceStatus(
        id=id_, message=service.summary, since=since, state=state, icon=icon, uiColor=icon
    )


async def database_status(store: Store) -> DatabaseStatus:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(DATABASE_CHECK_TIMEOUT):
            await store.ping()
    except Exception as exc:
        # The reason goes to the log only: the page is public.
        log.warning("database check failed: %r", exc)
        level: ServiceLevel = "unavailable"
        summary = "The database does not answer"
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
