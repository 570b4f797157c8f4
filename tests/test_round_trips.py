"""Round trips to PostgreSQL per API request: the statements each operation sends, counted by asyncpg's
query logger on every pooled connection (``bench/roundtrips.py`` prints them one by one). Each is at most
what it was when it was last cut down (``bench/RESULTS.md``, "Round trips per request on PostgreSQL"):
a change that adds one fails here and says which statements the operation now sends.

PostgreSQL only: skipped unless ``CASEPUSH_TEST_DATABASE_URL`` is set.
"""

from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bench.roundtrips import logging_connections
from casepush.app import create_app
from casepush.config import Settings
from casepush.store import postgres
from casepush.testing import FakeService
from casepush.testing.database import TEST_DATABASE_ENV, fresh_schema, postgres_server_url
from tests.helpers import PASSWORD, Api, case_body, connector_body, echo_plugins, echo_service

pytestmark = pytest.mark.skipif(not postgres_server_url(), reason=f"{TEST_DATABASE_ENV} is not set")

#: The most statements each request may send (BEGIN and COMMIT count: each is a round trip), and what
#: they are.
MOST = {
    # BEGIN, configuration, case with its tags and assignees, user action with the push rules, COMMIT
    "create case": 5,
    # BEGIN, case, attachments (the totals are counted from them), COMMIT
    "get case": 4,
    # BEGIN, case, attachment, case, user action with the push rules, attachments, COMMIT
    "comment": 7,
    # the claim's transaction (BEGIN, case, connector, claim, attachments, user actions, bookkeeping,
    # journal, COMMIT) and the save's (BEGIN, case, configuration, case, the rest, totals, COMMIT)
    "first push": 16,
    # the same without the journal
    "later push": 15,
    # BEGIN, cases, totals, counts by status, count, COMMIT
    "find": 6,
}


@pytest.fixture
async def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement the store's pooled connections send from now on, in order."""
    sent: list[str] = []
    monkeypatch.setattr(postgres, "_init_connection", logging_connections(sent))
    return sent


@pytest.fixture
async def api(aiohttp_client: Any, tmp_path: Path, statements: list[str]) -> AsyncIterator[Api]:
    """The app on a fresh schema, without the background workers (their polls are statements too)."""
    async with fresh_schema(postgres_server_url()) as url:
        settings = Settings(
            data_dir=str(tmp_path),
            database_url=url,
            elastic_password=PASSWORD,
            automatic_push_worker=False,
            sync_poll_worker=False,
        )
        app = create_app(settings, announce=lambda line: None, plugins=await echo_plugins())
        yield Api(await aiohttp_client(app))


async def test_each_request_sends_at_most_its_statements(
    api: Api, statements: list[str], fake_service: Callable[[], FakeService]
) -> None:
    echo = echo_service(fake_service)
    await echo.start()
    counts: dict[str, int] = {}
    sent: dict[str, list[str]] = {}

    async def counted(name: str, method: str, path: str, body: Any = None) -> Any:
        statements.clear()
        status, answer = await api.request(method, path, body)
        assert status == 200, answer
        counts[name], sent[name] = len(statements), list(statements)
        return answer

    await counted("warm up (the caller's credentials)", "GET", "/api/cases/_find")
    connector = await counted("connector", "POST", "/api/actions/connector", connector_body(echo.url))
    named = {"id": connector["id"], "name": "Echo", "type": ".echo", "fields": None}
    await counted("warm up (a case)", "POST", "/api/cases", case_body(connector=named, tags=["a"]))
    case = await counted("create case", "POST", "/api/cases", case_body(connector=named, tags=["a"]))
    await counted("get case", "GET", f"/api/cases/{case['id']}")
    comment = {"type": "user", "comment": "c", "owner": "cases"}
    await counted("comment", "POST", f"/api/cases/{case['id']}/comments", comment)
    push_path = f"/api/cases/{case['id']}/connector/{connector['id']}/_push"
    await counted("first push", "POST", push_path, {})
    await counted("comment", "POST", f"/api/cases/{case['id']}/comments", comment)
    await counted("later push", "POST", push_path, {})
    await counted("find", "GET", "/api/cases/_find?search=case&perPage=20")

    over = {
        name: (counts[name], most, Counter(statement[:100] for statement in sent[name]))
        for name, most in MOST.items()
        if counts[name] > most
    }
    assert not over, over
