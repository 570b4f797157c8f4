"""Handler of Kibana's push: ``POST /api/cases/{case_id}/connector/{connector_id}/_push``."""

import msgspec
from aiohttp import web

from casepush.domain import push
from casepush.web import decode, responses
from casepush.web.routing import Routes
from casepush.web.state import CONNECTORS, context

routes = Routes()


class PushQuery(msgspec.Struct, forbid_unknown_fields=True):
    #: casepush's own: answer what would be sent, and send and write nothing.
    dry_run: bool = False


@routes.post("/api/cases/{case_id}/connector/{connector_id}/_push")
async def push_case(request: web.Request) -> web.Response:
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
