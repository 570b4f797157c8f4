"""Handlers of Kibana's Spaces API, ``/api/spaces/space``."""

from typing import Literal

import msgspec
from aiohttp import web

from casepush.domain import spaces
from casepush.types import Space
from casepush.web import decode, responses
from casepush.web.routing import Routes
from casepush.web.state import context

routes = Routes("spaces")

body_messages = decode.config_schema_message("request body")


class ListSpacesQuery(msgspec.Struct, forbid_unknown_fields=True):
    #: Kibana narrows the list by what the caller may do in each space; casepush has one answer for all.
    purpose: Literal["any", "copySavedObjectsIntoSpace", "shareSavedObjectsIntoSpace"] = "any"


@routes.get("/api/spaces/space", query=ListSpacesQuery, response=list[Space], errors=(403,))
async def list_spaces(request: web.Request) -> web.Response:
    """List the spaces the caller holds any privilege in."""
    decode.query(request, ListSpacesQuery, decode.config_schema_message("request query"))
    return responses.json(await spaces.list_spaces(context(request)))


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
