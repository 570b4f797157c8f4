"""A fake target for both webhook types, on a real socket (plain or TLS with client certificates).

- ``/api/issues...``: a small case-management API for ``.cases-webhook`` templates: create
  (``{"data": {"id": ...}}``, so the id is read by a dotted path), read by GET or by POST to
  ``/api/issues/_search`` (``{"fields": {"key": "T-1"}}``), update (a 204) and comments;
- ``/hook``: a ``.webhook`` receiver that verifies ``X-Casepush-Signature`` when it knows the secret.

It checks Basic auth when given ``credentials``; ``fail_next`` answers a canned response instead (to
any request, or only to those of one ``"METHOD /path"``).
"""

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

from casepush.testing import FakeService, Recorded, basic_auth

USER, PASSWORD = "hook-user", "hook-password-value"


@dataclass(frozen=True)
class Canned:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    def response(self) -> web.Response:
        response = web.Response(status=self.status, body=self.body, headers=dict(self.headers))
        if self.content_type:
            response.headers["Content-Type"] = self.content_type
        return response


def answer(status: int, body: Any, content_type: str | None = "application/json", **headers: str) -> Canned:
    """A canned JSON answer; ``headers`` with ``_`` for ``-`` (``Retry_After="5"``)."""
    named = tuple((name.replace("_", "-"), value) for name, value in headers.items())
    return Canned(status, msgspec.json.encode(body), content_type, named)


def verify_signature(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """What a receiver does (the README's recipe): recompute the HMAC of ``<t>.<body>``, compare in
    constant time, and refuse a timestamp too far from now."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    timestamp, received = parts.get("t", ""), parts.get("v1", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received)


@dataclass
class FakeTarget:
    service: FakeService
    credentials: tuple[str, str] | None = None
    signing_secret: str | None = None
    #: What ``/hook`` answers (``None``: an empty 204).
    hook_answer: Canned | None = None
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    comments: list[tuple[str, Any]] = field(default_factory=list)
    _failures: list[tuple[str | None, Canned]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.service.app.middlewares.extend([self._authenticate, self._fail])
        for method, path, handler in [
            ("POST", "/api/issues", self._create),
            ("POST", "/api/issues/_search", self._search),
            ("GET", "/api/issues/{id}", self._get),
            ("PUT", "/api/issues/{id}", self._update),
            ("POST", "/api/issues/{id}/comments", self._comment),
            ("POST", "/hook", self._hook),
            ("PUT", "/hook", self._hook),
        ]:
            self.service.app.router.add_route(method, path, handler)

    async def start(self) -> "FakeTarget":
        await self.service.start()
        return self

    @property
    def url(self) -> str:
        return self.service.url

    @property
    def requests(self) -> list[Recorded]:
        return self.service.requests

    def calls(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]

    def fail_next(self, canned: Canned, times: int = 1, call: str | None = None) -> None:
        """Answer ``canned`` to the next ``times`` requests (only those of ``call``, ``"PUT /hook"``)."""
        self._failures.extend([(call, canned)] * times)

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.credentials and request.headers.get("Authorization") != basic_auth(*self.credentials):
            return web.json_response({"error": "unauthorized"}, status=401)
        return await handler(request)

    @web.middleware
    async def _fail(self, request: web.Request, handler: Any) -> web.StreamResponse:
        call = f"{request.method} {request.path}"
        for index, (only, canned) in enumerate(self._failures):
            if only in (None, call):
                del self._failures[index]
                return canned.response()
        return await handler(request)

    async def _create(self, request: web.Request) -> web.Response:
        fields = await request.json()
        issue_id = str(100 + len(self.issues))
        self.issues[issue_id] = {"key": f"T-{len(self.issues) + 1}", **fields}
        return web.json_response({"data": {"id": int(issue_id)}}, status=201)

    def _issue(self, issue_id: str) -> web.Response:
        if issue_id not in self.issues:
            return web.json_response({"error": "no such issue"}, status=404)
        return web.json_response({"fields": self.issues[issue_id]})

    async def _get(self, request: web.Request) -> web.Response:
        return self._issue(request.match_info["id"])

    async def _search(self, request: web.Request) -> web.Response:
        return self._issue(str((await request.json())["id"]))

    async def _update(self, request: web.Request) -> web.Response:
        issue_id = request.match_info["id"]
        if issue_id not in self.issues:
            return web.json_response({"error": "no such issue"}, status=404)
        self.issues[issue_id].update(await request.json())
        return web.Response(status=204)

    async def _comment(self, request: web.Request) -> web.Response:
        self.comments.append((request.match_info["id"], await request.json()))
        return web.json_response({"ok": True}, status=201)

    async def _hook(self, request: web.Request) -> web.Response:
        if self.signing_secret:
            header = request.headers.get("X-Casepush-Signature", "")
            if not verify_signature(self.signing_secret, header, await request.read()):
                return web.json_response({"error": "bad signature"}, status=401)
        return self.hook_answer.response() if self.hook_answer else web.Response(status=204)
