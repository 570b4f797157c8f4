"""The SQLite backend: WAL, one serialised writer connection on the loop's thread, and a pool of reader
connections (each on a thread of its own) whose reads are snapshots and run in parallel.

Most ``Tx`` methods are written once for both backends (``casepush.store.shared``,
``casepush.store.outbox``, ``casepush.store.sync``); ``SqliteTx`` runs their statements and holds what
SQLite does its own way."""

import asyncio
import contextlib
import functools
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager, closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from casepush.guards import write_transaction
from casepush.store import (
    CaseQuery,
    Page,
    PoolUsage,
    PushClaim,
    PushRecord,
    Store,
    StoredUser,
    Table,
    Tx,
)
from casepush.store.outbox import OutboxTx
from casepush.store.rows import (
    SEVERITY_CODES,
    STATUS_CODES,
    TABLE_BATCH,
    case_decoder,
    like_pattern,
    migrations,
    order_by,
    status_counts,
    user_decoder,
    with_version,
)
from casepush.store.shared import PUT_USER, DocumentTx, user_values
from casepush.store.sync import SyncTx
from casepush.types import Attachment, Case, User

log = logging.getLogger(__name__)

_PRAGMAS = ("PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL", "PRAGMA foreign_keys = ON")
#: Seconds to wait for another process's write lock, and between tries.
BUSY_TIMEOUT = 5.0
BUSY_POLL = 0.005

#: Rows ANALYZE samples per index, and how many write transactions pass before the statistics are
#: refreshed (they must follow the tables' growth, from empty to many cases) and the log checkpointed.
ANALYSIS_LIMIT = 1000
MAINTENANCE_EVERY_WRITES = 1000
#: Seconds a group of writes may wait for more to join before it commits (see _commit_when_free).
GROUP_COMMIT_WAIT = 0.002
#: The row count the statistics give the trigram index's tables, whatever their size (see _analyze).
SEARCH_INDEX_ROWS = 1_000_000

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


@functools.lru_cache(maxsize=512)
def _listed(column: str, name: str, count: int) -> tuple[str, tuple[str, ...]]:
    """``column IN`` a list of ``count`` parameters named after ``name``, and their names."""
    names = tuple(f"{name}_{n}" for n in range(count))
    return f"{column} IN ({', '.join(':' + item for item in names)})", names


class SqliteTx(DocumentTx, SyncTx, OutboxTx, Tx):
    """What SQLite does its own way: search (the trigram index names the candidates), a push claim and a
    user each read then written (nothing comes between: one writer), lists as one parameter an item,
    case children and whole tables with ``executemany``."""

    ALERT_ORDER = "rowid"
    NO_LIMIT = -1

    def __init__(self, conn: "ReaderConnection | InlineConnection"):
        self.conn = conn

    async def _fetch_named(self, sql: str, values: dict[str, Any]) -> list[Any]:
        return list(await self.conn.execute_fetchall(sql, values))

    async def _run_named(self, sql: str, values: dict[str, Any]) -> int:
        cursor = await self.conn.execute(sql, values)
        count = cursor.rowcount
        await cursor.close()
        return count

    async def _run_many_named(self, sql: str, rows: list[dict[str, Any]]) -> None:
        await self.conn.executemany(sql, rows)

    async def _all(self, sql: str, params: Iterable[Any]) -> list[Any]:
        """The rows of a statement with ``?`` parameters (the search's)."""
        return list(await self.conn.execute_fetchall(sql, tuple(params)))

    def _among(self, column: str, name: str, values: dict[str, Any]) -> str:
        """``column IN (:name_0, :name_1, …)``: a parameter for each item, as a list of values is written."""
        items = values[name]
        sql, names = _listed(column, name, len(items))
        values.update(zip(names, items, strict=True))
        return sql

    def _json_text(self, column: str, *path: str) -> str:
        return f"json_extract({column}, '$.{'.'.join(path)}')"

    # --- search -----------------------------------------------------------------------

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
        [(total,)] = await self._all(f"SELECT COUNT(*) FROM cases c WHERE {where}", params)
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

    async def reporters(self, space_id: str, owners: list[str]) -> list[User]:
        if not owners:
            return []
        values: dict[str, Any] = {"space_id": space_id, "owners": owners}
        rows = await self._fetch_named(
            "SELECT json_extract(c.data, '$.created_by') FROM cases c WHERE c.space_id = :space_id"
            f" AND {self._among('c.owner', 'owners', values)} AND c.reporter IS NOT NULL"
            " GROUP BY c.reporter ORDER BY c.reporter",
            values,
        )
        return [user_decoder.decode(user) for (user,) in rows]

    # --- push claims, users, locks ------------------------------------------------------

    async def claim_push(
        self, space_id: str, case_id: str, connector_id: str, token: str, now_ms: int, expires_ms: int
    ) -> PushClaim | None:
        key = {"space_id": space_id, "case_id": case_id, "connector_id": connector_id}
        row = await self._fetch_row(
            "SELECT expires_ms, creating FROM push_claims"
            " WHERE space_id = :space_id AND case_id = :case_id AND connector_id = :connector_id",
            key,
        )
        if row is not None and row[0] > now_ms:
            return None
        await self._run_named(
            "INSERT INTO push_claims (space_id, case_id, connector_id, token, expires_ms, creating)"
            " VALUES (:space_id, :case_id, :connector_id, :token, :expires_ms, 0)"
            " ON CONFLICT (space_id, case_id, connector_id)"
            " DO UPDATE SET token = excluded.token, expires_ms = excluded.expires_ms",
            {**key, "token": token, "expires_ms": expires_ms},
        )
        return PushClaim(token, interrupted_create=bool(row and row[1]))

    async def record_push(
        self, space_id: str, case_id: str, connector_id: str, record: PushRecord
    ) -> dict[str, Attachment]:
        """One statement after another (no round trips to save)."""
        await self.insert_user_actions(space_id, case_id, record.actions)
        stored = await self._mark_attachments_pushed(space_id, case_id, record.marked)
        if record.link_external_id is not None:
            await self.link_external(space_id, connector_id, record.link_external_id, case_id)
        await self.remember_pushed_comments(space_id, connector_id, record.pushed_comment_ids)
        if record.generation is not None:
            await self.clear_automatic_push(space_id, case_id, connector_id, record.generation)
        await self.release_push_claim(record.claim_token)
        return stored

    async def put_user(self, user: StoredUser) -> bool:
        existed = await self._fetch_row(
            "SELECT 1 FROM users WHERE username = :username", {"username": user.username}
        )
        await self._run_named(PUT_USER, user_values(user))
        return existed is None

    async def lock(self, name: str) -> None:
        """Nothing to do: SQLite runs one write transaction at a time."""

    # --- whole tables -------------------------------------------------------------------

    async def table_rows(self, table: Table) -> AsyncIterator[list[tuple]]:
        columns = ", ".join(table.columns)
        async with self.conn.execute(f"SELECT {columns} FROM {table.name} ORDER BY rowid") as cursor:
            while batch := await cursor.fetchmany(TABLE_BATCH):
                yield [tuple(row) for row in batch]

    async def insert_rows(self, table: Table, rows: list[tuple]) -> None:
        marks = ",".join("?" * len(table.columns))
        await self.conn.executemany(
            f"INSERT INTO {table.name} ({', '.join(table.columns)}) VALUES ({marks})", rows
        )


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
    another process's write lock must not block the loop, so ``begin_immediate`` polls instead of
    SQLite's busy handler (the connection's busy timeout is zero).
    """

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn

    def execute(self, sql: str, params: Parameters = ()) -> InlineStatement:
        return InlineStatement(self._conn.execute(sql, _bound(params)))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any] | Mapping[str, Any]]) -> None:
        self._conn.executemany(sql, rows)

    async def execute_fetchall(self, sql: str, params: Parameters = ()) -> list[Any]:
        return self._conn.execute(sql, _bound(params)).fetchall()

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    async def begin_immediate(self, timeout: float) -> None:
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


class InlineReader(InlineConnection):
    """A reader's connection called on the loop's thread, for quick reads (by key, a case's
    children): a statement of microseconds costs less there than the hop to a thread and back. Its
    transaction begins with its first statement, as a threaded reader's."""

    def __init__(self, conn: sqlite3.Connection):
        super().__init__(conn)
        self._begin_next = False

    def begin(self) -> None:
        self._begin_next = True

    def end(self) -> None:
        self._begin_next = False
        if self._conn.in_transaction:
            self._conn.rollback()

    def _began(self) -> None:
        if self._begin_next:
            self._begin_next = False
            self._conn.execute("BEGIN")

    def execute(self, sql: str, params: Parameters = ()) -> InlineStatement:
        self._began()
        return super().execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any] | Mapping[str, Any]]) -> None:
        self._began()
        await super().executemany(sql, rows)

    async def execute_fetchall(self, sql: str, params: Parameters = ()) -> list[Any]:
        self._began()
        return await super().execute_fetchall(sql, params)


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

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any] | Mapping[str, Any]]) -> None:
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


Reader = TypeVar("Reader", InlineReader, ReaderConnection)


class _Readers(Generic[Reader]):
    """A pool of reader connections: a read takes one for its transaction, waiting when all are in
    use; the last one freed is taken first, its page cache the warmest."""

    def __init__(self) -> None:
        self.connections: list[Reader] = []
        self._idle: asyncio.LifoQueue[Reader] = asyncio.LifoQueue()

    def add(self, conn: Reader) -> None:
        self.connections.append(conn)
        self._idle.put_nowait(conn)

    @property
    def in_use(self) -> int:
        return len(self.connections) - self._idle.qsize()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """One read transaction: its statements see the database as it was at the first of them
        (WAL's snapshot), while other reads and the writer go on."""
        conn = await self._idle.get()
        try:
            conn.begin()
            try:
                yield SqliteTx(conn)
            finally:
                conn.end()
        finally:
            self._idle.put_nowait(conn)

    async def close(self) -> None:
        for conn in self.connections:
            await conn.close()
        self.connections = []
        self._idle = asyncio.LifoQueue()


class SqliteStore(Store):
    def __init__(self, path: Path, readers: int = READERS):
        super().__init__()
        self.path = path
        self.readers = readers
        self._writer: InlineConnection | None = None
        self._write_lock = asyncio.Lock()
        #: The writes of the open SQLite transaction, committed together (see _write).
        self._group: _CommitGroup | None = None
        self._writes_since_maintenance = 0
        #: Quick reads' connections, on the loop's thread, and scans', each on a thread of its own.
        self._quick: _Readers[InlineReader] = _Readers()
        self._scanning: _Readers[ReaderConnection] = _Readers()

    def _connect_reader(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in _PRAGMAS:
            conn.execute(pragma)
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        conn.execute("PRAGMA query_only = ON")  # as PostgreSQL's read-only transactions
        return conn

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
            self._quick.add(InlineReader(self._connect_reader()))
            self._scanning.add(ReaderConnection(self._connect_reader()))

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
        # The trigram index's own tables are read by rowid ranges as it merges its segments on every
        # insert. Counted while small (a fresh database), they would be scanned instead, and each insert
        # would read the whole index (creates slowing down as cases grow): they are counted as large.
        await self._writer.execute(
            f"UPDATE sqlite_stat1 SET stat = '{SEARCH_INDEX_ROWS}'"
            " WHERE tbl LIKE 'case\\_text\\_%' ESCAPE '\\'"
        )
        await self._writer.execute("ANALYZE sqlite_schema")  # loads the statistics just changed

    async def _migrate(self, conn: InlineConnection) -> None:
        await conn.begin_immediate(BUSY_TIMEOUT)
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
        if self._group is not None and self._group.committing is not None:
            await asyncio.wait([self._group.committing])
        await self._quick.close()
        await self._scanning.close()
        if self._writer is not None:
            await self._writer.close()
        self._writer = None

    def read(self) -> AbstractAsyncContextManager[Tx]:
        """A quick read, on the loop's thread (see ``InlineReader``)."""
        assert self._writer is not None, "store is not open"
        return self._quick.transaction()

    def scan(self) -> AbstractAsyncContextManager[Tx]:
        """A read that may visit many rows, on a reader's thread: SQLite runs there without the GIL, at
        once with the loop, the writer and other scans."""
        assert self._writer is not None, "store is not open"
        return self._scanning.transaction()

    async def ping(self) -> None:
        async with self.read() as tx:
            await tx.list_spaces()

    def pool_usage(self) -> PoolUsage:
        """The writer (in use while a write holds it) and the reader connections, quick and scanning."""
        most = 1 + 2 * self.readers
        if self._writer is None:
            return PoolUsage(in_use=0, open=0, max=most)
        pools = (self._quick, self._scanning)
        in_use = int(self._write_lock.locked()) + sum(pool.in_use for pool in pools)
        return PoolUsage(in_use=in_use, open=1 + sum(len(pool.connections) for pool in pools), max=most)

    def on_security_change(self, callback: Callable[[], None]) -> None:
        """Never called: a SQLite file serves one instance."""

    def snapshot(self) -> AbstractAsyncContextManager[Tx]:
        return self.scan()

    def write(self) -> AbstractAsyncContextManager[Tx]:
        return self._write(LONG_WRITE)

    def bulk_write(self) -> AbstractAsyncContextManager[Tx]:
        return self._write(None)

    @asynccontextmanager
    async def _write(self, long_after: float | None) -> AsyncIterator[Tx]:
        """A write transaction, logged when it holds the write lock longer than ``long_after`` s.

        Group commit: writes that queue for the lock while one runs, or come within the next turns of
        the event loop, join its SQLite transaction, each in a savepoint of its own (a write that fails
        rolls back only its own changes), and one COMMIT makes them all durable. A write returns once
        that COMMIT has; if it fails, every write of the group fails, and none was acknowledged.
        Concurrent creates then share the cost of a commit and of the trigram index's flush.
        """
        assert self._writer is not None, "store is not open"
        async with self._write_lock:
            group = self._group
            if group is None:
                await self._writer.begin_immediate(BUSY_TIMEOUT)
                group = self._group = _CommitGroup()
            began = time.monotonic()
            tx = SqliteTx(self._writer)
            try:
                await self._writer.execute("SAVEPOINT write")
                with write_transaction():
                    yield tx
            except BaseException:
                await self._undo_write(group)
                raise
            else:
                await self._writer.execute("RELEASE write")
                _report_long_write(time.monotonic() - began, long_after)
                self._writes_since_maintenance += 1
                group.writes += 1
                group.changed_spaces |= tx.changed_spaces
            finally:
                if group.committing is None:
                    # Queued behind the writes that came while the first one ran: they join the group.
                    group.committing = asyncio.create_task(self._commit_when_free(group))
        await asyncio.shield(group.committed)

    async def _undo_write(self, group: "_CommitGroup") -> None:
        """Roll back one write of a group; an error that ended the whole transaction fails the group."""
        assert self._writer is not None
        try:
            if not self._writer.in_transaction:
                raise sqlite3.OperationalError("no transaction")
            await self._writer.execute("ROLLBACK TO write")
            await self._writer.execute("RELEASE write")
        except sqlite3.Error:
            group.lost = True

    async def _commit_when_free(self, group: "_CommitGroup") -> None:
        """Commit the group once it stops growing: while a turn of the event loop brings more writes
        (requests in flight reaching theirs), up to ``GROUP_COMMIT_WAIT``; a lone write waits one turn."""
        assert self._writer is not None
        deadline = time.monotonic() + GROUP_COMMIT_WAIT
        joined = -1
        while joined != group.writes and time.monotonic() < deadline:
            joined = group.writes
            await asyncio.sleep(0)
        async with self._write_lock:
            self._group = None
            try:
                if group.lost:
                    raise sqlite3.OperationalError("the write transaction was rolled back by SQLite")
                await self._writer.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    if self._writer.in_transaction:
                        await self._writer.execute("ROLLBACK")
                group.committed.set_exception(exc)
                group.committed.exception()  # its writes may all have failed already: nobody waits
                return
            if group.changed_spaces:
                # The file serves this instance alone: what it commits is every change there is.
                self._space_cache.forget()
            group.committed.set_result(None)
            if self._writes_since_maintenance < MAINTENANCE_EVERY_WRITES:
                return
            self._writes_since_maintenance = 0
            await self._maintain(self._analyze)
        # In a thread, and outside the lock: a checkpoint may write and sync megabytes, which the
        # writer, on the loop's thread, must not wait for.
        await self._maintain(asyncio.to_thread, _checkpoint, self.path)

    async def _maintain(self, work: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Statistics and checkpoints: due work whose failure no write waits for, logged."""
        try:
            await work(*args)
        except Exception:
            log.exception("SQLite maintenance failed")


@dataclass
class _CommitGroup:
    """Writes committed together: their COMMIT's outcome, and the task that makes it."""

    committed: "asyncio.Future[None]" = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    committing: "asyncio.Task[None] | None" = None
    #: The writes that joined it so far, and whether one changed a space (the cache forgets them).
    writes: int = 0
    changed_spaces: bool = False
    #: SQLite rolled the whole transaction back (disk full, I/O error): the group cannot commit.
    lost: bool = False


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
