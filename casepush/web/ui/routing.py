"""The UI's routes: like the API's, served bare (space ``default``) and under ``/s/{space_id}``, but kept
out of the OpenAPI document; a domain error becomes an error page rather than a JSON body."""

import functools
from collections.abc import Callable

from aiohttp import web

from casepush.errors import KibanaError
from casepush.web.routing import SPACE_PREFIX, Handler
from casepush.web.ui.render import error_page


def _as_page(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def page(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except KibanaError as exc:
            return await error_page(request, exc.status, exc.message)

    return page


class Pages:
    def __init__(self) -> None:
        self.routes: list[tuple[str, str, Handler]] = []

    def add(self, method: str, path: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append((method, path, _as_page(handler)))
            return handler

        return register

    def get(self, path: str) -> Callable[[Handler], Handler]:
        return self.add("GET", path)

    def post(self, path: str) -> Callable[[Handler], Handler]:
        return self.add("POST", path)

    def apply(self, app: web.Application) -> None:
        for method, path, handler in self.routes:
            for served in (path, SPACE_PREFIX + path):
                app.router.add_route(method, served, handler)
