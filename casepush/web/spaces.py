"""Handlers of Kibana's Spaces API, ``/api/spaces/space``."""

import msgspec
from aiohttp import web

from casepush.domain import spaces
from casepush.errors import bad_request
from casepush.types import Space, SpaceWithPurposes
from casepush.web import decode, responses
from casepush.web.routing import Routes
from casepush.web.state import context

routes = Routes("spaces")

body_messages = decode.config_schema_message("request body")


class ListSpacesQuery(msgspec.Struct, forbid_unknown_fields=True):
    #: Which spaces to list: those the caller may use for this purpose (``any`` when left out).
    purpose: spaces.Purpose | None = None
    #: List every space the caller has some purpose in, each with its ``authorizedPurposes``.
    include_authorized_purposes: bool | None = None


@routes.get(
    "/api/spaces/space",
    query=ListSpacesQuery,
    response=(list[Space], list[SpaceWithPurposes]),
    errors=(403,),
)
async def list_spaces(request: web.Request) -> web.Response:
    """List the spaces the caller may use for a purpose (``any`` by default), or with their purposes.

    ``include_authorized_purposes=true`` lists every space the caller has some purpose in, each with its
    ``authorizedPurposes``.
    """
    params = decode.query(request, ListSpacesQuery, decode.config_schema_message("request query"))
    if params.purpose is not None and params.include_authorized_purposes:
        raise bad_request(
            "[request query]: include_authorized_purposes can only be false when purpose is specified"
        )
    found = await spaces.list_spaces(
        context(request), params.purpose or "any", bool(params.include_authorized_purposes)
    )
    return responses.json(found)


@routes.post("/api/spaces/space", body=Space, response=Space, errors=(403, 409))
async def create_space(request: web.Request) -> web.Response:
    """Create a space."""
    body = await decode.body(request, Space, body_messages)
    return responses.json(await spaces.create(context(request), body))


@routes.get("/api/spaces/space/{id}", response=Space, errors=(403, 404))
async def get_space(request: web.Request) -> web.Response:
    """Get a space."""
    return responses.json(await spaces.get(context(request), request.match_info["id"]))


@routes.put("/api/spaces/space/{id}", body=Space, response=Space, errors=(403, 404))
async def update_space(request: web.Request) -> web.Response:
    """Update a space; optional fields the body leaves out keep their value."""
    body = await decode.body(request, Space, body_messages)
    space = await spaces.update(context(request), request.match_info["id"], body)
    return responses.json(space)


@routes.delete("/api/spaces/space/{id}", status=204, errors=(403, 404))
async def delete_space(request: web.Request) -> web.Response:
    """Delete a space and everything in it."""
    await spaces.delete(context(request), request.match_info["id"])
    return responses.no_content()
