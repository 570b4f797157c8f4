"""``store.read()`` is one snapshot on both backends: its statements see the database as it was at the
first of them, whatever is written meanwhile. On SQLite reads run on pools of reader connections, at
once with each other and with the writer: quick reads on the loop's thread, scans (``store.scan()``) on
threads; write transactions that hold the write lock long are logged.
"""

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import asyncpg
import pytest

from casepush.config import ConfigError, Settings, load_settings
from casepush.domain import Context, acting_context, one_snapshot
from casepush.store import Store
from casepush.store.backends import open_store, opened_store
from casepush.store.sqlite import LONG_WRITE, SqliteStore
from casepush.types import Space, User

OPS = Space(id="ops", name="Operations")


async def space_ids(store: Store) -> list[str]:
    async with store.read() as tx:
        return [space.id for space in await tx.list_spaces()]


async def add_space(store: Store, space: Space = OPS) -> None:
    async with store.write() as tx:
        assert await tx.insert_space(space)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    async with opened_store(settings) as opened:
        yield opened


async def test_a_read_does_not_see_a_write_committed_after_its_first_statement(store: Store):
    async with store.read() as reading:
        first = [space.id for space in await reading.list_spaces()]
        await add_space(store)
        assert [space.id for space in await reading.list_spaces()] == first
        assert await reading.get_space(OPS.id) is None
    assert OPS.id not in first
    assert OPS.id in await space_ids(store)


async def test_a_read_after_a_write_sees_it(store: Store):
    await add_space(store)
    assert OPS.id in await space_ids(store)


async def test_a_read_cannot_write(store: Store):
    async with store.read() as reading:
        with pytest.raises((sqlite3.Error, asyncpg.PostgresError)):
            await reading.insert_space(OPS)
    assert OPS.id not in await space_ids(store)


async def ids_read_by(ctx: Context) -> list[str]:
    async with ctx.read() as tx:
        return [space.id for space in await tx.list_spaces()]


async def test_one_snapshot_keeps_the_reads_of_a_page_in_one_state(store: Store):
    """A page built from several domain calls (``ctx.read()`` each) shows one state of the database."""
    ctx = acting_context(store, Space(id="default", name="Default"), User(username="elastic"), {})
    async with one_snapshot(ctx):
        first = await ids_read_by(ctx)
        await add_space(store)
        assert await ids_read_by(ctx) == first
    assert OPS.id not in first
    assert OPS.id in await ids_read_by(ctx)


async def test_a_task_started_in_a_snapshot_reads_afresh_once_it_has_ended(store: Store):
    ctx = acting_context(store, Space(id="default", name="Default"), User(username="elastic"), {})
    added = asyncio.Event()
    async with one_snapshot(ctx):
        await ids_read_by(ctx)
        later = asyncio.create_task(added.wait())
        reading = asyncio.create_task(_after(later, ids_read_by(ctx)))
    await add_space(store)
    added.set()
    assert OPS.id in await reading


async def _after(first: Awaitable[object], then: Awaitable[list[str]]) -> list[str]:
    await first
    return await then


async def test_two_reads_run_at_once_each_in_its_own_snapshot(sqlite_store: SqliteStore):
    wrote, both_reading = asyncio.Event(), asyncio.Barrier(2)

    async def early() -> list[str]:
        async with sqlite_store.read() as tx:
            await tx.list_spaces()
            await add_space(sqlite_store)
            wrote.set()
            await asyncio.wait_for(both_reading.wait(), timeout=30)
            return [space.id for space in await tx.list_spaces()]

    async def late() -> list[str]:
        await wrote.wait()
        async with sqlite_store.read() as tx:
            seen = [space.id for space in await tx.list_spaces()]
            await asyncio.wait_for(both_reading.wait(), timeout=30)
            assert sqlite_store.pool_usage().in_use == 2
            return seen

    seen_early, seen_late = await asyncio.gather(early(), late())
    assert OPS.id not in seen_early
    assert OPS.id in seen_late


async def test_a_read_waits_for_a_reader_when_every_one_is_in_use(sqlite_store: SqliteStore):
    async with sqlite_store.read(), sqlite_store.read():
        waiting = asyncio.create_task(space_ids(sqlite_store))
        done, _ = await asyncio.wait({waiting}, timeout=0.2)
        assert not done
    assert await waiting == ["default"]
    assert sqlite_store.pool_usage().in_use == 0


async def test_the_readers_are_closed_with_the_store(tmp_path: Path):
    store = SqliteStore(tmp_path / "casepush.db", readers=2)
    await store.open()
    assert store.pool_usage().open == 5  # the writer, two quick readers, two scanning ones
    await store.close()
    assert store.pool_usage().open == 0
    await store.open()
    assert await space_ids(store) == ["default"]
    await store.close()


async def test_a_write_holding_the_lock_long_is_logged_unless_it_is_a_bulk_one(
    sqlite_store: SqliteStore, caplog: pytest.LogCaptureFixture
):
    with caplog.at_level(logging.WARNING, logger="casepush.store.sqlite"):
        async with sqlite_store.bulk_write():
            await asyncio.sleep(2 * LONG_WRITE)
        assert not caplog.records
        async with sqlite_store.write():
            await asyncio.sleep(2 * LONG_WRITE)
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "write lock" in record.getMessage()


async def test_a_scan_runs_beside_the_event_loop(sqlite_store: SqliteStore):
    """A scan's statements run on a reader's thread: the loop goes on while SQLite works."""
    ticks = 0

    async def ticking() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    ticker = asyncio.create_task(ticking())
    slow = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000)"
        " SELECT COUNT(*) FROM n"
    )
    async with sqlite_store.scan() as tx:
        [(count,)] = await tx._fetch_named(slow, {})
    ticker.cancel()
    assert count == 3_000_000
    assert ticks > 10


def test_the_readers_setting_reaches_the_sqlite_store(tmp_path: Path):
    settings = load_settings({"CASEPUSH_DATA_DIR": str(tmp_path), "CASEPUSH_SQLITE_READERS": "2"})
    store = open_store(settings)
    assert isinstance(store, SqliteStore)
    assert store.readers == 2
    assert load_settings({}).sqlite_readers == 4
    with pytest.raises(ConfigError, match="CASEPUSH_SQLITE_READERS"):
        load_settings({"CASEPUSH_SQLITE_READERS": "0"})
