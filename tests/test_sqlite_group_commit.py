"""SQLite's group commit: writes that queue while one runs share its transaction, each in a savepoint,
and one COMMIT. A write that fails takes only its own changes back; when the transaction itself is lost
(SQLite rolled it back) or its COMMIT fails, every write of the group fails and nothing of it is stored.
A write returns only once its changes are committed."""

import asyncio
import sqlite3

import pytest

from casepush.store.sqlite import SqliteStore
from casepush.types import Space


def space(name: str) -> Space:
    return Space(id=name, name=name.title())


@pytest.fixture
def commits(sqlite_store: SqliteStore) -> list[str]:
    """The COMMITs the store's writer runs from now on."""
    seen: list[str] = []
    sqlite_store._writer._conn.set_trace_callback(lambda sql: seen.append(sql) if sql == "COMMIT" else None)
    return seen


def stored_ids(store: SqliteStore) -> set[str]:
    """The spaces in the file, read by a connection of its own: what is committed."""
    with sqlite3.connect(store.path) as conn:
        return {space_id for (space_id,) in conn.execute("SELECT id FROM spaces")}


async def add(store: SqliteStore, *names: str, release: asyncio.Event | None = None) -> None:
    async with store.write() as tx:
        for name in names:
            assert await tx.insert_space(space(name))
        if release is not None:
            await release.wait()


async def test_writes_queued_behind_one_commit_with_it_once(sqlite_store: SqliteStore, commits: list[str]):
    release = asyncio.Event()
    first = asyncio.create_task(add(sqlite_store, "first", release=release))
    await asyncio.sleep(0)
    queued = [asyncio.create_task(add(sqlite_store, name)) for name in ("second", "third")]
    await asyncio.sleep(0.05)
    assert not any(task.done() for task in [first, *queued])  # none returns before its commit
    release.set()
    await asyncio.gather(first, *queued)
    assert commits == ["COMMIT"]
    assert {"first", "second", "third"} <= stored_ids(sqlite_store)


async def test_a_failing_write_takes_back_only_its_own_changes(sqlite_store: SqliteStore):
    release = asyncio.Event()

    async def failing() -> None:
        async with sqlite_store.write() as tx:
            await tx.insert_space(space("failed"))
            raise RuntimeError("refused")

    first = asyncio.create_task(add(sqlite_store, "first", release=release))
    await asyncio.sleep(0)
    broken, last = asyncio.create_task(failing()), asyncio.create_task(add(sqlite_store, "last"))
    release.set()
    results = await asyncio.gather(first, broken, last, return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], RuntimeError)
    assert {"first", "last"} <= stored_ids(sqlite_store)
    assert "failed" not in stored_ids(sqlite_store)


async def test_a_lost_transaction_fails_every_write_of_its_group(sqlite_store: SqliteStore):
    release = asyncio.Event()

    async def losing() -> None:
        async with sqlite_store.write() as tx:
            await tx._run_named("ROLLBACK", {})  # as SQLite does on a full disk or an I/O error
            raise sqlite3.OperationalError("database or disk is full")

    first = asyncio.create_task(add(sqlite_store, "first", release=release))
    await asyncio.sleep(0)
    lost = asyncio.create_task(losing())
    release.set()
    results = await asyncio.gather(first, lost, return_exceptions=True)
    assert all(isinstance(result, sqlite3.OperationalError) for result in results)
    assert "first" not in stored_ids(sqlite_store)
    await add(sqlite_store, "after")  # the store goes on
    assert "after" in stored_ids(sqlite_store)


async def test_a_failed_commit_fails_every_write_of_its_group(sqlite_store: SqliteStore):
    release = asyncio.Event()

    async def dangling() -> None:
        async with sqlite_store.write() as tx:
            # A tag of no case: a deferred foreign key, checked by the COMMIT.
            await tx._run_named("PRAGMA defer_foreign_keys = ON", {})
            await tx._run_named("INSERT INTO case_tags (case_id, tag) VALUES ('none', 'x')", {})

    first = asyncio.create_task(add(sqlite_store, "first", release=release))
    await asyncio.sleep(0)
    failing = asyncio.create_task(dangling())
    release.set()
    results = await asyncio.gather(first, failing, return_exceptions=True)
    assert all(isinstance(result, sqlite3.IntegrityError) for result in results)
    assert "first" not in stored_ids(sqlite_store)
    await add(sqlite_store, "after")
    assert "after" in stored_ids(sqlite_store)
