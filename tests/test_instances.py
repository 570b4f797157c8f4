"""Several casepush processes on one PostgreSQL database, as behind a load balancer: concurrent pushes of
one case through both make one external incident, and what one instance writes the other reads at once.

PostgreSQL only (a SQLite file belongs to one instance): skipped unless ``CASEPUSH_TEST_DATABASE_URL``
is set.
"""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from casepush.config import Settings
from casepush.testing.client import PASSWORD, basic_auth
from casepush.testing.database import TEST_DATABASE_ENV, fresh_schema, postgres_server_url
from conftest import case_body, connector_body, echo_service
from processes import call, start_with_plugins, stop

pytestmark = pytest.mark.skipif(not postgres_server_url(), reason=f"{TEST_DATABASE_ENV} is not set")


@pytest.fixture
async def instances(tmp_path: Path, installed_echo: Path) -> AsyncIterator[tuple[str, str]]:
    """Two servers on one fresh PostgreSQL schema, each with a data dir of its own and the same
    encryption key, started at the same time (so that they migrate and create ``elastic`` at once)."""
    key = Fernet.generate_key().decode()
    async with fresh_schema(postgres_server_url()) as url:
        started = await asyncio.gather(
            *(
                start_with_plugins(
                    installed_echo,
                    Settings(data_dir=str(tmp_path / name), database_url=url),
                    CASEPUSH_ENCRYPTION_KEY=key,
                )
                for name in "ab"
            ),
            return_exceptions=True,
        )
        try:
            failed = [s for s in started if isinstance(s, BaseException)]
            if failed:
                raise failed[0]
            yield tuple(base for _, base in started)
        finally:
            for s in started:
                if not isinstance(s, BaseException):
                    await stop(s[0])


async def ok(call_result: object) -> object:
    status, body = await call_result
    assert status == 200, body
    return body


async def test_pushes_of_one_case_through_both_instances_make_one_incident(instances, fake_service):
    a, b = instances
    echo = echo_service(fake_service)
    await echo.start()
    connector = await ok(call(a, "POST", "/api/actions/connector", connector_body(echo.url)))
    named = {"id": connector["id"], "name": "Echo", "type": ".echo", "fields": None}
    case = await ok(call(b, "POST", "/api/cases", case_body(connector=named)))
    push_path = f"/api/cases/{case['id']}/connector/{connector['id']}/_push"
    comments_path = f"/api/cases/{case['id']}/comments"

    rounds = 6
    for n in range(rounds):
        await ok(
            call(
                a if n % 2 else b,
                "POST",
                comments_path,
                {"type": "user", "comment": f"note {n}", "owner": "cases"},
            )
        )
        answers = await asyncio.gather(*(call(base, "POST", push_path, {}) for base in (a, b) * 3))
        assert [status for status, _ in answers] == [200] * 6, answers

    assert list(echo.incidents) == ["1"]
    assert echo.incidents["1"]["comments"] == [f"note {n}\n\nAdded by elastic." for n in range(rounds)]
    assert sum(r.method == "POST" and r.path == "/incidents" for r in echo.requests) == 1
    seen_by_a = await ok(call(a, "GET", f"/api/cases/{case['id']}"))
    seen_by_b = await ok(call(b, "GET", f"/api/cases/{case['id']}"))
    assert seen_by_a == seen_by_b
    assert seen_by_a["external_service"]["external_id"] == "1"
    actions = await ok(call(a, "GET", f"/api/cases/{case['id']}/user_actions/_find?perPage=100"))
    pushed = [ua for ua in actions["userActions"] if ua["type"] == "pushed"]
    # Pushes that found nothing new to send still record a push, as Kibana's do; every one names the
    # same incident.
    assert len(pushed) == rounds * 6
    assert {ua["payload"]["externalService"]["external_id"] for ua in pushed} == {"1"}
    connectors = await ok(call(b, "GET", f"/internal/cases/{case['id']}/_connectors"))
    assert connectors[connector["id"]]["push"]["needsToBePushed"] is False


async def test_what_one_instance_writes_the_other_reads(instances):
    a, b = instances
    case = await ok(call(a, "POST", "/api/cases", case_body(tags=["one"])))
    assert await ok(call(b, "GET", f"/api/cases/{case['id']}")) == case

    patch = {"cases": [{"id": case["id"], "version": case["version"], "tags": ["two"]}]}
    [patched] = await ok(call(b, "PATCH", "/api/cases", patch))
    assert (await ok(call(a, "GET", f"/api/cases/{case['id']}")))["tags"] == ["two"]
    status, conflict = await call(a, "PATCH", "/api/cases", patch)
    assert status == 409, conflict
    assert (await ok(call(b, "GET", f"/api/cases/{case['id']}")))["version"] == patched["version"]

    await ok(call(a, "POST", "/api/spaces/space", {"id": "ops", "name": "Ops"}))
    assert (await ok(call(b, "GET", "/api/spaces/space/ops")))["name"] == "Ops"


async def test_a_security_change_on_one_instance_reaches_the_others_cache_within_a_moment(instances):
    """The change travels by NOTIFY, so the other instance hears it milliseconds after the commit; the
    test allows a second, far below the 60 s the cache would otherwise keep the old password."""
    a, b = instances
    await ok(call(a, "PUT", "/_security/user/bob", {"password": PASSWORD, "roles": ["editor"]}))

    async def bob_on(base: str) -> int:
        status, _ = await call(base, "GET", "/api/cases/_find", auth=basic_auth("bob", PASSWORD))
        return status

    assert await bob_on(b) == 200  # and now cached by b
    await ok(call(a, "POST", "/_security/user/bob/_password", {"password": "a-new-password"}))
    statuses = [await bob_on(b)]
    while statuses[-1] != 401 and len(statuses) < 20:
        await asyncio.sleep(0.05)
        statuses.append(await bob_on(b))
    assert statuses[-1] == 401, statuses
    status, _ = await call(a, "DELETE", "/_security/user/bob")
    assert status == 200
    assert await bob_on(a) == 401


async def test_an_api_key_invalidated_on_one_instance_is_refused_by_the_other_within_a_moment(instances):
    a, b = instances
    key = await ok(call(a, "POST", "/_security/api_key", {"name": "ci"}))
    with_key = f"ApiKey {key['encoded']}"

    async def key_on(base: str) -> int:
        return (await call(base, "GET", "/_security/_authenticate", auth=with_key))[0]

    assert await key_on(b) == 200  # and now cached by b
    await ok(call(a, "DELETE", "/_security/api_key", {"ids": [key["id"]]}))
    statuses = [await key_on(b)]
    while statuses[-1] != 401 and len(statuses) < 20:
        await asyncio.sleep(0.05)
        statuses.append(await key_on(b))
    assert statuses[-1] == 401, statuses
