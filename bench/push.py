"""The push benchmark: casepush pushing cases to a fake Jira, against a bare aiohttp client making the
same calls to the same fake.

For each concurrency level, on fresh cases (each with 3 comments): phase ``create`` pushes every case
once (Jira gets the issue and the 3 comments); after one more comment per case, phase ``update`` pushes
every case again. The baseline replays, per case, the calls the fake recorded from one casepush push of
that phase, with the same bodies, at the same concurrency. Both sides make a few warm-up pushes first,
which are not timed.

``python -m bench.push [--cases 1000] [--concurrency 1,32] [--database postgresql://...]``
"""

import argparse
import asyncio
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from bench import fake_jira
from bench.common import (
    BenchError,
    JsonClient,
    Timings,
    backend_name,
    casepush_client,
    casepush_server,
    met,
    print_table,
    progress,
    run_on_backends,
    started_process,
    timed_runs,
)

#: Untimed pushes per phase and side before the timed ones; the first runs alone, observed by the fake.
WARMUP_PUSHES = 10
COMMENTS_BEFORE_CREATE = 3
#: Concurrency of the untimed setup (cases, comments).
SETUP_CONCURRENCY = 32
#: casepush's time per push may be at most this many times the baseline's at this concurrency, by phase
#: and backend (PostgreSQL adds a network round trip to each statement).
TARGET_CONCURRENCY = 32
TARGET_RATIOS = {
    ("create", "SQLite"): 1.6,
    ("update", "SQLite"): 2.0,
    ("create", "PostgreSQL"): 2.0,
    ("update", "PostgreSQL"): 2.5,
}
#: The case names the issue type, so that the connector need not ask Jira's createmeta for one.
JIRA_FIELDS = {"issueType": "10006", "priority": "High", "parent": None}
JIRA_HEADERS = {"Authorization": fake_jira.AUTHORIZATION, "Content-Type": "application/json"}


# --- the fake Jira -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One call to Jira as the fake recorded it."""

    method: str
    template: str
    body: bytes | None

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"


class Jira:
    """The fake Jira as the benchmark drives it: its URL, its call counters and its recorder."""

    def __init__(self, client: JsonClient):
        self.client = client
        self.url = client.base_url

    async def record(self) -> None:
        await self.client.call("POST", "/_bench/record")

    async def recorded(self) -> list[Call]:
        calls = await self.client.call("GET", "/_bench/recorded")
        return [Call(c["method"], c["template"], c["body"].encode() or None) for c in calls]

    async def reset_counts(self) -> None:
        await self.client.call("DELETE", "/_bench/counts")

    async def counts(self) -> dict[str, int]:
        return await self.client.call("GET", "/_bench/counts")


@asynccontextmanager
async def started_jira(session: aiohttp.ClientSession) -> AsyncIterator[Jira]:
    argv = [sys.executable, str(Path(fake_jira.__file__))]
    async with started_process(argv, dict(os.environ), "/_bench/counts") as process:
        yield Jira(JsonClient(session, process.url, {}))


# --- the two sides -------------------------------------------------------------------------------------


class Baseline:
    """A bare aiohttp client that pushes as casepush did: the recorded calls, one after the other, the
    issue id of the case in their paths, every answer read and decoded as the connector does."""

    def __init__(self, session: aiohttp.ClientSession, jira_url: str, calls: list[Call]):
        self.session = session
        self.jira_url = jira_url
        self.calls = calls

    async def push(self, issue_id: str | None) -> str:
        """Push one case whose issue is ``issue_id`` (``None``: not created yet); its issue id."""
        for call in self.calls:
            path = call.template.replace("{id}", issue_id) if issue_id else call.template
            async with self.session.request(
                call.method, self.jira_url + path, data=call.body, headers=JIRA_HEADERS
            ) as response:
                payload = await response.read()
            if response.status >= 300:
                raise BenchError(f"baseline {call.name}: {response.status} {payload[:500]!r}")
            answer = msgspec.json.decode(payload) if payload else None
            # Before the issue exists, the first call creates it and answers its id.
            issue_id = issue_id or answer["id"]
        assert issue_id is not None
        return issue_id


class Casepush:
    """casepush's API as the push benchmark uses it: cases naming the Jira connector, comments, pushes."""

    def __init__(self, api: JsonClient, connector_id: str):
        self.api = api
        self.connector_id = connector_id

    async def push(self, case_id: str) -> str:
        await self.api.call("POST", f"/api/cases/{case_id}/connector/{self.connector_id}/_push", {})
        return case_id

    async def new_case(self, index: int) -> str:
        """A case naming the Jira connector, with its first comments (setup)."""
        case = await self.api.call("POST", "/api/cases", self.case_body(index))
        for _ in range(COMMENTS_BEFORE_CREATE):
            await self.add_comment(case["id"])
        return case["id"]

    def case_body(self, index: int) -> dict[str, Any]:
        return {
            "title": f"Suspicious login on web-{index:04d}",
            "description": "Several failed logins from 203.0.113.7, then a success. The user denies it.",
            "tags": ["auth", "bench push"],
            "connector": {
                "id": self.connector_id,
                "name": "Bench Jira",
                "type": ".jira",
                "fields": JIRA_FIELDS,
            },
            "settings": {"syncAlerts": False},
            "owner": "cases",
        }

    async def add_comment(self, case_id: str) -> str:
        comment = "Password reset requested; the sessions of the account were revoked by the on-call analyst."
        await self.api.call(
            "POST", f"/api/cases/{case_id}/comments", {"type": "user", "comment": comment, "owner": "cases"}
        )
        return case_id


async def create_connector(api: JsonClient, jira_url: str) -> str:
    connector = await api.call(
        "POST",
        "/api/actions/connector",
        {
            "name": "Jira",
            "connector_type_id": ".jira",
            "config": {"apiUrl": jira_url, "projectKey": fake_jira.PROJECT},
            "secrets": {"email": fake_jira.EMAIL, "apiToken": fake_jira.API_TOKEN},
        },
    )
    return connector["id"]


# --- one phase -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """One side's run of a phase: the calls its first push made, the timed pushes and the calls they made."""

    results: list[Any]
    calls: list[Call]
    timings: Timings
    counts: dict[str, int]


async def run_side(
    jira: Jira, items: Sequence[Any], concurrency: int, push: Callable[[Any], Awaitable[Any]]
) -> Side:
    """Push ``items``: the first alone, recording its calls; warm-ups; then the timed pushes, counting
    their calls. ``results[i]`` is what the push of ``items[i]`` answered."""
    await jira.record()
    first = await push(items[0])
    calls = await jira.recorded()
    warmup = await timed_runs(items[1:WARMUP_PUSHES], concurrency, push)
    await jira.reset_counts()
    timings = await timed_runs(items[WARMUP_PUSHES:], concurrency, push)
    return Side([first, *warmup.results, *timings.results], calls, timings, await jira.counts())


@dataclass(frozen=True)
class Phase:
    name: str
    concurrency: int
    casepush: Side
    baseline: Side

    def expected_counts(self) -> Counter[str]:
        """The calls of one casepush push, times the timed pushes."""
        pushes = len(self.casepush.timings.latencies)
        return Counter({name: n * pushes for name, n in Counter(c.name for c in self.casepush.calls).items()})

    @property
    def sides(self) -> tuple[Side, Side]:
        return self.casepush, self.baseline

    def ratio(self) -> float:
        """casepush's time per push over the baseline's."""
        return self.baseline.timings.rate / self.casepush.timings.rate


async def run_phase(
    name: str,
    jira: Jira,
    session: aiohttp.ClientSession,
    casepush: Casepush,
    case_ids: list[str],
    issue_ids: list[str | None],
    concurrency: int,
) -> Phase:
    progress(f"push: {name}, concurrency {concurrency}")
    ours = await run_side(jira, case_ids, concurrency, casepush.push)
    baseline = Baseline(session, jira.url, ours.calls)
    theirs = await run_side(jira, issue_ids, concurrency, baseline.push)
    if [c.name for c in theirs.calls] != [c.name for c in ours.calls]:
        raise BenchError(f"the baseline's calls {theirs.calls} differ from casepush's {ours.calls}")
    return Phase(name, concurrency, ours, theirs)


async def run_level(
    jira: Jira, session: aiohttp.ClientSession, casepush: Casepush, cases: int, concurrency: int
) -> list[Phase]:
    """Both phases on fresh cases at one concurrency level."""
    count = cases + WARMUP_PUSHES
    progress(f"push: {count} cases with {COMMENTS_BEFORE_CREATE} comments each (setup)")
    case_ids = (await timed_runs(range(count), SETUP_CONCURRENCY, casepush.new_case)).results
    create = await run_phase("create", jira, session, casepush, case_ids, [None] * count, concurrency)
    await timed_runs(case_ids, SETUP_CONCURRENCY, casepush.add_comment)
    update = await run_phase(
        "update", jira, session, casepush, case_ids, create.baseline.results, concurrency
    )
    return [create, update]


# --- the report ----------------------------------------------------------------------------------------


RESULT_COLUMNS = [
    "phase",
    "conc",
    "casepush/s",
    "p50 ms",
    "p99 ms",
    "baseline/s",
    "p50 ms",
    "p99 ms",
    "ratio",
]


def result_row(phase: Phase, backend: str) -> list[object]:
    """The phase's figures, its ratio, and the target where there is one."""
    ratio = phase.ratio()
    target = ["", ""]
    if phase.concurrency == TARGET_CONCURRENCY:
        most = TARGET_RATIOS[(phase.name, backend)]
        target = [f"<= {most}x", met(ratio <= most)]
    casepush, baseline = phase.casepush.timings.figures(), phase.baseline.timings.figures()
    return [phase.name, phase.concurrency, *casepush, *baseline, f"{ratio:.2f}x", *target]


def call_rows(phase: Phase) -> list[list[object]]:
    expected = phase.expected_counts()
    names = sorted({*expected, *phase.casepush.counts, *phase.baseline.counts})
    return [
        [
            phase.name,
            phase.concurrency,
            name,
            expected[name],
            *(side.counts.get(name, 0) for side in phase.sides),
        ]
        for name in names
    ]


def print_results(database_url: str | None, cases: int, phases: list[Phase]) -> None:
    print_table(
        f"push to Jira, {backend_name(database_url)}: {cases} timed pushes per phase and concurrency "
        f"(after {WARMUP_PUSHES} warm-up); baseline = bare aiohttp client, same calls to the same fake Jira",
        [*RESULT_COLUMNS, "target", ""],
        [result_row(phase, backend_name(database_url)) for phase in phases],
    )
    print_table(
        "calls the fake Jira received during the timed pushes (expected = calls of one push x pushes)",
        ["phase", "conc", "call", "expected", "casepush", "baseline"],
        [row for phase in phases for row in call_rows(phase)],
    )


async def run(database_url: str | None, cases: int, concurrency_levels: Sequence[int]) -> None:
    async with (
        aiohttp.ClientSession() as session,
        started_jira(session) as jira,
        casepush_server(database_url) as server,
    ):
        api = casepush_client(session, server)
        casepush = Casepush(api, await create_connector(api, jira.url))
        phases = []
        for concurrency in concurrency_levels:
            phases += await run_level(jira, session, casepush, cases, concurrency)
        print_results(database_url, cases, phases)


def concurrency_levels(value: str) -> list[int]:
    return [int(level) for level in value.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--cases", type=int, default=1000, help="timed pushes per phase and concurrency")
    parser.add_argument("--concurrency", type=concurrency_levels, default=[1, 32], help="e.g. 1,32")
    parser.add_argument("--database", help="PostgreSQL URL (default: SQLite in a temporary directory)")
    options = parser.parse_args()
    asyncio.run(
        run_on_backends([options.database], [lambda url: run(url, options.cases, options.concurrency)])
    )


if __name__ == "__main__":
    main()
