"""Handlers of ``/api/cases/configure``."""

from aiohttp import web

from casepush.domain import configure
from casepush.types import CreateConfiguration, PatchConfiguration, as_list
from casepush.web import decode, responses
from casepush.web.cases import OwnerQuery
from casepush.web.routing import Routes
from casepush.web.state import context

routes = Routes()


@routes.get("/api/cases/configure")
async def get_configurations(request: web.Request) -> web.Response:
    params = decode.query(request, OwnerQuery)
    return responses.json(await configure.get(context(request), as_list(params.owner)))


@routes.post("/api/cases/configure")
async def create_configuration(request: web.Request) -> web.Response:
    body = await decode.body(request, CreateConfiguration)
    return responses.json(await configure.create(context(request), body))


@routes.patch("/api/cases/configure/{configuration_id}")
async def update_configuration(request: web.Request) -> web.Response:
    body = await decode.body(request, PatchConfiguration)
    found = await configure.update(context(request), request.match_info["configuration_id"], body)
    return responses.json(found)
