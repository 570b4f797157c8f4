"""Limits and abuse: body size and time, header size and time (a real ``casepush serve`` and raw
sockets), and the throttling of failed logins."""

import asyncio
import base64
from contextlib import suppress
from typing import Any

import pytest

from casepush.config import ConfigError, load_settings
from casepush.security.authz import Principal
from casepush.security.throttle import MemoryThrottle, Throttled
from casepush.testing.client import basic_auth
from casepush.web.state import AUTHENTICATOR, STORE
from tests.helpers import PASSWORD, Api, case_body
from tests.processes import call, start, stop
from tests.raw_http import connect, exchange, read_answer, request_head

WHOAMI = "/_security/_authenticate"
ELASTIC = basic_auth("elastic", "changeme")


def kibana_error(status: int, error: str, message: str) -> dict:
    return {"statusCode": status, "error": error, "message": message}


def too_large(limit: int) -> dict:
    return kibana_error(
        413, "Request Entity Too Large", f"Payload content length greater than maximum allowed: {limit}"
    )


# --- raw HTTP ------------------------------------------------------------------------------------------


def server_url(api: Api) -> str:
    """The in-process test server's address, for raw sockets."""
    return str(api.client.make_url("/"))


async def trickle(writer: asyncio.StreamWriter, byte: bytes = b" ") -> None:
    """Send a byte every 0.2 s until the server closes the connection (or the test cancels this)."""
    with suppress(ConnectionError):
        while True:
            writer.write(byte)
            await writer.drain()
            await asyncio.sleep(0.2)


async def served_meanwhile(url: str) -> None:
    """Another client is answered as usual."""
    status, body = await call(url, "GET", "/api/cases/_find", auth=ELASTIC)
    assert status == 200, body


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """The server closes the connection (generous bound: a few times the configured timeouts)."""
    return await asyncio.wait_for(reader.read(), 30) == b""


# --- bodies ------------------------------------------------------------------------------------------------


async def test_a_chunked_body_over_the_limit_is_a_413_in_kibanas_format_and_writes_nothing(api, stored):
    async def chunks():
        yield b'{"title": "'
        for _ in range(65):
            yield b"x" * 16384
        yield b'"}'

    status, body = await api.post("/api/cases", data=chunks(), headers={"Content-Type": "application/json"})

    assert (status, body) == (413, too_large(1024 * 1024))
    assert await stored.count("cases") == 0


async def test_the_body_limit_is_a_setting_that_the_413_names(api_with, stored):
    api = await api_with(max_payload_bytes=2000)

    assert (await api.post("/api/cases", case_body(description="x" * 1500)))[0] == 200
    status, body = await api.post("/api/cases", case_body(description="x" * 2000))

    assert (status, body) == (413, too_large(2000))
    assert await stored.count("cases") == 1


async def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(api):
    head = request_head(
        "POST", "/api/cases", f"Authorization: {api.auth}", "kbn-xsrf: true", "Content-Length: 10000000"
    )

    status, _, body = await exchange(server_url(api), head)  # and not a byte of the body

    assert (status, body) == (413, too_large(1024 * 1024))


async def test_without_credentials_no_body_is_waited_for(api):
    head = request_head("POST", "/api/cases", "kbn-xsrf: true", "Content-Length: 1000")

    status, _, body = await exchange(server_url(api), head)

    assert (status, body) == (401, kibana_error(401, "Unauthorized", "Unauthorized"))


# --- slow clients (a real server) ------------------------------------------------------------------------


async def test_a_client_sending_its_headers_slowly_is_disconnected_while_others_are_served(settings):
    process, url = await start(settings, CASEPUSH_ELASTIC_PASSWORD="changeme", CASEPUSH_HEADER_TIMEOUT="1")
    try:
        reader, writer = await connect(url)
        writer.write(b"GET /api/status HTTP/1.1\r\nHost: casepush\r\nX-Slow: ")
        sending = asyncio.create_task(trickle(writer, b"z"))
        await served_meanwhile(url)

        assert await closed_by_server(reader)  # no answer: the request never arrived
        sending.cancel()
        writer.close()
    finally:
        await stop(process)


async def test_a_client_sending_its_body_slowly_gets_kibanas_408_and_is_disconnected(settings, stored):
    process, url = await start(settings, CASEPUSH_ELASTIC_PASSWORD="changeme", CASEPUSH_PAYLOAD_TIMEOUT="1")
    head = request_head(
        "POST",
        "/api/cases",
        f"Authorization: {ELASTIC}",
        "kbn-xsrf: true",
        "Content-Type: application/json",
        "Content-Length: 100000",
    )
    try:
        reader, writer = await connect(url)
        writer.write(head + b'{"title": "')
        sending = asyncio.create_task(trickle(writer))
        await served_meanwhile(url)

        status, _, body = await asyncio.wait_for(read_answer(reader), 10)
        assert (status, body) == (408, kibana_error(408, "Request Timeout", "Request Timeout"))
        assert await closed_by_server(reader)
        sending.cancel()
        writer.close()
    finally:
        await stop(process)
    assert await stored.count("cases") == 0


# --- header sizes (a real server) ---------------------------------------------------------------------------

SECRET = "oversized-secret-Qw7"
HEADERS_TOO_LARGE = (
    "The request line and each header may hold at most 8190 bytes, and a request at most 128 headers"
)


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(request_head("GET", "/api/status", f"X-Token: {SECRET}{'x' * 9000}"), id="header"),
        pytest.param(request_head("GET", f"/api/status?q={SECRET}{'x' * 9000}"), id="request-line"),
        pytest.param(
            request_head("GET", "/api/status", *(f"X-{n}: {SECRET}" for n in range(200))), id="header-count"
        ),
    ],
)
async def test_a_request_head_over_the_limits_is_kibanas_431_and_its_text_is_not_logged(
    settings, request_bytes
):
    process, url = await start(settings, CASEPUSH_ELASTIC_PASSWORD="changeme")
    try:
        reader, writer = await connect(url)
        writer.write(request_bytes)
        status, _, body = await asyncio.wait_for(read_answer(reader), 10)
        assert await closed_by_server(reader)
        writer.close()
        await served_meanwhile(url)
    finally:
        output = await stop(process)

    assert (status, body) == (431, kibana_error(431, "Request Header Fields Too Large", HEADERS_TOO_LARGE))
    assert "could not be read: 431" in output
    assert SECRET not in output


async def test_a_request_that_cannot_be_parsed_is_kibanas_400(settings):
    process, url = await start(settings, CASEPUSH_ELASTIC_PASSWORD="changeme")
    try:
        status, _, body = await exchange(url, b"GET /api/status HTTP/1.1\r\nNo colon here\r\n\r\n")
    finally:
        await stop(process)

    assert (status, body) == (400, kibana_error(400, "Bad Request", "Bad Request"))


# --- failed logins ---------------------------------------------------------------------------------------


@pytest.fixture
async def guarded(api_with) -> Api:
    """A server behind a trusted proxy (the test client's address), so that ``X-Forwarded-For`` names
    the client; three failures of an account from a client, or ten from a client, are the limits."""
    api = await api_with(login_max_failures=3, login_max_client_failures=10, trusted_proxies=["127.0.0.1"])
    await api.create_user("bob")
    await api.create_user("alice")
    return api


async def log_in(api: Api, client: str, username: str, password: str = PASSWORD) -> tuple[int, Any]:
    """``_authenticate`` as a user, from a client address."""
    return await api.as_user(username, password).get(WHOAMI, headers={"X-Forwarded-For": client})


async def fail(api: Api, client: str, username: str, times: int) -> None:
    for _ in range(times):
        assert (await log_in(api, client, username, "wrong-password"))[0] == 401


def throttled_answer(status: int, body: Any, headers: Any, window: int = 300) -> bool:
    """The 429 with a Retry-After of at most the window: in Elasticsearch's error body on its paths
    (``_authenticate``, where these tests log in), Kibana's elsewhere."""
    assert status == 429, body
    retry = int(headers["Retry-After"])
    message = f"Too many failed login attempts; try again in {retry} seconds"
    if "statusCode" in body:
        expected = kibana_error(429, "Too Many Requests", message)
    else:
        cause = {"type": "security_exception", "reason": message}
        expected = {"error": {"root_cause": [cause], **cause}, "status": 429}
    return body == expected and 0 < retry <= window


async def test_failed_logins_of_an_account_from_a_client_are_throttled_even_for_the_right_password(guarded):
    await fail(guarded, "10.0.0.1", "bob", times=3)

    wrong = guarded.as_user("bob", "wrong-password")
    status, body = await wrong.get(WHOAMI, headers={"X-Forwarded-For": "10.0.0.1"})
    assert throttled_answer(status, body, wrong.last_headers)
    right = guarded.as_user("bob")
    status, body = await right.get(WHOAMI, headers={"X-Forwarded-For": "10.0.0.1"})
    assert throttled_answer(status, body, right.last_headers)


async def test_a_throttled_account_logs_in_from_other_clients_and_other_accounts_from_that_client(guarded):
    await fail(guarded, "10.0.0.1", "bob", times=3)
    assert (await log_in(guarded, "10.0.0.1", "bob"))[0] == 429

    assert (await log_in(guarded, "10.0.0.2", "bob"))[0] == 200
    assert (await log_in(guarded, "10.0.0.1", "alice"))[0] == 200


async def test_a_client_failing_for_many_accounts_is_throttled_for_every_account(guarded):
    for n in range(10):
        await fail(guarded, "10.0.0.1", f"guess-{n}", times=1)

    assert (await log_in(guarded, "10.0.0.1", "bob"))[0] == 429
    assert (await log_in(guarded, "10.0.0.2", "bob"))[0] == 200


async def test_a_success_starts_the_accounts_count_afresh(guarded):
    for _ in range(3):
        await fail(guarded, "10.0.0.1", "bob", times=2)
        assert (await log_in(guarded, "10.0.0.1", "bob"))[0] == 200


async def test_a_cached_credential_costs_no_count(guarded, monkeypatch):
    """Only checks are counted (on PostgreSQL, each is a statement): a credential taken from the cache is
    not, unless a failure of its account from that client is known, so that its success resets it."""
    throttle = guarded.client.app[AUTHENTICATOR].throttle
    counted: list[str] = []
    real_attempted = throttle.attempted

    async def attempted(name: str, client: str | None, kind: str = "basic") -> Throttled | None:
        counted.append(name)
        return await real_attempted(name, client, kind)

    monkeypatch.setattr(throttle, "attempted", attempted)
    statuses = [(await log_in(guarded, "10.0.0.1", "bob"))[0] for _ in range(10)]
    await fail(guarded, "10.0.0.1", "bob", times=1)
    statuses += [(await log_in(guarded, "10.0.0.1", "bob"))[0] for _ in range(10)]

    assert statuses == [200] * 20
    assert counted == ["bob"] * 3  # the first login, the failure, and the login after it


async def test_throttled_attempts_cost_no_password_check_even_when_sent_at_once(guarded, password_checks):
    answers = await asyncio.gather(*(log_in(guarded, "10.0.0.1", "bob", f"guess-{n}") for n in range(20)))
    await log_in(guarded, "10.0.0.1", "bob")

    assert sorted(status for status, _ in answers) == [401] * 3 + [429] * 17
    assert len(password_checks) == 3


async def test_logins_that_could_not_be_checked_are_no_failures(guarded):
    await guarded.client.app[STORE].close()

    statuses = [(await log_in(guarded, "10.0.0.1", "bob"))[0] for _ in range(5)]

    assert statuses == [500] * 5


async def test_the_throttle_lifts_when_its_window_passes(api_with):
    api = await api_with(login_max_failures=2, login_failure_window=1)
    await fail(api, "10.0.0.1", "elastic", times=2)
    assert (await api.get(WHOAMI))[0] == 429
    retry = int(api.last_headers["Retry-After"])

    await asyncio.sleep(retry)

    assert (await api.get(WHOAMI))[0] == 200


async def test_api_key_guesses_are_throttled_per_key_and_client(guarded):
    status, key = await guarded.post("/_security/api_key", {"name": "ci"})
    assert status == 200, key
    wrong = guarded.with_api_key(base64.b64encode(f"{key['id']}:wrong-secret".encode()).decode())
    right = guarded.with_api_key(key["encoded"])
    for _ in range(3):
        assert (await wrong.get(WHOAMI, headers={"X-Forwarded-For": "10.0.0.1"}))[0] == 401

    assert (await right.get(WHOAMI, headers={"X-Forwarded-For": "10.0.0.1"}))[0] == 429
    assert (await right.get(WHOAMI, headers={"X-Forwarded-For": "10.0.0.2"}))[0] == 200


async def test_x_forwarded_for_names_the_client_only_behind_a_trusted_proxy(api_with):
    api = await api_with(login_max_failures=3)  # the test client is no trusted proxy here
    for n in range(3):
        await fail(api, f"10.0.0.{n}", "elastic", times=1)

    assert (await log_in(api, "10.0.0.9", "elastic"))[0] == 429


async def test_a_login_form_is_throttled_through_the_authenticator(guarded):
    authenticator = guarded.client.app[AUTHENTICATOR]
    for _ in range(3):
        assert not isinstance(await authenticator.login("bob", "wrong", "10.0.0.5"), Principal)

    throttled = await authenticator.login("bob", PASSWORD, "10.0.0.5")
    assert isinstance(throttled, Throttled) and 0 < throttled.retry_after <= 300
    assert isinstance(await authenticator.login("bob", PASSWORD, "10.0.0.6"), Principal)


async def test_the_throttle_keeps_at_most_its_capacity_of_counts():
    throttle = MemoryThrottle(max_failures=1, max_client_failures=1, capacity=100)

    for n in range(1000):
        assert await throttle.attempted(f"user-{n}", f"client-{n}") is None

    assert (len(throttle.by_account), len(throttle.by_client)) == (100, 100)
    assert throttle.blocked("user-999", "client-999") is not None  # the newest are kept


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TRUSTED_PROXIES", "10.0.0.0/8,proxy.local", "'proxy.local' is not an IP address or network"),
        ("LOGIN_MAX_FAILURES", "0", "CASEPUSH_LOGIN_MAX_FAILURES must be greater than 0"),
        ("PAYLOAD_TIMEOUT", "-1", "CASEPUSH_PAYLOAD_TIMEOUT must be greater than 0"),
    ],
)
def test_limits_that_cannot_be_used_stop_the_start(variable, value, message):
    with pytest.raises(ConfigError, match=message):
        load_settings({f"CASEPUSH_{variable}": value})
