"""Several casepush processes on one PostgreSQL database, as behind a load balancer: concurrent pushes of
one case through both make one external incident, what one instance writes the other reads at once, and
failed logins spread over both meet one throttle.

PostgreSQL only (a SQLite file belongs to one instance): skipped unless ``CASEPUSH_TEST_DATABASE_URL``
is set.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from cryptography.fernet import Fernet

from casepush.config import Settings
from casepush.testing.client import PASSWORD, basic_auth
from casepush.testing.database import TEST_DATABASE_ENV, fresh_schema, postgres_server_url
from tests.helpers import case_body, connector_body, echo_service
from tests.processes import call, start_with_plugins, stop

pytestmark = pytest.mark.skipif(not postgres_server_url(), reason=f"{TEST_DATABASE_ENV} is not set")


@asynccontextmanager
async def two_instances(tmp_path: Path, installed_echo: Path, **env: str) -> AsyncIterator[tuple[str, str]]:
    """Two servers on one fresh PostgreSQL schema, each with a data dir of its own and the same
    encryption key (and ``env``), started at the same time (so that they migrate and create ``elastic``
    at once)."""
    key = Fernet.generate_key().decode()
    async with fresh_schema(postgres_server_url()) as url:
        started = await asyncio.gather(
            *(
                start_with_plugins(
                    installed_echo,
                    Settings(data_dir=str(tmp_path / name), database_url=url),
                    CASEPUSH_ENCRYPTION_KEY=key,
                    **env,
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


@pytest.fixture
async def instances(tmp_path: Path, installed_echo: Path) -> AsyncIterator[tuple[str, str]]:
    async with two_instances(tmp_path, installed_echo) as bases:
        yield bases


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


async def test_a_space_changed_or_deleted_on_one_instance_is_seen_by_the_other_at_once(instances):
    """Each instance keeps the spaces requests name in memory (``SpaceCache``), and forgets them when any
    instance changes one: the change travels by NOTIFY, heard before the changing request has even
    answered, so the other instance's next request sees it."""
    a, b = instances
    await ok(call(a, "POST", "/api/spaces/space", {"id": "ops", "name": "Ops"}))
    case = await ok(call(b, "POST", "/s/ops/api/cases", case_body()))
    case_path = f"/s/ops/api/cases/{case['id']}"
    for base in (a, b):  # each keeps the space now
        await ok(call(base, "GET", case_path))

    disabled = {"id": "ops", "name": "Ops", "disabledFeatures": ["generalCases"]}
    await ok(call(a, "PUT", "/api/spaces/space/ops", disabled))
    status, refused = await call(b, "GET", case_path)
    assert status == 403, refused
    assert (await call(b, "POST", "/s/ops/api/cases", case_body()))[0] == 403

    await ok(call(b, "PUT", "/api/spaces/space/ops", {"id": "ops", "name": "Ops"}))  # the other way
    await ok(call(a, "GET", case_path))

    status, _ = await call(a, "DELETE", "/api/spaces/space/ops")
    assert status == 204
    status, missing = await call(b, "GET", case_path)
    assert (status, missing) == (404, {"statusCode": 404, "error": "Not Found", "message": "Not Found"})


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


async def log_in(base: str, client: str, username: str, password: str = PASSWORD) -> tuple[int, int | None]:
    """``_authenticate`` as a user from a client address (named by the trusted proxy's
    ``X-Forwarded-For``): the status, and the Retry-After seconds."""
    headers = {"Authorization": basic_auth(username, password), "X-Forwarded-For": client}
    async with (
        aiohttp.ClientSession() as session,
        session.get(base + "/_security/_authenticate", headers=headers) as response,
    ):
        retry = response.headers.get("Retry-After")
        return response.status, None if retry is None else int(retry)


def throttled(answer: tuple[int, int | None]) -> bool:
    status, retry = answer
    return status == 429 and retry is not None and 0 < retry <= 300


async def test_failed_logins_spread_over_both_instances_meet_one_throttle(tmp_path, installed_echo):
    """Limits of 3 failures of an account from a client and 10 from a client, counted in the database:
    failures split over both instances reach them once, then both answer 429 with Retry-After, the right
    password included (also where it is cached), and other clients are not affected."""
    async with two_instances(
        tmp_path,
        installed_echo,
        CASEPUSH_TRUSTED_PROXIES="127.0.0.1",
        CASEPUSH_LOGIN_MAX_FAILURES="3",
        CASEPUSH_LOGIN_MAX_CLIENT_FAILURES="10",
    ) as (a, b):
        for user in ("bob", "alice"):
            await ok(call(a, "PUT", f"/_security/user/{user}", {"password": PASSWORD, "roles": ["editor"]}))

        # An account from a client: the third failure, whichever instance sees it, is the last.
        assert [(await log_in(base, "10.0.0.1", "bob", "wrong"))[0] for base in (a, b, a)] == [401] * 3
        for base in (a, b):
            assert throttled(await log_in(base, "10.0.0.1", "bob", "wrong"))
            assert throttled(await log_in(base, "10.0.0.1", "bob"))
            assert (await log_in(base, "10.0.0.2", "bob"))[0] == 200
            assert (await log_in(base, "10.0.0.1", "alice"))[0] == 200

        # A password cached by one instance is refused there once the other has blocked its account
        # from that client (announced as the limit is reached: before the last check has even ended).
        assert (await log_in(b, "10.0.0.3", "alice"))[0] == 200  # now in b's cache
        assert [(await log_in(a, "10.0.0.3", "alice", "wrong"))[0] for _ in range(3)] == [401] * 3
        answers = [await log_in(b, "10.0.0.3", "alice")]
        while not throttled(answers[-1]) and len(answers) < 20:
            await asyncio.sleep(0.05)
            answers.append(await log_in(b, "10.0.0.3", "alice"))
        assert throttled(answers[-1]), answers
        assert (await log_in(b, "10.0.0.4", "alice"))[0] == 200

        # A client failing for many accounts: ten names over both instances.
        for n in range(10):
            assert (await log_in((a, b)[n % 2], "10.0.0.5", f"guess-{n}", "wrong"))[0] == 401
        for base in (a, b):
            assert throttled(await log_in(base, "10.0.0.5", "bob"))
            assert (await log_in(base, "10.0.0.6", "bob"))[0] == 200
