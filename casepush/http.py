"""The outbound HTTP client the core hands to connector plugins, with Kibana's ``xpack.actions`` rules.

Plugins never open their own session: every call goes through :class:`OutboundClient`, which checks the
target (and every redirect target) against ``allowed_hosts`` before connecting, runs under one deadline,
reads at most ``max_response_bytes`` and turns any failure into an :class:`OutboundError` whose message is
worded like axios' (what Kibana's connectors show) and never contains the call's credentials.
"""

import asyncio
import copy
import email.message
import email.utils
import errno
import math
import socket
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

import aiohttp
import msgspec
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from casepush.config import Settings
from casepush.guards import ensure_outside_write_transaction
from casepush.metrics import Metrics

MAX_REDIRECTS = 10
_SCHEMES = ("http", "https")
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Redirects after which the next request is a GET without body (307 and 308 keep method and body).
_REDIRECTS_TO_GET = frozenset({301, 302, 303})
#: Headers that go only to the host they were meant for (follow-redirects drops them on another host).
_CREDENTIAL_HEADERS = ("Authorization", "Proxy-Authorization", "Cookie")
#: aiohttp's own timeouts stay off, or the session's defaults could cut a call short: the call's one
#: deadline (``asyncio.timeout``) covers connecting, every redirect and reading the body.
_NO_AIOHTTP_TIMEOUT = aiohttp.ClientTimeout()
VerificationMode = Literal["full", "certificate", "none"]
_NOT_ALLOWED = "is not added to the Kibana config xpack.actions.allowedHosts"


@dataclass(frozen=True)
class TlsOptions:
    """One connector's TLS settings; ``None`` verification mode means the client's default from settings."""

    verification_mode: VerificationMode | None = None
    #: PEM of CA certificates to trust besides the system's.
    ca: str | None = None
    #: PEM client certificate, with its PEM private ``key`` (encrypted with ``passphrase``, if any).
    certificate: str | None = None
    key: str | None = None
    passphrase: str | None = None


class OutboundError(Exception):
    """A failed outbound call; ``message`` is the text a connector shows."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class HostNotAllowed(OutboundError):
    """The target host is not in ``allowed_hosts``; nothing was sent to it."""


class ResponseTooLarge(OutboundError):
    """The response body passed ``max_response_bytes``; the rest was not read."""


def ensure_url_allowed(url: str, allowed_hosts: Sequence[str]) -> None:
    """Refuse a URL whose host is not allowed, as Kibana's ``ensureUriAllowed``.

    ``"*"`` allows any host, but a URL that is not http(s) or names no host is refused even then.
    """
    try:
        parsed = URL(url)
    except ValueError:
        parsed = None
    if (
        parsed is None
        or parsed.scheme not in _SCHEMES
        or not parsed.host
        or not _is_allowed(parsed.host, allowed_hosts)
    ):
        shown = str(parsed.with_password(None)) if parsed is not None and parsed.password else url
        raise HostNotAllowed(f'target url "{shown}" {_NOT_ALLOWED}')


def ensure_hostname_allowed(hostname: str, allowed_hosts: Sequence[str]) -> None:
    """Refuse a hostname that is not allowed, as Kibana's ``ensureHostnameAllowed``."""
    if not _is_allowed(hostname, allowed_hosts):
        raise HostNotAllowed(f'target hostname "{hostname}" {_NOT_ALLOWED}')


def _is_allowed(hostname: str, allowed_hosts: Sequence[str]) -> bool:
    return "*" in allowed_hosts or hostname.lower() in (host.lower() for host in allowed_hosts)


def create_session() -> aiohttp.ClientSession:
    """The session to give an :class:`OutboundClient`.

    It keeps no cookies, as axios: with a shared cookie jar one connector's cookies would be sent with
    another connector's calls to the same host.
    """
    return aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())


@dataclass(frozen=True)
class Retry:
    """When a call is made again: on these statuses (and, if ``on_failure``, when no answer came), at
    most ``attempts`` times in all, after the server's ``Retry-After`` or an exponential backoff.

    Use ``IDEMPOTENT`` for calls that may safely run twice (GET, PUT of the same fields, DELETE) and
    ``RATE_LIMITED`` for the others (a create, a comment): a 429 means the server did not act on the
    request, while after a 5xx or a lost answer it may have, so those are not repeated.
    """

    attempts: int = 3
    statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    on_failure: bool = True
    backoff: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before the next attempt: ``Retry-After`` (seconds or an HTTP date) when given."""
        wait = _seconds_until(retry_after) if retry_after else None
        if wait is None:
            wait = self.backoff * 2 ** (attempt - 1)
        return min(max(wait, 0.0), self.max_delay)


def _seconds_until(retry_after: str) -> float | None:
    try:
        return float(retry_after)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(retry_after)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - datetime.now(UTC)).total_seconds()


IDEMPOTENT = Retry()
RATE_LIMITED = Retry(statuses=frozenset({429}), on_failure=False)


@dataclass(frozen=True)
class OutboundResponse:
    """A response read in full, whatever its status: connectors word their own errors."""

    method: str
    url: str
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def content_type(self) -> str:
        """The media type, lower-case and without parameters (``""`` when the server sent none)."""
        return self.headers.get("Content-Type", "").partition(";")[0].strip().lower()

    def text(self) -> str:
        """The body decoded with the declared charset (UTF-8 when none or unknown), never failing."""
        header = email.message.Message()
        header["Content-Type"] = self.headers.get("Content-Type", "")
        try:
            return self.body.decode(header.get_content_charset() or "utf-8", errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; raises ``ValueError`` (``msgspec.DecodeError``) when it is not."""
        return msgspec.json.decode(self.body)

    @property
    def retry_after(self) -> float | None:
        """The seconds the answer's ``Retry-After`` asks to wait (it gives seconds or an HTTP date; a date
        past is 0), or None without one or when it cannot be read."""
        value = self.headers.get("Retry-After", "").strip()
        seconds = _seconds_until(value) if value else None
        return max(seconds, 0.0) if seconds is not None and math.isfinite(seconds) else None


@dataclass(frozen=True)
class _Hop:
    """One request of a call; a redirect makes the next one from it."""

    method: str
    url: URL
    headers: CIMultiDictProxy[str]
    data: bytes | str | None

    def redirected(self, status: int, location: str, allowed_hosts: Sequence[str]) -> "_Hop":
        """The request a redirect asks for, built as follow-redirects (axios) does."""
        url = _redirect_target(self.url, location, allowed_hosts)
        method, data, headers = self.method, self.data, CIMultiDict(self.headers)
        if status in _REDIRECTS_TO_GET and method != "HEAD":
            method, data = "GET", None
            for name in {name for name in headers if name.lower().startswith("content-")}:
                del headers[name]
        if not _keeps_credentials(self.url, url):
            for name in _CREDENTIAL_HEADERS:
                headers.popall(name, None)
        return _Hop(method, url, CIMultiDictProxy(headers), data)


def _redirect_target(current: URL, location: str, allowed_hosts: Sequence[str]) -> URL:
    """The absolute URL a ``Location`` points to, refused before any connection if its host is not allowed."""
    try:
        url = current.join(URL(location))
    except ValueError:
        raise OutboundError("Invalid redirect location") from None
    if url.scheme not in _SCHEMES:
        raise OutboundError(f"Unsupported protocol {url.scheme}:")
    ensure_hostname_allowed(url.host or "", allowed_hosts)
    return url


def _keeps_credentials(current: URL, target: URL) -> bool:
    """Credentials follow a redirect to the same host and port only, and never from https down to http."""
    same_host = current.host == target.host and current.explicit_port == target.explicit_port
    return same_host and not (current.scheme == "https" and target.scheme == "http")


class OutboundClient:
    """The only way connector plugins reach the network: a shared session under Kibana's rules.

    With ``metrics``, every attempt is counted under the connector type the client was made for
    (``for_connector_type``).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        allowed_hosts: Sequence[str],
        timeout: float,
        max_response_bytes: int,
        verification_mode: VerificationMode = "full",
        metrics: Metrics | None = None,
    ) -> None:
        self.session = session
        self.allowed_hosts = tuple(allowed_hosts)
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.verification_mode = verification_mode
        self.metrics = metrics
        self.connector_type = "unknown"
        self._ssl_contexts: dict[TlsOptions, ssl.SSLContext] = {}

    @classmethod
    def from_settings(
        cls, session: aiohttp.ClientSession, settings: Settings, metrics: Metrics | None = None
    ) -> "OutboundClient":
        return cls(
            session,
            settings.allowed_hosts,
            settings.response_timeout,
            settings.max_response_bytes,
            settings.verification_mode,
            metrics,
        )

    def for_connector_type(self, connector_type: str) -> "OutboundClient":
        """This client (same session and TLS contexts), its calls counted under ``connector_type``."""
        labelled = copy.copy(self)
        labelled.connector_type = connector_type
        return labelled

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        auth: aiohttp.BasicAuth | None = None,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,
        tls: TlsOptions | None = None,
        retry: Retry | None = None,
    ) -> OutboundResponse:
        """Make one call, following its redirects, and return the response whatever its status.

        The deadline of each attempt is the longer of the client's timeout and ``timeout``, as
        Kibana's ``max(responseTimeout, timeout)``. Exceptions are raised ``from None`` because
        aiohttp's carry the request, credentials included. Without ``retry``, one attempt, as Kibana.
        """
        ensure_url_allowed(url, self.allowed_hosts)
        ensure_outside_write_transaction(lambda: f"{method} {URL(url).host}")
        hop = _first_hop(method, url, json=json, data=data, headers=headers, auth=auth, params=params)
        context = self._ssl_context(tls or TlsOptions())
        seconds = max(self.timeout, timeout or 0)
        attempt = 1
        while True:
            try:
                response = await self._attempt(hop, context, seconds, auth)
            except (HostNotAllowed, ResponseTooLarge):
                raise
            except OutboundError:
                if retry is None or not retry.on_failure or attempt >= retry.attempts:
                    raise
                wait = retry.delay(attempt, None)
            else:
                if retry is None or response.status not in retry.statuses or attempt >= retry.attempts:
                    return response
                wait = retry.delay(attempt, response.headers.get("Retry-After"))
            await asyncio.sleep(wait)
            attempt += 1

    async def _attempt(
        self, hop: "_Hop", context: ssl.SSLContext, seconds: float, auth: aiohttp.BasicAuth | None
    ) -> OutboundResponse:
        """One attempt, counted by its final status (after redirects), or as no answer when it fails."""
        try:
            response = await self._answer(hop, context, seconds, auth)
        except OutboundError:
            self._count(None)
            raise
        self._count(response.status)
        return response

    def _count(self, status: int | None) -> None:
        if self.metrics is not None:
            self.metrics.observe_external_request(self.connector_type, status)

    async def _answer(
        self, hop: "_Hop", context: ssl.SSLContext, seconds: float, auth: aiohttp.BasicAuth | None
    ) -> OutboundResponse:
        try:
            async with asyncio.timeout(seconds):
                return await self._follow(hop, context)
        except TimeoutError:
            raise OutboundError(f"timeout of {round(seconds * 1000)}ms exceeded") from None
        except aiohttp.ClientError as exc:
            raise OutboundError(_scrub(_describe(exc), _secrets(hop, auth))) from None

    async def _follow(self, hop: _Hop, context: ssl.SSLContext) -> OutboundResponse:
        """Send the request and those its redirects ask for, each target checked before connecting."""
        redirects = 0
        while True:
            async with self.session.request(
                hop.method,
                hop.url,
                data=hop.data,
                headers=hop.headers,
                ssl=context,
                allow_redirects=False,
                raise_for_status=False,
                timeout=_NO_AIOHTTP_TIMEOUT,
            ) as response:
                status, location = response.status, response.headers.get("Location")
                if status not in _REDIRECT_STATUSES or location is None:
                    body = await self._read(response)
                    return OutboundResponse(hop.method, str(hop.url), status, response.headers, body)
            redirects += 1
            if redirects > MAX_REDIRECTS:
                raise OutboundError("Maximum number of redirects exceeded")
            hop = hop.redirected(status, location, self.allowed_hosts)

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        """The body, given up as soon as it passes the limit: a huge or endless one never fills memory."""
        body = bytearray()
        async for chunk in response.content.iter_any():
            body += chunk
            if len(body) > self.max_response_bytes:
                raise ResponseTooLarge(f"maxContentLength size of {self.max_response_bytes} exceeded")
        return bytes(body)

    def _ssl_context(self, tls: TlsOptions) -> ssl.SSLContext:
        """The context for these settings, built once: building reads the system CA store and writes
        key files, and aiohttp pools connections per context."""
        tls = replace(tls, verification_mode=tls.verification_mode or self.verification_mode)
        if tls not in self._ssl_contexts:
            self._ssl_contexts[tls] = _build_ssl_context(tls)
        return self._ssl_contexts[tls]


def _first_hop(
    method: str,
    url: str,
    *,
    json: Any,
    data: bytes | str | None,
    headers: Mapping[str, str] | None,
    auth: aiohttp.BasicAuth | None,
    params: Mapping[str, str] | None,
) -> _Hop:
    """The call's first request. ``auth`` becomes a header here: aiohttp 3.14 deprecates its ``auth=``,
    and as a header it is dropped on redirects to another host like any other credential."""
    if json is not None and data is not None:
        raise ValueError("pass json or data, not both")
    sent = CIMultiDict(headers or {})
    if json is not None:
        data = msgspec.json.encode(json)
        sent.setdefault("Content-Type", "application/json")
    if auth is not None:
        sent["Authorization"] = auth.encode()
    return _Hop(method.upper(), URL(url).extend_query(params or {}), CIMultiDictProxy(sent), data)


def _build_ssl_context(tls: TlsOptions) -> ssl.SSLContext:
    """Kibana's verification modes: full checks chain and hostname, certificate the chain, none nothing."""
    context = ssl.create_default_context()
    try:
        if tls.ca:
            context.load_verify_locations(cadata=tls.ca)
        if tls.certificate:
            _load_client_certificate(context, tls)
    except (ssl.SSLError, ValueError) as exc:
        raise OutboundError(f"invalid TLS settings: {exc}") from None
    if tls.verification_mode != "full":
        context.check_hostname = False
    if tls.verification_mode == "none":
        context.verify_mode = ssl.CERT_NONE
    return context


def _load_client_certificate(context: ssl.SSLContext, tls: TlsOptions) -> None:
    """ssl reads a client certificate only from a file: write it with its key to a temporary file that
    only we can read (mkstemp's 0600) and that is removed as soon as it is loaded."""
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as pem:
        pem.write(f"{tls.certificate}\n{tls.key or ''}")
        pem.flush()
        context.load_cert_chain(pem.name, password=tls.passphrase)


def _describe(exc: aiohttp.ClientError) -> str:
    """Axios' wording for connection failures (``connect ECONNREFUSED host:port``), aiohttp's for the rest."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        error = exc.certificate_error
        reason = getattr(error, "verify_message", None) or str(error)
        return f"certificate verify failed for {exc.host}:{exc.port}: {reason}"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        code = "ENOTFOUND" if exc.os_error.errno == socket.EAI_NONAME else exc.os_error.strerror
        return f"getaddrinfo {code} {exc.host}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        reason = "ECONNREFUSED" if os_error.errno == errno.ECONNREFUSED else os_error.strerror or os_error
        return f"connect {reason} {exc.host}:{exc.port}"
    return str(exc) or type(exc).__name__


def _secrets(hop: _Hop, auth: aiohttp.BasicAuth | None) -> list[str]:
    """The call's credentials, whole and without their scheme word, longest first (see ``_scrub``)."""
    values = [
        value for name in ("Authorization", "Proxy-Authorization") for value in hop.headers.getall(name, [])
    ]
    found = {part for value in values for part in (value, value.partition(" ")[2])}
    found.update([auth.password if auth else "", hop.url.password or ""])
    return sorted(filter(None, found), key=len, reverse=True)


def _scrub(message: str, secrets: list[str]) -> str:
    """Hide credentials a server echoed into an error (aiohttp quotes a bad status line or header).

    Longest first, so that a short password inside a token cannot leave the rest of the token readable.
    """
    for secret in secrets:
        message = message.replace(secret, "[REDACTED]")
    return message
