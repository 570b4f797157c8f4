"""Two-way sync's storage, written once for both backends on the primitives of ``casepush.store.shared``:
which case each incident belongs to, the comments pushed and imported, the changes applied (each once),
and each connector's poll cursor, lease and last outcomes."""

from dataclasses import dataclass
from typing import Any

from casepush.store.shared import NamedStatements

_KEY = "space_id = :space_id AND connector_id = :connector_id"


@dataclass
class SyncState:
    """A connector's sync bookkeeping. Times are epoch milliseconds."""

    space_id: str
    connector_id: str
    cursor: str | None
    since_ms: int
    due_ms: int | None = None
    lease_owner: str | None = None
    lease_until_ms: int | None = None
    last_poll_ms: int | None = None
    last_poll_error: str | None = None
    last_inbound_ms: int | None = None
    last_inbound_error: str | None = None
    applied: int = 0


STATE_COLUMNS = (
    "space_id, connector_id, cursor, since_ms, due_ms, lease_owner, lease_until_ms, last_poll_ms,"
    " last_poll_error, last_inbound_ms, last_inbound_error, applied"
)
_CLAIM_POLLS = f"""
UPDATE sync_state SET lease_owner = :lease_owner, lease_until_ms = :lease_until_ms
WHERE (space_id, connector_id) IN (
    SELECT space_id, connector_id FROM sync_state
    WHERE due_ms <= :now_ms AND COALESCE(lease_until_ms, 0) < :now_ms
    ORDER BY due_ms LIMIT :limit {{lock}}
)
RETURNING {STATE_COLUMNS}
"""

#: Record the case an incident belongs to (every push does).
LINK_EXTERNAL = (
    "INSERT INTO external_links (space_id, connector_id, external_id, case_id)"
    " VALUES (:space_id, :connector_id, :external_id, :case_id)"
    " ON CONFLICT (space_id, connector_id, external_id) DO UPDATE SET case_id = excluded.case_id"
)


class SyncTx(NamedStatements):
    """The ``Tx`` methods of two-way sync, on a backend's primitives."""

    # which case an incident belongs to, and the comments pushed and imported

    async def link_external(self, space_id: str, connector_id: str, external_id: str, case_id: str) -> None:
        await self._run_named(
            LINK_EXTERNAL, _key(space_id, connector_id, external_id=external_id, case_id=case_id)
        )

    async def case_of_external(self, space_id: str, connector_id: str, external_id: str) -> str | None:
        rows = await self._fetch_named(
            f"SELECT case_id FROM external_links WHERE {_KEY} AND external_id = :external_id",
            _key(space_id, connector_id, external_id=external_id),
        )
        return rows[0][0] if rows else None

    async def external_ids(self, space_id: str, connector_id: str) -> list[str]:
        rows = await self._fetch_named(
            f"SELECT external_id FROM external_links WHERE {_KEY} ORDER BY external_id",
            _key(space_id, connector_id),
        )
        return [external_id for (external_id,) in rows]

    async def remember_pushed_comments(
        self, space_id: str, connector_id: str, external_ids: list[str]
    ) -> None:
        for external_id in external_ids:
            await self._run_named(
                "INSERT INTO pushed_comments (space_id, connector_id, external_comment_id)"
                " VALUES (:space_id, :connector_id, :external_id) ON CONFLICT DO NOTHING",
                _key(space_id, connector_id, external_id=external_id),
            )

    async def is_pushed_comment(self, space_id: str, connector_id: str, external_id: str) -> bool:
        rows = await self._fetch_named(
            f"SELECT 1 FROM pushed_comments WHERE {_KEY} AND external_comment_id = :external_id",
            _key(space_id, connector_id, external_id=external_id),
        )
        return bool(rows)

    async def imported_attachment(self, space_id: str, connector_id: str, external_id: str) -> str | None:
        rows = await self._fetch_named(
            "SELECT attachment_id FROM imported_comments"
            f" WHERE {_KEY} AND external_comment_id = :external_id",
            _key(space_id, connector_id, external_id=external_id),
        )
        return rows[0][0] if rows else None

    async def remember_imported(
        self, space_id: str, connector_id: str, external_id: str, attachment_id: str, case_id: str
    ) -> None:
        await self._run_named(
            "INSERT INTO imported_comments"
            " (space_id, connector_id, external_comment_id, attachment_id, case_id)"
            " VALUES (:space_id, :connector_id, :external_id, :attachment_id, :case_id)",
            _key(
                space_id, connector_id, external_id=external_id, attachment_id=attachment_id, case_id=case_id
            ),
        )

    async def imported_comments(self, space_id: str, case_id: str) -> dict[str, str]:
        """The case's comments that came from an external system, whatever its connector now: the
        connector id of each by its attachment id."""
        rows = await self._fetch_named(
            "SELECT attachment_id, connector_id FROM imported_comments"
            " WHERE space_id = :space_id AND case_id = :case_id",
            {"space_id": space_id, "case_id": case_id},
        )
        return {attachment_id: connector_id for attachment_id, connector_id in rows}

    async def set_inbound_secret(self, space_id: str, connector_id: str, sealed: str | None) -> None:
        await self._run_named(
            f"UPDATE case_sync_settings SET inbound_secret = :sealed WHERE {_KEY}",
            _key(space_id, connector_id, sealed=sealed),
        )

    async def get_inbound_secret(self, space_id: str, connector_id: str) -> str | None:
        """The connector's inbound secret, sealed."""
        rows = await self._fetch_named(
            f"SELECT inbound_secret FROM case_sync_settings WHERE {_KEY}", _key(space_id, connector_id)
        )
        return rows[0][0] if rows else None

    async def list_inbound_secrets(self) -> list[tuple[str, str, str]]:
        """Every sealed inbound secret, with its space and connector (to re-seal them with a new key)."""
        rows = await self._fetch_named(
            "SELECT space_id, connector_id, inbound_secret FROM case_sync_settings"
            " WHERE inbound_secret IS NOT NULL",
            {},
        )
        return [tuple(row) for row in rows]

    # each change once

    async def claim_change(self, space_id: str, connector_id: str, change_id: str, now_ms: int) -> bool:
        """Record that a change is applied; False when it was already (then it is not applied again)."""
        inserted = await self._run_named(
            "INSERT INTO sync_changes (space_id, connector_id, change_id, applied_ms)"
            " VALUES (:space_id, :connector_id, :change_id, :now_ms) ON CONFLICT DO NOTHING",
            _key(space_id, connector_id, change_id=change_id, now_ms=now_ms),
        )
        return inserted == 1

    async def forget_changes_before(self, before_ms: int) -> int:
        return await self._run_named(
            "DELETE FROM sync_changes WHERE applied_ms < :before_ms", {"before_ms": before_ms}
        )

    # each connector's poll and last outcomes

    async def get_sync_state(self, space_id: str, connector_id: str) -> SyncState | None:
        rows = await self._fetch_named(
            f"SELECT {STATE_COLUMNS} FROM sync_state WHERE {_KEY}", _key(space_id, connector_id)
        )
        return SyncState(*rows[0]) if rows else None

    async def start_sync_state(
        self, space_id: str, connector_id: str, since_ms: int, due_ms: int | None
    ) -> None:
        """The connector's bookkeeping from now on (kept when it exists: the poll resumes at its cursor);
        ``due_ms`` None stops its polls."""
        await self._run_named(
            "INSERT INTO sync_state (space_id, connector_id, since_ms, due_ms)"
            " VALUES (:space_id, :connector_id, :since_ms, :due_ms)"
            " ON CONFLICT (space_id, connector_id) DO UPDATE SET due_ms = excluded.due_ms",
            _key(space_id, connector_id, since_ms=since_ms, due_ms=due_ms),
        )

    async def poll_soon(self, space_id: str, connector_id: str, now_ms: int) -> bool:
        changed = await self._run_named(
            f"UPDATE sync_state SET due_ms = :now_ms WHERE {_KEY} AND due_ms IS NOT NULL",
            _key(space_id, connector_id, now_ms=now_ms),
        )
        return changed == 1

    async def claim_due_polls(
        self, lease_owner: str, now_ms: int, lease_until_ms: int, limit: int
    ) -> list[SyncState]:
        values = {
            "lease_owner": lease_owner,
            "lease_until_ms": lease_until_ms,
            "now_ms": now_ms,
            "limit": limit,
        }
        rows = await self._fetch_named(_CLAIM_POLLS.format(lock=self.SKIP_LOCKED), values)
        return [SyncState(*row) for row in rows]

    async def finish_poll(
        self,
        state: SyncState,
        now_ms: int,
        cursor: str | None,
        next_due_ms: int | None,
        error: str | None,
    ) -> None:
        """Record a poll (its cursor only when it succeeded) and let its lease go; a poll stopped
        meanwhile (``due_ms`` None) stays stopped."""
        await self._run_named(
            "UPDATE sync_state SET cursor = COALESCE(:cursor, cursor), last_poll_ms = :now_ms,"
            " last_poll_error = :error, lease_owner = NULL, lease_until_ms = NULL,"
            " due_ms = CASE WHEN due_ms IS NULL THEN NULL ELSE CAST(:next_due_ms AS BIGINT) END"
            f" WHERE {_KEY} AND lease_owner = :lease_owner",
            _key(
                state.space_id,
                state.connector_id,
                cursor=cursor,
                now_ms=now_ms,
                error=error,
                next_due_ms=next_due_ms,
                lease_owner=state.lease_owner,
            ),
        )

    async def note_inbound(self, space_id: str, connector_id: str, now_ms: int, error: str | None) -> None:
        await self._run_named(
            f"UPDATE sync_state SET last_inbound_ms = :now_ms, last_inbound_error = :error WHERE {_KEY}",
            _key(space_id, connector_id, now_ms=now_ms, error=error),
        )

    async def count_applied(self, space_id: str, connector_id: str, applied: int) -> None:
        await self._run_named(
            f"UPDATE sync_state SET applied = applied + :applied WHERE {_KEY}",
            _key(space_id, connector_id, applied=applied),
        )


def _key(space_id: str, connector_id: str, **values: Any) -> dict[str, Any]:
    return {"space_id": space_id, "connector_id": connector_id, **values}
