"""Handlers of ``/api/cases`` (cases, find, tags, reporters, status, alerts)."""

import msgspec
from aiohttp import web

from casepush.domain import cases, comments, validation
from casepush.errors import bad_request
from casepush.types import (
    Case,
    CaseAlert,
    CaseOfAlert,
    CreateCase,
    FindCasesQuery,
    FindCasesResponse,
    Owner,
    PatchCases,
    StatusCounts,
    User,
    as_list,
)
from casepush.web import decode, responses
from casepush.web.routing import Routes
from casepush.web.state import context

routes = Routes("cases")


class OwnerQuery(msgspec.Struct, forbid_unknown_fields=True):
    owner: Owner | list[Owner] | None = None


class GetCaseQuery(msgspec.Struct):
    """Kibana 9.x's route takes any query and ignores it; 8.x's ``includeComments`` keeps its meaning."""

    includeComments: bool = True


class DeleteCasesQuery(msgspec.Struct, forbid_unknown_fields=True):
    ids: str | list[str]


@routes.post("/api/cases", body=CreateCase, response=Case, errors=(403,))
async def create_case(request: web.Request) -> web.Response:
    """Create a case."""
    body = await decode.body(request, CreateCase)
    return responses.json(await cases.create(context(request), body))


@routes.patch("/api/cases", body=PatchCases, response=list[Case], errors=(403, 404, 406, 409))
async def update_cases(request: web.Request) -> web.Response:
    """Update cases; each entry names a case, its version, and the fields to change."""
    body = await decode.body(request, PatchCases)
    return responses.json(await cases.bulk_update(context(request), body.cases))


@routes.delete("/api/cases", query=DeleteCasesQuery, status=204, errors=(403, 404))
async def delete_cases(request: web.Request) -> web.Response:
    """Delete cases with their comments and user actions."""
    params = decode.query(request, DeleteCasesQuery)
    ids = [case_id for value in as_list(params.ids) for case_id in _listed_ids(value)]
    await cases.delete(context(request), ids)
    return responses.no_content()


class _ListedIds(msgspec.Struct):
    ids: list[str]


def _listed_ids(value: str) -> list[str]:
    """Kibana's documentation sends ``ids=["a","b"]``; repeated ``ids=a&ids=b`` works as well."""
    if not value.startswith("["):
        return [value]
    try:
        listed = msgspec.json.decode(value)
    except msgspec.DecodeError:
        raise bad_request(validation.invalid_value(value, "ids")) from None
    return decode.convert({"ids": listed}, _ListedIds).ids


@routes.get("/api/cases/_find", query=FindCasesQuery, response=FindCasesResponse, errors=(403,))
async def find_cases(request: web.Request) -> web.Response:
    """Find cases by filters and search terms, a page at a time, with counts by status."""
    return responses.json(await cases.find(context(request), decode.query(request, FindCasesQuery)))


@routes.get("/api/cases/tags", query=OwnerQuery, response=list[str], errors=(403,))
async def get_tags(request: web.Request) -> web.Response:
    """List the tags of the cases the caller may read."""
    params = decode.query(request, OwnerQuery)
    return responses.json(await cases.tags(context(request), as_list(params.owner)))


@routes.get("/api/cases/reporters", query=OwnerQuery, response=list[User], errors=(403,))
async def get_reporters(request: web.Request) -> web.Response:
    """List the users who opened the cases the caller may read."""
    params = decode.query(request, OwnerQuery)
    return responses.json(await cases.reporters(context(request), as_list(params.owner)))


@routes.get("/api/cases/status", query=OwnerQuery, response=StatusCounts, errors=(403,))
async def get_status(request: web.Request) -> web.Response:
    """Count the cases the caller may read by status."""
    params = decode.query(request, OwnerQuery)
    return responses.json(await cases.status_counts(context(request), as_list(params.owner)))


@routes.get("/api/cases/alerts/{alert_id}", query=OwnerQuery, response=list[CaseOfAlert], errors=(403,))
async def get_cases_by_alert(request: web.Request) -> web.Response:
    """List the cases an alert is attached to."""
    params = decode.query(request, OwnerQuery)
    found = await comments.cases_of_alert(
        context(request), request.match_info["alert_id"], as_list(params.owner)
    )
    return responses.json(found)


@routes.get("/api/cases/{case_id}", query=GetCaseQuery, response=Case, errors=(403, 404))
async def get_case(request: web.Request) -> web.Response:
    """Get a case, with its comments unless ``includeComments=false``."""
    params = decode.query(request, GetCaseQuery)
    case = await cases.get(context(request), request.match_info["case_id"], params.includeComments)
    return responses.json(case)


@routes.get("/api/cases/{case_id}/alerts", response=list[CaseAlert], errors=(403, 404))
async def get_case_alerts(request: web.Request) -> web.Response:
    """List the alerts attached to a case."""
    return responses.json(await comments.alerts_of_case(context(request), request.match_info["case_id"]))
