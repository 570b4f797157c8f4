"""Handlers of ``/api/cases/{case_id}/comments``."""

import msgspec
from aiohttp import web

from casepush.domain import cases, comments
from casepush.types import AddComment, Attachment, Case, FindCommentsResponse, SortOrder, UpdateComment
from casepush.web import decode, responses
from casepush.web.routing import Routes
from casepush.web.state import context

routes = Routes("comments")


class FindCommentsQuery(msgspec.Struct, forbid_unknown_fields=True):
    page: int = 1
    perPage: int = 20
    # Kibana passes no order to its saved-objects find, which then sorts ascending.
    sortOrder: SortOrder = "asc"


@routes.post("/api/cases/{case_id}/comments", body=AddComment, response=Case, errors=(403, 404, 409))
async def add_comment(request: web.Request) -> web.Response:
    """Attach a comment or alerts to a case; answers the case."""
    body: AddComment = await decode.body(request, AddComment)
    return responses.json(await comments.add(context(request), request.match_info["case_id"], body))


@routes.patch("/api/cases/{case_id}/comments", body=UpdateComment, response=Case, errors=(403, 404, 409))
async def update_comment(request: web.Request) -> web.Response:
    """Change a comment or alert attachment; answers the case."""
    body: UpdateComment = await decode.body(request, UpdateComment)
    return responses.json(await comments.update(context(request), request.match_info["case_id"], body))


@routes.delete("/api/cases/{case_id}/comments", status=204, errors=(403, 404))
async def delete_all_comments(request: web.Request) -> web.Response:
    """Delete every attachment of a case."""
    await comments.delete_all(context(request), request.match_info["case_id"])
    return responses.no_content()


@routes.get("/api/cases/{case_id}/comments", response=list[Attachment], errors=(403, 404))
async def get_all_comments(request: web.Request) -> web.Response:
    """Deprecated in Kibana, still served: every attachment of the case."""
    case = await cases.get(context(request), request.match_info["case_id"], include_comments=True)
    return responses.json(case.comments)


@routes.get(
    "/api/cases/{case_id}/comments/_find",
    query=FindCommentsQuery,
    response=FindCommentsResponse,
    errors=(403, 404),
)
async def find_comments(request: web.Request) -> web.Response:
    """Find a case's user comments, a page at a time."""
    params = decode.query(request, FindCommentsQuery)
    found = await comments.find(
        context(request), request.match_info["case_id"], params.sortOrder, params.page, params.perPage
    )
    return responses.json(found)


@routes.get("/api/cases/{case_id}/comments/{comment_id}", response=Attachment, errors=(403, 404))
async def get_comment(request: web.Request) -> web.Response:
    """Get one attachment of a case."""
    found = await comments.get(
        context(request), request.match_info["case_id"], request.match_info["comment_id"]
    )
    return responses.json(found)


@routes.delete("/api/cases/{case_id}/comments/{comment_id}", status=204, errors=(403, 404))
async def delete_comment(request: web.Request) -> web.Response:
    """Delete one attachment of a case."""
    await comments.delete(context(request), request.match_info["case_id"], request.match_info["comment_id"])
    return responses.no_content()
