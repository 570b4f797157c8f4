"""Automatic push across real ``casepush serve`` processes: pending pushes survive ``kill -9`` and each
happens once after the restart (SQLite and PostgreSQL), and two instances on one PostgreSQL database push
each of 200 cases once per burst of changes, counted at a fake Jira."""

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fake_jira import API_TOKEN, EMAIL, PROJECT, start_jira

from casepush.config import Settings
from casepush.testing import FakeService
from casepush.testing.database import TEST_DATABASE_ENV, fresh_schema, postgres_server_url
from tests.helpers import case_body, connector_body, echo_service
from tests.processes import call, start, start_with_plugins, stop

AUTH = {"CASEPUSH_AUTOMATIC_PUSH_POLL_INTERVAL": "0.1"}


async def ok(result: Awaitable[tuple[int, Any]], expected: int = 200) -> Any:
    status, body = await result
    assert status == expected, body
    return body


async def until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.5)


async def states(url: str, case_ids: list[str]) -> list[dict]:
    """The automatic push state of each case, a few asked at a time."""
    limit = asyncio.Semaphore(8)

    async def state(case_id: str) -> dict:
        async with limit:
            found = await ok(call(url, "GET", f"/api/casepush/cases/{case_id}/automatic_push"))
        return found["automatic_pushes"][0]

    return await asyncio.gather(*(state(case_id) for case_id in case_ids))


async def all_pushed(url: str, case_ids: list[str]) -> bool:
    return all(s["state"] == "idle" and s["last_outcome"] == "success" for s in await states(url, case_ids))


async def test_pending_automatic_pushes_survive_kill_9_and_each_happens_once(
    settings: Settings, installed_echo: Path, fake_service: Callable[[], FakeService]
):
    echo = echo_service(fake_service)
    await echo.start()
    process, url = await start_with_plugins(installed_echo, settings, **AUTH)
    try:
        connector = await ok(call(url, "POST", "/api/actions/connector", connector_body(echo.url)))
        named = {"id": connector["id"], "name": "Echo", "type": ".echo", "fields": None}
        cases = [await ok(call(url, "POST", "/api/cases", case_body(connector=named))) for _ in range(10)]
        for case in cases:
            await ok(call(url, "POST", f"/api/cases/{case['id']}/connector/{connector['id']}/_push", {}))
        setting = {"mode": "updates", "quiet_period": 3}
        await ok(call(url, "PUT", f"/api/casepush/automatic_push/cases/{connector['id']}", setting))
        for case in cases:
            comment = {"type": "user", "comment": f"before the kill on {case['id']}", "owner": "cases"}
            await ok(call(url, "POST", f"/api/cases/{case['id']}/comments", comment))
        assert {s["state"] for s in await states(url, [c["id"] for c in cases])} == {"pending"}
    finally:
        process.kill()  # kill -9, before any quiet period ends
        await process.wait()
    assert sum(r.method == "PUT" for r in echo.requests) == 0

    process, url = await start_with_plugins(installed_echo, settings, **AUTH)
    try:
        ids = [case["id"] for case in cases]
        await until(lambda: all_pushed(url, ids), 30, "the pushes after the restart")
        await asyncio.sleep(1)  # nothing more comes
    finally:
        await stop(process)

    updates = [r.path for r in echo.requests if r.method == "PUT"]
    assert sorted(updates) == sorted(f"/incidents/{n}" for n in range(1, 11))
    for number in range(1, 11):
        comments = echo.incidents[str(number)]["comments"]
        assert len(comments) == 1 and comments[0].startswith("before the kill")


CASES = 200
COMMENTS_PER_CASE = 3
_ISSUE = re.compile(r"^/rest/api/2/issue/\d+$")


@pytest.mark.skipif(not postgres_server_url(), reason=f"{TEST_DATABASE_ENV} is not set")
async def test_two_instances_push_each_of_200_cases_once_per_burst(
    tmp_path: Path, fake_service: Callable[[], FakeService]
):
    jira = await start_jira(fake_service())
    env = {
        **AUTH,
        "CASEPUSH_ELASTIC_PASSWORD": "changeme",
        "CASEPUSH_LOAD_PLUGINS": "casepush-jira",
        "CASEPUSH_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    async with fresh_schema(postgres_server_url()) as database:
        # Their logs go to files: thousands of requests' lines would fill a pipe and stop the servers.
        started = await asyncio.gather(
            *(
                start(
                    Settings(data_dir=str(tmp_path / name), database_url=database),
                    tmp_path / f"{name}.log",
                    **env,
                )
                for name in "ab"
            )
        )
        try:
            await _bursts_through(*(url for _, url in started), jira)
        finally:
            for process, _ in started:
                await stop(process)


async def _bursts_through(a: str, b: str, jira: Any) -> None:
    """Cases created and changed through both instances: one push of each case per burst."""
    body = {
        "name": "Jira",
        "connector_type_id": ".jira",
        "config": {"apiUrl": jira.url, "projectKey": PROJECT},
        "secrets": {"email": EMAIL, "apiToken": API_TOKEN},
    }
    connector = await ok(call(a, "POST", "/api/actions/connector", body))
    setting = {"mode": "all", "quiet_period": 3}
    await ok(call(a, "PUT", f"/api/casepush/automatic_push/cases/{connector['id']}", setting))
    fields = {"issueType": None, "priority": None, "parent": None}
    named = {"id": connector["id"], "name": "Jira", "type": ".jira", "fields": fields}
    limit = asyncio.Semaphore(16)

    async def create(n: int) -> str:
        async with limit:
            return (await ok(call(a if n % 2 else b, "POST", "/api/cases", case_body(connector=named))))["id"]

    ids = list(await asyncio.gather(*(create(n) for n in range(CASES))))
    await until(lambda: all_pushed(a, ids), 120, "the first pushes")
    assert sum(r.method == "POST" and r.path == "/rest/api/2/issue" for r in jira.requests) == CASES

    async def burst(n: int, case_id: str) -> None:
        """A case's comments one after the other, through both instances: well within its quiet period."""
        async with limit:
            for k in range(COMMENTS_PER_CASE):
                comment = {"type": "user", "comment": f"burst {k}", "owner": "cases"}
                await ok(call(a if (n + k) % 2 else b, "POST", f"/api/cases/{case_id}/comments", comment))

    await asyncio.gather(*(burst(n, case_id) for n, case_id in enumerate(ids)))

    async def burst_pushed() -> bool:
        return _updates(jira) >= CASES and await all_pushed(b, ids)

    await until(burst_pushed, 120, "one update per case and burst")
    await asyncio.sleep(2)  # no second push of any case comes

    assert _updates(jira) == CASES
    assert sorted(len(comments) for comments in jira.comments.values()) == [COMMENTS_PER_CASE] * CASES
    pushed = await asyncio.gather(
        *(ok(call(b, "GET", f"/api/cases/{case_id}/user_actions/_find?types=pushed")) for case_id in ids)
    )
    assert {found["total"] for found in pushed} == {2}  # the first push and the burst's, each once


def _updates(jira: Any) -> int:
    """Updates of issues (``PUT /rest/api/2/issue/{id}``) that Jira received."""
    return sum(r.method == "PUT" and _ISSUE.match(r.path) is not None for r in jira.requests)
