"""The storage backends the tests run on, and a raw view of what a casepush database holds.

Every test that uses the ``casepush_database_url`` fixture (through ``casepush_settings`` or the
project's ``settings``) runs once on SQLite and, when ``CASEPUSH_TEST_DATABASE_URL`` names a
PostgreSQL server, once more on PostgreSQL in a schema of its own.
"""

import re
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import asyncpg
from yarl import URL

from casepush.config import Settings
from casepush.store.backends import is_postgres

# Re-exported: where the tests have always imported them from.
from casepush.testing.backends import TEST_DATABASE_ENV as TEST_DATABASE_ENV
from casepush.testing.backends import backends as backends
from casepush.testing.backends import postgres_server_url as postgres_server_url


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


@asynccontextmanager
async def fresh_schema(server_url: str, prefix: str = "casepush_test") -> AsyncIterator[str]:
    """A store URL naming a new, empty schema on ``server_url``, dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        yield str(URL(server_url).update_query(schema=schema))
    finally:
        conn = await asyncpg.connect(server_url, timeout=10)
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {_quoted(schema)} CASCADE")
        finally:
            await conn.close()


#: Tables of the shared login throttle (PostgreSQL), not of the data.
THROTTLE_TABLES = frozenset({"login_failures"})


class StoredData:
    """What a casepush database holds, read behind the server's back: for checks that a failed request
    wrote nothing, that a delete removed every row, that no secret is stored in clear text.

    SQL uses ``?`` placeholders on both backends. Tables have the same names and columns on both
    (PostgreSQL returns ``jsonb`` columns as text).
    """

    def __init__(self, settings: Settings):
        self.url = settings.database_url
        self.sqlite_path = None if is_postgres(self.url) else settings.sqlite_path

    @asynccontextmanager
    async def _postgres(self) -> AsyncIterator[asyncpg.Connection]:
        assert self.url is not None  # called when sqlite_path is None: a PostgreSQL URL
        parsed = URL(self.url)
        schema = parsed.query.get("schema")
        dsn = str(parsed.with_query({k: v for k, v in parsed.query.items() if k != "schema"}))
        settings = {"search_path": _quoted(schema)} if schema else None
        conn = await asyncpg.connect(dsn, server_settings=settings, timeout=10)
        try:
            yield conn
        finally:
            await conn.close()

    async def rows(self, sql: str, *params: Any) -> list[tuple]:
        """The rows a query returns, read through a connection of its own (read-only for SQLite)."""
        return await self._run(sql, params, mode="ro")

    async def execute(self, sql: str, *params: Any) -> None:
        """Change the data behind the server's back (to make it fail), committed at once."""
        await self._run(sql, params, mode="rw")

    async def _run(self, sql: str, params: tuple, mode: str) -> list[tuple]:
        if self.sqlite_path is not None:
            with closing(sqlite3.connect(f"file:{self.sqlite_path}?mode={mode}", uri=True)) as conn:
                found = conn.execute(sql, params).fetchall()
                conn.commit()
                return found
        numbered = iter(range(1, len(params) + 1))
        sql = re.sub(r"\?", lambda _: f"${next(numbered)}", sql)
        async with self._postgres() as conn:
            return [tuple(row) for row in await conn.fetch(sql, *params)]

    async def count(self, table: str, where: str = "1 = 1", *params: Any) -> int:
        return (await self.rows(f"SELECT COUNT(*) FROM {table} WHERE {where}", *params))[0][0]

    async def tables(self) -> list[str]:
        if self.sqlite_path is not None:
            sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        else:
            sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        return sorted(name for (name,) in await self.rows(sql))

    async def snapshot(self) -> dict[str, list[tuple]]:
        """Every row of every table that holds data, in a stable order: not the counts of the login
        throttle, which every credential check touches."""
        tables = [table for table in await self.tables() if table not in THROTTLE_TABLES]
        return {table: sorted(await self.rows(f"SELECT * FROM {table}"), key=repr) for table in tables}

    async def everything(self) -> bytes:
        """All the bytes the database keeps: SQLite's file and write-ahead log as they lie on disk (freed
        pages too), or every row of every PostgreSQL table as text."""
        if self.sqlite_path is not None:
            paths = (self.sqlite_path, Path(f"{self.sqlite_path}-wal"))
            return b"".join(path.read_bytes() for path in paths if path.exists())
        texts = []
        for table in await self.tables():
            texts += [text for (text,) in await self.rows(f"SELECT t::text FROM {table} t")]
        return "\n".join(texts).encode()
