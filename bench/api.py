"""The API benchmark: load many varied cases through the API, then time the reads users make most.

Cases get 1 to 4 tags from a vocabulary of 200 (a few tags are common, most rare: Zipf's law; the most
used is on about 35 % of the cases, those of rank 35 to 50 on about 1 %), titles and descriptions naming
one of 100 hosts (so a host name matches ~1% of cases), severities, statuses (set through
``PATCH /api/cases``) and 0 to 2 comments (1 on average). Creates are timed as users see them, at
concurrency 16, after a few untimed ones; each read is warmed up, then timed one at a time (latency) and
8 at a time (throughput: reads should scale with the cores).

``python -m bench.api [--cases 100000] [--samples 500] [--database postgresql://...]``
"""

import argparse
import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

import aiohttp

from bench.common import (
    JsonClient,
    Timings,
    backend_name,
    casepush_client,
    casepush_server,
    met,
    print_table,
    progress,
    run_on_backends,
    timed_runs,
)

LOAD_CONCURRENCY = 16
#: The first cases are created untimed: the first requests of a fresh server wait for its caches
#: (credentials: scrypt) to fill.
LOAD_WARMUP = 2 * LOAD_CONCURRENCY
READ_CONCURRENCY = 8
#: Kibana's limit on the cases of one ``PATCH /api/cases``.
PATCH_BATCH = 100
TARGET_CREATE_RATE = 1000
TARGET_FIND_P50_MS = 50
TARGET_PAGE_P50_MS = 20
TARGET_GET_P50_MS = 2
TARGET_PEAK_RSS_MB = 120

AREAS = [
    "auth", "network", "endpoint", "cloud", "email", "dns", "web", "database", "vpn", "identity",
    "malware", "phishing", "firewall", "storage", "container", "kubernetes", "iam", "proxy", "saas", "ot",
]  # fmt: skip
QUALIFIERS = [
    "critical",
    "triage",
    "escalated",
    "false-positive",
    "customer",
    "internal",
    "pci",
    "gdpr",
    "p1",
    "p2",
]
#: Most used first: the tag of rank r is drawn with a weight of 1/r.
TAGS = [f"{area}-{qualifier}" for qualifier in QUALIFIERS for area in AREAS]
TAG_WEIGHTS = list(accumulate(1 / rank for rank in range(1, len(TAGS) + 1)))
HOSTS = [f"srv{n:03d}" for n in range(100)]
EVENTS = [
    "Suspicious login", "Malware detected", "Unusual outbound traffic", "Privilege escalation",
    "Brute force attempt", "Data exfiltration suspected", "Ransomware behaviour", "Port scan",
    "Impossible travel", "New admin account", "Disabled antivirus", "Credential dumping",
]  # fmt: skip
SENTENCES = [
    "Several failed logins were followed by a success from an unknown address.",
    "The endpoint agent quarantined a file and the user reported a slow machine.",
    "Traffic to a rare domain grew tenfold within an hour of the alert.",
    "The account was created outside the change window by a service principal.",
    "Analysts correlated the alert with an earlier phishing campaign.",
    "The detection rule fired three times; the first two were closed as benign.",
    "Logs for the period are incomplete because the collector restarted.",
]
SEVERITIES, SEVERITY_WEIGHTS = ["low", "medium", "high", "critical"], [50, 30, 15, 5]
STATUSES, STATUS_WEIGHTS = ["open", "in-progress", "closed"], [60, 25, 15]
COMMENTS_PER_CASE = [0, 1, 2]


@dataclass(frozen=True)
class Case:
    """What the load made of one case: its id, version after creation, and what it was given."""

    id: str
    version: str
    status: str
    comments: int


def case_body(rng: random.Random) -> dict[str, Any]:
    host = rng.choice(HOSTS)
    tags = sorted(set(rng.choices(TAGS, cum_weights=TAG_WEIGHTS, k=rng.randint(1, 4))))
    return {
        "title": f"{rng.choice(EVENTS)} on {host}",
        "description": f"Seen on {host}. " + " ".join(rng.sample(SENTENCES, rng.randint(1, 3))),
        "tags": tags,
        "severity": rng.choices(SEVERITIES, SEVERITY_WEIGHTS)[0],
        "connector": {"id": "none", "name": "none", "type": ".none", "fields": None},
        "settings": {"syncAlerts": False},
        "owner": "cases",
    }


class Load:
    """Cases, their statuses and their comments through the API. Each case's content comes from a
    generator seeded with its number, so that the data is the same from run to run."""

    def __init__(self, api: JsonClient):
        self.api = api

    async def create(self, number: int) -> Case:
        rng = random.Random(number)
        case = await self.api.call("POST", "/api/cases", case_body(rng))
        status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
        return Case(case["id"], case["version"], status, rng.choice(COMMENTS_PER_CASE))

    async def set_statuses(self, cases: list[Case]) -> None:
        patches = [{"id": c.id, "version": c.version, "status": c.status} for c in cases]
        await self.api.call("PATCH", "/api/cases", {"cases": patches})

    async def comment(self, case_and_text: tuple[str, str]) -> None:
        case_id, text = case_and_text
        comment = {"type": "user", "comment": text, "owner": "cases"}
        await self.api.call("POST", f"/api/cases/{case_id}/comments", comment)


@dataclass(frozen=True)
class Row:
    what: str
    timings: Timings
    unit: str
    target: str = ""
    met: str = ""

    def cells(self) -> list[object]:
        rate, p50, p99 = self.timings.figures()
        return [
            self.what,
            len(self.timings.latencies),
            f"{rate} {self.unit}/s",
            p50,
            p99,
            self.target,
            self.met,
        ]


async def load(api: JsonClient, count: int) -> tuple[list[Case], list[Row]]:
    loader = Load(api)
    progress(f"api: creating {count} cases")
    warmup = await timed_runs(range(LOAD_WARMUP), LOAD_CONCURRENCY, loader.create)
    created = await timed_runs(range(LOAD_WARMUP, count), LOAD_CONCURRENCY, loader.create)
    cases: list[Case] = warmup.results + created.results
    changed = [c for c in cases if c.status != "open"]
    batches = [changed[i : i + PATCH_BATCH] for i in range(0, len(changed), PATCH_BATCH)]
    progress(f"api: setting the status of {len(changed)} cases")
    patched = await timed_runs(batches, LOAD_CONCURRENCY, loader.set_statuses)
    rng = random.Random(0)
    comments = [(c.id, rng.choice(SENTENCES)) for c in cases for _ in range(c.comments)]
    rng.shuffle(comments)  # comments arrive on cases in no particular order
    progress(f"api: adding {len(comments)} comments")
    commented = await timed_runs(comments, LOAD_CONCURRENCY, loader.comment)
    return cases, [
        Row(
            f"POST /api/cases (c={LOAD_CONCURRENCY})",
            created,
            "cases",
            f">= {TARGET_CREATE_RATE:,} cases/s",
            met(created.rate >= TARGET_CREATE_RATE),
        ),
        Row(f"PATCH /api/cases, status, {PATCH_BATCH} cases each (c={LOAD_CONCURRENCY})", patched, "req"),
        Row(f"POST /api/cases/{{id}}/comments (c={LOAD_CONCURRENCY})", commented, "comments"),
    ]


@dataclass(frozen=True)
class Read:
    """One kind of read: its name, a path to read drawn with a random generator, and its p50 target
    (one request at a time). ``find``: a ``_find``, whose average matches are shown."""

    what: str
    path: Callable[[random.Random], str]
    target_ms: float | None = None
    find: bool = False


#: Words of the titles and descriptions, each in many cases.
COMMON_WORDS = ["login", "malware", "traffic", "account", "alert"]


def reads(cases: list[Case]) -> list[Read]:
    rare_tags, commonest_tag = TAGS[35:50], TAGS[0]
    return [
        Read("GET /api/cases/{id}", lambda rng: f"/api/cases/{rng.choice(cases).id}", TARGET_GET_P50_MS),
        Read(
            "_find search=<one common word>",
            lambda rng: f"/api/cases/_find?search={rng.choice(COMMON_WORDS)}",
            TARGET_FIND_P50_MS,
            find=True,
        ),
        Read(
            "_find tags=<tag on ~1 %>, sorted by createdAt",
            lambda rng: f"/api/cases/_find?tags={rng.choice(rare_tags)}&sortField=createdAt",
            TARGET_FIND_P50_MS,
            find=True,
        ),
        Read(
            "_find search=<host> tags=<tag on ~35 %>, sorted by updatedAt",
            lambda rng: (
                f"/api/cases/_find?search={rng.choice(HOSTS)}&tags={commonest_tag}"
                "&sortField=updatedAt&sortOrder=desc"
            ),
            TARGET_FIND_P50_MS,
            find=True,
        ),
        Read(
            "_find page=50 perPage=100",
            lambda rng: "/api/cases/_find?page=50&perPage=100",
            TARGET_PAGE_P50_MS,
            find=True,
        ),
        Read(
            "user_actions/_find of a case",
            lambda rng: f"/api/cases/{rng.choice(cases).id}/user_actions/_find",
        ),
    ]


async def measure(api: JsonClient, read: Read, samples: int, warmup: int) -> list[Row]:
    """One request at a time (its latency, which the target is about), then ``READ_CONCURRENCY`` at a
    time (throughput; each request then also waits for the others on the server's one thread)."""
    progress(f"api: {read.what}")
    rng = random.Random(read.what)
    paths = [read.path(rng) for _ in range(warmup + 2 * samples)]

    async def get(path: str) -> Any:
        return await api.call("GET", path)

    await timed_runs(paths[:warmup], READ_CONCURRENCY, get)
    alone = await timed_runs(paths[warmup : warmup + samples], 1, get)
    together = await timed_runs(paths[warmup + samples :], READ_CONCURRENCY, get)
    what = read.what
    if read.find:
        matches = sum(answer["total"] for answer in alone.results) / samples
        what = f"{read.what} ({matches:,.0f} matches avg)"
    target = ["", ""]
    if read.target_ms is not None:
        target = [f"p50 <= {read.target_ms} ms", met(alone.latency_ms(50) <= read.target_ms)]
    scaling = together.rate / alone.rate
    return [
        Row(f"{what}, c=1", alone, "req", *target),
        Row(f"{what}, c={READ_CONCURRENCY} ({scaling:.1f}x the throughput of c=1)", together, "req"),
    ]


def memory_rows(after_load: float, at_end: float) -> list[list[object]]:
    """The server's peak RSS after the load and at the end: which part of the work drives it up."""
    target = [f"<= {TARGET_PEAK_RSS_MB} MB", met(at_end <= TARGET_PEAK_RSS_MB)]
    return [
        ["server peak RSS (VmHWM) after the load", "", f"{after_load:.0f} MB", "", "", "", ""],
        ["server peak RSS (VmHWM) at the end", "", f"{at_end:.0f} MB", "", "", *target],
    ]


def print_results(
    database_url: str | None, cases: list[Case], rows: list[Row], memory: list[list[object]]
) -> None:
    comments = sum(c.comments for c in cases)
    print_table(
        f"API, {backend_name(database_url)}: {len(cases):,} cases, {comments:,} comments; "
        f"reads one at a time and {READ_CONCURRENCY} at a time, after warm-up",
        ["measurement", "n", "throughput", "p50 ms", "p99 ms", "target", ""],
        [*(row.cells() for row in rows), *memory],
    )


async def run(database_url: str | None, cases: int, samples: int) -> None:
    async with aiohttp.ClientSession() as session, casepush_server(database_url) as server:
        api = casepush_client(session, server)
        loaded, rows = await load(api, cases)
        peak_after_load = server.peak_rss_mb()
        warmup = max(10, samples // 10)
        for read in reads(loaded):
            rows.extend(await measure(api, read, samples, warmup))
        memory = memory_rows(peak_after_load, server.peak_rss_mb())
        print_results(database_url, loaded, rows, memory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000, help="cases to load")
    parser.add_argument("--samples", type=int, default=500, help="timed requests per kind of read")
    parser.add_argument("--database", help="PostgreSQL URL (default: SQLite in a temporary directory)")
    options = parser.parse_args()
    asyncio.run(run_on_backends([options.database], [lambda url: run(url, options.cases, options.samples)]))


if __name__ == "__main__":
    main()
