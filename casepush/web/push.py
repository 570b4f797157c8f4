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
    """Push a case to a connector's external system (``dry_run=true``: only answer what would be sent).

    When the connector's case sync settings push the status or assignees too and that part fails, the
    answer is still the pushed case, with a ``Warning`` header saying what failed.
    """
    params = decode.query(request, PushQuery)
    if request.can_read_body:
        # Kibana ignores the body (clients send ``{}``), but it must be JSON.
        await decode.body(request, object)
    ctx, rt = context(request), request.app[CONNECTORS]
    case_id, connector_id = request.match_info["case_id"], request.match_info["connector_id"]
    if params.dry_run:
        return responses.json(await push.dry_run(ctx, rt, case_id, connector_id))
    pushed = await push.push(ctx, rt, case_id, connector_id)
    response = responses.json(pushed.case)
    if pushed.state_failure is not None:
        # Kibana's part of the push is made and saved: its answer stands, and says what casepush's could not.
        response.headers["Warning"] = warning(pushed.state_failure.message)
    return response


def warning(message: str) -> str:
    """An HTTP ``Warning`` header (code 199, "miscellaneous"): its text quoted, on one line."""
    text = " ".join(message.split()).replace("\\", "\\\\").replace('"', '\\"')
    return f'199 casepush "{text}"'
