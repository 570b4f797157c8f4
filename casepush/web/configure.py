"""Handlers of ``/api/cases/configure``."""

from aiohttp import web

from casepush.domain import configure
from casepush.types import Configuration, CreateConfiguration, PatchConfiguration, as_list
from casepush.web import decode, responses
from casepush.web.cases import OwnerQuery
from casepush.web.routing import Routes
from casepush.web.state import context

routes = Routes("configuration")


@routes.get("/api/cases/configure", query=OwnerQuery, response=list[Configuration], errors=(403,))
async def get_configurations(request: web.Request) -> web.Response:
    """Get the cases configuration of each owner the caller may read."""
    params = decode.query(request, OwnerQuery)
    return responses.json(await configure.get(context(request), as_list(params.owner)))


@routes.post("/api/cases/configure", body=CreateConfiguration, response=Configuration, errors=(403,))
async def create_configuration(request: web.Request) -> web.Response:
    """Set an owner's cases configuration, replacing any it had."""
    body = await decode.body(request, CreateConfiguration)
    return responses.json(await configure.create(context(request), body))


@routes.patch(
    "/api/cases/configure/{configuration_id}",
    body=PatchConfiguration,
    response=Configuration,
    errors=(403, 404, 409),
)
async def update_configuration(request: web.Request) -> web.Response:
    """Update a cases configuration."""
    body = await decode.body(request, PatchConfiguration)
    found = await configure.update(context(request), request.match_info["configuration_id"], body)
    return responses.json(found)
