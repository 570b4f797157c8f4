"""JSON responses encoded by msgspec."""

from typing import Any

from aiohttp import web

from casepush.types import encode


def json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=encode(obj), status=status, content_type="application/json")


def no_content() -> web.Response:
    return web.Response(status=204)
