"""The PostgreSQL backend (asyncpg): a connection pool shared by reads and writes, safe for several
instances on one database.

It gives the results of the SQLite backend, with which it shares most of its ``Tx`` methods
(``casepush.store.shared``, ``casepush.store.outbox``, ``casepush.store.sync``); here is what
PostgreSQL does its own way. Consistency between instances comes from the database alone: write
transactions lock the cases they read (``FOR UPDATE``), updates are conditional on ``seq``, push
claims are taken by one conditional upsert, and migrations run under an advisory lock. Failed logins
are counted in the database too (``PostgresLoginFailures``), so that every instance throttles a
guesser at the same limits.

The URL may name a schema to use (and create) with a ``schema`` query parameter, e.g.
``postgresql://casepush@db/casepush?schema=tenant1``; the tests isolate themselves that way.
"""

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg
from yarl import URL

from casepush.guards import write_transaction
from casepush.store import (
    CaseQuery,
    LoginChange,
    LoginCounts,
    LoginFailures,
    Page,
    PoolUsage,
    PushClaim,
    PushRecord,
    PushRules,
    Store,
    StoredUser,
    Table,
    Tx,
    WindowCount,
    decode_version,
)
from casepush.store.outbox import CLEAR, PUSH_RULES, OutboxTx, push_rules
from casepush.store.rows import (
    SEVERITY_CODES,
    STATUS_CODES,
    TABLE_BATCH,
    case_decoder,
    commented_type,
    encode_stored,
    like_pattern,
    migrations,
    order_by,
    status_counts,
    user_decoder,
    with_version,
)
from casepush.store.shared import PUT_USER, DocumentTx, positional, user_values
from casepush.store.sync import LINK_EXTERNAL, SyncTx
from casepush.types import Attachment, Case, User, UserAction

log = logging.getLogger(__name__)

#: A connection of its own or one lent by the pool.
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

#: Where write transactions announce changes of users, roles or API keys to every instance.
SECURITY_CHANNEL = "casepush_security"
#: Where write transactions announce changes of spaces to every instance (which forget those they keep).
SPACES_CHANNEL = "casepush_spaces"
#: Where instances announce the failed-login counts that reach their limit or leave it.
LOGIN_CHANNEL = "casepush_login"
#: Attempts an instance counts between two deletions of the login counts whose window has passed.
EXPIRE_LOGINS_EVERY_ATTEMPTS = 100

#: Seconds between checks that the listening connection is alive, and before reconnecting it.
LISTEN_PROBE = 10.0
LISTEN_RETRY = 1.0

#: The advisory lock that keeps instances starting together from migrating at the same time.
MIGRATION_LOCK = 0x63617365  # "case"
#: Write transactions between two checks of the planner's statistics when autovacuum, whose work that
#: is, is off: without statistics a search with a tag filter reads every case (seconds at 100k).
STATISTICS_CHECK_EVERY_WRITES = 1000
#: Tables changed by more than this many rows plus this part of their rows since their last ANALYZE
#: get a new one (autovacuum's defaults).
STALE_ROWS, STALE_FRACTION = 50, 0.1


class _Params(list):
    """Positional parameters of a query being built: ``params(value)`` appends and returns ``$n``."""

    def __call__(self, value: Any) -> str:
        self.append(value)
        return f"${len(self)}"


def _slice(params: _Params, limit: int | None, offset: int) -> str:
    """``LIMIT``/``OFFSET`` (no limit when None); the values join ``params``, which the query's
    arguments must therefore unpack after building the query text."""
    return f"LIMIT {params(limit)} OFFSET {params(offset)}"


def _count(status: str) -> int:
    """The row count of a command status such as ``UPDATE 1`` or ``INSERT 0 1``."""
    return int(status.rsplit(" ", 1)[1])


#: Insert user actions (``_user_action_values``) in one statement, in their order (which ``pos`` keeps).
_INSERT_USER_ACTIONS = (
    "INSERT INTO user_actions (id, space_id, case_id, type, attachment_type, created_at, data)"
    " SELECT a.id, :space_id, :case_id, a.type, a.attachment_type, a.created_at, a.data"
    " FROM unnest(:action_ids::text[], :action_types::text[], :attachment_types::text[],"
    " :action_times::text[], :action_datas::jsonb[])"
    " WITH ORDINALITY AS a (id, type, attachment_type, created_at, data, n) ORDER BY a.n"
)
#: Store attachments a push marked, each if its stored version is still the one it was read at; their
#: ids and new ``seq``. Neither their type nor their alerts change: ``case_alerts`` stays as it is.
_MARK_PUSHED = (
    "UPDATE attachments a SET seq = a.seq + 1, data = m.data"
    " FROM unnest(:marked_ids::text[], :marked_seqs::bigint[], :marked_datas::jsonb[]) AS m (id, seq, data)"
    " WHERE a.id = m.id AND a.space_id = :space_id AND a.case_id = :case_id AND a.seq = m.seq"
    " RETURNING a.id, a.seq"
)


def _user_action_values(space_id: str, case_id: str, actions: list[UserAction]) -> dict[str, Any]:
    return {
        "space_id": space_id,
        "case_id": case_id,
        "action_ids": [action.id for action in actions],
        "action_types": [action.type for action in actions],
        "attachment_types": [commented_type(action) for action in actions],
        "action_times": [action.created_at for action in actions],
        "action_datas": [encode_stored(action) for action in actions],
    }


class PostgresTx(DocumentTx, SyncTx, OutboxTx, Tx):
    """What PostgreSQL does its own way: search, push claims and new users each taken by one upsert, an
    advisory lock, lists passed as arrays (``= ANY``), and the locks that several writers need.

    ``lock_cases``: in write transactions, cases read are locked until the end, so that checks made on
    a case (its status, its alert count) hold until its changes commit, as with SQLite's single writer."""

    SKIP_LOCKED = "FOR UPDATE SKIP LOCKED"
    ALERT_ORDER = "pos"
    NO_LIMIT = None

    def __init__(self, conn: Connection, lock_cases: bool = False):
        self.conn = conn
        self.lock_cases = lock_cases

    async def _fetch_named(self, sql: str, values: dict[str, Any]) -> list[Any]:
        numbered, names = positional(sql)
        return await self.conn.fetch(numbered, *(values[name] for name in names))

    async def _run_named(self, sql: str, values: dict[str, Any]) -> int:
        numbered, names = positional(sql)
        return await self._run(numbered, *(values[name] for name in names))

    async def _run_many_named(self, sql: str, rows: list[dict[str, Any]]) -> None:
        numbered, names = positional(sql)
        await self.conn.executemany(numbered, [[row[name] for name in names] for row in rows])

    async def _run(self, sql: str, *params: Any) -> int:
        return _count(await self.conn.execute(sql, *params))

    def _among(self, column: str, name: str, values: dict[str, Any]) -> str:
        """``column = ANY(:name)``: the list is one array parameter."""
        return f"{column} = ANY(:{name})"

    def _json_text(self, column: str, *path: str) -> str:
        return column + "".join(f" -> '{key}'" for key in path[:-1]) + f" ->> '{path[-1]}'"

    def _lock_read_cases(self) -> str:
        return " FOR UPDATE" if self.lock_cases else ""

    async def _security_changed(self) -> None:
        """Tell every instance, when this transaction commits, that users, roles or API keys changed."""
        await self.conn.execute("SELECT pg_notify($1, current_schema())", SECURITY_CHANNEL)

    async def _spaces_changed(self) -> None:
        """Tell every instance (this one too), when this transaction commits, that spaces changed."""
        if not self.changed_spaces:
            await self.conn.execute("SELECT pg_notify($1, current_schema())", SPACES_CHANNEL)
        await super()._spaces_changed()

    async def _write_case(self, sql: str, values: dict[str, Any], case: Case, children: str) -> int:
        """One statement: the case's row, and in data-modifying CTEs (which act only on a row written) its
        tags and assignees. A replacement deletes those the case no longer has and inserts the others
        (``DO NOTHING`` for those it keeps): the parts of one statement all see the database as it
        began, so no row may be both deleted and inserted, and none is."""
        if children == "keep":
            return await self._run_named(sql, values)
        parts = [f"written AS ({sql} RETURNING id)"]
        if children == "replace":
            parts += [
                "old_tags AS (DELETE FROM case_tags t USING written w"
                " WHERE t.case_id = w.id AND t.tag <> ALL(:case_tags::text[]))",
                "old_assignees AS (DELETE FROM case_assignees a USING written w"
                " WHERE a.case_id = w.id AND a.uid <> ALL(:case_uids::text[]))",
            ]
        parts += [
            "new_tags AS (INSERT INTO case_tags (case_id, tag) SELECT w.id, tag"
            " FROM written w, unnest(:case_tags::text[]) tag ON CONFLICT DO NOTHING)",
            "new_assignees AS (INSERT INTO case_assignees (case_id, uid) SELECT w.id, uid"
            " FROM written w, unnest(:case_uids::text[]) uid ON CONFLICT DO NOTHING)",
        ]
        children_values = {"case_tags": case.tags, "case_uids": [a.uid for a in case.assignees]}
        written: int = await self._fetch_value(
            "WITH " + ", ".join(parts) + " SELECT COUNT(*) FROM written", {**values, **children_values}
        )
        return written

    async def record_user_actions(
        self, space_id: str, case_id: str, actions: list[UserAction], owner: str, connector_id: str
    ) -> PushRules:
        """One statement: the user actions inserted in a data-modifying CTE, the rules read beside it (from
        other tables: what the CTE writes is not read)."""
        row = await self._fetch_row(
            f"WITH recorded AS ({_INSERT_USER_ACTIONS}) {PUSH_RULES}",
            {
                **_user_action_values(space_id, case_id, actions),
                "owner": owner,
                "connector_id": connector_id,
            },
        )
        for action in actions:
            with_version(action, 1)
        return push_rules(row)

    async def record_push(
        self, space_id: str, case_id: str, connector_id: str, record: PushRecord
    ) -> dict[str, Attachment]:
        """One statement, each write a data-modifying CTE on a table of its own (so that none depends on
        what another writes, which one statement's parts cannot see): the user actions, the attachments
        marked, the incident's link, the pushed comments, the automatic push cleared, the claim released.
        They commit with the rest of the push's save, or none does, as when they were statements of
        their own: the journal goes with the claim exactly when the push is recorded."""
        marked = [(a, seq) for a in record.marked if (seq := decode_version(a.version)) is not None]
        parts = [f"recorded AS ({_INSERT_USER_ACTIONS})", f"marked AS ({_MARK_PUSHED})"]
        if record.link_external_id is not None:
            parts.append(f"linked AS ({LINK_EXTERNAL})")
        parts.append(
            "pushed AS (INSERT INTO pushed_comments (space_id, connector_id, external_comment_id)"
            " SELECT :space_id, :connector_id, unnest(:external_comment_ids::text[]) ON CONFLICT DO NOTHING)"
        )
        if record.generation is not None:
            parts.append(f"cleared AS ({CLEAR})")
        parts.append("released AS (DELETE FROM push_claims WHERE token = :token)")
        rows = await self._fetch_named(
            "WITH " + ", ".join(parts) + " SELECT id, seq FROM marked",
            {
                **_user_action_values(space_id, case_id, record.actions),
                "connector_id": connector_id,
                "marked_ids": [a.id for a, _ in marked],
                "marked_seqs": [seq for _, seq in marked],
                "marked_datas": [encode_stored(a) for a, _ in marked],
                "external_id": record.link_external_id,
                "external_comment_ids": record.pushed_comment_ids,
                "generation": record.generation,
                "token": record.claim_token,
            },
        )
        for action in record.actions:
            with_version(action, 1)
        by_id = {a.id: a for a, _ in marked}
        return {attachment_id: with_version(by_id[attachment_id], seq) for attachment_id, seq in rows}

    async def lock(self, name: str) -> None:
        await self.conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", name)

    # --- search -----------------------------------------------------------------------

    def _where(self, space_id: str, query: CaseQuery, with_status: bool = True) -> tuple[str, _Params]:
        params = _Params()
        clauses = [f"c.space_id = {params(space_id)}", f"c.owner = ANY({params(query.owners)})"]

        def any_of(column: str, values: list[Any]) -> None:
            if values:
                clauses.append(f"{column} = ANY({params(values)})")

        if with_status:
            any_of("c.status", [STATUS_CODES[s] for s in query.statuses])
        any_of("c.severity", [SEVERITY_CODES[s] for s in query.severities])
        any_of("c.reporter", query.reporters)
        any_of("c.category", query.categories)
        if query.tags:
            clauses.append(f"c.id IN (SELECT case_id FROM case_tags WHERE tag = ANY({params(query.tags)}))")
        assignee_checks = []
        if query.assignees:
            assignee_checks.append(
                f"c.id IN (SELECT case_id FROM case_assignees WHERE uid = ANY({params(query.assignees)}))"
            )
        if query.include_unassigned:
            assignee_checks.append("NOT EXISTS (SELECT 1 FROM case_assignees a WHERE a.case_id = c.id)")
        if assignee_checks:
            clauses.append("(" + " OR ".join(assignee_checks) + ")")
        if query.created_from:
            clauses.append(f"c.created_at >= {params(query.created_from)}")
        if query.created_to:
            clauses.append(f"c.created_at <= {params(query.created_to)}")
        if query.search:
            clauses.append(self._search_clause(query, params))
        return " AND ".join(clauses), params

    def _search_clause(self, query: CaseQuery, params: _Params) -> str:
        """As SQLite's: each term must appear (AND) or one must (OR) in a search field, compared
        case-insensitively (ILIKE on C-collated columns folds ASCII only, as SQLite's LIKE); the whole
        text may be an id."""
        assert query.search is not None
        term_checks = []
        for term in query.search.split():
            if not query.search_fields:
                # No parameter for a pattern nothing compares: PostgreSQL could not type it.
                term_checks.append("FALSE")
                continue
            pattern = params(like_pattern(term))
            fields = [f"c.{name} ILIKE {pattern}" for name in query.search_fields]
            term_checks.append("(" + " OR ".join(fields) + ")")
        joiner = " AND " if query.search_all_terms else " OR "
        return "(" + joiner.join(term_checks or ["FALSE"]) + f" OR c.id = {params(query.search.strip())})"

    async def find_cases(self, space_id: str, query: CaseQuery, page: Page) -> list[Case]:
        if not query.owners:
            return []
        where, params = self._where(space_id, query)
        rows = await self.conn.fetch(
            f"SELECT c.data, c.seq FROM cases c WHERE {where} {order_by(page.sort_field, page.descending)}"
            f" {_slice(params, page.per_page, page.offset)}",
            *params,
        )
        return [with_version(case_decoder.decode(data), seq) for data, seq in rows]

    async def count_cases(self, space_id: str, query: CaseQuery) -> int:
        if not query.owners:
            return 0
        where, params = self._where(space_id, query)
        return await self.conn.fetchval(f"SELECT COUNT(*) FROM cases c WHERE {where}", *params)

    async def count_cases_by_status(self, space_id: str, query: CaseQuery) -> dict[str, int]:
        if not query.owners:
            return status_counts([])
        where, params = self._where(space_id, query, with_status=False)
        rows = await self.conn.fetch(
            f"SELECT c.status, COUNT(*) FROM cases c WHERE {where} GROUP BY c.owner, c.status", *params
        )
        return status_counts([tuple(row) for row in rows])

    async def reporters(self, space_id: str, owners: list[str]) -> list[User]:
        rows = await self._fetch_named(
            "SELECT DISTINCT ON (c.reporter) c.data -> 'created_by' FROM cases c WHERE c.space_id = :space_id"
            " AND c.owner = ANY(:owners) AND c.reporter IS NOT NULL ORDER BY c.reporter",
            {"space_id": space_id, "owners": owners},
        )
        return [user_decoder.decode(user) for (user,) in rows]

    # --- push claims and users ---------------------------------------------------------

    async def claim_push(
        self, space_id: str, case_id: str, connector_id: str, token: str, now_ms: int, expires_ms: int
    ) -> PushClaim | None:
        """One upsert, so that two instances cannot both take the claim: it updates only an expired
        row (the other waits for the row lock, then sees the new lease). A takeover keeps ``creating``,
        which is the interrupted holder's journal."""
        row = await self.conn.fetchrow(
            "INSERT INTO push_claims (space_id, case_id, connector_id, token, expires_ms)"
            " VALUES ($1,$2,$3,$4,$5) ON CONFLICT (space_id, case_id, connector_id)"
            " DO UPDATE SET token = excluded.token, expires_ms = excluded.expires_ms"
            " WHERE push_claims.expires_ms <= $6 RETURNING creating",
            space_id,
            case_id,
            connector_id,
            token,
            expires_ms,
            now_ms,
        )
        return None if row is None else PushClaim(token, interrupted_create=row["creating"])

    async def put_user(self, user: StoredUser) -> bool:
        """One upsert; ``xmax`` is 0 on a row it inserted (and the id of this transaction on one it
        updated), which tells a new user from a replaced one without a racy read first."""
        await self._security_changed()
        new: bool = await self._fetch_value(PUT_USER + " RETURNING xmax = 0", user_values(user))
        return new

    # --- whole tables -------------------------------------------------------------------

    async def table_rows(self, table: Table) -> AsyncIterator[list[tuple]]:
        order = " ORDER BY pos" if table.ordered else ""
        batch: list[tuple] = []
        async for row in self.conn.cursor(
            f"SELECT {', '.join(table.columns)} FROM {table.name}{order}", prefetch=TABLE_BATCH
        ):
            batch.append(tuple(row))
            if len(batch) == TABLE_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    async def insert_rows(self, table: Table, rows: list[tuple]) -> None:
        marks = ",".join(f"${n}" for n in range(1, len(table.columns) + 1))
        await self.conn.executemany(
            f"INSERT INTO {table.name} ({', '.join(table.columns)}) VALUES ({marks})", rows
        )


# --- failed logins -------------------------------------------------------------------------------
# Parameters of both statements: $1 the account's key, $2 the client's (or NULL), $3 and $4 their limits,
# $6 the instance that announces (which ignores its own announcements).

_LOGIN_KEYS = "(VALUES ('account', $1::bytea, $3::int), ('client', $2::bytea, $4::int)) AS k (kind, key, lim)"


def _counted(rows: str, limit: str) -> str:
    """One key's part of an attempt: a new window ($5 seconds), one more failure in the running one, or,
    at the limit, nothing (and no row returned)."""
    return (
        f"INSERT INTO login_failures AS f (key, failures, window_end) {rows}"
        " ON CONFLICT (key) DO UPDATE SET"
        " failures = CASE WHEN f.window_end <= now() THEN 1 ELSE f.failures + 1 END,"
        " window_end = CASE WHEN f.window_end <= now() THEN excluded.window_end ELSE f.window_end END"
        f" WHERE f.window_end <= now() OR f.failures < {limit}"
        " RETURNING f.failures, f.window_end"
    )


def _told(rows: str, condition: str) -> str:
    """Announce the counts of ``rows`` that meet ``condition`` to every instance, when the statement
    commits: ``<instance> <kind> <hex key> <failures> <seconds left> <schema>``."""
    return (
        f"SELECT pg_notify('{LOGIN_CHANNEL}', concat_ws(' ', $6::text, kind, encode(key, 'hex'), failures,"
        f" extract(epoch FROM window_end - now()), current_schema())) FROM {rows} WHERE {condition}"
    )


_NEW_WINDOW = "now() + make_interval(secs => $5)"

#: Count an attempt: the account's key first, then the client's only if the account's was counted (so
#: a refused account counts nothing); a refused client is reported, and the caller takes the account's
#: back. The counts of refused keys are read as found (the statement's snapshot). A count that reaches
#: its limit with the attempt counted is announced.
_LOGIN_ATTEMPT = (
    f"WITH account AS ({_counted(f'VALUES ($1::bytea, 1, {_NEW_WINDOW})', '$3')}),"
    f" client AS ({_counted(f'SELECT $2::bytea, 1, {_NEW_WINDOW} FROM account WHERE $2 IS NOT NULL', '$4')}),"
    " counted AS (SELECT 'account' AS kind, failures, window_end FROM account"
    " UNION ALL SELECT 'client', failures, window_end FROM client),"
    " found AS (SELECT k.kind, k.key, k.lim, c.kind IS NOT NULL AS counted,"
    " COALESCE(c.failures, s.failures) AS failures, COALESCE(c.window_end, s.window_end) AS window_end"
    f" FROM {_LOGIN_KEYS} LEFT JOIN counted c ON c.kind = k.kind"
    " LEFT JOIN login_failures s ON s.key = k.key AND s.window_end > now() WHERE k.key IS NOT NULL),"
    f" told AS ({_told('found', 'failures = lim AND NOT EXISTS (SELECT FROM found WHERE NOT counted)')})"
    " SELECT kind, counted, failures, extract(epoch FROM window_end - now())::float8 AS remaining,"
    " (SELECT count(*) FROM told) AS told FROM found"
)


def _taken_back(condition: str) -> str:
    return (
        f"UPDATE login_failures SET failures = failures - 1 WHERE {condition}"
        " AND failures > 0 AND window_end > now() RETURNING key, failures, window_end, failures + 1 AS was"
    )


#: Take back an attempt ($5: it succeeded): forget the account's count, or take one off it; take one off
#: the client's. Rows are locked in the attempt's order (account, client). A count that was at its
#: limit is announced.
_LOGIN_RELEASE = (
    "WITH forgotten AS (DELETE FROM login_failures WHERE $5 AND key = $1"
    " RETURNING key, 0 AS failures, window_end, failures AS was),"
    f" account AS ({_taken_back('NOT $5 AND key = $1')}),"
    f" client AS ({_taken_back('key = $2')}),"
    " changed AS (SELECT k.kind, k.key, k.lim, c.failures, c.window_end, c.was"
    " FROM (SELECT * FROM forgotten UNION ALL SELECT * FROM account UNION ALL SELECT * FROM client) c"
    f" JOIN {_LOGIN_KEYS} ON k.key = c.key),"
    f" told AS ({_told('changed', 'was >= lim AND window_end > now()')})"
    " SELECT kind, failures, extract(epoch FROM window_end - now())::float8 AS remaining,"
    " (SELECT count(*) FROM told) AS told FROM changed"
)

#: Counts whose window has passed; those an attempt is updating right now are left for next time.
_LOGIN_EXPIRE = (
    "DELETE FROM login_failures WHERE key IN"
    " (SELECT key FROM login_failures WHERE window_end <= now() FOR UPDATE SKIP LOCKED)"
)


def _login_counts(rows: list[asyncpg.Record], counted: bool = True) -> LoginCounts:
    counts = {
        row["kind"]: None if row["failures"] is None else WindowCount(row["failures"], row["remaining"])
        for row in rows
    }
    return LoginCounts(counts.get("account"), counts.get("client"), counted)


class PostgresLoginFailures(LoginFailures):
    """Failed-login counts in the ``login_failures`` table: each attempt is one statement (an upsert per
    key), each take-back another; counts that reach or leave their limit are announced with NOTIFY in
    the same statement, so other instances hear them once it commits."""

    def __init__(self, store: "PostgresStore", max_failures: int, max_client_failures: int, window: float):
        super().__init__(max_failures, max_client_failures, window)
        self.store = store
        self._attempts = 0

    def _arguments(self, account: bytes, client: bytes | None) -> tuple[Any, ...]:
        return account, client, self.max_failures, self.max_client_failures

    async def attempt(self, account: bytes, client: bytes | None) -> LoginCounts:
        rows = await self.store._fetch(
            _LOGIN_ATTEMPT, *self._arguments(account, client), self.window, self.store.instance
        )
        self._attempts += 1
        if self._attempts % EXPIRE_LOGINS_EVERY_ATTEMPTS == 0:
            self.store._expire_logins(self)
        counted = {row["kind"]: row["counted"] for row in rows}
        found = _login_counts(rows, all(counted.values()))
        if counted["account"] and not found.counted:  # the client is at its limit
            taken_back = await self.release(account, None, succeeded=False)
            return LoginCounts(taken_back.account, found.client, counted=False)
        return found

    async def release(self, account: bytes, client: bytes | None, succeeded: bool) -> LoginCounts:
        rows = await self.store._fetch(
            _LOGIN_RELEASE, *self._arguments(account, client), succeeded, self.store.instance
        )
        return _login_counts(rows)

    def on_change(self, callback: Callable[[LoginChange | None], None]) -> None:
        self.store._login_watchers.append(callback)

    async def expire(self) -> int:
        return _count(await self.store._execute(_LOGIN_EXPIRE))


def _login_change(payload: str, schema: str, instance: str) -> LoginChange | None:
    """The change another instance announced in ``schema``, if the payload is one."""
    try:
        sender, kind, key, failures, remaining, where = payload.split(" ", 5)
        change = LoginChange(kind, bytes.fromhex(key), WindowCount(int(failures), float(remaining)))
    except ValueError:
        return None
    return change if where == schema and sender != instance else None


async def _keep_session(conn: asyncpg.Connection) -> None:
    """How a connection is reset as it goes back to the pool: not at all. asyncpg's default runs
    ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;``, a round trip after every
    transaction, to undo session state; casepush leaves none on a pooled connection:

    - its advisory locks are transaction-scoped (``pg_advisory_xact_lock``: ``Tx.lock``, migrations);
    - it listens on a connection of its own, outside the pool (``PostgresStore._listen``);
    - it never runs ``SET`` (the ``search_path`` of a ``schema`` URL is a connection parameter, which
      ``RESET ALL`` would keep anyway), nor ``PREPARE``, ``DECLARE`` or ``LISTEN``, nor makes temporary
      tables; the cursors of ``table_rows`` are portals of their transaction.

    What does need undoing asyncpg still undoes before calling this (``Connection._reset``): a transaction
    left open is rolled back, and listeners added on the connection are dropped
    (``tests/test_postgres_store.py`` checks both the reset query's absence and the rollback)."""


async def _init_connection(conn: asyncpg.Connection) -> None:
    """Pass ``jsonb`` as the JSON bytes msgspec writes and reads (the binary format is a version byte
    and the text), so that documents are never parsed or re-encoded by the driver. The array types of
    the statements that write several rows at once (of documents, of ``bigint``) asyncpg looks up on the
    first statement that uses one: here, as the connection opens, rather than in a request."""
    await conn.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        encoder=lambda data: b"\x01" + data,
        decoder=lambda data: data[1:],
        format="binary",
    )
    await conn.prepare("SELECT $1::jsonb[], $2::bigint[]")


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


async def _analyze_tables(conn: Connection, tables: list[str]) -> None:
    if tables:
        await conn.execute("ANALYZE " + ", ".join(_quoted(name) for name in tables))


class PostgresStore(Store):
    def __init__(self, url: str, pool_size: int = 10):
        super().__init__()
        parsed = URL(url)
        self.schema = parsed.query.get("schema")
        self.dsn = str(parsed.with_query([(k, v) for k, v in parsed.query.items() if k != "schema"]))
        self.pool_size = pool_size
        self._server_settings = {"search_path": _quoted(self.schema)} if self.schema else None
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncio.Task | None = None
        self._listening = False
        self._security_watchers: list[Callable[[], None]] = []
        self._login_watchers: list[Callable[[LoginChange | None], None]] = []
        #: Names this store in its announcements, so that it ignores its own.
        self.instance = secrets.token_hex(8)
        self._expiring: asyncio.Task | None = None
        self._keeps_statistics = False
        self._writes = 0
        self._analyzing: asyncio.Task | None = None

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(
            self.dsn,
            min_size=1,
            max_size=self.pool_size,
            init=_init_connection,
            reset=_keep_session,
            server_settings=self._server_settings,
        )
        try:
            await self._migrate()
            async with self._pool.acquire() as conn:
                self._keeps_statistics = await conn.fetchval("SELECT current_setting('autovacuum') = 'off'")
        except BaseException:
            await self.close()
            raise
        self._listener = asyncio.create_task(self._listen())
        if self._keeps_statistics:
            log.info("autovacuum is off: casepush refreshes the planner's statistics itself")
            self._analyzing = asyncio.create_task(self._analyze_stale())

    def on_security_change(self, callback: Callable[[], None]) -> None:
        self._security_watchers.append(callback)

    def login_failures(
        self, max_failures: int, max_client_failures: int, window: float
    ) -> PostgresLoginFailures:
        return PostgresLoginFailures(self, max_failures, max_client_failures, window)

    @property
    def hears_changes(self) -> bool:
        return self._listening

    def _tell_watchers(self) -> None:
        for callback in self._security_watchers:
            callback()

    def _tell_login_watchers(self, change: LoginChange | None) -> None:
        for callback in self._login_watchers:
            callback(change)

    async def _listen(self) -> None:
        """Hear the security changes of every instance on a connection of its own, for as long as the
        store is open, reconnecting when that connection is lost."""
        while True:
            try:
                conn = await asyncpg.connect(self.dsn, server_settings=self._server_settings, timeout=10)
            except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                log.warning("cannot listen for other instances' changes (retrying): %s", exc)
            else:
                await self._listen_on(conn)
            await asyncio.sleep(LISTEN_RETRY)

    async def _listen_on(self, conn: asyncpg.Connection) -> None:
        """Changes may be missed while no connection listens: watchers are told when listening starts
        and when it stops, and ``hears_changes`` is False in between."""
        try:
            schema = await conn.fetchval("SELECT current_schema()")

            def heard(conn: Connection, pid: int, channel: str, payload: object) -> None:
                if payload == schema:  # not a deployment in another schema of the database
                    self._tell_watchers()

            def heard_login(conn: Connection, pid: int, channel: str, payload: object) -> None:
                if change := _login_change(str(payload), schema, self.instance):
                    self._tell_login_watchers(change)

            def heard_spaces(conn: Connection, pid: int, channel: str, payload: object) -> None:
                if payload == schema:
                    self._space_cache.forget()

            await conn.add_listener(SECURITY_CHANNEL, heard)
            await conn.add_listener(LOGIN_CHANNEL, heard_login)
            await conn.add_listener(SPACES_CHANNEL, heard_spaces)
            self._listening = True
            self._space_cache.forget()
            self._tell_watchers()
            self._tell_login_watchers(None)
            while True:
                await asyncio.sleep(LISTEN_PROBE)
                await conn.fetchval("SELECT 1", timeout=LISTEN_PROBE)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("lost the connection that hears other instances' changes: %s", exc)
        finally:
            self._listening = False
            self._space_cache.forget()
            self._tell_watchers()
            self._tell_login_watchers(None)
            conn.terminate()

    async def _migrate(self) -> None:
        """Apply pending migrations in one transaction, holding an advisory lock so that instances
        starting together apply each migration once."""
        assert self._pool is not None
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            if self.schema:
                await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_quoted(self.schema)}")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (number INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            applied = {n for (n,) in await conn.fetch("SELECT number FROM schema_migrations")}
            for number, name, sql in migrations("postgres"):
                if number not in applied:
                    log.info("applying migration %s", name)
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (number, name) VALUES ($1, $2)", number, name
                    )

    async def close(self) -> None:
        for task in (self._listener, self._analyzing, self._expiring):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._listener = self._analyzing = self._expiring = None
        if self._pool is not None:
            await self._pool.close()
        self._pool = None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """A read-only snapshot: the queries of one request see the same data."""
        assert self._pool is not None, "store is not open"
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            yield PostgresTx(conn)

    def snapshot(self) -> AbstractAsyncContextManager[Tx]:
        return self.read()

    async def ping(self) -> None:
        await self._execute("SELECT 1")

    async def _fetch(self, sql: str, *params: Any) -> list[asyncpg.Record]:
        """The rows of one statement, run on its own (committed as it ends)."""
        assert self._pool is not None, "store is not open"
        async with self._pool.acquire() as conn:
            return await conn.fetch(sql, *params)

    async def _execute(self, sql: str, *params: Any) -> str:
        assert self._pool is not None, "store is not open"
        async with self._pool.acquire() as conn:
            return await conn.execute(sql, *params)

    def _expire_logins(self, failures: PostgresLoginFailures) -> None:
        """Delete the login counts whose window has passed, in the background (one deletion at a time)."""
        if self._expiring is None or self._expiring.done():
            self._expiring = asyncio.create_task(self._expire_logins_now(failures))

    async def _expire_logins_now(self, failures: PostgresLoginFailures) -> None:
        try:
            await failures.expire()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("could not delete the login counts whose window has passed: %s", exc)

    async def analyze(self) -> None:
        assert self._pool is not None, "store is not open"
        async with self._pool.acquire() as conn:
            tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            await _analyze_tables(conn, [name for (name,) in tables])

    async def _analyze_stale(self) -> None:
        """Autovacuum's analysis, where it is off: tables much changed since their statistics."""
        assert self._pool is not None
        try:
            async with self._pool.acquire() as conn:
                stale = await conn.fetch(
                    "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema()"
                    " AND n_mod_since_analyze > $1 + $2 * n_live_tup",
                    STALE_ROWS,
                    STALE_FRACTION,
                )
                await _analyze_tables(conn, [name for (name,) in stale])
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("could not refresh the planner's statistics: %s", exc)

    def pool_usage(self) -> PoolUsage:
        """The pool's connections (the one that listens for other instances' changes is not in it)."""
        if self._pool is None:
            return PoolUsage(in_use=0, open=0, max=self.pool_size)
        opened = self._pool.get_size()
        return PoolUsage(in_use=opened - self._pool.get_idle_size(), open=opened, max=self.pool_size)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        assert self._pool is not None, "store is not open"
        async with self._pool.acquire() as conn:
            tx = PostgresTx(conn, lock_cases=True)
            async with conn.transaction():
                with write_transaction():
                    yield tx
            if tx.changed_spaces:
                # At once: the NOTIFY comes back to this instance too, but only a moment later.
                self._space_cache.forget()
        self._writes += 1
        due = self._keeps_statistics and self._writes % STATISTICS_CHECK_EVERY_WRITES == 0
        if due and (self._analyzing is None or self._analyzing.done()):
            self._analyzing = asyncio.create_task(self._analyze_stale())
