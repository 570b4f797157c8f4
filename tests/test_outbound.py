"""The outbound client connectors use, called against real local HTTP(S) servers."""

import asyncio
import email.utils
import ssl
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
import trustme
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port
from cryptography.hazmat.primitives import serialization
from multidict import CIMultiDict, CIMultiDictProxy

from casepush.config import Settings
from casepush.http import (
    IDEMPOTENT,
    RATE_LIMITED,
    HostNotAllowed,
    OutboundClient,
    OutboundError,
    OutboundResponse,
    ResponseTooLarge,
    Retry,
    TlsOptions,
    create_session,
    ensure_hostname_allowed,
    ensure_url_allowed,
)

NOT_ALLOWED = "is not added to the Kibana config xpack.actions.allowedHosts"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with create_session() as session:
        yield session


@pytest.fixture
def client(session: aiohttp.ClientSession) -> Callable[..., OutboundClient]:
    """Makes a client on the shared session; any host allowed unless told otherwise."""

    def make(**settings: Any) -> OutboundClient:
        options = {"allowed_hosts": ["*"], "timeout": 5.0, "max_response_bytes": 1_000_000, **settings}
        return OutboundClient(session, **options)

    return make


async def echo(request: web.Request) -> web.Response:
    """What the server received: method, path, query, headers (lower-case names) and body."""
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "headers": {name.lower(): value for name, value in request.headers.items()},
            "body": body.decode(),
        }
    )


async def serve(aiohttp_server: Any, routes: dict[str, Any], **kwargs: Any) -> TestServer:
    """A real server answering each path with its handler (any method), and ``/echo`` with ``echo``."""
    app = web.Application()
    for path, handler in {"/echo": echo, **routes}.items():
        app.router.add_route("*", path, handler)
    return await aiohttp_server(app, **kwargs)


def counting(handler: Any, hits: list[str]) -> Any:
    async def counted(request: web.Request) -> web.StreamResponse:
        hits.append(request.path)
        return await handler(request)

    return counted


def redirect(location: str, status: int = 302) -> Any:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": location})

    return handler


def sleeping(seconds: float, then: Any = echo) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return await then(request)

    return handler


# allowed hosts


def test_star_allows_any_http_host():
    ensure_url_allowed("https://example.com/path", ["*"])
    ensure_hostname_allowed("example.com", ["*"])


def test_the_hostname_must_equal_an_entry_ignoring_case():
    ensure_url_allowed("https://API.Example.com:8443/x?y=1", ["other.example.com", "api.example.COM"])
    with pytest.raises(HostNotAllowed) as info:
        ensure_url_allowed("https://evil.example.com/x", ["api.example.com", "example.com"])
    assert info.value.message == f'target url "https://evil.example.com/x" {NOT_ALLOWED}'
    assert isinstance(info.value, OutboundError)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/file", "file:///etc/passwd", "example.com/path", "http://", "http://[::1"]
)
def test_a_url_without_an_http_host_is_refused_even_with_star(url):
    with pytest.raises(HostNotAllowed) as info:
        ensure_url_allowed(url, ["*"])
    assert info.value.message == f'target url "{url}" {NOT_ALLOWED}'


def test_a_refused_url_is_shown_without_its_password():
    with pytest.raises(HostNotAllowed) as info:
        ensure_url_allowed("https://user:hunter2@evil.example.com/x", ["example.com"])
    assert info.value.message == f'target url "https://user@evil.example.com/x" {NOT_ALLOWED}'


def test_hostname_refusal_names_the_hostname():
    with pytest.raises(HostNotAllowed) as info:
        ensure_hostname_allowed("evil.example.com", ["example.com"])
    assert info.value.message == f'target hostname "evil.example.com" {NOT_ALLOWED}'


async def test_a_disallowed_host_is_refused_before_connecting(aiohttp_server, client):
    hits: list[str] = []
    server = await serve(aiohttp_server, {"/": counting(echo, hits)})
    url = str(server.make_url("/"))
    with pytest.raises(HostNotAllowed) as info:
        await client(allowed_hosts=["localhost"]).request("GET", url)
    assert info.value.message == f'target url "{url}" {NOT_ALLOWED}'
    assert hits == []


def test_from_settings_takes_the_actions_settings(session):
    settings = Settings(
        allowed_hosts=["example.com"], response_timeout=3, max_response_bytes=10, verification_mode="none"
    )
    client = OutboundClient.from_settings(session, settings)
    assert (client.allowed_hosts, client.timeout, client.max_response_bytes, client.verification_mode) == (
        ("example.com",),
        3,
        10,
        "none",
    )


# requests and responses


class Incident(msgspec.Struct):
    title: str
    tags: list[str]


async def test_json_is_sent_as_application_json_encoded_with_msgspec(aiohttp_server, client):
    server = await serve(aiohttp_server, {})
    response = await client().request(
        "post",
        str(server.make_url("/echo")),
        json=Incident(title="Café", tags=["a"]),
        headers={"X-Trace": "1"},
        params={"q": "a b"},
    )
    assert (response.status, response.method, response.content_type) == (200, "POST", "application/json")
    assert response.url == str(server.make_url("/echo?q=a+b"))
    received = response.json()
    assert received["headers"]["content-type"] == "application/json"
    assert received["headers"]["x-trace"] == "1"
    assert received["query"] == {"q": "a b"}
    assert msgspec.json.decode(received["body"]) == {"title": "Café", "tags": ["a"]}


@pytest.mark.parametrize("data", [b"a,b\n1,2\n", "a,b\n1,2\n"])
async def test_data_is_sent_as_given(aiohttp_server, client, data):
    server = await serve(aiohttp_server, {})
    response = await client().request(
        "PUT", str(server.make_url("/echo")), data=data, headers={"Content-Type": "text/csv"}
    )
    received = response.json()
    assert (received["method"], received["body"]) == ("PUT", "a,b\n1,2\n")
    assert received["headers"]["content-type"] == "text/csv"


async def test_error_statuses_are_returned_not_raised(aiohttp_server, client):
    async def down(request: web.Request) -> web.Response:
        return web.Response(status=503, text="maintenance")

    server = await serve(aiohttp_server, {"/": down})
    response = await client().request("GET", str(server.make_url("/")))
    assert (response.status, response.text(), response.content_type) == (503, "maintenance", "text/plain")
    with pytest.raises(ValueError):
        response.json()


async def test_text_is_decoded_with_the_declared_charset(aiohttp_server, client):
    async def latin(request: web.Request) -> web.Response:
        return web.Response(
            body="café".encode("latin-1"), headers={"Content-Type": "text/plain; charset=latin-1"}
        )

    server = await serve(aiohttp_server, {"/": latin})
    response = await client().request("GET", str(server.make_url("/")))
    assert (response.text(), response.body) == ("café", b"caf\xe9")


async def test_cookies_are_not_kept_between_calls(aiohttp_server, client):
    async def set_cookie(request: web.Request) -> web.Response:
        response = web.Response(text="ok")
        response.set_cookie("session", "connector-a")
        return response

    server = await serve(aiohttp_server, {"/login": set_cookie})
    await client().request("GET", str(server.make_url("/login")))
    response = await client().request("GET", str(server.make_url("/echo")))
    assert "cookie" not in response.json()["headers"]


# redirects


@pytest.mark.parametrize("status", [301, 302, 303])
async def test_301_302_303_turn_into_a_get_without_body(aiohttp_server, client, status):
    server = await serve(aiohttp_server, {"/moved": redirect("/echo", status)})
    response = await client().request("POST", str(server.make_url("/moved")), json={"a": 1})
    received = response.json()
    assert (received["method"], received["body"]) == ("GET", "")
    assert "content-type" not in received["headers"]
    assert (response.method, response.url) == ("GET", str(server.make_url("/echo")))


@pytest.mark.parametrize("status", [307, 308])
async def test_307_308_keep_method_and_body(aiohttp_server, client, status):
    server = await serve(aiohttp_server, {"/moved": redirect("/echo", status)})
    response = await client().request("PATCH", str(server.make_url("/moved")), json={"a": 1})
    received = response.json()
    assert (received["method"], received["body"]) == ("PATCH", '{"a":1}')
    assert received["headers"]["content-type"] == "application/json"


async def test_a_redirect_to_a_disallowed_host_is_refused_before_connecting(aiohttp_server, client):
    hits: list[str] = []
    other = await serve(aiohttp_server, {"/": counting(echo, hits)})
    server = await serve(aiohttp_server, {"/moved": redirect(str(other.make_url("/")))})
    with pytest.raises(HostNotAllowed) as info:
        await client(allowed_hosts=["localhost"]).request("GET", f"http://localhost:{server.port}/moved")
    assert info.value.message == f'target hostname "127.0.0.1" {NOT_ALLOWED}'
    assert hits == []


@pytest.mark.parametrize("location", ["ftp://127.0.0.1/file", "file:///etc/passwd"])
async def test_a_redirect_to_another_protocol_is_refused(aiohttp_server, client, location):
    server = await serve(aiohttp_server, {"/moved": redirect(location)})
    with pytest.raises(OutboundError) as info:
        await client().request("GET", str(server.make_url("/moved")))
    assert info.value.message.startswith("Unsupported protocol")


async def test_credentials_are_dropped_on_a_redirect_to_another_host(aiohttp_server, client):
    other = await serve(aiohttp_server, {})
    server = await serve(aiohttp_server, {"/moved": redirect(str(other.make_url("/echo")))})
    headers = {"Authorization": "Bearer t0ken", "Cookie": "a=b", "X-Kept": "yes"}
    response = await client().request("GET", f"http://localhost:{server.port}/moved", headers=headers)
    received = response.json()["headers"]
    assert "authorization" not in received
    assert "cookie" not in received
    assert received["x-kept"] == "yes"


async def test_credentials_are_kept_on_a_redirect_within_the_host(aiohttp_server, client):
    server = await serve(aiohttp_server, {"/moved": redirect("/echo", 307)})
    response = await client().request(
        "GET", str(server.make_url("/moved")), headers={"Authorization": "Bearer t0ken"}
    )
    assert response.json()["headers"]["authorization"] == "Bearer t0ken"


@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
async def test_basic_auth_is_sent_and_dropped_on_another_host_like_a_header(aiohttp_server, client):
    other = await serve(aiohttp_server, {})
    server = await serve(aiohttp_server, {"/moved": redirect(str(other.make_url("/echo")))})
    auth = aiohttp.BasicAuth("user", "pass")
    same = await client().request("GET", str(server.make_url("/echo")), auth=auth)
    assert same.json()["headers"]["authorization"] == "Basic dXNlcjpwYXNz"
    moved = await client().request("GET", f"http://localhost:{server.port}/moved", auth=auth)
    assert "authorization" not in moved.json()["headers"]


async def hops(request: web.Request) -> web.Response:
    """``/hops/N`` redirects to ``/hops/N-1``, and ``/hops/0`` to ``/echo``."""
    left = int(request.match_info["left"])
    raise web.HTTPFound(f"/hops/{left - 1}" if left else "/echo")


async def test_ten_redirects_are_followed(aiohttp_server, client):
    server = await serve(aiohttp_server, {"/hops/{left}": hops})
    response = await client().request("GET", str(server.make_url("/hops/9")))
    assert (response.status, response.url) == (200, str(server.make_url("/echo")))


async def test_the_eleventh_redirect_is_refused(aiohttp_server, client):
    hits: list[str] = []
    server = await serve(aiohttp_server, {"/hops/{left}": counting(hops, hits)})
    with pytest.raises(OutboundError) as info:
        await client().request("GET", str(server.make_url("/hops/10")))
    assert info.value.message == "Maximum number of redirects exceeded"
    assert len(hits) == 11


# timeouts


async def test_a_slow_response_times_out_with_axios_wording(aiohttp_server, client):
    server = await serve(aiohttp_server, {"/slow": sleeping(5)})
    with pytest.raises(OutboundError) as info:
        await client(timeout=0.2).request("GET", str(server.make_url("/slow")))
    assert info.value.message == "timeout of 200ms exceeded"


async def test_a_longer_call_timeout_wins_over_the_settings(aiohttp_server, client):
    server = await serve(aiohttp_server, {"/slow": sleeping(0.3)})
    response = await client(timeout=0.1).request("GET", str(server.make_url("/slow")), timeout=2)
    assert response.status == 200


async def test_a_shorter_call_timeout_does_not_shorten_the_settings(aiohttp_server, client):
    server = await serve(aiohttp_server, {"/slow": sleeping(0.3)})
    response = await client(timeout=2).request("GET", str(server.make_url("/slow")), timeout=0.1)
    assert response.status == 200


async def test_the_timeout_covers_redirects_and_the_body(aiohttp_server, client):
    async def stalled_body(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"first part")
        await asyncio.sleep(5)
        return response

    server = await serve(
        aiohttp_server, {"/a": sleeping(0.2, redirect("/b")), "/b": sleeping(0.2), "/stalled": stalled_body}
    )
    with pytest.raises(OutboundError, match=r"^timeout of 300ms exceeded$"):
        await client(timeout=0.3).request("GET", str(server.make_url("/a")))
    with pytest.raises(OutboundError, match=r"^timeout of 300ms exceeded$"):
        await client(timeout=0.3).request("GET", str(server.make_url("/stalled")))


# response size


async def test_a_body_of_exactly_the_limit_is_read(aiohttp_server, client):
    async def hundred(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 100)

    server = await serve(aiohttp_server, {"/": hundred})
    response = await client(max_response_bytes=100).request("GET", str(server.make_url("/")))
    assert response.body == b"x" * 100


async def test_an_endless_body_is_cut_at_the_limit(aiohttp_server, client):
    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        try:
            while True:
                await response.write(b"x" * 65536)
        except ConnectionError:
            return response

    server = await serve(aiohttp_server, {"/": endless})
    with pytest.raises(ResponseTooLarge) as info:
        await client(max_response_bytes=100_000).request("GET", str(server.make_url("/")))
    assert info.value.message == "maxContentLength size of 100000 exceeded"


# connection errors and secrets


async def test_a_refused_connection_is_worded_like_axios(client):
    port = unused_port()
    with pytest.raises(OutboundError) as info:
        await client().request("GET", f"http://127.0.0.1:{port}/")
    assert info.value.message == f"connect ECONNREFUSED 127.0.0.1:{port}"


async def test_an_unknown_host_is_worded_like_axios(client):
    with pytest.raises(OutboundError) as info:
        await client().request("GET", "http://casepush-test.invalid/")
    assert info.value.message.startswith("getaddrinfo ")
    assert info.value.message.endswith(" casepush-test.invalid")


@pytest.fixture
async def echoing_status_line() -> AsyncIterator[str]:
    """A broken server that answers with the request's Authorization value as its status line."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = [line.partition(b": ") for line in head.split(b"\r\n")]
        authorization = next(value for name, _, value in lines if name.lower() == b"authorization")
        writer.write(b"HTTP/1.1 " + authorization + b"\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"


@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
@pytest.mark.parametrize("kind", ["header", "basic auth"])
async def test_no_secret_appears_in_an_error_message(client, echoing_status_line, kind):
    if kind == "header":
        credentials: dict[str, Any] = {"headers": {"Authorization": "Bearer s3cret-t0ken"}}
    else:
        credentials = {"auth": aiohttp.BasicAuth("user", "s3cret")}
    with pytest.raises(OutboundError) as info:
        await client().request("GET", echoing_status_line, **credentials)
    message = info.value.message
    assert "[REDACTED]" in message
    assert "s3cret" not in message
    assert "dXNlcjpzM2NyZXQ=" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


# TLS


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_pem(ca: trustme.CA) -> str:
    return ca.cert_pem.bytes().decode()


async def serve_https(
    aiohttp_server: Any, ca: trustme.CA, hostname: str = "127.0.0.1", client_ca: bool = False
) -> TestServer:
    """A real HTTPS server with a certificate for ``hostname``, requiring client certificates if told."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(hostname).configure_cert(context)
    if client_ca:
        ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    return await serve(aiohttp_server, {}, ssl=context)


async def test_full_verification_refuses_an_unknown_ca(aiohttp_server, client, ca):
    server = await serve_https(aiohttp_server, ca)
    with pytest.raises(OutboundError) as info:
        await client().request("GET", str(server.make_url("/echo")))
    assert "certificate verify failed" in info.value.message
    assert f"127.0.0.1:{server.port}" in info.value.message


async def test_full_verification_trusts_the_given_ca(aiohttp_server, client, ca, ca_pem):
    server = await serve_https(aiohttp_server, ca)
    response = await client().request("GET", str(server.make_url("/echo")), tls=TlsOptions(ca=ca_pem))
    assert response.status == 200


async def test_no_verification_accepts_any_certificate(aiohttp_server, client, ca):
    server = await serve_https(aiohttp_server, ca)
    url = str(server.make_url("/echo"))
    response = await client().request("GET", url, tls=TlsOptions(verification_mode="none"))
    assert response.status == 200
    response = await client(verification_mode="none").request("GET", url, tls=TlsOptions())
    assert response.status == 200


async def test_certificate_verification_skips_only_the_hostname(aiohttp_server, client, ca, ca_pem):
    server = await serve_https(aiohttp_server, ca, hostname="other.example")
    url = str(server.make_url("/echo"))
    response = await client().request("GET", url, tls=TlsOptions(verification_mode="certificate", ca=ca_pem))
    assert response.status == 200
    with pytest.raises(OutboundError, match="mismatch"):
        await client().request("GET", url, tls=TlsOptions(verification_mode="full", ca=ca_pem))
    with pytest.raises(OutboundError, match="certificate verify failed"):
        await client().request("GET", url, tls=TlsOptions(verification_mode="certificate"))


def client_certificate(ca: trustme.CA, passphrase: bytes | None = None) -> tuple[str, str]:
    """A client certificate and its key as PEM, the key encrypted with ``passphrase`` if given."""
    leaf = ca.issue_cert("client.example")
    key = leaf.private_key_pem.bytes()
    if passphrase:
        loaded = serialization.load_pem_private_key(key, password=None)
        key = loaded.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )
    return leaf.cert_chain_pems[0].bytes().decode(), key.decode()


async def test_a_client_certificate_is_presented(aiohttp_server, client, ca, ca_pem, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    server = await serve_https(aiohttp_server, ca, client_ca=True)
    url = str(server.make_url("/echo"))
    certificate, key = client_certificate(ca)
    response = await client().request("GET", url, tls=TlsOptions(ca=ca_pem, certificate=certificate, key=key))
    assert response.status == 200
    certificate, key = client_certificate(ca, passphrase=b"open sesame")
    tls = TlsOptions(ca=ca_pem, certificate=certificate, key=key, passphrase="open sesame")
    response = await client().request("GET", url, tls=tls)
    assert response.status == 200
    assert list(Path(tmp_path).iterdir()) == []
    with pytest.raises(OutboundError):
        await client().request("GET", url, tls=TlsOptions(ca=ca_pem))


async def test_ssl_contexts_are_built_once_per_tls_settings(aiohttp_server, client, ca, ca_pem):
    server = await serve_https(aiohttp_server, ca)
    outbound = client()
    for _ in range(3):
        await outbound.request("GET", str(server.make_url("/echo")), tls=TlsOptions(ca=ca_pem))
    await outbound.request("GET", str(server.make_url("/echo")), tls=TlsOptions(verification_mode="none"))
    assert len(outbound._ssl_contexts) == 2


async def test_bad_tls_settings_are_an_outbound_error(client):
    with pytest.raises(OutboundError, match=r"^invalid TLS settings"):
        await client().request("GET", "https://127.0.0.1/", tls=TlsOptions(ca="not a certificate"))


# retries


def failing_first(times: int, status: int, hits: list[str], retry_after: str | None = None) -> Any:
    """Answers ``status`` (with ``Retry-After``) to the first ``times`` calls, then echoes."""

    async def handler(request: web.Request) -> web.StreamResponse:
        hits.append(request.method)
        if len(hits) <= times:
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            return web.json_response({"error": "busy"}, status=status, headers=headers)
        return await echo(request)

    return handler


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_an_idempotent_call_is_retried_on_busy_statuses(aiohttp_server, client, status):
    hits: list[str] = []
    server = await serve(aiohttp_server, {"/flaky": failing_first(2, status, hits, retry_after="0")})

    response = await client().request("PUT", str(server.make_url("/flaky")), json={"a": 1}, retry=IDEMPOTENT)

    assert (response.status, hits) == (200, ["PUT", "PUT", "PUT"])


async def test_retries_stop_after_the_attempts_and_return_the_last_answer(aiohttp_server, client):
    hits: list[str] = []
    server = await serve(aiohttp_server, {"/down": failing_first(10, 503, hits, retry_after="0")})

    response = await client().request("GET", str(server.make_url("/down")), retry=Retry(attempts=2))

    assert (response.status, len(hits)) == (503, 2)


async def test_a_create_is_retried_on_429_only(aiohttp_server, client):
    limited: list[str] = []
    failed: list[str] = []
    server = await serve(
        aiohttp_server,
        {
            "/limited": failing_first(1, 429, limited, retry_after="0"),
            "/failed": failing_first(1, 500, failed),
        },
    )

    ok = await client().request("POST", str(server.make_url("/limited")), json={}, retry=RATE_LIMITED)
    bad = await client().request("POST", str(server.make_url("/failed")), json={}, retry=RATE_LIMITED)

    assert (ok.status, limited) == (200, ["POST", "POST"])
    assert (bad.status, failed) == (500, ["POST"])


async def test_without_a_retry_policy_a_call_is_made_once(aiohttp_server, client):
    hits: list[str] = []
    server = await serve(aiohttp_server, {"/flaky": failing_first(1, 503, hits, retry_after="0")})

    response = await client().request("GET", str(server.make_url("/flaky")))

    assert (response.status, hits) == (503, ["GET"])


def test_the_delay_follows_retry_after_in_seconds_or_as_a_date_within_the_cap():
    policy = Retry(backoff=0.5, max_delay=30)
    in_ten = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=10), usegmt=True)

    assert policy.delay(1, "7") == 7
    assert 8 <= policy.delay(1, in_ten) <= 10
    assert policy.delay(1, "3600") == 30
    assert policy.delay(1, "soon") == 0.5
    assert [policy.delay(attempt, None) for attempt in (1, 2, 3)] == [0.5, 1.0, 2.0]


# --- Retry-After ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("30", 30.0),
        ("1.5", 1.5),
        ("-4", 0.0),
        ("inf", None),
        ("soon", None),
        (email.utils.format_datetime(datetime.now(UTC) - timedelta(minutes=5), usegmt=True), 0.0),
    ],
    ids=["none", "seconds", "fraction", "negative", "infinite", "garbage", "past-date"],
)
def test_retry_after_reads_seconds_or_an_http_date(header, seconds):
    headers = CIMultiDict({"Retry-After": header} if header else {})
    response = OutboundResponse("GET", "https://example.com", 429, CIMultiDictProxy(headers), b"")

    assert response.retry_after == seconds


def test_retry_after_reads_a_future_http_date():
    moment = email.utils.format_datetime(datetime.now(UTC) + timedelta(minutes=2), usegmt=True)
    headers = CIMultiDictProxy(CIMultiDict({"Retry-After": moment}))

    assert 100 < OutboundResponse("GET", "https://j", 503, headers, b"").retry_after <= 120
