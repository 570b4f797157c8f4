"""Every API path exists bare (space ``default``) and under ``/s/{space_id}``, as in Kibana.

Each route also records what its handler decodes and answers: ``casepush.web.openapi`` writes the
API's OpenAPI document from that.
"""

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partialmethod
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SPACE_PREFIX = "/s/{space_id}"
#: Two-way sync's inbound webhooks: external systems call them with the connector's inbound secret,
#: never with casepush credentials, and without Kibana's ``kbn-xsrf`` header.
_INBOUND_PATH = re.compile(r"^(?:/s/[^/]+)?/api/casepush/connectors/[^/]+/inbound$")


def is_inbound_path(path: str) -> bool:
    return _INBOUND_PATH.match(path) is not None


@dataclass(frozen=True)
class Route:
    """A method and path, its handler, and the types of what the handler decodes and answers."""

    method: str
    path: str
    handler: Handler
    #: The struct the query string is decoded into.
    query: type | None = None
    #: The JSON request body's type.
    body: Any = None
    #: The success body's type, or a tuple of types it is one of; none for a 204.
    response: Any = None
    #: The success body's media type (``text/plain`` for a ``str`` that is not JSON).
    media_type: str = "application/json"
    status: int = 200
    #: Error statuses the handler answers besides the middleware's: 400 on any route, 401 where
    #: credentials are needed, 404 for a space that does not exist.
    errors: tuple[int, ...] = ()
    #: Error statuses whose body is the success body's type, not an error (Elasticsearch's 404 for
    #: users and API keys looked up and not found).
    plain_statuses: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if (self.response is None) != (self.status == 204):
            raise ValueError(f"{self.method} {self.path}: every status but 204 answers a body")

    @property
    def summary(self) -> str:
        """The first line of the handler's docstring."""
        return (inspect.getdoc(self.handler) or "").partition("\n")[0]


class Routes:
    """Collects handlers of one API area (``tag``) with decorators; ``apply`` registers both path
    forms, or only the bare one when ``spaced`` is false (Elasticsearch's paths, the service's own).

    The decorators take ``Route``'s optional fields: ``@routes.post("/api/cases", body=CreateCase,
    response=Case)``.
    """

    def __init__(self, tag: str, spaced: bool = True) -> None:
        self.tag = tag
        self.spaced = spaced
        self.routes: list[Route] = []

    def add(self, method: str, path: str, **details: Any) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, path, handler, **details))
            return handler

        return register

    get = partialmethod(add, "GET")
    post = partialmethod(add, "POST")
    put = partialmethod(add, "PUT")
    patch = partialmethod(add, "PATCH")
    delete = partialmethod(add, "DELETE")

    def paths(self, route: Route) -> tuple[str, ...]:
        """The forms of the route's path that are served."""
        return (route.path, SPACE_PREFIX + route.path) if self.spaced else (route.path,)

    def apply(self, app: web.Application) -> None:
        for route in self.routes:
            for path in self.paths(route):
                app.router.add_route(route.method, path, route.handler)
