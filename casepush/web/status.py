"""``GET /api/status``: the one route that answers without credentials."""

from aiohttp import web

from casepush import __version__
from casepush.types import OverallStatus, ServiceStatus, StatusLevel, VersionInfo
from casepush.web import responses
from casepush.web.routing import Routes

routes = Routes(spaced=False)


@routes.get("/api/status")
async def get_status(request: web.Request) -> web.Response:
    status = ServiceStatus(
        name="casepush",
        version=VersionInfo(number=__version__),
        status=OverallStatus(StatusLevel("available")),
    )
    return responses.json(status)
