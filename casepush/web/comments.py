"""Handlers of ``/api/cases/{case_id}/comments``."""

import msgspec
from aiohttp import web

from casepush.domain import cases, comments
from casepush.types import AddComment, SortOrder, UpdateComment
from casepush.web import decode, responses
from casepush.web.routing import Routes
from casepush.web.state import context

routes = Routes()


class FindCommentsQuery(msgspec.Struct, forbid_unknown_fields=True):
    page: int = 1
    perPage: int = 20
    # Kibana passes no order to its saved-objects find, which then sorts ascending.
    sortOrder: SortOrder = "asc"


@routes.post("/api/cases/{case_id}/comments")
async def add_comment(request: web.Request) -> web.Response:
    body = await decode.body(request, AddComment)
    return responses.json(await comments.add(context(request), request.match_info["case_id"], body))


@routes.patch("/api/cases/{case_id}/comments")
async def update_comment(request: web.Request) -> web.Response:
    body = await decode.body(request, UpdateComment)
    return responses.json(await comments.update(context(request), request.match_info["case_id"], body))


@routes.delete("/api/cases/{case_id}/comments")
async def delete_all_comments(request: web.Request) -> web.Response:
    await comments.delete_all(context(request), request.match_info["case_id"])
    return responses.no_content()


@routes.get("/api/cases/{case_id}/comments")
async def get_all_comments(request: web.Request) -> web.Response:
    """Deprecated in Kibana, still served: every attachment of the case."""
    case = await cases.get(context(request), request.match_info["case_id"], include_comments=True)
    return responses.json(case.comments)


@routes.get("/api/cases/{case_id}/comments/_find")
async def find_comments(request: web.Request) -> web.Response:
    params = decode.query(request, FindCommentsQuery)
    found = await comments.find(
        context(request), request.match_info["case_id"], params.sortOrder, params.page, params.perPage
    )
    return responses.json(found)


@routes.get("/api/cases/{case_id}/comments/{comment_id}")
async def get_comment(request: web.Request) -> web.Response:
    found = await comments.get(
        context(request), request.match_info["case_id"], request.match_info["comment_id"]
    )
    return responses.json(found)


@routes.delete("/api/cases/{case_id}/comments/{comment_id}")
async def delete_comment(request: web.Request) -> web.Response:
    await comments.delete(context(request), request.match_info["case_id"], request.match_info["comment_id"])
    return responses.no_content()
