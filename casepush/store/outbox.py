"""The automatic push outbox and its settings, written once for both backends.

The statements use ``:name`` parameters, run through the backend's primitives (``NamedStatements`` of
``casepush.store.shared``). Taking due pushes skips rows other transactions are taking where the
database can (PostgreSQL's ``SKIP LOCKED``); SQLite runs one writer at a time, so there is nothing to
skip.
"""

import abc
import dataclasses
from typing import Any

import msgspec

from casepush.store import QUEUED_STATES, AutomaticPush, PushBookkeeping, PushRules, Settlement
from casepush.store.shared import NamedStatements
from casepush.types import AutomaticPushSetting, CaseSyncRequest, User, UserAction

_encoder = msgspec.json.Encoder()
_setting = msgspec.json.Decoder(AutomaticPushSetting)
_sync = msgspec.json.Decoder(CaseSyncRequest)
_user = msgspec.json.Decoder(User)

COLUMNS = (
    "space_id, case_id, connector_id, owner, generation, state, attempts, due_ms, pending_since_ms,"
    " lease_owner, lease_until_ms, caused_by, last_attempt_ms, last_outcome, last_error, last_pushed_ms"
)
_KEY = "space_id = :space_id AND case_id = :case_id AND connector_id = :connector_id"
_QUEUED = f"state IN ({', '.join(repr(state) for state in QUEUED_STATES)})"

_ENQUEUE = f"""
INSERT INTO automatic_pushes
    (space_id, case_id, connector_id, owner, generation, state, attempts, due_ms, pending_since_ms, caused_by)
VALUES (:space_id, :case_id, :connector_id, :owner, 1, 'pending', 0, :due_ms, :now_ms, :caused_by)
ON CONFLICT (space_id, case_id, connector_id) DO UPDATE SET
    owner = excluded.owner,
    generation = automatic_pushes.generation + 1,
    state = CASE WHEN automatic_pushes.state = 'running' THEN 'running' ELSE 'pending' END,
    attempts = 0,
    due_ms = excluded.due_ms,
    pending_since_ms = CASE WHEN automatic_pushes.{_QUEUED}
        THEN automatic_pushes.pending_since_ms ELSE excluded.pending_since_ms END,
    caused_by = excluded.caused_by
"""
_CLAIM = f"""
UPDATE automatic_pushes SET state = 'running', lease_owner = :lease_owner, lease_until_ms = :lease_until_ms
WHERE (space_id, case_id, connector_id) IN (
    SELECT space_id, case_id, connector_id FROM automatic_pushes
    WHERE {_QUEUED} AND due_ms <= :now_ms AND COALESCE(lease_until_ms, 0) < :now_ms
    ORDER BY due_ms LIMIT :limit {{lock}}
)
RETURNING {COLUMNS}
"""
_RENEW = f"""
UPDATE automatic_pushes SET lease_until_ms = :lease_until_ms
WHERE {_KEY} AND lease_owner = :lease_owner AND state = 'running'
"""
_SETTLE = f"""
UPDATE automatic_pushes SET
    state = CASE WHEN generation = :generation THEN :state ELSE 'pending' END,
    attempts = CASE WHEN generation <> :generation OR :state = 'idle' THEN 0 ELSE attempts + :counted END,
    due_ms = CASE WHEN generation = :generation THEN :retry_at_ms ELSE due_ms END,
    pending_since_ms = CASE WHEN generation = :generation AND :state <> 'retrying'
        THEN NULL ELSE pending_since_ms END,
    lease_owner = NULL,
    lease_until_ms = NULL,
    last_attempt_ms = :now_ms,
    last_outcome = :outcome,
    last_error = :error,
    last_pushed_ms = CASE WHEN :outcome = 'success' THEN :now_ms ELSE last_pushed_ms END
WHERE {_KEY}
"""
#: Nothing waits any more for a push that sent the case as of ``:generation`` (a held lease is left alone).
CLEAR = f"""
UPDATE automatic_pushes SET state = 'idle', attempts = 0, due_ms = NULL, pending_since_ms = NULL
WHERE {_KEY} AND generation = :generation AND state <> 'running'
"""

#: What decides whether a change of a case asks for an automatic push (``PushRules``), as one row: the
#: setting of the case's owner and connector, and the connector's case sync settings.
PUSH_RULES = """
SELECT
    (SELECT data FROM automatic_push_settings
        WHERE space_id = :space_id AND owner = :owner AND connector_id = :connector_id),
    (SELECT data FROM case_sync_settings WHERE space_id = :space_id AND connector_id = :connector_id)
"""
#: What a push reads beside the case (``PushBookkeeping``), as rows told apart by their first column:
#: the generation of the case's automatic push to the connector, the connector's case sync settings, and
#: the case's comments imported from the connector's system.
_PUSH_BOOKKEEPING = f"""
SELECT 0, CAST(generation AS TEXT), NULL FROM automatic_pushes WHERE {_KEY}
UNION ALL
SELECT 1, NULL, data FROM case_sync_settings WHERE space_id = :space_id AND connector_id = :connector_id
UNION ALL
SELECT 2, attachment_id, NULL FROM imported_comments WHERE {_KEY}
"""


def push_rules(row: Any) -> PushRules:
    """The ``PushRules`` of a row of ``PUSH_RULES`` (the case sync settings only with a setting: without
    one they decide nothing)."""
    setting, sync = row
    if setting is None:
        return PushRules()
    return PushRules(_setting.decode(setting), None if sync is None else _sync.decode(sync))


#: The tables of a connector's casepush settings and bookkeeping, which go with the connector.
CONNECTOR_TABLES = (
    "automatic_push_settings",
    "case_sync_settings",
    "automatic_pushes",
    "external_links",
    "pushed_comments",
    "imported_comments",
    "sync_changes",
    "sync_state",
)


#: Where ``caused_by``, the one column stored encoded, is among a selected row's columns.
_CAUSED_BY = [field.name for field in dataclasses.fields(AutomaticPush)].index("caused_by")


def _row(row: Any) -> AutomaticPush:
    """A selected row (its columns in the fields' order), ``caused_by`` decoded."""
    values = list(row)
    caused_by = values[_CAUSED_BY]
    values[_CAUSED_BY] = _user.decode(caused_by) if caused_by else None
    return AutomaticPush(*values)


class OutboxTx(NamedStatements):
    """The ``Tx`` methods of automatic pushes, on a backend's primitives."""

    @abc.abstractmethod
    async def insert_user_actions(self, space_id: str, case_id: str, actions: list[UserAction]) -> None:
        """Written with the other documents (``casepush.store.shared``)."""

    async def record_user_actions(
        self, space_id: str, case_id: str, actions: list[UserAction], owner: str, connector_id: str
    ) -> PushRules:
        """The user actions, then what decides whether they ask for a push: two statements (PostgreSQL
        makes them one)."""
        await self.insert_user_actions(space_id, case_id, actions)
        values = {"space_id": space_id, "owner": owner, "connector_id": connector_id}
        return push_rules(await self._fetch_row(PUSH_RULES, values))

    async def push_bookkeeping(self, space_id: str, case_id: str, connector_id: str) -> PushBookkeeping:
        generation, sync, imported = None, None, set()
        for part, text, data in await self._fetch_named(
            _PUSH_BOOKKEEPING, _key(space_id, case_id, connector_id)
        ):
            if part == 0:
                generation = int(text)
            elif part == 1:
                sync = _sync.decode(data)
            else:
                imported.add(text)
        return PushBookkeeping(generation, sync, frozenset(imported))

    # settings

    async def get_automatic_push_setting(
        self, space_id: str, owner: str, connector_id: str
    ) -> AutomaticPushSetting | None:
        rows = await self._fetch_named(
            "SELECT data FROM automatic_push_settings"
            " WHERE space_id = :space_id AND owner = :owner AND connector_id = :connector_id",
            {"space_id": space_id, "owner": owner, "connector_id": connector_id},
        )
        return _setting.decode(rows[0][0]) if rows else None

    async def list_automatic_push_settings(self, space_id: str) -> list[AutomaticPushSetting]:
        rows = await self._fetch_named(
            "SELECT data FROM automatic_push_settings WHERE space_id = :space_id"
            " ORDER BY owner, connector_id",
            {"space_id": space_id},
        )
        return [_setting.decode(data) for (data,) in rows]

    async def put_automatic_push_setting(self, space_id: str, setting: AutomaticPushSetting) -> None:
        await self._run_named(
            "INSERT INTO automatic_push_settings (space_id, owner, connector_id, data)"
            " VALUES (:space_id, :owner, :connector_id, :data)"
            " ON CONFLICT (space_id, owner, connector_id) DO UPDATE SET data = excluded.data",
            {
                "space_id": space_id,
                "owner": setting.owner,
                "connector_id": setting.connector_id,
                "data": _encoder.encode(setting),
            },
        )

    async def delete_automatic_push_setting(self, space_id: str, owner: str, connector_id: str) -> bool:
        deleted = await self._run_named(
            "DELETE FROM automatic_push_settings"
            " WHERE space_id = :space_id AND owner = :owner AND connector_id = :connector_id",
            {"space_id": space_id, "owner": owner, "connector_id": connector_id},
        )
        return deleted == 1

    async def get_case_sync(self, space_id: str, connector_id: str) -> CaseSyncRequest | None:
        rows = await self._fetch_named(
            "SELECT data FROM case_sync_settings WHERE space_id = :space_id AND connector_id = :connector_id",
            {"space_id": space_id, "connector_id": connector_id},
        )
        return _sync.decode(rows[0][0]) if rows else None

    async def put_case_sync(self, space_id: str, connector_id: str, sync: CaseSyncRequest) -> None:
        await self._run_named(
            "INSERT INTO case_sync_settings (space_id, connector_id, data)"
            " VALUES (:space_id, :connector_id, :data)"
            " ON CONFLICT (space_id, connector_id) DO UPDATE SET data = excluded.data",
            {"space_id": space_id, "connector_id": connector_id, "data": _encoder.encode(sync)},
        )

    async def delete_connector_settings(self, space_id: str, connector_id: str) -> None:
        for table in CONNECTOR_TABLES:
            await self._run_named(
                f"DELETE FROM {table} WHERE space_id = :space_id AND connector_id = :connector_id",
                {"space_id": space_id, "connector_id": connector_id},
            )

    # the outbox

    async def enqueue_automatic_push(
        self, space_id: str, case_id: str, connector_id: str, owner: str, due_ms: int, now_ms: int, user: User
    ) -> None:
        values = _key(space_id, case_id, connector_id)
        values.update(owner=owner, due_ms=due_ms, now_ms=now_ms, caused_by=_encoder.encode(user).decode())
        await self._run_named(_ENQUEUE, values)

    async def claim_automatic_pushes(
        self, lease_owner: str, now_ms: int, lease_until_ms: int, limit: int
    ) -> list[AutomaticPush]:
        values = {
            "lease_owner": lease_owner,
            "lease_until_ms": lease_until_ms,
            "now_ms": now_ms,
            "limit": limit,
        }
        rows = await self._fetch_named(_CLAIM.format(lock=self.SKIP_LOCKED), values)
        return sorted(map(_row, rows), key=lambda push: (push.due_ms or 0, push.case_id))

    async def renew_automatic_push(self, push: AutomaticPush, lease_until_ms: int) -> bool:
        values = _key(push.space_id, push.case_id, push.connector_id)
        values.update(lease_owner=push.lease_owner, lease_until_ms=lease_until_ms)
        return await self._run_named(_RENEW, values) == 1

    async def settle_automatic_push(
        self,
        space_id: str,
        case_id: str,
        connector_id: str,
        generation: int,
        now_ms: int,
        settled: Settlement,
    ) -> None:
        values = _key(space_id, case_id, connector_id)
        values.update(
            generation=generation,
            now_ms=now_ms,
            state=settled.state,
            outcome=settled.outcome,
            error=settled.error,
            retry_at_ms=settled.retry_at_ms,
            counted=int(settled.counted),
        )
        await self._run_named(_SETTLE, values)

    async def clear_automatic_push(
        self, space_id: str, case_id: str, connector_id: str, generation: int
    ) -> None:
        values = _key(space_id, case_id, connector_id)
        values["generation"] = generation
        await self._run_named(CLEAR, values)

    async def list_automatic_pushes(self, space_id: str, case_id: str) -> list[AutomaticPush]:
        rows = await self._fetch_named(
            f"SELECT {COLUMNS} FROM automatic_pushes"
            " WHERE space_id = :space_id AND case_id = :case_id ORDER BY connector_id",
            {"space_id": space_id, "case_id": case_id},
        )
        return [_row(row) for row in rows]

    async def automatic_push_queue(self) -> tuple[int, int | None]:
        rows = await self._fetch_named(
            f"SELECT COUNT(*), MIN(pending_since_ms) FROM automatic_pushes WHERE {_QUEUED}", {}
        )
        count, oldest = rows[0]
        return count, oldest


def _key(space_id: str, case_id: str, connector_id: str) -> dict[str, Any]:
    return {"space_id": space_id, "case_id": case_id, "connector_id": connector_id}
