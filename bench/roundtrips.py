"""Statements (round trips) per API request on PostgreSQL: an in-process server on a fresh schema, its
background workers off, pushing to the benchmark's fake Jira; every statement of the store's pooled
connections is counted by asyncpg's query logger (BEGIN and COMMIT are statements: each is a round
trip). Counts are deterministic, so this runs on a busy machine too (``bench/RESULTS.md``, "Round trips
per request on PostgreSQL"; ``tests/test_round_trips.py`` holds the counts as limits).

``python -m bench.roundtrips [--database postgresql://postgres@127.0.0.1:5432/test] [--statements]``

It imports ``casepush`` as Python finds it, so ``PYTHONPATH=<another checkout>`` counts that one's.
"""

import argparse
import asyncio
import os
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from bench import fake_jira
from bench.common import print_table
from casepush.app import create_app
from casepush.config import Settings
from casepush.plugins import load_plugins
from casepush.store import postgres
from casepush.testing.client import PASSWORD, basic_auth
from casepush.testing.database import fresh_schema

DATABASE_ENV = "CASEPUSH_BENCH_DATABASE_URL"
DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/test"

#: Statements the store sends by itself, in the background (the planner's statistics, checked as it opens
#: when autovacuum is off): none of a request's.
BACKGROUND = ("SELECT relname FROM pg_stat_user_tables", "ANALYZE ")


def logging_connections(sent: list[str]) -> Callable[[asyncpg.Connection], Awaitable[None]]:
    """The store's connection setup, also appending to ``sent`` every statement a request sends."""
    real_init = postgres._init_connection

    def log(record: asyncpg.connection.LoggedQuery) -> None:
        if not record.query.startswith(BACKGROUND):
            sent.append(" ".join(record.query.split()))

    async def logged(conn: asyncpg.Connection) -> None:
        await real_init(conn)
        conn.add_query_logger(log)

    return logged


async def count(database: str, show_statements: bool) -> list[tuple[str, int]]:
    sent: list[str] = []
    real_init = postgres._init_connection
    postgres._init_connection = logging_connections(sent)  # type: ignore[assignment]
    jira = TestServer(fake_jira.FakeJira().app())
    await jira.start_server()
    counts: list[tuple[str, int]] = []
    try:
        async with fresh_schema(database) as url:
            settings = Settings(
                data_dir=tempfile.mkdtemp(prefix="casepush-roundtrips-"),
                database_url=url,
                elastic_password=PASSWORD,
                allowed_hosts=["127.0.0.1"],
                automatic_push_worker=False,
                sync_poll_worker=False,
            )
            plugins = await load_plugins(allowed=["casepush-jira"], extra=[])
            app = create_app(settings, announce=lambda line: None, plugins=plugins)
            async with TestClient(TestServer(app)) as client:
                headers = {"Authorization": basic_auth("elastic", PASSWORD), "kbn-xsrf": "x"}

                async def op(name: str, method: str, path: str, body: Any = None) -> Any:
                    sent.clear()
                    async with client.request(method, path, headers=headers, json=body) as response:
                        answer = await response.json()
                        assert response.status == 200, answer
                    counts.append((name, len(sent)))
                    if show_statements:
                        print(f"{name}: {len(sent)} statements")
                        for statement, n in Counter(s[:110] for s in sent).most_common():
                            print(f"   {n} x {statement}")
                    return answer

                await op("(warm-up: the credential is checked once)", "GET", "/api/cases/_find")
                connector = await op(
                    "create connector",
                    "POST",
                    "/api/actions/connector",
                    {
                        "name": "j",
                        "connector_type_id": ".jira",
                        "config": {"apiUrl": str(jira.make_url("")), "projectKey": fake_jira.PROJECT},
                        "secrets": {"email": fake_jira.EMAIL, "apiToken": fake_jira.API_TOKEN},
                    },
                )
                fields = {"issueType": "10006", "priority": None, "parent": None}
                body = {
                    "title": "t",
                    "description": "d",
                    "tags": ["a"],
                    "owner": "cases",
                    "settings": {"syncAlerts": False},
                    "connector": {"id": connector["id"], "name": "j", "type": ".jira", "fields": fields},
                }
                await op("(warm-up: a first case)", "POST", "/api/cases", body)
                case = await op("create case", "POST", "/api/cases", body)
                await op("get case", "GET", f"/api/cases/{case['id']}")
                comment = {"type": "user", "comment": "c", "owner": "cases"}
                await op("comment", "POST", f"/api/cases/{case['id']}/comments", comment)
                push = f"/api/cases/{case['id']}/connector/{connector['id']}/_push"
                await op("push (create)", "POST", push)
                await op("comment", "POST", f"/api/cases/{case['id']}/comments", comment)
                await op("push (update)", "POST", push)
                await op("_find", "GET", "/api/cases/_find?search=t&perPage=20")
    finally:
        postgres._init_connection = real_init  # type: ignore[assignment]
        await jira.close()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--database", default=os.environ.get(DATABASE_ENV, DEFAULT_DATABASE))
    parser.add_argument("--statements", action="store_true", help="print each request's statements")
    options = parser.parse_args()
    counts = asyncio.run(count(options.database, options.statements))
    print_table("Statements per request on PostgreSQL", ["request", "statements"], counts)


if __name__ == "__main__":
    main()
