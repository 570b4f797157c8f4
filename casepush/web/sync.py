"""Handlers of case sync: a connector's settings both ways, its two-way sync state, its inbound webhook
(``/api/casepush/...``, casepush's own), and Kibana's ``POST /api/cases/{case_id}/_sync``."""

from aiohttp import web

from casepush.domain import acting_context, case_sync, polling, sync
from casepush.domain.spaces import find_space
from casepush.errors import not_found
from casepush.types import Case, CaseSync, CaseSyncRequest, ConnectorSyncState, InboundResult
from casepush.web import decode, responses
from casepush.web.limits import read_body
from casepush.web.routing import Routes
from casepush.web.state import CONNECTORS, INBOUND, POLLER, SETTINGS, STORE, context, space_of

routes = Routes("case sync")

CASE_SYNC_PATH = "/api/casepush/connectors/{connector_id}/case_sync"
SYNC_STATE_PATH = "/api/casepush/connectors/{connector_id}/sync_state"


@routes.get(CASE_SYNC_PATH, response=CaseSync, errors=(403, 404))
async def get_case_sync(request: web.Request) -> web.Response:
    """What pushes to a connector send beyond Kibana's fields, what comes back from its system, how."""
    found = await case_sync.get_case_sync(
        context(request), request.app[CONNECTORS], request.match_info["connector_id"]
    )
    return responses.json(found)


@routes.put(CASE_SYNC_PATH, body=CaseSyncRequest, response=CaseSync, errors=(403, 404))
async def put_case_sync(request: web.Request) -> web.Response:
    """Set what pushes to a connector send, what comes back from its system (by its inbound webhook's
    secret, or polls), and the type's options."""
    body = await decode.body(request, CaseSyncRequest)
    saved = await case_sync.put_case_sync(
        context(request), request.app[CONNECTORS], request.match_info["connector_id"], body
    )
    return responses.json(saved)


@routes.get(SYNC_STATE_PATH, response=ConnectorSyncState, errors=(403, 404))
async def get_sync_state(request: web.Request) -> web.Response:
    """A connector's two-way sync: its last inbound call and poll, their errors, the next poll."""
    found = await polling.sync_state(
        context(request), request.app[CONNECTORS], request.match_info["connector_id"]
    )
    return responses.json(found)


@routes.post(f"{SYNC_STATE_PATH}/_poll", response=ConnectorSyncState, errors=(403, 404))
async def poll_now(request: web.Request) -> web.Response:
    """Poll a connector's system for changes now rather than at its next interval."""
    found = await polling.poll_now(
        context(request), request.app[CONNECTORS], request.match_info["connector_id"], request.app.get(POLLER)
    )
    return responses.json(found)


@routes.post(
    "/api/casepush/connectors/{connector_id}/inbound",
    response=InboundResult,
    errors=(401, 404, 413, 429, 502, 503),
)
async def inbound(request: web.Request) -> web.Response:
    """Take a call of the connector's system: the changes of incidents casepush pushed (two-way sync).

    Called by the external system (a Jira webhook, a ServiceNow business rule...) with no casepush
    credentials: the connector's inbound secret authenticates the call as its type says (a signature of
    the raw body, or a bearer token). Each change is applied once.
    """
    store = request.app[STORE]
    space = await find_space(store, space_of(request))
    if space is None:
        raise not_found("Not Found")
    rt, settings = request.app[CONNECTORS], request.app[SETTINGS]
    ctx = acting_context(store, space, sync.external_user(None, "casepush"), rt.plugins.types)

    async def read(limit: int) -> bytes:
        return await read_body(request, limit, settings.payload_timeout)

    result = await request.app[INBOUND].receive(
        ctx, request.match_info["connector_id"], request.headers, read
    )
    return responses.json(result)


@routes.post("/api/cases/{case_id}/_sync", response=Case, errors=(403, 404, 424))
async def sync_case(request: web.Request) -> web.Response:
    """Sync a case from its external incident: bring its status, title and description (and comments,
    as the connector's case sync settings say) now."""
    if request.can_read_body:
        await decode.body(request, object)  # Kibana takes no body; one sent must be JSON
    synced = await sync.sync_case(context(request), request.app[CONNECTORS], request.match_info["case_id"])
    return responses.json(synced)
