"""The SQLite backend: WAL, one serialised writer connection on the loop's thread, and a pool of reader
connections (each on a thread of its own) whose reads are snapshots and run in parallel."""

import asyncio
import dataclasses
import functools
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager, closing
from pathlib import Path
from typing import Any

import msgspec

from casepush.guards import write_transaction
from casepush.store import (
    CaseQuery,
    Page,
    PoolUsage,
    PushClaim,
    Store,
    StoredApiKey,
    StoredConnector,
    StoredUser,
    Table,
    Tx,
    VersionConflict,
)
from casepush.store.outbox import OutboxTx
from casepush.store.rows import (
    API_KEY_COLUMNS,
    CONNECTOR_COLUMNS,
    SEVERITY_CODES,
    SPACE_TABLES,
    STATUS_CODES,
    TABLE_BATCH,
    alert_pairs,
    api_key_columns,
    attachment_decoder,
    case_decoder,
    children_changed,
    commented_type,
    configuration_decoder,
    connector_columns,
    encode_stored,
    encoder,
    expected_seq,
    like_pattern,
    migrations,
    order_by,
    role_decoder,
    space_decoder,
    status_counts,
    stored_api_key,
    stored_connector,
    stored_user,
    user_action_decoder,
    user_decoder,
    with_version,
)
from casepush.store.sync import SyncTx
from casepush.types import (
    AlertComment,
    Attachment,
    Case,
    CaseAlert,
    Configuration,
    RoleBody,
    Space,
    User,
    UserAction,
    attachment_type,
)

log = logging.getLogger(__name__)

_PRAGMAS = ("PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL", "PRAGMA foreign_keys = ON")
#: Seconds to wait for another process's write lock, and between tries.
BUSY_TIMEOUT = 5.0
BUSY_POLL = 0.005

#: Rows ANALYZE samples per index, and how many write transactions pass before the statistics are
#: refreshed (they must follow the tables' growth, from empty to many cases) and the log checkpointed.
ANALYSIS_LIMIT = 1000
MAINTENANCE_EVERY_WRITES = 1000

#: Reader connections by default (the ``sqlite_readers`` setting): reads run this many at once.
READERS = 4
#: Seconds a write transaction may hold the write lock before it is logged: every other write waits
#: for it, and a write should take a millisecond or so.
LONG_WRITE = 0.020


def _trigram_match(query: CaseQuery) -> str | None:
    """The FTS5 query of the search terms' trigrams, or None when there is none that would narrow the
    search: the index knows no term under three characters, so with ``OR`` one such term means any case
    may match."""
    terms = query.search.split() if query.search else []
    indexed = [term for term in terms if len(term) >= 3]
    if not indexed or not query.search_fields or (not query.search_all_terms and len(indexed) < len(terms)):
        return None
    columns = " ".join(query.search_fields)
    phrases = [f"{{{columns}}} : " + '"' + term.replace('"', '""') + '"' for term in indexed]
    return (" AND " if query.search_all_terms else " OR ").join(phrases)


def _placeholders(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


class SqliteTx(SyncTx, OutboxTx, Tx):
    def __init__(self, conn: "ReaderConnection | InlineConnection"):
        self.conn = conn

    async def _fetch_named(self, sql: str, values: dict[str, Any]) -> list[Any]:
        return list(await self.conn.execute_fetchall(sql, values))

    async def _run_named(self, sql: str, values: dict[str, Any]) -> int:
        cursor = await self.conn.execute(sql, values)
        count = cursor.rowcount
        await cursor.close()
        return count

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        return list(await self.conn.execute_fetchall(sql, tuple(params)))

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> Any:
        rows = await self._all(sql, params)
        return rows[0] if rows else None

    async def _run(self, sql: str, params: Iterable[Any] = ()) -> int:
        cursor = await self.conn.execute(sql, tuple(params))
        count = cursor.rowcount
        await cursor.close()
        return count

    # --- cases ------------------------------------------------------------------------

    async def get_cases(self, space_id: str, ids: list[str]) -> list[Case]:
        if not ids:
            return []
        rows = await self._all(
            f"SELECT data, seq FROM cases WHERE space_id = ? AND id IN ({_placeholders(ids)})",
            [space_id, *ids],
        )
        return [with_version(case_decoder.decode(data), seq) for data, seq in rows]

    def _case_columns(self, case: Case) -> list[Any]:
        return [
            case.owner,
            STATUS_CODES[case.status],
            SEVERITY_CODES[case.severity],
            case.title,
            case.description,
            case.category,
            case.created_by.username,
            case.created_at,
            case.updated_at,
            case.closed_at,
            encoder.encode(msgspec.structs.replace(case, comments=[], version="")),
        ]

    async def insert_case(self, space_id: str, case: Case) -> Case:
        await self._run(
            "INSERT INTO cases (id, space_id, seq, owner, status, severity, title, description, category,"
            " reporter, created_at, updated_at, closed_at, data) VALUES (?,?,1,?,?,?,?,?,?,?,?,?,?,?)",
            [case.id, space_id, *self._case_columns(case)],
        )
        await self._write_case_children(case)
        return with_version(case, 1)

    async def update_case(self, space_id: str, case: Case, before: Case) -> Case:
        seq = expected_seq(before.version)
        changed = await self._run(
            "UPDATE cases SET seq = seq + 1, owner = ?, status = ?, severity = ?, title = ?, description = ?,"
            " category = ?, reporter = ?, created_at = ?, updated_at = ?, closed_at = ?, data = ?"
            " WHERE id = ? AND space_id = ? AND seq = ?",
            [*self._case_columns(case), case.id, space_id, seq],
        )
        if changed != 1:
            raise VersionConflict(case.id)
        if children_changed(case, before):
            await self._run("DELETE FROM case_tags WHERE case_id = ?", [case.id])
            await self._run("DELETE FROM case_assignees WHERE case_id = ?", [case.id])
            await self._write_case_children(case)
        return with_version(case, seq + 1)

    async def _write_case_children(self, case: Case) -> None:
        await self.conn.executemany(
            "INSERT OR IGNORE INTO case_tags (case_id, tag) VALUES (?, ?)", [(case.id, t) for t in case.tags]
        )
        await self.conn.executemany(
            "INSERT OR IGNORE INTO case_assignees (case_id, uid) VALUES (?, ?)",
            [(case.id, a.uid) for a in case.assignees],
        )

    async def delete_cases(self, space_id: str, ids: list[str]) -> None:
        await self._run(
            f"DELETE FROM cases WHERE space_id = ? AND id IN ({_placeholders(ids)})", [space_id, *ids]
        )

    def _where(self, space_id: str, query: CaseQuery, with_status: bool = True) -> tuple[str, list[Any]]:
        clauses = ["c.space_id = ?", f"c.owner IN ({_placeholders(query.owners)})"]
        params: list[Any] = [space_id, *query.owners]

        def any_of(column: str, values: list[Any]) -> None:
            if values:
                clauses.append(f"{column} IN ({_placeholders(values)})")
                params.extend(values)

        if with_status:
            any_of("c.status", [STATUS_CODES[s] for s in query.statuses])
        any_of("c.severity", [SEVERITY_CODES[s] for s in query.severities])
        any_of("c.reporter", query.reporters)
        any_of("c.category", query.categories)
        if query.tags:
            marks = _placeholders(query.tags)
            if _trigram_match(query) is not None:
                # The search's candidates come first (see _search_clause): each is checked for its tags.
                tagged = f"EXISTS (SELECT 1 FROM case_tags t WHERE t.case_id = c.id AND t.tag IN ({marks}))"
            else:
                # IN rather than EXISTS: the planner may then start from the tag index.
                tagged = f"c.id IN (SELECT case_id FROM case_tags WHERE tag IN ({marks}))"
            clauses.append(tagged)
            params.extend(query.tags)
        assignee_checks = []
        if query.assignees:
            marks = _placeholders(query.assignees)
            assignee_checks.append(f"c.id IN (SELECT case_id FROM case_assignees WHERE uid IN ({marks}))")
            params.extend(query.assignees)
        if query.include_unassigned:
            assignee_checks.append("NOT EXISTS (SELECT 1 FROM case_assignees a WHERE a.case_id = c.id)")
        if assignee_checks:
            clauses.append("(" + " OR ".join(assignee_checks) + ")")
        if query.created_from:
            clauses.append("c.created_at >= ?")
            params.append(query.created_from)
        if query.created_to:
            clauses.append("c.created_at <= ?")
            params.append(query.created_to)
        if query.search:
            clauses.append(self._search_clause(query, params))
        return " AND ".join(clauses), params

    def _search_clause(self, query: CaseQuery, params: list[Any]) -> str:
        """Each term must appear (AND) or one must (OR) in a search field; the whole text may be an id.

        The trigram index, when it can, names the candidates first (a superset: it folds case beyond
        ASCII, and skips terms under three characters), so that the planner starts from them rather than
        from another filter; LIKE then decides.
        """
        assert query.search is not None
        terms, whole = query.search.split(), query.search.strip()
        match = _trigram_match(query)
        prefilter = ""
        if match is not None:
            prefilter = (
                "c.rowid IN (SELECT rowid FROM case_text WHERE case_text MATCH ?"
                " UNION ALL SELECT rowid FROM cases WHERE id = ?) AND "
            )
            params.extend([match, whole])
        term_checks = []
        for term in terms:
            fields = [f"c.{name} LIKE ? ESCAPE '\\'" for name in query.search_fields]
            term_checks.append("(" + (" OR ".join(fields) or "0") + ")")
            params.extend([like_pattern(term)] * len(fields))
        joiner = " AND " if query.search_all_terms else " OR "
        params.append(whole)
        return "(" + prefilter + "(" + joiner.join(term_checks or ["0"]) + " OR c.id = ?))"

    async def find_cases(self, space_id: str, query: CaseQuery, page: Page) -> list[Case]:
        if not query.owners:
            return []
        where, params = self._where(space_id, query)
        rows = await self._all(
            f"SELECT c.data, c.seq FROM cases c WHERE {where} {order_by(page.sort_field, page.descending)}"
            " LIMIT ? OFFSET ?",
            [*params, page.per_page, page.offset],
        )
        return [with_version(case_decoder.decode(data), seq) for data, seq in rows]

    async def count_cases(self, space_id: str, query: CaseQuery) -> int:
        if not query.owners:
            return 0
        where, params = self._where(space_id, query)
        (total,) = await self._one(f"SELECT COUNT(*) FROM cases c WHERE {where}", params)
        return total

    async def count_cases_by_status(self, space_id: str, query: CaseQuery) -> dict[str, int]:
        if not query.owners:
            return status_counts([])
        where, params = self._where(space_id, query, with_status=False)
        # Grouped by owner too, the counts come from the (space, owner, status) index alone.
        rows = await self._all(
            f"SELECT c.status, COUNT(*) FROM cases c WHERE {where} GROUP BY c.owner, c.status", params
        )
        return status_counts(rows)

    async def case_totals(self, space_id: str, case_ids: list[str]) -> dict[str, tuple[int, int]]:
        totals = dict.fromkeys(case_ids, (0, 0))
        if not case_ids:
            return totals
        marks = _placeholders(case_ids)
        comments = await self._all(
            f"SELECT case_id, COUNT(*) FROM attachments WHERE type = 'user' AND case_id IN ({marks})"
            " GROUP BY case_id",
            case_ids,
        )
        alerts = await self._all(
            f"SELECT case_id, COUNT(DISTINCT alert_id) FROM case_alerts WHERE case_id IN ({marks})"
            " GROUP BY case_id",
            case_ids,
        )
        comment_counts, alert_counts = dict(comments), dict(alerts)
        return {cid: (comment_counts.get(cid, 0), alert_counts.get(cid, 0)) for cid in case_ids}

    async def tags(self, space_id: str, owners: list[str]) -> list[str]:
        if not owners:
            return []
        rows = await self._all(
            "SELECT DISTINCT t.tag FROM case_tags t JOIN cases c ON c.id = t.case_id"
            f" WHERE c.space_id = ? AND c.owner IN ({_placeholders(owners)}) ORDER BY t.tag",
            [space_id, *owners],
        )
        return [tag for (tag,) in rows]

    async def reporters(self, space_id: str, owners: list[str]) -> list[User]:
        if not owners:
            return []
        rows = await self._all(
            "SELECT json_extract(c.data, '$.created_by') FROM cases c"
            f" WHERE c.space_id = ? AND c.owner IN ({_placeholders(owners)}) AND c.reporter IS NOT NULL"
            " GROUP BY c.reporter ORDER BY c.reporter",
            [space_id, *owners],
        )
        return [user_decoder.decode(user) for (user,) in rows]

    # --- attachments --------------------------------------------------------------------

    async def insert_attachment(self, space_id: str, case_id: str, attachment: Attachment) -> Attachment:
        await self._run(
            "INSERT INTO attachments (id, space_id, case_id, seq, type, created_at, data)"
            " VALUES (?,?,?,1,?,?,?)",
            [
                attachment.id,
                space_id,
                case_id,
                attachment_type(attachment),
                attachment.created_at,
                encode_stored(attachment),
            ],
        )
        await self._write_alerts(case_id, attachment)
        return with_version(attachment, 1)

    async def update_attachment(
        self, space_id: str, case_id: str, attachment: Attachment, expected_version: str
    ) -> Attachment:
        seq = expected_seq(expected_version)
        changed = await self._run(
            "UPDATE attachments SET seq = seq + 1, type = ?, data = ?"
            " WHERE id = ? AND space_id = ? AND seq = ?",
            [attachment_type(attachment), encode_stored(attachment), attachment.id, space_id, seq],
        )
        if changed != 1:
            raise VersionConflict(attachment.id)
        await self._run("DELETE FROM case_alerts WHERE attachment_id = ?", [attachment.id])
        await self._write_alerts(case_id, attachment)
        return with_version(attachment, seq + 1)

    async def _write_alerts(self, case_id: str, attachment: Attachment) -> None:
        if not isinstance(attachment, AlertComment):
            return
        rows = [
            (attachment.id, case_id, alert_id, index, attachment.created_at)
            for alert_id, index in alert_pairs(attachment)
        ]
        await self.conn.executemany(
            "INSERT INTO case_alerts (attachment_id, case_id, alert_id, alert_index, attached_at)"
            " VALUES (?,?,?,?,?)",
            rows,
        )

    async def get_attachment(self, space_id: str, attachment_id: str) -> tuple[str, Attachment] | None:
        row = await self._one(
            "SELECT case_id, data, seq FROM attachments WHERE id = ? AND space_id = ?",
            [attachment_id, space_id],
        )
        if row is None:
            return None
        case_id, data, seq = row
        return case_id, with_version(attachment_decoder.decode(data), seq)

    async def list_attachments(
        self,
        space_id: str,
        case_id: str,
        offset: int = 0,
        limit: int | None = None,
        descending: bool = False,
        only_type: str | None = None,
    ) -> tuple[list[Attachment], int]:
        where = "case_id = ? AND space_id = ?" + (" AND type = ?" if only_type else "")
        params = [case_id, space_id, *([only_type] if only_type else [])]
        direction = "DESC" if descending else "ASC"
        rows = await self._all(
            f"SELECT data, seq FROM attachments WHERE {where}"
            f" ORDER BY created_at {direction}, pos {direction} LIMIT ? OFFSET ?",
            [*params, -1 if limit is None else limit, offset],
        )
        if offset or (limit is not None and len(rows) == limit):
            (total,) = await self._one(f"SELECT COUNT(*) FROM attachments WHERE {where}", params)
        else:
            total = len(rows)
        return [with_version(attachment_decoder.decode(data), seq) for data, seq in rows], total

    async def delete_attachments(self, space_id: str, case_id: str, ids: list[str] | None) -> None:
        if ids is None:
            await self._run("DELETE FROM attachments WHERE case_id = ? AND space_id = ?", [case_id, space_id])
        elif ids:
            await self._run(
                "DELETE FROM attachments WHERE case_id = ? AND space_id = ?"
                f" AND id IN ({_placeholders(ids)})",
                [case_id, space_id, *ids],
            )

    async def case_alerts(self, space_id: str, case_id: str) -> list[CaseAlert]:
        rows = await self._all(
            "SELECT a.alert_id, a.alert_index, a.attached_at FROM case_alerts a JOIN attachments t"
            " ON t.id = a.attachment_id WHERE a.case_id = ? AND t.space_id = ? ORDER BY t.pos, a.rowid",
            [case_id, space_id],
        )
        return [CaseAlert(id=alert_id, index=index, attached_at=at) for alert_id, index, at in rows]

    async def cases_with_alert(self, space_id: str, alert_id: str, owners: list[str]) -> list[Case]:
        if not owners:
            return []
        rows = await self._all(
            "SELECT c.data, c.seq FROM cases c WHERE c.space_id = ?"
            f" AND c.owner IN ({_placeholders(owners)}) AND EXISTS"
            " (SELECT 1 FROM case_alerts a WHERE a.case_id = c.id AND a.alert_id = ?) ORDER BY c.created_at",
            [space_id, *owners, alert_id],
        )
        return [with_version(case_decoder.decode(data), seq) for data, seq in rows]

    async def count_case_alerts(self, space_id: str, case_id: str) -> int:
        (count,) = await self._one("SELECT COUNT(*) FROM case_alerts WHERE case_id = ?", [case_id])
        return count

    # --- user actions ---------------------------------------------------------------------

    async def insert_user_actions(self, space_id: str, case_id: str, actions: list[UserAction]) -> None:
        await self.conn.executemany(
            "INSERT INTO user_actions (id, space_id, case_id, type, attachment_type, created_at, data)"
            " VALUES (?,?,?,?,?,?,?)",
            [
                (a.id, space_id, case_id, a.type, commented_type(a), a.created_at, encode_stored(a))
                for a in actions
            ],
        )
        for action in actions:
            with_version(action, 1)

    async def find_user_actions(
        self, space_id: str, case_id: str, types: list[str], attachment_types: list[str], page: Page
    ) -> tuple[list[UserAction], int]:
        where = "case_id = ? AND space_id = ?"
        params: list[Any] = [case_id, space_id]
        if types or attachment_types:
            where += (
                f" AND (type IN ({_placeholders(types)})"
                f" OR type = 'comment' AND attachment_type IN ({_placeholders(attachment_types)}))"
            )
            params.extend([*types, *attachment_types])
        (total,) = await self._one(f"SELECT COUNT(*) FROM user_actions WHERE {where}", params)
        direction = "DESC" if page.descending else "ASC"
        rows = await self._all(
            f"SELECT data FROM user_actions WHERE {where} ORDER BY pos {direction} LIMIT ? OFFSET ?",
            [*params, page.per_page, page.offset],
        )
        return [with_version(user_action_decoder.decode(data), 1) for (data,) in rows], total

    # --- configurations ---------------------------------------------------------------------

    async def list_configurations(self, space_id: str, owners: list[str]) -> list[Configuration]:
        if not owners:
            return []
        rows = await self._all(
            f"SELECT data, seq FROM configurations WHERE space_id = ? AND owner IN ({_placeholders(owners)})"
            " ORDER BY owner",
            [space_id, *owners],
        )
        return [with_version(configuration_decoder.decode(data), seq) for data, seq in rows]

    async def get_configuration(self, space_id: str, configuration_id: str) -> Configuration | None:
        row = await self._one(
            "SELECT data, seq FROM configurations WHERE id = ? AND space_id = ?", [configuration_id, space_id]
        )
        return None if row is None else with_version(configuration_decoder.decode(row[0]), row[1])

    async def insert_configuration(self, space_id: str, configuration: Configuration) -> Configuration:
        await self._run(
            "INSERT INTO configurations (id, space_id, owner, seq, data) VALUES (?,?,?,1,?)",
            [configuration.id, space_id, configuration.owner, encode_stored(configuration)],
        )
        return with_version(configuration, 1)

    async def update_configuration(
        self, space_id: str, configuration: Configuration, expected_version: str
    ) -> Configuration:
        seq = expected_seq(expected_version)
        changed = await self._run(
            "UPDATE configurations SET seq = seq + 1, data = ? WHERE id = ? AND space_id = ? AND seq = ?",
            [encode_stored(configuration), configuration.id, space_id, seq],
        )
        if changed != 1:
            raise VersionConflict(configuration.id)
        return with_version(configuration, seq + 1)

    async def delete_configuration(self, space_id: str, configuration_id: str) -> None:
        await self._run(
            "DELETE FROM configurations WHERE id = ? AND space_id = ?", [configuration_id, space_id]
        )

    # --- connectors -----------------------------------------------------------------------

    async def insert_connector(self, space_id: str, connector: StoredConnector) -> bool:
        inserted = await self._run(
            "INSERT INTO connectors (id, space_id, type_id, name, config, secrets, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING",
            [connector.id, space_id, *connector_columns(connector)],
        )
        return inserted == 1

    async def get_connector(self, space_id: str, connector_id: str) -> StoredConnector | None:
        row = await self._one(
            f"SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE id = ? AND space_id = ?",
            [connector_id, space_id],
        )
        return None if row is None else stored_connector(*row)

    async def list_connectors(self, space_id: str) -> list[StoredConnector]:
        rows = await self._all(
            f"SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE space_id = ? ORDER BY name, id", [space_id]
        )
        return [stored_connector(*row) for row in rows]

    async def update_connector(self, space_id: str, connector: StoredConnector) -> None:
        await self._run(
            "UPDATE connectors SET type_id = ?, name = ?, config = ?, secrets = ?, created_at = ?,"
            " updated_at = ? WHERE id = ? AND space_id = ?",
            [*connector_columns(connector), connector.id, space_id],
        )

    async def delete_connector(self, space_id: str, connector_id: str) -> bool:
        deleted = await self._run(
            "DELETE FROM connectors WHERE id = ? AND space_id = ?", [connector_id, space_id]
        )
        return deleted == 1

    async def count_connector_references(self, space_id: str, connector_ids: list[str]) -> dict[str, int]:
        if not connector_ids:
            return {}
        marks = _placeholders(connector_ids)
        rows = await self._all(
            "SELECT connector_id, COUNT(*) FROM ("
            f" SELECT json_extract(data, '$.connector.id') AS connector_id FROM cases WHERE space_id = ?"
            f" AND json_extract(data, '$.connector.id') IN ({marks})"
            " UNION ALL"
            f" SELECT json_extract(data, '$.connector.id') FROM configurations WHERE space_id = ?"
            f" AND json_extract(data, '$.connector.id') IN ({marks})"
            ") GROUP BY connector_id",
            [space_id, *connector_ids, space_id, *connector_ids],
        )
        return dict(rows)

    # --- push claims ----------------------------------------------------------------------

    async def claim_push(
        self, space_id: str, case_id: str, connector_id: str, token: str, now_ms: int, expires_ms: int
    ) -> PushClaim | None:
        key = [space_id, case_id, connector_id]
        row = await self._one(
            "SELECT expires_ms, creating FROM push_claims"
            " WHERE space_id = ? AND case_id = ? AND connector_id = ?",
            key,
        )
        if row is not None and row[0] > now_ms:
            return None
        await self._run(
            "INSERT INTO push_claims (space_id, case_id, connector_id, token, expires_ms, creating)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT (space_id, case_id, connector_id)"
            " DO UPDATE SET token = excluded.token, expires_ms = excluded.expires_ms",
            [*key, token, expires_ms, 0],
        )
        return PushClaim(token, interrupted_create=bool(row and row[1]))

    async def update_push_claim(self, token: str, expires_ms: int, creating: bool | None = None) -> None:
        if creating is None:
            await self._run("UPDATE push_claims SET expires_ms = ? WHERE token = ?", [expires_ms, token])
        else:
            await self._run(
                "UPDATE push_claims SET expires_ms = ?, creating = ? WHERE token = ?",
                [expires_ms, int(creating), token],
            )

    async def release_push_claim(self, token: str) -> None:
        await self._run("DELETE FROM push_claims WHERE token = ?", [token])

    # --- spaces ---------------------------------------------------------------------------

    async def list_spaces(self) -> list[Space]:
        rows = await self._all("SELECT data FROM spaces")
        return sorted((space_decoder.decode(data) for (data,) in rows), key=lambda space: space.name)

    async def get_space(self, space_id: str) -> Space | None:
        row = await self._one("SELECT data FROM spaces WHERE id = ?", [space_id])
        return None if row is None else space_decoder.decode(row[0])

    async def insert_space(self, space: Space) -> bool:
        inserted = await self._run(
            "INSERT INTO spaces (id, data) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
            [space.id, encoder.encode(space)],
        )
        return inserted == 1

    async def update_space(self, space: Space) -> None:
        await self._run("UPDATE spaces SET data = ? WHERE id = ?", [encoder.encode(space), space.id])

    async def delete_space(self, space_id: str) -> None:
        # Attachments, alerts, tags, assignees and user actions go with their case (ON DELETE CASCADE).
        for table in SPACE_TABLES:
            await self._run(f"DELETE FROM {table} WHERE space_id = ?", [space_id])
        await self._run("DELETE FROM spaces WHERE id = ?", [space_id])

    # --- users, roles and API keys ---------------------------------------------------------

    async def get_user(self, username: str) -> StoredUser | None:
        row = await self._one(
            "SELECT username, password_hash, data FROM users WHERE username = ?", [username]
        )
        return None if row is None else stored_user(*row)

    async def list_users(self) -> list[StoredUser]:
        rows = await self._all("SELECT username, password_hash, data FROM users ORDER BY username")
        return [stored_user(*row) for row in rows]

    async def put_user(self, user: StoredUser) -> bool:
        existed = await self._one("SELECT 1 FROM users WHERE username = ?", [user.username])
        info = dataclasses.asdict(user)
        del info["username"], info["password_hash"]
        await self._run(
            "INSERT INTO users (username, password_hash, data) VALUES (?,?,?) ON CONFLICT (username)"
            " DO UPDATE SET password_hash = excluded.password_hash, data = excluded.data",
            [user.username, user.password_hash, encoder.encode(info)],
        )
        return existed is None

    async def delete_user(self, username: str) -> bool:
        await self._run(
            "UPDATE api_keys SET invalidated_ms = ? WHERE username = ? AND invalidated_ms IS NULL",
            [int(time.time() * 1000), username],
        )
        return await self._run("DELETE FROM users WHERE username = ?", [username]) == 1

    async def get_roles(self, names: list[str]) -> dict[str, RoleBody]:
        if not names:
            return {}
        rows = await self._all(f"SELECT name, data FROM roles WHERE name IN ({_placeholders(names)})", names)
        return {name: role_decoder.decode(data) for name, data in rows}

    async def list_roles(self) -> dict[str, RoleBody]:
        rows = await self._all("SELECT name, data FROM roles ORDER BY name")
        return {name: role_decoder.decode(data) for name, data in rows}

    async def put_role(self, name: str, role: RoleBody) -> None:
        await self._run(
            "INSERT INTO roles (name, data) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET data = excluded.data",
            [name, encoder.encode(role)],
        )

    async def delete_role(self, name: str) -> bool:
        return await self._run("DELETE FROM roles WHERE name = ?", [name]) == 1

    async def insert_api_key(self, key: StoredApiKey) -> None:
        await self._run(
            f"INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES (?,?,?,?,?,?,?)", api_key_columns(key)
        )

    async def get_api_key(self, key_id: str) -> StoredApiKey | None:
        row = await self._one(f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = ?", [key_id])
        return None if row is None else stored_api_key(*row)

    async def list_api_keys(self, username: str | None) -> list[StoredApiKey]:
        where, params = ("WHERE username = ?", [username]) if username is not None else ("", [])
        rows = await self._all(
            f"SELECT {API_KEY_COLUMNS} FROM api_keys {where} ORDER BY created_ms, id", params
        )
        return [stored_api_key(*row) for row in rows]

    async def invalidate_api_key(self, key_id: str, at_ms: int) -> None:
        await self._run("UPDATE api_keys SET invalidated_ms = ? WHERE id = ?", [at_ms, key_id])

    async def lock(self, name: str) -> None:
        """Nothing to do: SQLite runs one write transaction at a time."""

    # --- whole tables -------------------------------------------------------------------

    async def table_rows(self, table: Table) -> AsyncIterator[list[tuple]]:
        columns = ", ".join(table.columns)
        async with self.conn.execute(f"SELECT {columns} FROM {table.name} ORDER BY rowid") as cursor:
            while batch := await cursor.fetchmany(TABLE_BATCH):
                yield [tuple(row) for row in batch]

    async def count_rows(self, table: Table) -> int:
        (count,) = await self._one(f"SELECT COUNT(*) FROM {table.name}")
        return count

    async def insert_rows(self, table: Table, rows: list[tuple]) -> None:
        marks = ",".join("?" * len(table.columns))
        await self.conn.executemany(
            f"INSERT INTO {table.name} ({', '.join(table.columns)}) VALUES ({marks})", rows
        )

    async def delete_rows(self, table: Table) -> None:
        await self._run(f"DELETE FROM {table.name}")


class InlineCursor:
    """A finished statement's cursor, with the part of a cursor's API the store uses (as ``ReaderCursor``)."""

    def __init__(self, cursor: sqlite3.Cursor):
        self._cursor = cursor
        self.rowcount = cursor.rowcount

    async def fetchmany(self, size: int) -> list[Any]:
        return self._cursor.fetchmany(size)

    async def close(self) -> None:
        self._cursor.close()


class InlineStatement:
    """``conn.execute(...)``: awaited for its cursor, or used with ``async with``, as a reader's."""

    def __init__(self, cursor: sqlite3.Cursor):
        self._cursor = InlineCursor(cursor)

    def __await__(self) -> Generator[Any, None, InlineCursor]:
        return self._cursor
        yield  # a generator, so that ``await`` works

    async def __aenter__(self) -> InlineCursor:
        return self._cursor

    async def __aexit__(self, *exc: object) -> None:
        await self._cursor.close()


#: Values of a statement's ``?`` (in order) or ``:name`` parameters.
Parameters = Iterable[Any] | Mapping[str, Any]


def _bound(params: Parameters) -> tuple[Any, ...] | Mapping[str, Any]:
    return params if isinstance(params, Mapping) else tuple(params)


class InlineConnection:
    """The writer's connection, called on the event loop's thread.

    Writes run one at a time anyway, and each statement is microseconds of SQLite: far less than the
    hop to a thread and back, which would cost every write several times over. Waiting for
    another process's write lock must not block the loop, so ``begin`` polls instead of SQLite's busy
    handler (the connection's busy timeout is zero).
    """

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn

    def execute(self, sql: str, params: Parameters = ()) -> InlineStatement:
        return InlineStatement(self._conn.execute(sql, _bound(params)))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    async def execute_fetchall(self, sql: str, params: Parameters = ()) -> list[Any]:
        return self._conn.execute(sql, _bound(params)).fetchall()

    async def begin(self, timeout: float) -> None:
        """``BEGIN IMMEDIATE``, waiting (without blocking) up to ``timeout`` s for another process."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(BUSY_POLL)

    async def close(self) -> None:
        self._conn.close()


class ReaderCursor:
    """A reader's cursor: its rows fetched on the reader's thread."""

    def __init__(self, reader: "ReaderConnection", cursor: sqlite3.Cursor):
        self._reader = reader
        self._cursor = cursor
        self.rowcount = cursor.rowcount

    async def fetchmany(self, size: int) -> list[Any]:
        return await self._reader.call(self._cursor.fetchmany, size)

    async def close(self) -> None:
        await self._reader.call(self._cursor.close)


class ReaderStatement:
    """``conn.execute(...)`` of a reader: awaited for its cursor, or used with ``async with``."""

    def __init__(self, reader: "ReaderConnection", running: "asyncio.Future[sqlite3.Cursor]"):
        self._reader = reader
        self._running = running
        self._cursor: ReaderCursor | None = None

    def __await__(self) -> Generator[Any, None, ReaderCursor]:
        return self._opened().__await__()

    async def _opened(self) -> ReaderCursor:
        return ReaderCursor(self._reader, await self._running)

    async def __aenter__(self) -> ReaderCursor:
        self._cursor = await self._opened()
        return self._cursor

    async def __aexit__(self, *exc: object) -> None:
        if self._cursor is not None:
            await self._cursor.close()


class ReaderConnection:
    """A reader's connection, on a thread of its own (SQLite runs there without the GIL, in parallel
    with the loop and the other readers).

    Each call is a hop to the thread and back, which costs more than a quick statement: a read
    transaction's ``BEGIN`` goes with its first statement, and its end is not waited for (the thread
    runs it before anything asked later).
    """

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="casepush-sqlite-reader")
        self._begin_next = False

    def call(self, function: Callable[..., Any], *args: Any) -> "asyncio.Future[Any]":
        """Run ``function`` on the thread, after everything asked before (a call whose task is cancelled
        before it starts is dropped)."""
        begin, self._begin_next = self._begin_next, False
        if begin:
            function = functools.partial(_after_begin, self._conn, function)
        return asyncio.get_running_loop().run_in_executor(self._thread, function, *args)

    def begin(self) -> None:
        """A deferred transaction, begun with the next statement: it takes its snapshot there."""
        self._begin_next = True

    def end(self) -> None:
        """Leave the transaction (if it began), without waiting."""
        self._begin_next = False
        self.call(self._conn.rollback).add_done_callback(_log_failure)

    def execute(self, sql: str, params: Parameters = ()) -> ReaderStatement:
        return ReaderStatement(self, self.call(self._conn.execute, sql, _bound(params)))

    async def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        await self.call(self._conn.executemany, sql, list(rows))

    async def execute_fetchall(self, sql: str, params: Parameters = ()) -> list[Any]:
        return await self.call(_fetchall, self._conn, sql, _bound(params))

    async def close(self) -> None:
        await self.call(self._conn.close)
        self._thread.shutdown()


def _after_begin(conn: sqlite3.Connection, function: Callable[..., Any], *args: Any) -> Any:
    conn.execute("BEGIN")
    return function(*args)


def _fetchall(conn: sqlite3.Connection, sql: str, params: Any) -> list[Any]:
    return conn.execute(sql, params).fetchall()


def _log_failure(done: "asyncio.Future[Any]") -> None:
    if not done.cancelled() and done.exception() is not None:
        log.warning("could not end a read transaction: %r", done.exception())


class SqliteStore(Store):
    def __init__(self, path: Path, readers: int = READERS):
        self.path = path
        self.readers = readers
        self._writer: InlineConnection | None = None
        self._write_lock = asyncio.Lock()
        self._writes_since_maintenance = 0
        #: Every reader connection, and those no read holds now: the last one freed is taken first,
        #: its page cache the warmest.
        self._reader_connections: list[ReaderConnection] = []
        self._idle_readers: asyncio.LifoQueue[ReaderConnection] = asyncio.LifoQueue()

    def _connect_reader(self) -> ReaderConnection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in _PRAGMAS:
            conn.execute(pragma)
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        conn.execute("PRAGMA query_only = ON")  # as PostgreSQL's read-only transactions
        return ReaderConnection(conn)

    def _connect_inline(self) -> InlineConnection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in _PRAGMAS:
            conn.execute(pragma)
        conn.execute("PRAGMA busy_timeout = 0")
        # Checkpoints run in a thread, every MAINTENANCE_EVERY_WRITES writes (see _checkpoint).
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        return InlineConnection(conn)

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = self._connect_inline()
        await self._migrate(self._writer)
        await self._analyze()
        for _ in range(self.readers):
            conn = self._connect_reader()
            self._reader_connections.append(conn)
            self._idle_readers.put_nowait(conn)

    async def analyze(self) -> None:
        async with self._write_lock:
            await self._analyze()

    async def _analyze(self) -> None:
        """Refresh the planner's statistics (sampled: milliseconds even for large tables). Without them
        SQLite guesses that a filter on owners is selective and scans every case where the tag index
        would find a few."""
        assert self._writer is not None
        await self._writer.execute(f"PRAGMA analysis_limit = {ANALYSIS_LIMIT}")
        await self._writer.execute("ANALYZE")

    async def _migrate(self, conn: InlineConnection) -> None:
        await conn.begin(BUSY_TIMEOUT)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT DEFAULT CURRENT_TIMESTAMP)"
            )
            applied = {n for (n,) in await conn.execute_fetchall("SELECT number FROM schema_migrations")}
            for number, name, sql in migrations("sqlite"):
                if number in applied:
                    continue
                log.info("applying migration %s", name)
                for statement in _statements(sql):
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO schema_migrations (number, name) VALUES (?, ?)", (number, name)
                )
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        for conn in self._reader_connections:
            await conn.close()
        self._reader_connections = []
        self._idle_readers = asyncio.LifoQueue()
        if self._writer is not None:
            await self._writer.close()
        self._writer = None

    @asynccontextmanager
    async def _reader(self) -> AsyncIterator[ReaderConnection]:
        """A reader connection for the block, waiting for one when every reader is in use."""
        assert self._writer is not None, "store is not open"
        conn = await self._idle_readers.get()
        try:
            yield conn
        finally:
            self._idle_readers.put_nowait(conn)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """One transaction on a reader connection: its statements see the database as it was at the
        first of them (WAL's snapshot), as on PostgreSQL, while other reads and the writer go on."""
        async with self._reader() as conn:
            conn.begin()
            try:
                yield SqliteTx(conn)
            finally:
                conn.end()

    async def ping(self) -> None:
        async with self._reader() as conn:
            await conn.execute_fetchall("SELECT 1")

    def pool_usage(self) -> PoolUsage:
        """The writer (in use while a write holds it) and the reader connections."""
        most = 1 + self.readers
        if self._writer is None:
            return PoolUsage(in_use=0, open=0, max=most)
        reading = len(self._reader_connections) - self._idle_readers.qsize()
        in_use = int(self._write_lock.locked()) + reading
        return PoolUsage(in_use=in_use, open=1 + len(self._reader_connections), max=most)

    def on_security_change(self, callback: Callable[[], None]) -> None:
        """Never called: a SQLite file serves one instance."""

    def snapshot(self) -> AbstractAsyncContextManager[Tx]:
        return self.read()

    def write(self) -> AbstractAsyncContextManager[Tx]:
        return self._write(LONG_WRITE)

    def bulk_write(self) -> AbstractAsyncContextManager[Tx]:
        return self._write(None)

    @asynccontextmanager
    async def _write(self, long_after: float | None) -> AsyncIterator[Tx]:
        """A write transaction, logged when it holds the write lock longer than ``long_after`` s."""
        assert self._writer is not None, "store is not open"
        async with self._write_lock:
            await self._writer.begin(BUSY_TIMEOUT)
            began = time.monotonic()
            try:
                with write_transaction():
                    yield SqliteTx(self._writer)
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise
            await self._writer.execute("COMMIT")
            _report_long_write(time.monotonic() - began, long_after)
            self._writes_since_maintenance += 1
            due = self._writes_since_maintenance >= MAINTENANCE_EVERY_WRITES
            if due:
                self._writes_since_maintenance = 0
                await self._analyze()
        if due:
            # In a thread, and outside the lock: a checkpoint may write and sync megabytes, which
            # the writer, on the loop's thread, must not wait for.
            await asyncio.to_thread(_checkpoint, self.path)


def _report_long_write(held: float, long_after: float | None) -> None:
    """Log a write that held the lock long: every other write waited for it (an outbound call inside
    a write transaction, or a statement that wants an index)."""
    if long_after is not None and held > long_after:
        log.warning(
            "a write transaction held SQLite's write lock for %.0f ms (more than %.0f ms)",
            held * 1000,
            long_after * 1000,
        )


def _checkpoint(path: Path) -> None:
    """Move the write-ahead log into the database and empty it. TRUNCATE waits (up to the busy timeout)
    for readers to leave the log: under steady load a passive checkpoint never finds it unused, and the
    log would grow without end."""
    with closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _statements(sql: str) -> list[str]:
    """Split a migration file on semicolons that end a line (no triggers or bodies in our SQL)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";\n") if s.strip()]
