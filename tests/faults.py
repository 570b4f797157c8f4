"""Faults of an external system, injected into the plugins' fake servers (fake Jira, fake webhook target).

A ``Saboteur`` is a middleware appended to a fake's app before it starts: it sits closest to the routes,
so that the fake's own checks still run, and makes matching requests fail in one of these ways:

- ``answer``: a canned response instead of the fake's (the external system did nothing);
- ``reset``: the connection is reset in the middle of the response;
- ``hang``: no answer at all, until the caller gives up (its timeout);

``acted=True`` lets the fake handle the request first, so that the failure hides work that was done
(an incident created whose answer never arrived): what a push must recover from without a duplicate.
``max_latency`` slows every request down by a random delay (a slow external system).
"""

import asyncio
import random
import re
import socket
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

#: The Location of a redirect to a host the tests never allow.
DISALLOWED_HOST = "evil.example.com"
TEN_MB = 10 * 1024 * 1024


@dataclass(frozen=True)
class Sabotage:
    """What the fake does to a matching request; ``name`` counts it in reports."""

    name: str
    kind: str  # "answer" | "reset" | "hang"
    acted: bool = False
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    def response(self) -> web.Response:
        return web.Response(status=self.status, body=self.body, headers=dict(self.headers))


def answer(name: str, status: int, body: Any = b"", acted: bool = False, **headers: str) -> Sabotage:
    """A canned answer; ``body`` is bytes as given, anything else JSON (then the JSON content type)."""
    if not isinstance(body, bytes):
        body, headers = msgspec.json.encode(body), {"Content-Type": "application/json", **headers}
    return Sabotage(name, "answer", acted, status, body, tuple(headers.items()))


def rate_limited(retry_after: str = "0") -> Sabotage:
    return answer(
        "429", 429, {"errorMessages": ["Rate limit exceeded."], "errors": {}}, **{"Retry-After": retry_after}
    )


def server_error(status: int, acted: bool = False) -> Sabotage:
    """A proxy's HTML error page; ``Retry-After: 0``, so that the retries of idempotent calls are quick."""
    page = f"<html><body><h1>{status}</h1>Bad gateway.</body></html>".encode()
    headers = {"Content-Type": "text/html", "Retry-After": "0"}
    return answer(str(status), status, page, acted, **headers)


def not_json(acted: bool = False) -> Sabotage:
    return answer("invalid-json", 200, b'{"id": "1', acted, **{"Content-Type": "application/json"})


def wrong_content_type(acted: bool = False) -> Sabotage:
    return answer("wrong-content-type", 200, b"<html>Log in</html>", acted, **{"Content-Type": "text/html"})


def huge(acted: bool = False) -> Sabotage:
    """A 10 MB JSON answer, beyond any sensible ``max_response_bytes``."""
    body = b'{"pad": "' + b"x" * TEN_MB + b'"}'
    return answer("10mb", 200, body, acted, **{"Content-Type": "application/json"})


def redirect_away(path: str = "/") -> Sabotage:
    return answer("redirect", 307, b"", Location=f"http://{DISALLOWED_HOST}{path}")


def reset(acted: bool = False) -> Sabotage:
    return Sabotage("reset", "reset", acted)


def hang(acted: bool = False) -> Sabotage:
    return Sabotage("hang", "hang", acted)


@dataclass
class _Armed:
    sabotage: Sabotage
    method: str | None
    path: str | None
    times: float

    def matches(self, request: web.Request) -> bool:
        """The method, and the whole path against ``path`` (a regular expression)."""
        return self.method in (None, request.method) and (
            self.path is None or re.fullmatch(self.path, request.path) is not None
        )


@dataclass
class Saboteur:
    """The middleware; ``arm`` a sabotage for the next matching requests, or ``at_random`` for every one."""

    armed: list[_Armed] = field(default_factory=list)
    #: Sabotages made, by name.
    made: Counter = field(default_factory=Counter)
    #: Each request is sabotaged with this probability, by one of ``choices`` (see ``at_random``).
    rate: float = 0.0
    choices: tuple[Sabotage, ...] = ()
    rng: random.Random = field(default_factory=random.Random)
    #: Every request waits up to this many seconds first (a slow external system), when not 0.
    max_latency: float = 0.0
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def install(self, app: web.Application) -> "Saboteur":
        app.middlewares.append(self.middleware)
        return self

    def arm(self, sabotage: Sabotage, method: str | None = None, path: str | None = None, times: float = 1):
        self.armed.append(_Armed(sabotage, method, path, times))

    def at_random(self, rate: float, *choices: Sabotage, seed: int | None = None) -> None:
        self.rate, self.choices, self.rng = rate, choices, random.Random(seed)

    def calm(self) -> None:
        """No more faults; requests left hanging are let go."""
        self.armed.clear()
        self.rate = 0.0
        self.max_latency = 0.0
        self.released.set()

    def total(self) -> int:
        return sum(self.made.values())

    def _pick(self, request: web.Request) -> Sabotage | None:
        for armed in self.armed:
            if armed.matches(request):
                armed.times -= 1
                if armed.times <= 0:
                    self.armed.remove(armed)
                return armed.sabotage
        if self.rate and self.rng.random() < self.rate:
            return self.rng.choice(self.choices)
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        if self.max_latency:
            await asyncio.sleep(self.rng.uniform(0, self.max_latency))
        sabotage = self._pick(request)
        if sabotage is None:
            return await handler(request)
        self.made[sabotage.name] += 1
        response = await handler(request) if sabotage.acted else None
        if sabotage.kind == "hang":
            await self.released.wait()  # the caller has given up long before
            return web.Response(status=504)
        if sabotage.kind == "reset":
            return await _reset_midway(request, response)
        return sabotage.response()


async def _reset_midway(request: web.Request, response: web.StreamResponse | None) -> web.StreamResponse:
    """Send the status line, headers and half the body, then reset the connection (RST, not FIN)."""
    body = getattr(response, "body", None)
    # A status without a body (a 204) would be a whole answer: then a 200 with some JSON is cut instead.
    status = response.status if body else 200
    body = body or b'{"errorMessages": [], "id": "0"}'
    midway = web.StreamResponse(status=status)
    midway.content_type = "application/json"
    midway.content_length = len(body)
    await midway.prepare(request)
    await midway.write(body[: len(body) // 2])
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport else None
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if transport is not None:
        transport.abort()
    return midway
