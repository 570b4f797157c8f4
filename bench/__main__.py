"""Throughput and latency of the Cases API on SQLite, over real HTTP on loopback.

Starts casepush in-process on a free port with a fresh SQLite file, then measures creating cases,
adding comments, finding and updating, with a bounded number of concurrent clients.
"""

import argparse
import asyncio
import base64
import resource
import statistics
import tempfile
import time

import aiohttp
from aiohttp import web

from casepush.app import create_app
from casepush.config import Settings

PASSWORD = "bench-password"
HEADERS = {
    "Authorization": "Basic " + base64.b64encode(f"elastic:{PASSWORD}".encode()).decode(),
    "kbn-xsrf": "bench",
}
CASE = {
    "title": "Benchmark case",
    "description": "A case created by the benchmark.",
    "tags": ["bench", "load"],
    "connector": {"id": "none", "name": "none", "type": ".none", "fields": None},
    "settings": {"syncAlerts": False},
    "owner": "cases",
}


async def timed(
    session: aiohttp.ClientSession, method: str, url: str, body: object = None
) -> tuple[float, dict]:
    started = time.perf_counter()
    async with session.request(method, url, json=body, headers=HEADERS) as response:
        payload = await response.json()
        if response.status != 200:
            raise RuntimeError(f"{method} {url}: {response.status} {payload}")
    return time.perf_counter() - started, payload


async def run_phase(name: str, count: int, concurrency: int, make_call) -> list:
    semaphore = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    results = []

    async def one(i: int) -> None:
        async with semaphore:
            latency, payload = await make_call(i)
            latencies.append(latency)
            results.append(payload)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(f"{name:<28} {count:>6} req  {count / elapsed:>8.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms")
    return results


async def main(cases: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        app = create_app(Settings(data_dir=data_dir, elastic_password=PASSWORD), announce=lambda line: None)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]  # the port the OS picked
        base = f"http://127.0.0.1:{port}"
        print(f"casepush on {base}, {cases} cases, {concurrency} concurrent clients, SQLite in {data_dir}")
        try:
            async with aiohttp.ClientSession() as session:
                created = await run_phase(
                    "POST /api/cases",
                    cases,
                    concurrency,
                    lambda i: timed(session, "POST", f"{base}/api/cases", CASE),
                )
                comment = {"type": "user", "comment": "benchmark comment", "owner": "cases"}
                commented = await run_phase(
                    "POST .../comments",
                    cases,
                    concurrency,
                    lambda i: timed(
                        session, "POST", f"{base}/api/cases/{created[i]['id']}/comments", comment
                    ),
                )
                await run_phase(
                    "GET /api/cases/{id}",
                    cases,
                    concurrency,
                    lambda i: timed(session, "GET", f"{base}/api/cases/{created[i]['id']}"),
                )
                await run_phase(
                    "GET _find?search&tags",
                    min(cases, 500),
                    concurrency,
                    lambda i: timed(
                        session, "GET", f"{base}/api/cases/_find?search=Benchmark&tags=bench&page=2"
                    ),
                )
                # Each comment answer is the whole case, with the version the update must send.
                versions = {case["id"]: case["version"] for case in commented}
                await run_phase(
                    "PATCH /api/cases",
                    cases,
                    concurrency,
                    lambda i: timed(
                        session,
                        "PATCH",
                        f"{base}/api/cases",
                        {
                            "cases": [
                                {
                                    "id": created[i]["id"],
                                    "version": versions[created[i]["id"]],
                                    "severity": "high",
                                }
                            ]
                        },
                    ),
                )
        finally:
            await runner.cleanup()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of the benchmark process (server and clients): {peak_mib:.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    options = parser.parse_args()
    asyncio.run(main(options.cases, options.concurrency))
