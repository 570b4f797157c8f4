"""What the benchmarks share: server processes, the JSON client, concurrent timed runs, percentiles,
the table printer and the machine's facts."""

import asyncio
import math
import os
import platform
import socket
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import asyncpg
import msgspec

from casepush.testing.client import basic_auth
from casepush.testing.database import fresh_schema

PASSWORD = "bench-password"
CASEPUSH_HEADERS = {
    "Authorization": basic_auth("elastic", PASSWORD),
    "kbn-xsrf": "bench",
    "Content-Type": "application/json",
}
#: Seconds a process may take to answer its readiness URL.
START_TIMEOUT = 30.0
#: When set, each casepush server runs under cProfile and leaves its profile in this folder (read it with
#: ``python -m pstats``).
PROFILE_ENV = "BENCH_PROFILE_DIR"

T = TypeVar("T")


class BenchError(Exception):
    """A request the benchmark needed failed, or a process did not start: the figures would be wrong."""


# --- processes -------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Process:
    """A process the benchmark started: its base URL and its pid."""

    url: str
    pid: int

    def peak_rss_mb(self) -> float:
        """The process's peak resident set size (``VmHWM``) so far, in MB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise BenchError(f"no VmHWM for process {self.pid}")


@asynccontextmanager
async def started_process(
    argv: Sequence[str], env: dict[str, str], ready_path: str
) -> AsyncIterator[Process]:
    """Run ``argv`` with ``--port <free port>``, once ``GET ready_path`` answers 200; stop it afterwards.

    Its output goes to a file, not a pipe: nobody reads a pipe while the benchmark runs, and a full pipe
    would block the process.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as output:
        process = await asyncio.create_subprocess_exec(
            *argv, "--port", str(port), env=env, stdout=output, stderr=output
        )
        try:
            await _wait_ready(process, url + ready_path)
            yield Process(url, process.pid)
        except Exception:
            output.seek(0)
            print(output.read().decode(errors="replace")[-4000:], file=sys.stderr)
            raise
        finally:
            if process.returncode is None:
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _wait_ready(process: asyncio.subprocess.Process, ready_url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while process.returncode is None and time.monotonic() < deadline:
            try:
                async with session.get(ready_url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise BenchError(f"{ready_url} did not answer (exit code {process.returncode})")


@asynccontextmanager
async def casepush_server(database_url: str | None) -> AsyncIterator[Process]:
    """``python -m casepush serve`` on a fresh database: SQLite in a temporary data dir, or a fresh
    schema of the PostgreSQL database ``database_url`` (dropped afterwards)."""
    async with _fresh_store(database_url) as store_url:
        with tempfile.TemporaryDirectory(prefix="casepush-bench-") as data_dir:
            # The caller's CASEPUSH_* settings would make this a different server from run to run.
            env = {k: v for k, v in os.environ.items() if not k.startswith("CASEPUSH_")}
            env |= {"CASEPUSH_DATA_DIR": data_dir, "CASEPUSH_ELASTIC_PASSWORD": PASSWORD}
            if store_url:
                env["CASEPUSH_DATABASE_URL"] = store_url
            async with started_process(server_argv(), env, "/api/status") as server:
                yield server


def server_argv() -> list[str]:
    """``python -m casepush serve``, under cProfile when a profile folder is named."""
    profile_dir = os.environ.get(PROFILE_ENV)
    if not profile_dir:
        return [sys.executable, "-m", "casepush", "serve"]
    Path(profile_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        dir=profile_dir, prefix="server-", suffix=".prof", delete=False
    ) as output:
        profile = output.name
    return [sys.executable, "-m", "cProfile", "-o", profile, "-m", "casepush", "serve"]


@asynccontextmanager
async def _fresh_store(database_url: str | None) -> AsyncIterator[str | None]:
    """None for SQLite, else a fresh schema of ``database_url``."""
    if database_url is None:
        yield None
        return
    async with fresh_schema(database_url, prefix="bench") as url:
        yield url


def backend_name(database_url: str | None) -> str:
    return "PostgreSQL" if database_url else "SQLite"


# --- requests --------------------------------------------------------------------------------------------


class JsonClient:
    """JSON requests to one base URL over one session; any answer but 2xx is a ``BenchError``."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, headers: dict[str, str]):
        self.session = session
        self.base_url = base_url
        self.headers = headers

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else msgspec.json.encode(body)
        async with self.session.request(
            method, self.base_url + path, data=data, headers=self.headers
        ) as response:
            payload = await response.read()
        if response.status >= 300:
            raise BenchError(f"{method} {path}: {response.status} {payload[:500]!r}")
        return msgspec.json.decode(payload) if payload else None


def casepush_client(session: aiohttp.ClientSession, server: Process) -> JsonClient:
    """casepush's API as the superuser ``elastic``."""
    return JsonClient(session, server.url, CASEPUSH_HEADERS)


# --- timing ----------------------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile of values sorted ascending."""
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


@dataclass(frozen=True)
class Timings:
    """The results of a run of calls, each call's latency and the run's wall-clock time (seconds)."""

    results: list[Any]
    latencies: list[float]
    elapsed: float

    @property
    def rate(self) -> float:
        """Calls per second over the whole run."""
        return len(self.latencies) / self.elapsed

    def latency_ms(self, p: float) -> float:
        return percentile(sorted(self.latencies), p) * 1000

    def figures(self) -> list[str]:
        """Calls per second (a decimal when there are few), p50 and p99 latency in ms, as table cells."""
        rate = f"{self.rate:,.1f}" if self.rate < 10 else f"{self.rate:,.0f}"
        return [rate, f"{self.latency_ms(50):.1f}", f"{self.latency_ms(99):.1f}"]


async def timed_runs(items: Sequence[T], concurrency: int, call: Callable[[T], Awaitable[Any]]) -> Timings:
    """``call`` on every item, at most ``concurrency`` at a time, timing each call and the whole run;
    ``results[i]`` is what the call on ``items[i]`` returned."""
    pending = iter(enumerate(items))
    results: list[Any] = [None] * len(items)
    latencies: list[float] = []

    async def worker() -> None:
        # The workers share one iterator: each item is taken by exactly one of them.
        for index, item in pending:
            started = time.perf_counter()
            results[index] = await call(item)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Timings(results, latencies, time.perf_counter() - started)


# --- output ----------------------------------------------------------------------------------------------


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(line[i]) for line in [list(columns), *cells]) for i in range(len(columns))]

    def line(values: Sequence[str]) -> str:
        first, *rest = (
            value.ljust(width) if i == 0 else value.rjust(width)
            for i, (value, width) in enumerate(zip(values, widths, strict=True))
        )
        return "  ".join([first, *rest]).rstrip()

    print(f"\n{title}")
    print(line(columns))
    print("  ".join("-" * width for width in widths))
    for row in cells:
        print(line(row))
    sys.stdout.flush()


def met(ok: bool) -> str:
    return "met" if ok else "NOT MET"


_STARTED = time.monotonic()


def progress(message: str) -> None:
    """What is running now (seconds since the start), on stderr, so that stdout holds only the tables."""
    print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


# --- the machine -----------------------------------------------------------------------------------------


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) + " (1, 5, 15 min)"


async def machine_facts(database_url: str | None) -> list[tuple[str, str]]:
    """The CPU, memory and software the figures were measured with."""
    cpus = [line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")]
    memory_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    facts = [
        ("CPU", f"{cpus[0].partition(':')[2].strip() if cpus else platform.processor()} x {len(cpus)}"),
        ("RAM", f"{memory_kb / 1024 / 1024:.1f} GiB"),
        ("Python", platform.python_version()),
        ("SQLite", sqlite3.sqlite_version),
        # Other work on the machine skews every figure: this shows whether there was any.
        ("load average", f"{load_average()} at start"),
    ]
    if database_url:
        conn = await asyncpg.connect(database_url, timeout=10)
        try:
            facts.append(("PostgreSQL", await conn.fetchval("SHOW server_version")))
        finally:
            await conn.close()
    return facts


async def print_machine(database_url: str | None) -> None:
    facts = await machine_facts(database_url)
    width = max(len(name) for name, _ in facts)
    print("machine")
    for name, value in facts:
        print(f"  {name.ljust(width)}  {value}")


# --- running ---------------------------------------------------------------------------------------------


async def run_on_backends(
    database_urls: Sequence[str | None], benchmarks: Sequence[Callable[[str | None], Awaitable[None]]]
) -> None:
    """The machine's facts, then every benchmark on each database (``None``: SQLite)."""
    postgres_url = next((url for url in database_urls if url), None)
    await print_machine(postgres_url)
    for database_url in database_urls:
        for benchmark in benchmarks:
            await benchmark(database_url)
            # Work outside the benchmark skews its figures: this shows whether there was any.
            print(f"\nload average after it: {load_average()}")
