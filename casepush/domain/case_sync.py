"""A connector's case sync settings: what a push sends beyond Kibana's fields (status, assignees), what
comes back from the external system (two-way sync: status, comments, title, description), how it comes
(the inbound webhook's secret, the poll interval) and the type's options (its status mapping, both
ways)."""

import time

import msgspec
from msgspec import UNSET

from casepush.connectors import (
    ASSIGNEES,
    COMMENTS,
    DESCRIPTION,
    STATUS,
    TITLE,
    CaseAssignee,
    CaseState,
    Connector,
    ConnectorType,
)
from casepush.domain import Context
from casepush.domain.connectors import ConnectorRuntime, ensure_actions, load
from casepush.errors import bad_request
from casepush.security.authz import Level
from casepush.store import Tx
from casepush.types import Case, CaseSync, CaseSyncRequest

#: What comes back when the settings leave it out: Kibana's default field rules of ``_sync``.
PULLED_BY_DEFAULT = frozenset({STATUS, TITLE, DESCRIPTION})
#: The settings' flag of each part that can come back.
PULL_FLAGS = {
    STATUS: "pull_status",
    COMMENTS: "pull_comments",
    TITLE: "pull_title",
    DESCRIPTION: "pull_description",
}
#: Polls are at least this far apart, and at most a day.
MIN_POLL_INTERVAL, MAX_POLL_INTERVAL = 10.0, 86_400.0
#: An inbound secret is at least this long: it is all that authenticates the calls.
MIN_SECRET_LENGTH = 16


def inbound_secret_owner(space_id: str, connector_id: str) -> str:
    """What an inbound secret is sealed for: it opens for that connector's webhook only."""
    return f"{space_id}/{connector_id}/inbound"


async def case_connector(ctx: Context, rt: ConnectorRuntime, tx: Tx, connector_id: str) -> Connector:
    """The connector, which must exist in the space and serve cases."""
    connector = await load(ctx, rt, connector_id, tx)
    if "cases" not in connector.type.supported_feature_ids:
        raise bad_request(f'Connector type "{connector.type.id}" does not support cases')
    return connector


def pulled(connector_type: ConnectorType, sync: CaseSyncRequest | None) -> frozenset[str]:
    """What comes back from the type's system: what the settings ask (Kibana's defaults where they are
    silent) and the type can bring."""
    sync = sync or CaseSyncRequest()
    wanted = set()
    for part, flag in PULL_FLAGS.items():
        asked = getattr(sync, flag)
        if asked is True or (asked is UNSET and part in PULLED_BY_DEFAULT):
            wanted.add(part)
    return frozenset(wanted & connector_type.pulls)


def receives(rt: ConnectorRuntime, connector_type: ConnectorType) -> bool:
    """Whether the type takes calls of an inbound webhook."""
    return connector_type.inbound_auth is not None and rt.plugins.implements(connector_type, "parse_inbound")


def polls(rt: ConnectorRuntime, connector_type: ConnectorType) -> bool:
    return bool(connector_type.pulls) and rt.plugins.implements(connector_type, "fetch_changes")


async def get_case_sync(ctx: Context, rt: ConnectorRuntime, connector_id: str) -> CaseSync:
    ensure_actions(ctx, Level.READ, "Unauthorized to get actions")
    async with ctx.read() as tx:
        connector = await case_connector(ctx, rt, tx, connector_id)
        stored = await tx.get_case_sync(ctx.space_id, connector_id)
        secret = await tx.get_inbound_secret(ctx.space_id, connector_id)
    return _case_sync(ctx, rt, connector, stored or CaseSyncRequest(), secret is not None)


async def put_case_sync(
    ctx: Context, rt: ConnectorRuntime, connector_id: str, request: CaseSyncRequest
) -> CaseSync:
    """Set the connector's case sync (actions ``all``): refused for what the type cannot push or bring
    back, and its options checked against the type's ``state_options``. The inbound secret is sealed
    apart from the rest and never shown again; polls start (or resume at their cursor) or stop."""
    ensure_actions(ctx, Level.ALL, "Unauthorized to update actions")
    async with ctx.store.write() as tx:
        connector = await case_connector(ctx, rt, tx, connector_id)
        _check(rt, connector.type, request)
        checked = msgspec.structs.replace(
            request, options=msgspec.to_builtins(options(connector.type, request)), inbound_secret=UNSET
        )
        await tx.put_case_sync(ctx.space_id, connector_id, checked)
        if isinstance(request.inbound_secret, str):
            owner = inbound_secret_owner(ctx.space_id, connector_id)
            sealed = rt.secrets.seal(owner, {"secret": request.inbound_secret})
            await tx.set_inbound_secret(ctx.space_id, connector_id, sealed)
        elif request.inbound_secret is None:
            await tx.set_inbound_secret(ctx.space_id, connector_id, None)
        now_ms = int(time.time() * 1000)
        polled = request.poll_interval is not None and bool(pulled(connector.type, request))
        await tx.start_sync_state(ctx.space_id, connector_id, now_ms, now_ms if polled else None)
        has_secret = await tx.get_inbound_secret(ctx.space_id, connector_id) is not None
    return _case_sync(ctx, rt, connector, checked, has_secret)


def _check(rt: ConnectorRuntime, connector_type: ConnectorType, request: CaseSyncRequest) -> None:
    pushed = [name for name, on in ((STATUS, request.push_status), (ASSIGNEES, request.push_assignees)) if on]
    if unable := [name for name in pushed if name not in connector_type.pushes_state]:
        raise bad_request(f'Connector type "{connector_type.id}" cannot push a case\'s {" or ".join(unable)}')
    asked = [part for part, flag in PULL_FLAGS.items() if getattr(request, flag) is True]
    if unable := [part for part in asked if part not in connector_type.pulls]:
        raise bad_request(
            f'Connector type "{connector_type.id}" cannot bring back an incident\'s {" or ".join(unable)}'
        )
    if request.poll_interval is not None:
        if not polls(rt, connector_type):
            raise bad_request(f'Connector type "{connector_type.id}" cannot be polled for changes')
        if not MIN_POLL_INTERVAL <= request.poll_interval <= MAX_POLL_INTERVAL:
            raise bad_request(
                f"[poll_interval]: must be between {MIN_POLL_INTERVAL:g} and {MAX_POLL_INTERVAL:g} seconds"
            )
    if isinstance(request.inbound_secret, str):
        if not receives(rt, connector_type):
            raise bad_request(f'Connector type "{connector_type.id}" takes no inbound webhook calls')
        if len(request.inbound_secret) < MIN_SECRET_LENGTH:
            raise bad_request(f"[inbound_secret]: must be at least {MIN_SECRET_LENGTH} characters")


def options(connector_type: ConnectorType, sync: CaseSyncRequest) -> msgspec.Struct | None:
    """The type's ``state_options`` from the settings' ``options`` (its defaults for what they leave out)."""
    if connector_type.state_options is None:
        if sync.options:
            raise bad_request(f'Connector type "{connector_type.id}" takes no case sync options')
        return None
    try:
        return msgspec.convert(sync.options, connector_type.state_options)
    except msgspec.ValidationError as exc:
        raise bad_request(f"Invalid case sync options: {exc}") from None


def _case_sync(
    ctx: Context, rt: ConnectorRuntime, connector: Connector, sync: CaseSyncRequest, has_secret: bool
) -> CaseSync:
    connector_type = connector.type
    found = options(connector_type, sync)
    back = pulled(connector_type, sync)
    takes_calls = receives(rt, connector_type)
    space = "" if ctx.space_id == "default" else f"/s/{ctx.space_id}"
    return CaseSync(
        push_status=sync.push_status,
        push_assignees=sync.push_assignees,
        pull_status=STATUS in back,
        pull_comments=COMMENTS in back,
        pull_title=TITLE in back,
        pull_description=DESCRIPTION in back,
        poll_interval=sync.poll_interval,
        options=msgspec.to_builtins(found) if found is not None else {},
        connector_id=connector.id,
        connector_type_id=connector_type.id,
        pushable=sorted(connector_type.pushes_state),
        pullable=sorted(connector_type.pulls),
        receives=takes_calls,
        polls=polls(rt, connector_type),
        has_inbound_secret=has_secret,
        inbound_path=f"{space}/api/casepush/connectors/{connector.id}/inbound" if takes_calls else None,
    )


async def pushed_state(
    tx: Tx, ctx: Context, case: Case, connector: Connector, sync: CaseSyncRequest | None
) -> CaseState | None:
    """The status and assignees a push of the case to the connector sends, as its case sync settings
    (``sync``, read by the push) ask: None when they ask for neither."""
    if sync is None or not (sync.push_status or sync.push_assignees):
        return None
    assignees = None
    if sync.push_assignees:
        assignees = []
        for assignee in case.assignees:
            user = await tx.get_user(assignee.uid)
            email, full_name = (user.email, user.full_name) if user else (None, None)
            assignees.append(CaseAssignee(assignee.uid, email, full_name))
    return CaseState(
        status=case.status if sync.push_status else None,
        assignees=assignees,
        options=options(connector.type, sync),
    )
