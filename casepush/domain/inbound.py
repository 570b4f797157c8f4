"""The inbound webhook of two-way sync: ``POST [/s/{space_id}]/api/casepush/connectors/{id}/inbound``.

The external system calls it (a Jira webhook, a ServiceNow business rule, whatever sends ``.webhook``'s
signed documents), never with casepush credentials: the connector's inbound secret authenticates each
call, as its type says (``inbound_auth``). Checked in this order, each refusal changing nothing:

- 404: no such connector, or it takes no calls (no inbound secret set), in the same words either way;
- 429: more calls to this connector than its rate (``Retry-After`` says when to call again);
- 413: a body larger than the limit;
- 401: unsigned, wrongly signed, or the wrong token;
- 400: a body the plugin refuses, or a call sent too long ago (or too far ahead: a replay).

Then the changes are applied (``casepush.domain.sync``), each once, and the call answers how many were
applied and ignored. The connector's sync state records when the last call came and its error.
"""

import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from casepush.connectors import Connector, ConnectorError, InboundCall, InboundRefused
from casepush.domain import Context, parse_iso, sync
from casepush.domain.case_sync import inbound_secret_owner, receives
from casepush.domain.connectors import ConnectorRuntime, MissingSecrets, load
from casepush.errors import KibanaError, bad_request, not_found
from casepush.http import OutboundError
from casepush.security.secrets import SecretsUnavailable
from casepush.types import InboundResult

log = logging.getLogger(__name__)

NOT_FOUND = "Not Found"


@dataclass(frozen=True)
class InboundLimits:
    #: The largest body taken, in bytes.
    max_bytes: int
    #: Calls per second per connector, on average; ten seconds' worth may come at once.
    rate: float
    #: Seconds a call may be older (or newer, for clocks apart) than now.
    max_age: float


class RateLimiter:
    """A token bucket per connector, on this instance: ``rate`` calls a second, ``burst`` at once."""

    def __init__(self, rate: float, burst: float):
        self.rate, self.burst = rate, burst
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def take(self, key: tuple[str, str]) -> float | None:
        """Count a call; None when it may go, else the seconds until one may."""
        now = time.monotonic()
        tokens, then = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate
        self._buckets[key] = (tokens - 1, now)
        return None


class InboundWebhooks:
    """Takes the calls of every connector's inbound webhook (one per app)."""

    def __init__(self, rt: ConnectorRuntime, limits: InboundLimits):
        self.rt, self.limits = rt, limits
        self.limiter = RateLimiter(limits.rate, limits.rate * 10)

    async def receive(
        self,
        ctx: Context,
        connector_id: str,
        headers: Mapping[str, str],
        read_body: Callable[[int], Awaitable[bytes]],
    ) -> InboundResult:
        """One call: ``ctx`` acts in the call's space for the system; ``read_body(limit)`` reads the
        body once the call may go on, refusing one over ``limit`` bytes with a 413."""
        async with ctx.read() as tx:
            stored = await tx.get_connector(ctx.space_id, connector_id)
            sealed = await tx.get_inbound_secret(ctx.space_id, connector_id) if stored else None
        if stored is None or sealed is None:
            raise not_found(NOT_FOUND)
        if (wait := self.limiter.take((ctx.space_id, connector_id))) is not None:
            self.rt.metrics.observe_sync_call(stored.type_id, 429)
            seconds = max(1, round(wait + 0.5))
            raise KibanaError(
                429,
                f"Too many calls of connector {connector_id}'s inbound webhook:"
                f" try again in {seconds} seconds",
                headers={"Retry-After": str(seconds)},
            )
        try:
            connector = await load(ctx, self.rt, connector_id)
            secret = self.rt.secrets.open(inbound_secret_owner(ctx.space_id, connector_id), sealed)["secret"]
        except (MissingSecrets, SecretsUnavailable):
            log.error(
                "inbound webhook of %s: its secrets are sealed with a key this instance lacks", connector_id
            )
            raise KibanaError(
                503, "The connector's secrets cannot be read: the encryption key is missing"
            ) from None
        if not receives(self.rt, connector.type):
            raise not_found(NOT_FOUND)
        try:
            result = await self._take(ctx, connector, secret, headers, read_body)
        except KibanaError as exc:
            await self._note(ctx, connector_id, exc.message)
            self.rt.metrics.observe_sync_call(connector.type.id, exc.status)
            log.warning("inbound webhook of %s refused (%s): %s", connector_id, exc.status, exc.message)
            raise
        await self._note(ctx, connector_id, None)
        self.rt.metrics.observe_sync_call(connector.type.id, 200)
        return result

    async def _take(
        self,
        ctx: Context,
        connector: Connector,
        secret: str,
        headers: Mapping[str, str],
        read_body: Callable[[int], Awaitable[bytes]],
    ) -> InboundResult:
        body = await read_body(self.limits.max_bytes)
        sent_at = verify(connector.type.inbound_auth, secret, headers, body, self.limits.max_age)
        async with ctx.read() as tx:
            wanted = await sync.syncing(tx, ctx.space_id, connector)
        try:
            inbound = await self.rt.plugins.parse_inbound(
                connector, InboundCall(headers, body), wanted.options, self.rt.http
            )
        except InboundRefused as exc:
            raise bad_request(exc.message) from None
        except (ConnectorError, OutboundError) as exc:
            raise KibanaError(502, f"Could not read the call: {exc.message}") from None
        _fresh(inbound.sent_at or sent_at, self.limits.max_age)
        judged = await sync.apply(ctx, self.rt, wanted, inbound.changes, "webhook")
        return InboundResult(applied=judged.applied, ignored=judged.ignored + judged.conflicted)

    async def _note(self, ctx: Context, connector_id: str, error: str | None) -> None:
        async with ctx.store.write() as tx:
            await tx.note_inbound(ctx.space_id, connector_id, int(time.time() * 1000), error)


# --- authentication ------------------------------------------------------------------------------------


def verify(
    how: str | None, secret: str, headers: Mapping[str, str], body: bytes, max_age: float
) -> str | None:
    """Check a call's authentication (a 401 when it fails); the time it was signed, when it says."""
    if how == "hub-signature":
        _signed(headers.get("X-Hub-Signature"), "X-Hub-Signature", "sha256=", _hmac(secret, body))
        return None
    if how == "bearer":
        given = headers.get("Authorization", "")
        if not given.startswith("Bearer "):
            raise KibanaError(401, "Missing Authorization: Bearer header")
        if not hmac.compare_digest(given.removeprefix("Bearer ").encode(), secret.encode()):
            raise KibanaError(401, "Invalid bearer token")
        return None
    if how == "casepush-signature":
        header = headers.get("X-Casepush-Signature")
        parts = dict(part.split("=", 1) for part in (header or "").split(",") if "=" in part)
        stamp = parts.get("t", "")
        if not stamp.isdigit():
            raise KibanaError(401, "Missing or malformed X-Casepush-Signature header")
        signed_at = datetime.fromtimestamp(int(stamp), UTC).isoformat()
        _fresh(signed_at, max_age)
        expected = _hmac(secret, stamp.encode() + b"." + body)
        _signed(parts.get("v1"), "X-Casepush-Signature", "", expected)
        return signed_at
    raise KibanaError(401, "The connector's type names no way to authenticate its calls")


def _hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _signed(given: str | None, header: str, prefix: str, expected: str) -> None:
    if not given:
        raise KibanaError(401, f"Missing {header} header")
    if not given.startswith(prefix) or not hmac.compare_digest(given.removeprefix(prefix).lower(), expected):
        raise KibanaError(
            401, f"Invalid {header}: the body is not signed with the connector's inbound secret"
        )


def _fresh(sent_at: str | None, max_age: float) -> None:
    """Refuse a call sent longer ago than ``max_age`` (a replay), or as far ahead."""
    if sent_at is None:
        return
    try:
        age = time.time() - parse_iso(sent_at).timestamp()
    except ValueError:
        raise bad_request(f"Unreadable time of the call: {sent_at!r}") from None
    if abs(age) > max_age:
        raise bad_request(
            f"Refused a call sent at {sent_at}: more than {max_age:g} seconds from now (a replay?)"
        )
