"""``casepush db copy``: a populated SQLite deployment copied into PostgreSQL and back serves the same
answers, logs in the same users and keys, and keeps pushing to the same incident.

Needs PostgreSQL: skipped unless ``CASEPUSH_TEST_DATABASE_URL`` is set.
"""

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from casepush.app import create_app
from casepush.config import Settings
from casepush.store.copy import TABLES
from casepush.testing.database import TEST_DATABASE_ENV, StoredData, fresh_schema, postgres_server_url
from tests.helpers import PASSWORD, Api, case_body, connector_body, echo_plugins

pytestmark = pytest.mark.skipif(not postgres_server_url(), reason=f"{TEST_DATABASE_ENV} is not set")


async def db_copy(source: str, target: str) -> tuple[int, str]:
    """Run ``casepush db copy`` as a user would: its exit code and output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEPUSH_")}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "casepush", "db", "copy", "--from", source, "--to", target),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode, output.decode()


async def ok(call: Any) -> Any:
    status, body = await call
    assert status in (200, 204), body
    return body


async def populate(api: Api, echo_url: str) -> tuple[list[str], dict, str]:
    """Objects of every kind; returns the paths whose answers must survive a copy, the pushed case
    and its connector, and an API key of a user."""
    await api.create_space("ops", description="Operations", disabledFeatures=["dev_tools"])
    await api.create_role("reader", {"base": ["read"], "spaces": ["*"]})
    bob = await api.create_user("bob", "reader", full_name="Bob")
    key = await ok(bob.post("/_security/api_key", {"name": "bob-key"}))
    await api.configure(closure_type="close-by-pushing")
    connector = await ok(api.post("/api/actions/connector", connector_body(echo_url)))
    named = {"id": connector["id"], "name": "Echo", "type": ".echo", "fields": None}
    pushed = await api.create_case(
        title="Pushed", tags=["b", "a"], assignees=[{"uid": "u1"}], connector=named
    )
    comments = f"/api/cases/{pushed['id']}/comments"
    await ok(api.post(comments, {"type": "user", "comment": "first", "owner": "cases"}))
    alert = {"type": "alert", "alertId": ["al-1", "al-2"], "index": ["i1", "i2"], "owner": "cases"}
    await ok(api.post(comments, {**alert, "rule": {"id": "r", "name": "Rule"}}))
    await ok(api.post(f"/api/cases/{pushed['id']}/connector/{connector['id']}/_push", {}))
    await ok(api.post(comments, {"type": "user", "comment": "after the push", "owner": "cases"}))
    elsewhere = await ok(api.post("/s/ops/api/cases", case_body(title="Elsewhere", severity="high")))
    await ok(
        api.post(
            f"/s/ops/api/cases/{elsewhere['id']}/comments", {"type": "user", "comment": "x", "owner": "cases"}
        )
    )
    paths = [
        "/api/cases/_find?perPage=100&sortField=title",
        "/s/ops/api/cases/_find",
        "/api/cases/configure",
        "/api/cases/tags",
        "/api/cases/reporters",
        "/api/cases/status",
        "/api/cases/alerts/al-2",
        "/api/actions/connectors",
        f"/api/actions/connector/{connector['id']}",
        "/api/spaces/space",
        "/api/security/role",
        "/_security/user",
        "/_security/api_key",
    ]
    for base, case in (("", pushed), ("/s/ops", elsewhere)):
        for path in ("", "/comments/_find", "/alerts", "/user_actions/_find?perPage=100"):
            paths.append(f"{base}/api/cases/{case['id']}{path}")
        paths.append(f"{base}/internal/cases/{case['id']}/_connectors")
    encoded = key["encoded"]
    return paths, {"case": pushed, "connector": connector}, encoded


async def row_counts(url: str) -> dict[str, int]:
    stored = StoredData(Settings(database_url=url))
    return {table.name: await stored.count(table.name) for table in TABLES}


async def answers(api: Api, paths: list[str]) -> dict[str, Any]:
    return {path: await ok(api.get(path)) for path in paths}


async def test_a_copy_into_postgresql_and_back_serves_the_same_answers(tmp_path: Path, aiohttp_client, echo):
    async def serving(url: str) -> Api:
        settings = Settings(data_dir=str(tmp_path / "data"), database_url=url, elastic_password=PASSWORD)
        app = create_app(settings, announce=lambda line: None, plugins=await echo_plugins())
        return Api(await aiohttp_client(app))

    original_url = f"sqlite:///{tmp_path / 'original.db'}"
    original = await serving(original_url)
    paths, pushed, api_key = await populate(original, echo.url)
    expected = await answers(original, paths)

    async with fresh_schema(postgres_server_url()) as pg_url:
        code, output = await db_copy(original_url, pg_url)
        assert code == 0, output
        assert "cases: 2" in output.splitlines()
        # The planner has statistics of the copied rows (without, it may read every case).
        stats = await StoredData(Settings(database_url=pg_url)).rows(
            "SELECT COUNT(*) FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'cases'"
        )
        assert stats[0][0] > 0
        on_postgres = await serving(pg_url)
        assert await answers(on_postgres, paths) == expected

        back_url = f"sqlite:///{tmp_path / 'back.db'}"
        code, output = await db_copy(pg_url, back_url)
        assert code == 0, output
        back = await serving(back_url)
        assert await answers(back, paths) == expected
        # Every row came back (the answers above show what they mean; PostgreSQL's jsonb rewrites
        # the documents' spacing and key order, so the rows themselves differ).
        assert await row_counts(back_url) == await row_counts(original_url)

        # Password and API key digests and sealed secrets came along: bob logs in both ways, and
        # the next push updates the incident the original created.
        assert (await on_postgres.as_user("bob").get("/api/cases/_find"))[0] == 200
        assert (await on_postgres.with_api_key(api_key).get("/api/cases/_find"))[0] == 200
        case, connector = pushed["case"], pushed["connector"]
        sent_before = len(echo.requests)
        updated = await ok(on_postgres.post(f"/api/cases/{case['id']}/connector/{connector['id']}/_push", {}))
    assert updated["external_service"]["external_id"] == "1"
    assert list(echo.incidents) == ["1"]
    assert [(r.method, r.path) for r in echo.requests[sent_before:]] == [
        ("PUT", "/incidents/1"),
        ("POST", "/incidents/1/comments"),
    ]


async def test_a_copy_into_a_database_in_use_is_refused_and_writes_nothing(tmp_path: Path, aiohttp_client):
    used_url = f"sqlite:///{tmp_path / 'used.db'}"
    settings = Settings(data_dir=str(tmp_path), database_url=used_url, elastic_password=PASSWORD)
    used = Api(
        await aiohttp_client(create_app(settings, announce=lambda line: None, plugins=await echo_plugins()))
    )
    await used.create_case()
    async with fresh_schema(postgres_server_url()) as pg_url:
        code, output = await db_copy(f"sqlite:///{tmp_path / 'empty.db'}", pg_url)
        assert code == 0, output
        before = await StoredData(settings).snapshot()

        code, output = await db_copy(pg_url, used_url)

        assert code == 1
        assert (
            "Error: the target database is not empty (it holds 1 users, 1 cases, 2 case_tags, 1 user_actions)"
            in output
        )
        assert await StoredData(settings).snapshot() == before
    code, output = await db_copy(used_url, used_url)
    assert (code, output.strip()) == (1, "Error: --from and --to name the same database")
