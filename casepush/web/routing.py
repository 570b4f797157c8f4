"""Every API path exists bare (space ``default``) and under ``/s/{space_id}``, as in Kibana."""

from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SPACE_PREFIX = "/s/{space_id}"


class Routes:
    """Collects handlers of one API area with decorators; ``apply`` registers both path forms, or
    only the bare one when ``spaced`` is false (Elasticsearch's paths, the status page)."""

    def __init__(self, spaced: bool = True) -> None:
        self.spaced = spaced
        self._routes: list[tuple[str, str, Handler]] = []

    def _add(self, method: str, path: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._routes.append((method, path, handler))
            return handler

        return register

    def get(self, path: str) -> Callable[[Handler], Handler]:
        return self._add("GET", path)

    def post(self, path: str) -> Callable[[Handler], Handler]:
        return self._add("POST", path)

    def put(self, path: str) -> Callable[[Handler], Handler]:
        return self._add("PUT", path)

    def patch(self, path: str) -> Callable[[Handler], Handler]:
        return self._add("PATCH", path)

    def delete(self, path: str) -> Callable[[Handler], Handler]:
        return self._add("DELETE", path)

    def apply(self, app: web.Application) -> None:
        for method, path, handler in self._routes:
            app.router.add_route(method, path, handler)
            if self.spaced:
                app.router.add_route(method, SPACE_PREFIX + path, handler)
