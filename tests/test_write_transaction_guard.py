"""An outbound call made while a write transaction is open fails in tests (the test kit makes the guard
strict) and is logged by a server, on both backends; a call before or after the transaction, or from a
task the transaction started that calls once it has ended, is not taken for inside it."""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web

from casepush import guards
from casepush.config import Settings
from casepush.http import OutboundClient, create_session
from casepush.store import Store
from casepush.store.backends import opened_store
from casepush.testing import FakeService


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    async with opened_store(settings) as opened:
        yield opened


@pytest.fixture
async def service(fake_service: Callable[[], FakeService]) -> FakeService:
    service = fake_service()

    @service.route("GET", "/ping")
    async def ping(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    await service.start()
    return service


@pytest.fixture
async def client() -> AsyncIterator[OutboundClient]:
    async with create_session() as session:
        yield OutboundClient(session, ["*"], timeout=5, max_response_bytes=1_000_000)


def test_the_test_kit_makes_the_guard_strict_for_its_tests(settings):
    assert guards.strict


async def test_a_call_inside_a_write_transaction_fails(store: Store, service: FakeService, client):
    with pytest.raises(
        guards.CallInsideWriteTransaction, match=r"^GET 127\.0\.0\.1 was called inside a write transaction"
    ):
        async with store.write():
            await client.request("GET", f"{service.url}/ping")
    assert service.requests == []


async def test_calls_before_after_and_in_reads_pass(store: Store, service: FakeService, client):
    await client.request("GET", f"{service.url}/ping")
    async with store.write():
        pass
    async with store.read():
        await client.request("GET", f"{service.url}/ping")
    await client.request("GET", f"{service.url}/ping")
    assert len(service.requests) == 3


async def test_a_task_started_in_a_transaction_may_call_once_it_has_ended(
    store: Store, service: FakeService, client
):
    release = asyncio.Event()

    async def later() -> int:
        await release.wait()
        return (await client.request("GET", f"{service.url}/ping")).status

    async with store.write():
        task = asyncio.create_task(later())
    release.set()
    assert await task == 200


async def test_a_server_logs_the_call_and_makes_it(
    store: Store, service: FakeService, client, monkeypatch: pytest.MonkeyPatch, caplog
):
    monkeypatch.setattr(guards, "strict", False)
    with caplog.at_level(logging.WARNING, logger="casepush.guards"):
        async with store.write():
            answer = await client.request("GET", f"{service.url}/ping")
    assert answer.status == 200
    assert [record.getMessage() for record in caplog.records if record.name == "casepush.guards"] == [
        "GET 127.0.0.1 was called inside a write transaction; make external calls before or after it"
    ]
