"""A local HTTP server that stands in for an external system and records what it is sent."""

from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


class FakeService:
    """Routes of a fake external system on a real socket; ``requests`` lists every call received.

    Build it with ``fake_service()`` from the fixture, add handlers with ``service.app.router`` (or the
    ``route`` decorator), then ``await service.start()`` for its base URL.
    """

    def __init__(self, aiohttp_server: Any):
        self._aiohttp_server = aiohttp_server
        self.requests: list[Recorded] = []
        self.app = web.Application(middlewares=[self._record])
        self.url = ""

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(Recorded(request.method, request.path_qs, dict(request.headers), body))
        return await handler(request)

    def route(self, method: str, path: str) -> Any:
        def register(handler: Any) -> Any:
            self.app.router.add_route(method, path, handler)
            return handler

        return register

    async def start(self) -> str:
        server = await self._aiohttp_server(self.app)
        self.url = str(server.make_url("")).rstrip("/")
        return self.url
