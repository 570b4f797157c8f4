"""Handler of Kibana's push: ``POST /api/cases/{case_id}/connector/{connector_id}/_push``."""

import msgspec
from aiohttp import web

from casepush.domain import push
from casepush.domain.push import DryRun
from casepush.types import Case
from casepush.web import decode, responses
from casepush.web.routing import Routes
from casepush.web.state import CONNECTORS, context

routes = Routes("push")


class PushQuery(msgspec.Struct):
    """Kibana's push route validates no query, so any other key is accepted and ignored."""

    #: casepush's own: answer what would be sent, and send and write nothing.
    dry_run: bool = False


@routes.post(
    "/api/cases/{case_id}/connector/{connector_id}/_push",
    query=PushQuery,
    response=(Case, DryRun),
    errors=(403, 404, 409, 424),
)
async def push_case(request: web.Request) -> web.Response:
    """Push a case to a connector's external system (``dry_run=true``: only answer what would be sent)."""
    params = decode.query(request, PushQuery)
    if request.can_read_body:
        # Kibana ignores the body (clients send ``{}``), but it must be JSON.
        await decode.body(request, object)
    pushed = await push.push(
        context(request),
        request.app[CONNECTORS],
        request.match_info["case_id"],
        request.match_info["connector_id"],
        dry_run=params.dry_run,
    )
    return responses.json(pushed)
