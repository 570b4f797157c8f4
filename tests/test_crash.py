"""Crash: ``kill -9`` of a real ``casepush serve`` during a stream of creates, comments and pushes to a
slow fake Jira, then a restart on the same database (SQLite; PostgreSQL in the suite's PostgreSQL half).
Every acknowledged write is there once, the database is intact, no push claim blocks a push, and each
case's next push succeeds with exactly one incident per case in Jira: the journal recovers the creates
the kill interrupted.

``CRASH_ROUNDS`` sets how many kills (each after a random delay) one run makes: two in ``make test``.
"""

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from casepush_jira.service import case_label

from casepush.config import Settings
from casepush.testing import FakeService
from casepush.testing.client import PASSWORD
from casepush.testing.database import StoredData
from tests.faults import Saboteur
from tests.processes import start
from tests.workload import (
    Workload,
    backend,
    check_incidents,
    check_writes,
    drain,
    gathered,
    report,
    settle_pushes,
    start_jira,
    stopped,
)

CRASH_ROUNDS = int(os.environ.get("CRASH_ROUNDS", "2"))
CLIENTS = 30
MIX = {"create": 25, "comment": 35, "push": 30, "get": 10}
#: Seconds of load before each kill: a random point in that range.
KILL_AFTER = (0.5, 2.0)
#: Each Jira call takes up to this long, so that pushes are under way (some between the create and the
#: save) when the kill comes.
JIRA_LATENCY = 0.05
#: The servers' push lease: a claim of the killed server is taken over after this many seconds.
LEASE = 2
SERVER_ENV = {"CASEPUSH_ELASTIC_PASSWORD": PASSWORD, "CASEPUSH_PUSH_LEASE": str(LEASE)}


@pytest.fixture
async def slow_jira(fake_service: Callable[[], FakeService]) -> AsyncIterator[Any]:
    yield await start_jira(fake_service(), Saboteur(max_latency=JIRA_LATENCY))


async def intact(stored: StoredData) -> dict[str, int]:
    """The database's own check (SQLite), and what must hold on either backend: nothing belongs to a
    missing case, and no push claim is held for longer than a lease from now."""
    if stored.sqlite_path is not None:
        assert await stored.rows("PRAGMA integrity_check") == [("ok",)]
        assert await stored.rows("PRAGMA foreign_key_check") == []
    for table in ("attachments", "user_actions", "case_tags", "push_claims"):
        orphans = await stored.count(table, "case_id NOT IN (SELECT id FROM cases)")
        assert orphans == 0, f"{orphans} rows of {table} belong to no case"
    held = await stored.count("push_claims", "expires_ms > ?", int((time.time() + LEASE) * 1000))
    assert held == 0, "a push claim outlives its lease"
    return {"claims left by the kill": await stored.count("push_claims")}


async def recorded_pushes(workload: Workload, case_ids: list[str]) -> dict[str, str | None]:
    """Each case's pushed incident (None: not pushed), checking that no case is half pushed: its
    ``external_service`` is what its last ``pushed`` user action recorded."""

    async def recorded(case_id: str) -> str | None:
        _, case = await workload.call("check", "GET", f"/api/cases/{case_id}?includeComments=false")
        path = f"/api/cases/{case_id}/user_actions/_find?types=pushed&sortOrder=desc&perPage=1"
        _, pushes = await workload.call("check", "GET", path)
        last = pushes["userActions"][0]["payload"]["externalService"] if pushes["userActions"] else None
        assert case["external_service"] == last, f"case {case_id} is half pushed"
        return last and last["external_id"]

    return dict(zip(case_ids, await gathered(map(recorded, case_ids)), strict=True))


def interrupted_creates(jira: Any, pushes: dict[str, str | None]) -> int:
    """Issues made for a case whose push was not recorded: the kill came between the create and the save."""
    unrecorded = {case_label(case_id) for case_id, incident in pushes.items() if incident is None}
    return sum(bool(unrecorded & set(issue["fields"].get("labels", []))) for issue in jira.issues.values())


async def load_then_kill(workload: Workload, process: asyncio.subprocess.Process, delay: float) -> None:
    """Clients writing and pushing until the server is killed (SIGKILL) after ``delay`` seconds."""
    running = asyncio.create_task(workload.run(CLIENTS, seconds=3600, first_cases=5))
    await asyncio.sleep(delay)
    process.kill()
    await process.wait()
    workload.stopped = True
    await running


async def restarted_and_checked(workload: Workload, stored: StoredData, jira: Any) -> dict[str, Any]:
    """What a restarted server shows and the database holds; then each case's next push."""
    figures = await check_writes(workload, stored) | await intact(stored)
    case_ids = [case_id for (case_id,) in await stored.rows("SELECT id FROM cases")]
    figures["interrupted creates"] = interrupted_creates(jira, await recorded_pushes(workload, case_ids))
    await settle_pushes(workload, case_ids)
    return figures | await check_incidents(workload, jira.issues)


async def crash_round(
    workload: Workload, settings: Settings, stored: StoredData, jira: Any, delay: float
) -> tuple[dict[str, Any], str]:
    """Load, ``kill -9`` after ``delay`` seconds, restart and check: the round's figures and what the
    servers printed (their errors)."""
    unanswered = sum(workload.tally.unanswered.values())
    process, workload.url = await start(settings, **SERVER_ENV)
    output = drain(process)
    try:
        if not workload.connector:
            await workload.use_jira(jira.url)
        workload.stopped = False
        await load_then_kill(workload, process, delay)
    finally:
        printed = await stopped(process, output)
    unanswered = sum(workload.tally.unanswered.values()) - unanswered
    process, workload.url = await start(settings, **SERVER_ENV)
    output = drain(process)
    try:
        figures = await restarted_and_checked(workload, stored, jira)
    finally:
        printed += await stopped(process, output)
    return {"after (s)": round(delay, 2), "unanswered": unanswered, **figures}, printed


async def test_kill_9_during_writes_and_pushes_loses_nothing_and_makes_no_second_incident(
    settings: Settings, stored: StoredData, slow_jira: Any
) -> None:
    seed = random.randrange(1 << 32)
    rng, kills, printed = random.Random(seed), [], ""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CLIENTS)) as session:
        workload = Workload("", session, MIX, rng)
        for _ in range(CRASH_ROUNDS):
            figures, output = await crash_round(
                workload, settings, stored, slow_jira, rng.uniform(*KILL_AFTER)
            )
            kills.append(figures)
            printed += output
    tally = workload.tally
    report(
        "crash",
        {"backend": backend(settings), "seed": seed, "kills": kills, "requests": tally.sent}
        | {"answers": tally.answers, "unanswered": tally.unanswered, "5xx": tally.server_errors()},
    )
    assert tally.server_errors() == 0, printed
