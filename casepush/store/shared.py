"""What the two backends run alike, written once: the primitives of statements with ``:name``
parameters, and on them the ``Tx`` methods of the documents the store keeps (cases, attachments, user
actions, configurations, connectors, spaces, users, roles, API keys). The automatic push outbox
(``casepush.store.outbox``) and two-way sync (``casepush.store.sync``) are written on the same
primitives.

A backend's transaction runs a statement with ``_fetch_named``, ``_run_named`` or ``_run_many_named``:
SQLite takes the names as they are, PostgreSQL as ``$n`` (``positional``). Where the engines' SQL
differs in a detail, the statement asks the backend for that piece (``_among``, ``_json_text``,
``_lock_read_cases``, ``ALERT_ORDER``, ``NO_LIMIT``), and writes that change users, roles or API keys
call ``_security_changed`` first (spaces: ``_spaces_changed``). What an engine does differently as a
whole stays in its backend: search, push claims, upserts that tell a new row from a replaced one, locks,
whole-table streaming and bulk inserts; and the statements PostgreSQL makes one to save round trips:
``_write_case`` (a case's row with its tags and assignees) and ``_mark_attachments_pushed`` (part of
PostgreSQL's ``record_push``) run here one statement after another, which costs SQLite no round trip.
"""

import abc
import dataclasses
import re
import time
from functools import cache
from typing import Any

import msgspec

from casepush.store import (
    Page,
    StoredApiKey,
    StoredConnector,
    StoredUser,
    Table,
    VersionConflict,
    decode_version,
)
from casepush.store.rows import (
    API_KEY_COLUMNS,
    CONNECTOR_COLUMNS,
    SEVERITY_CODES,
    SPACE_TABLES,
    STATUS_CODES,
    alert_pairs,
    api_key_values,
    attachment_decoder,
    case_decoder,
    children_changed,
    commented_type,
    configuration_decoder,
    connector_values,
    encode_stored,
    encoder,
    expected_seq,
    role_decoder,
    space_decoder,
    stored_api_key,
    stored_connector,
    stored_user,
    user_action_decoder,
    with_version,
)
from casepush.types import (
    AlertComment,
    Attachment,
    Case,
    CaseAlert,
    Configuration,
    RoleBody,
    Space,
    UserAction,
    attachment_type,
)

_NAME = re.compile(r"(?<!:):([a-z_]+)")


@cache
def positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """A statement with ``:name`` parameters as PostgreSQL's ``$n``, and the names in ``$n`` order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"

    return _NAME.sub(number, sql), tuple(names)


class NamedStatements(abc.ABC):
    """A backend transaction's primitives for statements with ``:name`` parameters (names of lower-case
    letters and ``_``), on which the shared ``Tx`` methods are written."""

    #: What a subquery that picks due rows adds to skip rows other transactions are taking (PostgreSQL's
    #: ``SKIP LOCKED``); nothing where one writer runs at a time.
    SKIP_LOCKED = ""

    @abc.abstractmethod
    async def _fetch_named(self, sql: str, values: dict[str, Any]) -> list[Any]:
        """The rows of a statement."""

    @abc.abstractmethod
    async def _run_named(self, sql: str, values: dict[str, Any]) -> int:
        """Run a statement; how many rows it changed."""

    @abc.abstractmethod
    async def _run_many_named(self, sql: str, rows: list[dict[str, Any]]) -> None:
        """Run a statement once for each set of values."""

    async def _fetch_row(self, sql: str, values: dict[str, Any]) -> Any:
        """The first row of a statement, or None."""
        rows = await self._fetch_named(sql, values)
        return rows[0] if rows else None

    async def _fetch_value(self, sql: str, values: dict[str, Any]) -> Any:
        """The first column of a statement's first row (a count, a document), or None without a row."""
        rows = await self._fetch_named(sql, values)
        return rows[0][0] if rows else None


#: Insert or replace a user (``user_values``); PostgreSQL's adds what tells a new user from a replaced one.
PUT_USER = (
    "INSERT INTO users (username, password_hash, data) VALUES (:username, :password_hash, :data)"
    " ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, data = excluded.data"
)


def user_values(user: StoredUser) -> dict[str, Any]:
    """The values of ``PUT_USER``: what is neither the name nor the password hash is the ``data`` document."""
    info = dataclasses.asdict(user)
    del info["username"], info["password_hash"]
    return {"username": user.username, "password_hash": user.password_hash, "data": encoder.encode(info)}


def _case_values(case: Case) -> dict[str, Any]:
    """A case's columns but its key and ``seq``: the filtered and sorted ones, and the document."""
    return {
        "owner": case.owner,
        "status": STATUS_CODES[case.status],
        "severity": SEVERITY_CODES[case.severity],
        "title": case.title,
        "description": case.description,
        "category": case.category,
        "reporter": case.created_by.username,
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "closed_at": case.closed_at,
        "data": encoder.encode(msgspec.structs.replace(case, comments=[], version="")),
    }


def _told_total(found: int, offset: int, limit: int | None) -> int | None:
    """How many rows match, when a page of ``found`` rows (from ``offset``, at most ``limit``) tells it: a
    page that is not full is the last one, unless it is empty past the first (then the rows may end
    anywhere before it). None: they must be counted."""
    if limit is not None and found >= limit:
        return None
    if found or not offset:
        return offset + found
    return None


_API_KEY_PARAMETERS = ", ".join(f":{column}" for column in API_KEY_COLUMNS.split(", "))


class DocumentTx(NamedStatements):
    """The ``Tx`` methods of stored documents, on a backend's primitives and hooks."""

    #: The column of ``case_alerts`` that keeps an attachment's alerts in their order.
    ALERT_ORDER: str
    #: The ``LIMIT`` that sets no limit.
    NO_LIMIT: int | None

    @abc.abstractmethod
    def _among(self, column: str, name: str, values: dict[str, Any]) -> str:
        """SQL that holds when ``column`` is one of the list ``values[name]`` (never when it is empty),
        binding in ``values`` what it names; ``column``'s index serves it as it does a list of values."""

    @abc.abstractmethod
    def _json_text(self, column: str, *path: str) -> str:
        """SQL for the text at ``path`` in the JSON document in ``column``, written as the expression
        indexes on it are (so that they are used)."""

    def _lock_read_cases(self) -> str:
        """What ends a statement that reads cases to hold them until the transaction ends, so that what
        was checked on a case stays true until its changes commit: nothing where one writer runs at a
        time."""
        return ""

    async def _security_changed(self) -> None:
        """Called before a write changes users, roles or API keys: where several instances share the
        database, tell them when the transaction commits; nothing where one instance has it."""

    #: Whether the transaction changed spaces: its store forgets the spaces it keeps as it commits.
    changed_spaces = False

    async def _spaces_changed(self) -> None:
        """Called by a write that changes spaces: the store forgets the spaces it keeps (``SpaceCache``)
        once the transaction commits; where several instances share the database, they are told too."""
        self.changed_spaces = True

    async def _write_case(self, sql: str, values: dict[str, Any], case: Case, children: str) -> int:
        """Run ``sql``, a statement that writes one case's row, and, if it wrote it, the rows beside the case
        (its tags and assignees, kept for filtering): ``insert`` them, ``replace`` those it had, or
        ``keep`` them. How many rows ``sql`` wrote. One statement after another here; PostgreSQL makes
        them one."""
        written = await self._run_named(sql, values)
        if written and children == "replace":
            await self._run_named("DELETE FROM case_tags WHERE case_id = :case_id", {"case_id": case.id})
            await self._run_named("DELETE FROM case_assignees WHERE case_id = :case_id", {"case_id": case.id})
        if written and children != "keep":
            await self._run_many_named(
                "INSERT INTO case_tags (case_id, tag) VALUES (:case_id, :tag) ON CONFLICT DO NOTHING",
                [{"case_id": case.id, "tag": tag} for tag in case.tags],
            )
            await self._run_many_named(
                "INSERT INTO case_assignees (case_id, uid) VALUES (:case_id, :uid) ON CONFLICT DO NOTHING",
                [{"case_id": case.id, "uid": assignee.uid} for assignee in case.assignees],
            )
        return written

    # --- cases ------------------------------------------------------------------------

    async def get_cases(self, space_id: str, ids: list[str]) -> list[Case]:
        """In id order (the order locks are taken in, on PostgreSQL)."""
        if not ids:
            return []
        values: dict[str, Any] = {"space_id": space_id, "ids": ids}
        rows = await self._fetch_named(
            f"SELECT data, seq FROM cases WHERE space_id = :space_id AND {self._among('id', 'ids', values)}"
            f" ORDER BY id{self._lock_read_cases()}",
            values,
        )
        return [with_version(case_decoder.decode(data), seq) for data, seq in rows]

    async def insert_case(self, space_id: str, case: Case) -> Case:
        await self._write_case(
            "INSERT INTO cases (id, space_id, seq, owner, status, severity, title, description, category,"
            " reporter, created_at, updated_at, closed_at, data) VALUES (:id, :space_id, 1, :owner, :status,"
            " :severity, :title, :description, :category, :reporter, :created_at, :updated_at, :closed_at,"
            " :data)",
            {"id": case.id, "space_id": space_id, **_case_values(case)},
            case,
            "insert",
        )
        return with_version(case, 1)

    async def update_case(self, space_id: str, case: Case, before: Case) -> Case:
        seq = expected_seq(before.version)
        changed = await self._write_case(
            "UPDATE cases SET seq = seq + 1, owner = :owner, status = :status, severity = :severity,"
            " title = :title, description = :description, category = :category, reporter = :reporter,"
            " created_at = :created_at, updated_at = :updated_at, closed_at = :closed_at, data = :data"
            " WHERE id = :id AND space_id = :space_id AND seq = :seq",
            {**_case_values(case), "id": case.id, "space_id": space_id, "seq": seq},
            case,
            "replace" if children_changed(case, before) else "keep",
        )
        if changed != 1:
            raise VersionConflict(case.id)
        return with_version(case, seq + 1)

    async def delete_cases(self, space_id: str, ids: list[str]) -> None:
        values: dict[str, Any] = {"space_id": space_id, "ids": ids}
        await self._run_named(
            f"DELETE FROM cases WHERE space_id = :space_id AND {self._among('id', 'ids', values)}", values
        )

    async def case_totals(self, space_id: str, case_ids: list[str]) -> dict[str, tuple[int, int]]:
        totals = dict.fromkeys(case_ids, (0, 0))
        if not case_ids:
            return totals
        values: dict[str, Any] = {"case_ids": case_ids}
        of_cases = self._among("case_id", "case_ids", values)
        # One statement: each part counted by its own index, told apart by its first column.
        rows = await self._fetch_named(
            "SELECT 0, case_id, COUNT(*) FROM attachments"
            f" WHERE type = 'user' AND {of_cases} GROUP BY case_id"
            " UNION ALL SELECT 1, case_id, COUNT(DISTINCT alert_id) FROM case_alerts"
            f" WHERE {of_cases} GROUP BY case_id",
            values,
        )
        counts: list[dict[str, int]] = [{}, {}]
        for part, case_id, count in rows:
            counts[part][case_id] = count
        comment_counts, alert_counts = counts
        return {cid: (comment_counts.get(cid, 0), alert_counts.get(cid, 0)) for cid in case_ids}

    async def tags(self, space_id: str, owners: list[str]) -> list[str]:
        if not owners:
            return []
        values: dict[str, Any] = {"space_id": space_id, "owners": owners}
        rows = await self._fetch_named(
            "SELECT DISTINCT t.tag FROM case_tags t JOIN cases c ON c.id = t.case_id"
            f" WHERE c.space_id = :space_id AND {self._among('c.owner', 'owners', values)} ORDER BY t.tag",
            values,
        )
        return [tag for (tag,) in rows]

    # --- attachments --------------------------------------------------------------------

    async def insert_attachment(self, space_id: str, case_id: str, attachment: Attachment) -> Attachment:
        await self._run_named(
            "INSERT INTO attachments (id, space_id, case_id, seq, type, created_at, data)"
            " VALUES (:id, :space_id, :case_id, 1, :type, :created_at, :data)",
            {
                "id": attachment.id,
                "space_id": space_id,
                "case_id": case_id,
                "type": attachment_type(attachment),
                "created_at": attachment.created_at,
                "data": encode_stored(attachment),
            },
        )
        await self._write_alerts(case_id, attachment)
        return with_version(attachment, 1)

    async def update_attachment(
        self, space_id: str, case_id: str, attachment: Attachment, expected_version: str
    ) -> Attachment:
        seq = expected_seq(expected_version)
        changed = await self._run_named(
            "UPDATE attachments SET seq = seq + 1, type = :type, data = :data"
            " WHERE id = :id AND space_id = :space_id AND seq = :seq",
            {
                "type": attachment_type(attachment),
                "data": encode_stored(attachment),
                "id": attachment.id,
                "space_id": space_id,
                "seq": seq,
            },
        )
        if changed != 1:
            raise VersionConflict(attachment.id)
        await self._run_named(
            "DELETE FROM case_alerts WHERE attachment_id = :attachment_id", {"attachment_id": attachment.id}
        )
        await self._write_alerts(case_id, attachment)
        return with_version(attachment, seq + 1)

    async def _mark_attachments_pushed(
        self, space_id: str, case_id: str, attachments: list[Attachment]
    ) -> dict[str, Attachment]:
        """Store attachments a push marked, each if its stored version is still the one it carries (their
        alerts' rows stay as they are: neither their type nor their alerts change); those stored, by id,
        with their new versions. One statement an attachment (PostgreSQL's ``record_push`` makes them
        part of one)."""
        stored: dict[str, Attachment] = {}
        for attachment in attachments:
            seq = decode_version(attachment.version)
            if seq is None:  # never read from the store: nothing to compare with
                continue
            changed = await self._run_named(
                "UPDATE attachments SET seq = seq + 1, data = :data"
                " WHERE id = :id AND space_id = :space_id AND case_id = :case_id AND seq = :seq",
                {
                    "data": encode_stored(attachment),
                    "id": attachment.id,
                    "space_id": space_id,
                    "case_id": case_id,
                    "seq": seq,
                },
            )
            if changed == 1:
                stored[attachment.id] = with_version(attachment, seq + 1)
        return stored

    async def _write_alerts(self, case_id: str, attachment: Attachment) -> None:
        if not isinstance(attachment, AlertComment):
            return
        await self._run_many_named(
            "INSERT INTO case_alerts (attachment_id, case_id, alert_id, alert_index, attached_at)"
            " VALUES (:attachment_id, :case_id, :alert_id, :alert_index, :attached_at)",
            [
                {
                    "attachment_id": attachment.id,
                    "case_id": case_id,
                    "alert_id": alert_id,
                    "alert_index": index,
                    "attached_at": attachment.created_at,
                }
                for alert_id, index in alert_pairs(attachment)
            ],
        )

    async def get_attachment(self, space_id: str, attachment_id: str) -> tuple[str, Attachment] | None:
        row = await self._fetch_row(
            "SELECT case_id, data, seq FROM attachments WHERE id = :id AND space_id = :space_id",
            {"id": attachment_id, "space_id": space_id},
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
        """The page first; the total is counted only when the page does not tell it."""
        values = {
            "case_id": case_id,
            "space_id": space_id,
            "type": only_type,
            "limit": self.NO_LIMIT if limit is None else limit,
            "offset": offset,
        }
        where = "case_id = :case_id AND space_id = :space_id" + (" AND type = :type" if only_type else "")
        direction = "DESC" if descending else "ASC"
        rows = await self._fetch_named(
            f"SELECT data, seq FROM attachments WHERE {where}"
            f" ORDER BY created_at {direction}, pos {direction} LIMIT :limit OFFSET :offset",
            values,
        )
        total = _told_total(len(rows), offset, limit)
        if total is None:
            total = await self._fetch_value(f"SELECT COUNT(*) FROM attachments WHERE {where}", values)
        return [with_version(attachment_decoder.decode(data), seq) for data, seq in rows], total

    async def delete_attachments(self, space_id: str, case_id: str, ids: list[str] | None) -> None:
        values: dict[str, Any] = {"case_id": case_id, "space_id": space_id, "ids": ids}
        if ids is None:
            await self._run_named(
                "DELETE FROM attachments WHERE case_id = :case_id AND space_id = :space_id", values
            )
        elif ids:
            await self._run_named(
                "DELETE FROM attachments WHERE case_id = :case_id AND space_id = :space_id"
                f" AND {self._among('id', 'ids', values)}",
                values,
            )

    async def case_alerts(self, space_id: str, case_id: str) -> list[CaseAlert]:
        rows = await self._fetch_named(
            "SELECT a.alert_id, a.alert_index, a.attached_at FROM case_alerts a JOIN attachments t"
            " ON t.id = a.attachment_id WHERE a.case_id = :case_id AND t.space_id = :space_id"
            f" ORDER BY t.pos, a.{self.ALERT_ORDER}",
            {"case_id": case_id, "space_id": space_id},
        )
        return [CaseAlert(id=alert_id, index=index, attached_at=at) for alert_id, index, at in rows]

    async def cases_with_alert(self, space_id: str, alert_id: str, owners: list[str]) -> list[Case]:
        if not owners:
            return []
        values: dict[str, Any] = {"space_id": space_id, "owners": owners, "alert_id": alert_id}
        rows = await self._fetch_named(
            "SELECT c.data, c.seq FROM cases c"
            f" WHERE c.space_id = :space_id AND {self._among('c.owner', 'owners', values)} AND EXISTS"
            " (SELECT 1 FROM case_alerts a WHERE a.case_id = c.id AND a.alert_id = :alert_id)"
            " ORDER BY c.created_at",
            values,
        )
        return [with_version(case_decoder.decode(data), seq) for data, seq in rows]

    async def count_case_alerts(self, space_id: str, case_id: str) -> int:
        count: int = await self._fetch_value(
            "SELECT COUNT(*) FROM case_alerts WHERE case_id = :case_id", {"case_id": case_id}
        )
        return count

    # --- user actions ---------------------------------------------------------------------

    async def insert_user_actions(self, space_id: str, case_id: str, actions: list[UserAction]) -> None:
        await self._run_many_named(
            "INSERT INTO user_actions (id, space_id, case_id, type, attachment_type, created_at, data)"
            " VALUES (:id, :space_id, :case_id, :type, :attachment_type, :created_at, :data)",
            [
                {
                    "id": action.id,
                    "space_id": space_id,
                    "case_id": case_id,
                    "type": action.type,
                    "attachment_type": commented_type(action),
                    "created_at": action.created_at,
                    "data": encode_stored(action),
                }
                for action in actions
            ],
        )
        for action in actions:
            with_version(action, 1)

    async def find_user_actions(
        self, space_id: str, case_id: str, types: list[str], attachment_types: list[str], page: Page
    ) -> tuple[list[UserAction], int]:
        values: dict[str, Any] = {
            "case_id": case_id,
            "space_id": space_id,
            "types": types,
            "attachment_types": attachment_types,
            "limit": page.per_page,
            "offset": page.offset,
        }
        where = "case_id = :case_id AND space_id = :space_id"
        if types or attachment_types:
            of_types = self._among("type", "types", values)
            about = self._among("attachment_type", "attachment_types", values)
            where += f" AND ({of_types} OR type = 'comment' AND {about})"
        direction = "DESC" if page.descending else "ASC"
        rows = await self._fetch_named(
            f"SELECT data FROM user_actions WHERE {where} ORDER BY pos {direction}"
            " LIMIT :limit OFFSET :offset",
            values,
        )
        total = _told_total(len(rows), page.offset, page.per_page)
        if total is None:
            total = await self._fetch_value(f"SELECT COUNT(*) FROM user_actions WHERE {where}", values)
        return [with_version(user_action_decoder.decode(data), 1) for (data,) in rows], total

    # --- configurations ---------------------------------------------------------------------

    async def list_configurations(self, space_id: str, owners: list[str]) -> list[Configuration]:
        if not owners:
            return []
        values: dict[str, Any] = {"space_id": space_id, "owners": owners}
        rows = await self._fetch_named(
            "SELECT data, seq FROM configurations"
            f" WHERE space_id = :space_id AND {self._among('owner', 'owners', values)} ORDER BY owner",
            values,
        )
        return [with_version(configuration_decoder.decode(data), seq) for data, seq in rows]

    async def get_configuration(self, space_id: str, configuration_id: str) -> Configuration | None:
        row = await self._fetch_row(
            "SELECT data, seq FROM configurations WHERE id = :id AND space_id = :space_id",
            {"id": configuration_id, "space_id": space_id},
        )
        return None if row is None else with_version(configuration_decoder.decode(row[0]), row[1])

    async def insert_configuration(self, space_id: str, configuration: Configuration) -> Configuration:
        await self._run_named(
            "INSERT INTO configurations (id, space_id, owner, seq, data)"
            " VALUES (:id, :space_id, :owner, 1, :data)",
            {
                "id": configuration.id,
                "space_id": space_id,
                "owner": configuration.owner,
                "data": encode_stored(configuration),
            },
        )
        return with_version(configuration, 1)

    async def update_configuration(
        self, space_id: str, configuration: Configuration, expected_version: str
    ) -> Configuration:
        seq = expected_seq(expected_version)
        changed = await self._run_named(
            "UPDATE configurations SET seq = seq + 1, data = :data"
            " WHERE id = :id AND space_id = :space_id AND seq = :seq",
            {"data": encode_stored(configuration), "id": configuration.id, "space_id": space_id, "seq": seq},
        )
        if changed != 1:
            raise VersionConflict(configuration.id)
        return with_version(configuration, seq + 1)

    async def delete_configuration(self, space_id: str, configuration_id: str) -> None:
        await self._run_named(
            "DELETE FROM configurations WHERE id = :id AND space_id = :space_id",
            {"id": configuration_id, "space_id": space_id},
        )

    # --- connectors -----------------------------------------------------------------------

    async def insert_connector(self, space_id: str, connector: StoredConnector) -> bool:
        inserted = await self._run_named(
            "INSERT INTO connectors (id, space_id, type_id, name, config, secrets, created_at, updated_at)"
            " VALUES (:id, :space_id, :type_id, :name, :config, :secrets, :created_at, :updated_at)"
            " ON CONFLICT (id) DO NOTHING",
            {"id": connector.id, "space_id": space_id, **connector_values(connector)},
        )
        return inserted == 1

    async def get_connector(self, space_id: str, connector_id: str) -> StoredConnector | None:
        row = await self._fetch_row(
            f"SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE id = :id AND space_id = :space_id",
            {"id": connector_id, "space_id": space_id},
        )
        return None if row is None else stored_connector(*row)

    async def list_connectors(self, space_id: str) -> list[StoredConnector]:
        rows = await self._fetch_named(
            f"SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE space_id = :space_id ORDER BY name, id",
            {"space_id": space_id},
        )
        return [stored_connector(*row) for row in rows]

    async def update_connector(self, space_id: str, connector: StoredConnector) -> None:
        await self._run_named(
            "UPDATE connectors SET type_id = :type_id, name = :name, config = :config, secrets = :secrets,"
            " created_at = :created_at, updated_at = :updated_at WHERE id = :id AND space_id = :space_id",
            {**connector_values(connector), "id": connector.id, "space_id": space_id},
        )

    async def delete_connector(self, space_id: str, connector_id: str) -> bool:
        deleted = await self._run_named(
            "DELETE FROM connectors WHERE id = :id AND space_id = :space_id",
            {"id": connector_id, "space_id": space_id},
        )
        return deleted == 1

    async def count_connector_references(self, space_id: str, connector_ids: list[str]) -> dict[str, int]:
        if not connector_ids:
            return {}
        values: dict[str, Any] = {"space_id": space_id, "connector_ids": connector_ids}
        named = self._json_text("data", "connector", "id")
        naming_one = self._among(named, "connector_ids", values)
        rows = await self._fetch_named(
            "SELECT connector_id, COUNT(*) FROM ("
            f" SELECT {named} AS connector_id FROM cases WHERE space_id = :space_id AND {naming_one}"
            " UNION ALL"
            f" SELECT {named} FROM configurations WHERE space_id = :space_id AND {naming_one}"
            ") refs GROUP BY connector_id",
            values,
        )
        return {connector_id: count for connector_id, count in rows}

    # --- push claims (taking one is the backend's) ------------------------------------------

    async def update_push_claim(self, token: str, expires_ms: int, creating: bool | None = None) -> None:
        await self._run_named(
            "UPDATE push_claims SET expires_ms = :expires_ms, creating = COALESCE(:creating, creating)"
            " WHERE token = :token",
            {"expires_ms": expires_ms, "creating": creating, "token": token},
        )

    async def release_push_claim(self, token: str) -> None:
        await self._run_named("DELETE FROM push_claims WHERE token = :token", {"token": token})

    # --- spaces ---------------------------------------------------------------------------

    async def list_spaces(self) -> list[Space]:
        rows = await self._fetch_named("SELECT data FROM spaces", {})
        return sorted((space_decoder.decode(data) for (data,) in rows), key=lambda space: space.name)

    async def get_space(self, space_id: str) -> Space | None:
        data = await self._fetch_value("SELECT data FROM spaces WHERE id = :id", {"id": space_id})
        return None if data is None else space_decoder.decode(data)

    async def insert_space(self, space: Space) -> bool:
        await self._spaces_changed()
        inserted = await self._run_named(
            "INSERT INTO spaces (id, data) VALUES (:id, :data) ON CONFLICT (id) DO NOTHING",
            {"id": space.id, "data": encoder.encode(space)},
        )
        return inserted == 1

    async def update_space(self, space: Space) -> None:
        await self._spaces_changed()
        await self._run_named(
            "UPDATE spaces SET data = :data WHERE id = :id", {"data": encoder.encode(space), "id": space.id}
        )

    async def delete_space(self, space_id: str) -> None:
        await self._spaces_changed()
        # Attachments, alerts, tags, assignees and user actions go with their case (ON DELETE CASCADE).
        for table in SPACE_TABLES:
            await self._run_named(f"DELETE FROM {table} WHERE space_id = :space_id", {"space_id": space_id})
        await self._run_named("DELETE FROM spaces WHERE id = :id", {"id": space_id})

    # --- users, roles and API keys (putting a user is the backend's) -----------------------

    async def get_user(self, username: str) -> StoredUser | None:
        row = await self._fetch_row(
            "SELECT username, password_hash, data FROM users WHERE username = :username",
            {"username": username},
        )
        return None if row is None else stored_user(*row)

    async def list_users(self) -> list[StoredUser]:
        rows = await self._fetch_named(
            "SELECT username, password_hash, data FROM users ORDER BY username", {}
        )
        return [stored_user(*row) for row in rows]

    async def delete_user(self, username: str) -> bool:
        await self._security_changed()
        await self._run_named(
            "UPDATE api_keys SET invalidated_ms = :now_ms"
            " WHERE username = :username AND invalidated_ms IS NULL",
            {"now_ms": int(time.time() * 1000), "username": username},
        )
        deleted = await self._run_named(
            "DELETE FROM users WHERE username = :username", {"username": username}
        )
        return deleted == 1

    async def get_roles(self, names: list[str]) -> dict[str, RoleBody]:
        if not names:
            return {}
        values: dict[str, Any] = {"names": names}
        rows = await self._fetch_named(
            f"SELECT name, data FROM roles WHERE {self._among('name', 'names', values)}", values
        )
        return {name: role_decoder.decode(data) for name, data in rows}

    async def list_roles(self) -> dict[str, RoleBody]:
        rows = await self._fetch_named("SELECT name, data FROM roles ORDER BY name", {})
        return {name: role_decoder.decode(data) for name, data in rows}

    async def put_role(self, name: str, role: RoleBody) -> None:
        await self._security_changed()
        await self._run_named(
            "INSERT INTO roles (name, data) VALUES (:name, :data)"
            " ON CONFLICT (name) DO UPDATE SET data = excluded.data",
            {"name": name, "data": encoder.encode(role)},
        )

    async def delete_role(self, name: str) -> bool:
        await self._security_changed()
        return await self._run_named("DELETE FROM roles WHERE name = :name", {"name": name}) == 1

    async def insert_api_key(self, key: StoredApiKey) -> None:
        await self._run_named(
            f"INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES ({_API_KEY_PARAMETERS})", api_key_values(key)
        )

    async def get_api_key(self, key_id: str) -> StoredApiKey | None:
        row = await self._fetch_row(f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = :id", {"id": key_id})
        return None if row is None else stored_api_key(*row)

    async def list_api_keys(self, username: str | None) -> list[StoredApiKey]:
        if username is None:
            where, values = "", {}
        else:
            where, values = "WHERE username = :username", {"username": username}
        rows = await self._fetch_named(
            f"SELECT {API_KEY_COLUMNS} FROM api_keys {where} ORDER BY created_ms, id", values
        )
        return [stored_api_key(*row) for row in rows]

    async def invalidate_api_key(self, key_id: str, at_ms: int) -> None:
        await self._security_changed()
        await self._run_named(
            "UPDATE api_keys SET invalidated_ms = :at_ms WHERE id = :id", {"at_ms": at_ms, "id": key_id}
        )

    # --- whole tables (reading and inserting them is the backend's) ------------------------

    async def count_rows(self, table: Table) -> int:
        count: int = await self._fetch_value(f"SELECT COUNT(*) FROM {table.name}", {})
        return count

    async def delete_rows(self, table: Table) -> None:
        await self._run_named(f"DELETE FROM {table.name}", {})
