"""The spaces a store keeps in memory for the lookup every request makes (``SpaceCache``,
``Store.space``): read once while every change is heard, forgotten as a change commits here or is
heard from another instance, never used or filled while changes cannot be heard, and never filled with
what a lookup read before a change.

The PostgreSQL tests (two stores on one schema, as two instances have) are skipped unless
``CASEPUSH_TEST_DATABASE_URL`` is set; ``tests/test_instances.py`` shows the same through two servers.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from casepush.store import SpaceCache, Store
from casepush.store.postgres import PostgresStore
from casepush.store.sqlite import SqliteStore
from casepush.testing.database import TEST_DATABASE_ENV, fresh_schema, postgres_server_url
from casepush.types import Space

needs_postgres = pytest.mark.skipif(not postgres_server_url(), reason=f"{TEST_DATABASE_ENV} is not set")

OPS = Space(id="ops", name="Ops")


class Spaces:
    """What ``SpaceCache`` uses of a store (its reads and whether it hears changes), over a dict; a read
    may be held between reading and answering (``held``), as one that took its snapshot before a change."""

    def __init__(self) -> None:
        self.spaces = {"ops": OPS}
        self.hears_changes = True
        self.reads = 0
        self.held: asyncio.Event | None = None

    @asynccontextmanager
    async def read(self) -> AsyncIterator["Spaces"]:
        yield self

    async def get_space(self, space_id: str) -> Space | None:
        self.reads += 1
        found = self.spaces.get(space_id)
        if self.held is not None:
            await self.held.wait()
        return found


async def looked_up(cache: SpaceCache, spaces: Spaces, space_id: str = "ops") -> Space | None:
    return await cache.get(spaces, space_id)


async def test_a_space_is_read_once_while_changes_are_heard_and_an_unknown_one_each_time() -> None:
    cache, spaces = SpaceCache(), Spaces()
    assert await looked_up(cache, spaces) == OPS
    assert await looked_up(cache, spaces) == OPS
    assert spaces.reads == 1
    assert await looked_up(cache, spaces, "nope") is None
    assert await looked_up(cache, spaces, "nope") is None
    assert spaces.reads == 3  # no one fills memory with names

    spaces.spaces["ops"] = Space(id="ops", name="Renamed")
    cache.forget()
    assert (await looked_up(cache, spaces)).name == "Renamed"


async def test_nothing_is_kept_or_used_while_changes_are_not_heard() -> None:
    cache, spaces = SpaceCache(), Spaces()
    await looked_up(cache, spaces)
    spaces.hears_changes = False
    spaces.spaces["ops"] = Space(id="ops", name="Renamed unheard")
    assert (await looked_up(cache, spaces)).name == "Renamed unheard"
    await looked_up(cache, spaces)
    assert spaces.reads == 3

    spaces.hears_changes = True  # a store that hears again forgets first: nothing stale was kept meanwhile
    cache.forget()
    await looked_up(cache, spaces)
    await looked_up(cache, spaces)
    assert spaces.reads == 4


async def test_a_lookup_that_read_before_a_change_does_not_keep_what_it_read() -> None:
    cache, spaces = SpaceCache(), Spaces()
    spaces.held = asyncio.Event()
    lookup = asyncio.create_task(looked_up(cache, spaces))
    await asyncio.sleep(0)  # it has read the space as it was

    spaces.spaces["ops"] = Space(id="ops", name="Renamed")  # a change commits, and is heard
    cache.forget()
    spaces.held.set()
    assert await lookup == OPS  # what the lookup read, as a read before the change answers

    spaces.held = None
    assert (await looked_up(cache, spaces)).name == "Renamed"


# --- the stores ----------------------------------------------------------------------------------------


async def change_at_once(store: Store) -> None:
    """Through the store itself, a change is seen by its next lookup: forgotten as it commits."""
    async with store.write() as tx:
        assert await tx.insert_space(OPS)
    assert await store.space("ops") == OPS
    disabled = Space(id="ops", name="Ops", disabledFeatures=["generalCases"])
    async with store.write() as tx:
        await tx.update_space(disabled)
    assert await store.space("ops") == disabled
    async with store.write() as tx:
        await tx.delete_space("ops")
    assert await store.space("ops") is None
    async with store.write() as tx:
        await tx.insert_space(OPS)
    assert await store.space("ops") == OPS


async def test_a_change_through_a_sqlite_store_is_seen_at_once(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "casepush.db")
    await store.open()
    try:
        await change_at_once(store)
    finally:
        await store.close()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with fresh_schema(postgres_server_url()) as url:
        yield url


async def eventually(check: Callable[[], Awaitable[Any]]) -> None:
    """Wait up to 5 s for ``await check()`` to hold."""
    for _ in range(100):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("never held")


@pytest.fixture
async def two(pg_url: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two stores on one schema, as two instances have, both hearing the other's changes."""
    here, there = PostgresStore(pg_url), PostgresStore(pg_url)
    await here.open()
    await there.open()

    async def listening() -> bool:
        return here.hears_changes and there.hears_changes

    await eventually(listening)
    yield here, there
    await asyncio.gather(here.close(), there.close())


async def renamed_behind_its_back(store: PostgresStore, name: str) -> None:
    """A change no instance announces: what a store that keeps a space no longer reads."""
    await store._execute(
        "UPDATE spaces SET data = jsonb_set(data, '{name}', to_jsonb($1::text)) WHERE id = 'ops'", name
    )


@needs_postgres
async def test_a_change_through_a_postgresql_store_is_seen_at_once(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    await store.open()
    try:
        await change_at_once(store)
    finally:
        await store.close()


@needs_postgres
async def test_a_change_through_another_instance_is_heard(two: tuple[PostgresStore, PostgresStore]) -> None:
    here, there = two
    heard = there._space_cache._generation
    async with here.write() as tx:
        await tx.insert_space(OPS)

    async def insert_heard() -> bool:  # else its notice, arriving later, would empty the cache below
        return there._space_cache._generation > heard

    await eventually(insert_heard)
    assert await there.space("ops") == OPS
    await renamed_behind_its_back(here, "Unannounced")
    assert await there.space("ops") == OPS  # kept: not read again

    disabled = Space(id="ops", name="Ops", disabledFeatures=["generalCases"])
    async with here.write() as tx:
        await tx.update_space(disabled)

    async def disabled_there() -> bool:
        return await there.space("ops") == disabled

    await eventually(disabled_there)

    async with here.write() as tx:
        await tx.delete_space("ops")

    async def deleted_there() -> bool:
        return await there.space("ops") is None

    await eventually(deleted_there)


@needs_postgres
async def test_while_not_listening_the_cache_is_bypassed(two: tuple[PostgresStore, PostgresStore]) -> None:
    here, there = two
    async with here.write() as tx:
        await tx.insert_space(OPS)
    assert await there.space("ops") == OPS

    assert there._listener is not None
    there._listener.cancel()  # its listening connection is gone, as when the network drops it
    await asyncio.gather(there._listener, return_exceptions=True)
    assert not there.hears_changes

    await renamed_behind_its_back(here, "Unannounced")
    assert (await there.space("ops")).name == "Unannounced"
    await renamed_behind_its_back(here, "Unannounced again")  # nor was the read kept
    assert (await there.space("ops")).name == "Unannounced again"
    async with here.write() as tx:
        await tx.delete_space("ops")  # announced, but not heard there
    assert await there.space("ops") is None
