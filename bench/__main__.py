"""``make bench``: the push benchmark, then the API benchmark, on SQLite and, when a PostgreSQL database
is named (``--database`` or CASEPUSH_BENCH_DATABASE_URL), on PostgreSQL too. Tables on stdout, progress
on stderr.

``python -m bench [--quick] [--database postgresql://postgres@127.0.0.1:5432/test] [--cases N]``
"""

import argparse
import asyncio
import os
from dataclasses import dataclass

from bench import api, push
from bench.common import run_on_backends

#: The PostgreSQL database to run on too, when ``--database`` is not given.
DATABASE_ENV = "CASEPUSH_BENCH_DATABASE_URL"


@dataclass(frozen=True)
class Mode:
    push_cases: int
    push_concurrency: tuple[int, ...]
    api_cases: int
    api_samples: int


FULL = Mode(push_cases=1000, push_concurrency=(1, 32), api_cases=100_000, api_samples=500)
#: Under two minutes on a 2-core machine, SQLite and PostgreSQL together.
QUICK = Mode(push_cases=100, push_concurrency=(1, 32), api_cases=5000, api_samples=50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer cases and samples: a quick check")
    parser.add_argument("--database", default=os.environ.get(DATABASE_ENV), help="a PostgreSQL database URL")
    parser.add_argument("--cases", type=int, help="cases the API benchmark loads (instead of the mode's)")
    options = parser.parse_args()
    mode = QUICK if options.quick else FULL
    api_cases = options.cases or mode.api_cases

    async def push_benchmark(database_url: str | None) -> None:
        await push.run(database_url, mode.push_cases, mode.push_concurrency)

    async def api_benchmark(database_url: str | None) -> None:
        await api.run(database_url, api_cases, mode.api_samples)

    database_urls = [None, options.database] if options.database else [None]
    asyncio.run(run_on_backends(database_urls, [push_benchmark, api_benchmark]))


if __name__ == "__main__":
    main()
