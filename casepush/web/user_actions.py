"""Handlers of ``/api/cases/{case_id}/user_actions``."""

from typing import Literal

import msgspec
from aiohttp import web

from casepush.domain import user_actions
from casepush.types import FindUserActionsResponse, SortOrder, as_list
from casepush.web import decode, responses
from casepush.web.routing import Routes
from casepush.web.state import context

routes = Routes("user actions")

FilterType = Literal[
    "action",
    "alert",
    "assignees",
    "attachment",
    "comment",
    "connector",
    "create_case",
    "description",
    "pushed",
    "settings",
    "severity",
    "status",
    "tags",
    "title",
    "user",
    "category",
    "customFields",
    "sync",
    # Kibana's newer types; casepush records none of them, so each filters to nothing.
    "delete_case",
    "observables",
    "extended_fields",
    "template",
    "workflow",
]


class FindUserActionsQuery(msgspec.Struct, forbid_unknown_fields=True):
    types: FilterType | list[FilterType] | None = None
    sortOrder: SortOrder = "asc"
    page: int = 1
    perPage: int = 20


@routes.get(
    "/api/cases/{case_id}/user_actions/_find",
    query=FindUserActionsQuery,
    response=FindUserActionsResponse,
    errors=(403, 404),
)
async def find_user_actions(request: web.Request) -> web.Response:
    """Find a case's history of user actions, a page at a time."""
    params = decode.query(request, FindUserActionsQuery)
    found = await user_actions.find(
        context(request),
        request.match_info["case_id"],
        as_list(params.types),
        params.sortOrder,
        params.page,
        params.perPage,
    )
    return responses.json(found)
