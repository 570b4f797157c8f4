"""Load: 200 concurrent clients against a real ``casepush serve`` (on SQLite, and on PostgreSQL in the
suite's PostgreSQL half) for a bounded time, reading, writing, commenting and pushing to a fake Jira that
fails now and then. No 5xx; every acknowledged write is stored exactly once; each pushed case has
exactly one incident, which its ``external_service`` names.

``LOAD_SECONDS`` sets how long the load lasts (a few seconds in ``make test``; ``make stress`` longer).
"""

import os
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from casepush.config import Settings
from casepush.testing import FakeService
from casepush.testing.client import PASSWORD
from casepush.testing.database import StoredData
from tests.faults import Saboteur, hang, rate_limited, reset, server_error
from tests.processes import start
from tests.workload import (
    Workload,
    backend,
    check_incidents,
    check_writes,
    drain,
    figures_of,
    report,
    settle_pushes,
    start_jira,
    stopped,
)

LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", "3"))
CLIENTS = 200
#: How often each kind of request is sent, relatively.
MIX = {"create": 10, "get": 20, "find": 10, "user_actions": 10, "patch": 10, "comment": 20, "push": 20}
#: The share of Jira's answers that fail, and how (a hung call fails after ``RESPONSE_TIMEOUT``).
FAULT_RATE = 0.05
FAULTS = (rate_limited(), server_error(502), server_error(503), reset(acted=True), reset(), hang(acted=True))
RESPONSE_TIMEOUT = 2


@pytest.fixture
async def jira(fake_service: Callable[[], FakeService]) -> AsyncIterator[tuple[Any, Saboteur]]:
    saboteur = Saboteur()
    yield await start_jira(fake_service(), saboteur), saboteur
    saboteur.calm()


async def test_200_clients_get_no_5xx_lose_nothing_and_push_each_case_once(
    settings: Settings, stored: StoredData, jira: tuple[Any, Saboteur]
) -> None:
    fake, saboteur = jira
    seed = random.randrange(1 << 32)
    saboteur.at_random(FAULT_RATE, *FAULTS, seed=seed)
    process, url = await start(
        settings, CASEPUSH_ELASTIC_PASSWORD=PASSWORD, CASEPUSH_RESPONSE_TIMEOUT=str(RESPONSE_TIMEOUT)
    )
    output = drain(process)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CLIENTS)) as session:
            workload = Workload(url, session, MIX, random.Random(seed))
            await workload.use_jira(fake.url)

            await workload.run(CLIENTS, LOAD_SECONDS)

            load = figures_of(workload.tally)
            saboteur.calm()
            await settle_pushes(workload, workload.tally.pushed)
            writes = await check_writes(workload, stored)
            incidents = await check_incidents(workload, fake.issues)
            claims_left = await stored.count("push_claims")
    finally:
        printed = await stopped(process, output)
    tally = workload.tally
    report(
        "load",
        {"backend": backend(settings), "seed": seed, "seconds": LOAD_SECONDS, "clients": CLIENTS, **load}
        | {"faults": saboteur.made, **writes, **incidents},
    )
    assert load["5xx"] == 0, printed
    assert not load["unanswered"]
    for kind in ("create", "get", "find", "user_actions", "comment"):
        assert tally.statuses(kind) <= {200}, (kind, tally.answers)
    assert tally.statuses("patch") <= {200, 409}
    assert set(tally.conflicts) <= {("patch", "stale version")}, tally.conflicts
    # A push fails (a 424) only when Jira failed it.
    assert tally.statuses("push") <= {200, 424}
    assert load["answers"]["push", 424] <= saboteur.total()
    assert claims_left == 0
