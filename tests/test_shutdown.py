"""``casepush serve`` on SIGTERM: it stops taking connections, lets the push under way finish and record
its result, then closes the database and exits 0."""

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

from tests.helpers import case_body, connector_body, echo_service
from tests.processes import call, start_with_plugins, stop

#: How long the fake service takes to create an incident: SIGTERM arrives in the meantime.
SLOW_CREATE_SECONDS = 2.0


def slowed_create(creating: asyncio.Event) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Middleware of the fake service: tell when a create arrives, then answer it late."""

    @web.middleware
    async def slow(request: web.Request, handler: Callable) -> web.StreamResponse:
        if (request.method, request.path) == ("POST", "/incidents"):
            creating.set()
            await asyncio.sleep(SLOW_CREATE_SECONDS)
        return await handler(request)

    return slow


async def wait_until_refused(url: str, pushing: asyncio.Task) -> None:
    """A new request fails to connect while the push is still under way."""
    for _ in range(100):
        try:
            await call(url, "GET", "/api/status")
        except aiohttp.ClientConnectionError:
            assert not pushing.done(), "the push ended before new connections were refused"
            return
        await asyncio.sleep(0.01)
    raise AssertionError("new connections were still accepted a second after SIGTERM")


async def test_sigterm_lets_a_push_under_way_finish_and_record_it(installed_echo, settings, fake_service):
    echo = echo_service(fake_service)
    creating = asyncio.Event()
    echo.app.middlewares.append(slowed_create(creating))
    await echo.start()
    process, url = await start_with_plugins(installed_echo, settings)
    _, connector = await call(url, "POST", "/api/actions/connector", connector_body(echo.url))
    _, case = await call(url, "POST", "/api/cases", case_body())

    push_path = f"/api/cases/{case['id']}/connector/{connector['id']}/_push"
    pushing = asyncio.create_task(call(url, "POST", push_path, {}))
    await creating.wait()
    process.terminate()
    await wait_until_refused(url, pushing)
    status, pushed = await pushing
    output, _ = await process.communicate()

    assert (status, process.returncode) == (200, 0), output.decode()
    assert pushed["external_service"]["external_id"] == "1"
    process, url = await start_with_plugins(installed_echo, settings)
    try:
        _, stored = await call(url, "GET", f"/api/cases/{case['id']}")
    finally:
        await stop(process)
    assert stored["external_service"]["external_id"] == "1"
    assert len(echo.incidents) == 1
