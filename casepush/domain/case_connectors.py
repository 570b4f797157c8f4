"""The connectors of a case and whether each needs a push (``GET /internal/cases/{case_id}/_connectors``).

Like Kibana's ``getConnectors`` (``server/client/user_actions/connectors.ts``), everything comes from the
case's user actions: a connector counts once a ``create_case`` or ``connector`` user action names it,
and its push state comes from the ``pushed`` user actions that name it.
"""

from collections import Counter
from datetime import datetime
from typing import NamedTuple

import msgspec

from casepush.domain import Context, load_case, parse_iso
from casepush.domain.connectors import ConnectorRuntime
from casepush.security.authz import ACTIONS_FEATURE, Level, Operations
from casepush.store import Page, Tx
from casepush.types import (
    CaseConnectorEntry,
    CaseConnectorPush,
    CaseConnectorPushDetails,
    PushedExternalService,
    UserAction,
)

#: Kibana keeps no connector reference for the id ``none`` (``createActionReference``), so never lists it.
NONE_ID = "none"
NAMING_TYPES = ("create_case", "connector")
#: A newer user action of these types than the latest push means the case needs pushing again.
CHANGE_TYPES = ("comment", "description", "tags", "title")
#: Connector types that also send severity and status, so changes to those count for them too.
STATUS_AWARE_TYPES = (".cases-webhook", ".thehive")
_READ_TYPES = [*NAMING_TYPES, "pushed", *CHANGE_TYPES, "severity", "status"]
#: Every user action at once: Kibana aggregates over all of them, unpaged.
_EVERY = Page(per_page=2**31, descending=False)


class LiveConnector(NamedTuple):
    """What the connectors API knows of a connector now, rather than what the user actions recorded."""

    name: str
    type_id: str


async def get(ctx: Context, rt: ConnectorRuntime, case_id: str) -> dict[str, CaseConnectorEntry]:
    """Kibana answers ``{}`` for a case it does not have; casepush its 404, as on every other case route."""
    async with ctx.read() as tx:
        case = await load_case(tx, ctx, case_id)
        ctx.access.ensure([case.owner], Operations.get_user_actions)
        actions, _ = await tx.find_user_actions(ctx.space_id, case_id, _READ_TYPES, [], _EVERY)
        ids = _ordered_ids(actions)
        live = await _live_connectors(tx, ctx, rt, ids)
    return {connector_id: _entry(actions, connector_id, live.get(connector_id)) for connector_id in ids}


def _referenced_id(action: UserAction) -> str | None:
    """The connector id Kibana keeps as the user action's ``action`` reference, if any."""
    if action.type == "pushed":
        connector_id = action.payload["externalService"]["connector_id"]
    elif action.type in NAMING_TYPES:
        connector_id = action.payload["connector"]["id"]
    else:
        return None
    return None if connector_id == NONE_ID else connector_id


def _ordered_ids(actions: list[UserAction]) -> list[str]:
    """The named connectors in Kibana's key order.

    Its terms aggregation sorts them by how many user actions (pushes included) reference each, then
    by id; the JavaScript object it builds then lists array-index keys such as ``"7"`` first.
    """
    counts = Counter(_referenced_id(action) for action in actions)
    named = {
        connector_id
        for action in actions
        if action.type in NAMING_TYPES and (connector_id := _referenced_id(action)) is not None
    }
    by_count = sorted(named, key=lambda connector_id: (-counts[connector_id], connector_id))
    return sorted(by_count, key=_array_index)


def _array_index(key: str) -> tuple[int, int]:
    """A sort key putting JavaScript's array-index keys ("0" to "4294967294") first, by number."""
    is_index = key.isascii() and key.isdigit() and str(int(key)) == key and int(key) < 2**32 - 1
    return (0, int(key)) if is_index else (1, 0)


async def _live_connectors(
    tx: Tx, ctx: Context, rt: ConnectorRuntime, ids: list[str]
) -> dict[str, LiveConnector]:
    """Names and types as Kibana's ``actionsClient.getBulk`` finds them: all or nothing.

    ``getBulk`` fails when the caller may not read connectors or one of them no longer exists; Kibana
    then logs it and goes on with the names stored in the user actions, for every connector.
    """
    granted = ctx.access.levels.get(ACTIONS_FEATURE)
    if granted is None or not granted.covers(Level.READ):
        return {}
    live = {}
    for connector_id in ids:
        if connector_id in rt.preconfigured:
            connector = rt.preconfigured[connector_id]
            live[connector_id] = LiveConnector(connector.name, connector.type.id)
            continue
        stored = await tx.get_connector(ctx.space_id, connector_id)
        if stored is None:
            return {}
        live[connector_id] = LiveConnector(stored.name, stored.type_id)
    return live


def _at(action: UserAction) -> datetime:
    return parse_iso(action.created_at)


def _entry(actions: list[UserAction], connector_id: str, live: LiveConnector | None) -> CaseConnectorEntry:
    """A connector's latest fields (a ``connector`` user action wins over ``create_case``) and push state."""
    naming = [a for a in actions if a.type in NAMING_TYPES and _referenced_id(a) == connector_id]
    connector = ([a for a in naming if a.type == "connector"] or naming)[-1].payload["connector"]
    pushes = [a for a in actions if a.type == "pushed" and _referenced_id(a) == connector_id]
    pushed_fields = _fields_at_latest_push(naming, pushes)
    has_been_pushed = pushed_fields is not None
    needs_push = connector != pushed_fields or (
        has_been_pushed and _changed_since(actions, pushes[-1], live.type_id if live else None)
    )
    push = CaseConnectorPush(needsToBePushed=needs_push, hasBeenPushed=has_been_pushed)
    if has_been_pushed:
        push.details = _details(pushes)
    return CaseConnectorEntry(
        push=push,
        id=connector_id,
        type=connector["type"],
        fields=connector["fields"],
        name=live.name if live else connector["name"],
    )


def _fields_at_latest_push(naming: list[UserAction], pushes: list[UserAction]) -> dict | None:
    """The connector as named before the latest push; without one Kibana counts the connector unpushed."""
    if not pushes:
        return None
    before = [a for a in naming if _at(a) < _at(pushes[-1])]
    return before[-1].payload["connector"] if before else None


def _changed_since(actions: list[UserAction], push: UserAction, live_type: str | None) -> bool:
    """Whether the newest change the connector's type sends is newer than the push.

    Kibana widens the types by the *live* connector's type, so a connector it cannot look up counts
    severity and status changes for none.
    """
    types = CHANGE_TYPES + (("severity", "status") if live_type in STATUS_AWARE_TYPES else ())
    changes = [a for a in actions if a.type in types]
    return bool(changes) and _at(changes[-1]) > _at(push)


def _details(pushes: list[UserAction]) -> CaseConnectorPushDetails:
    return CaseConnectorPushDetails(
        latestUserActionPushDate=pushes[-1].created_at,
        oldestUserActionPushDate=pushes[0].created_at,
        externalService=msgspec.convert(pushes[-1].payload["externalService"], PushedExternalService),
    )
