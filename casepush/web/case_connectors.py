"""Handler of Kibana's internal ``/internal/cases/{case_id}/_connectors``, which its case view reads to
show each connector of a case and whether the case needs pushing to it."""

from aiohttp import web

from casepush.domain import case_connectors
from casepush.types import CaseConnectorEntry
from casepush.web import responses
from casepush.web.routing import Routes
from casepush.web.state import CONNECTORS, context

routes = Routes("push")


@routes.get(
    "/internal/cases/{case_id}/_connectors", response=dict[str, CaseConnectorEntry], errors=(403, 404)
)
async def get_case_connectors(request: web.Request) -> web.Response:
    """The case's connectors by id, and whether the case needs pushing to each."""
    found = await case_connectors.get(
        context(request), request.app[CONNECTORS], request.match_info["case_id"]
    )
    return responses.json(found)
