"""Handlers of Kibana's Connectors API (``/api/actions``) and of Cases' connector list."""

from typing import TypeVar

import msgspec
from aiohttp import web

from casepush.domain import Context, connectors
from casepush.domain.connectors import ConnectorRuntime
from casepush.types import (
    CaseConnectorInfo,
    ConnectorInfo,
    ConnectorTypeInfo,
    CreateConnector,
    ExecuteConnector,
    ExecuteResult,
    UpdateConnector,
)
from casepush.web import decode, responses
from casepush.web.routing import Routes
from casepush.web.state import CONNECTORS, context

routes = Routes("connectors")

_body_messages = decode.config_schema_message("request body")


T = TypeVar("T")


async def _body(request: web.Request, type_: type[T]) -> T:
    """A connector body: Kibana refuses blank strings anywhere in it, before anything else."""
    document = await decode.body(request, dict)
    connectors.refuse_blank_strings(document)
    return decode.convert(document, type_, phrasing=_body_messages)


def _scope(request: web.Request) -> tuple[Context, ConnectorRuntime]:
    return context(request), request.app[CONNECTORS]


class ConnectorTypesQuery(msgspec.Struct, forbid_unknown_fields=True):
    feature_id: str | None = None


@routes.post("/api/actions/connector", body=CreateConnector, response=ConnectorInfo, errors=(403,))
@routes.post("/api/actions/connector/{id}", body=CreateConnector, response=ConnectorInfo, errors=(403, 409))
async def create_connector(request: web.Request) -> web.Response:
    """Create a connector, with a generated id or the one in the path."""
    body = await _body(request, CreateConnector)
    return responses.json(await connectors.create(*_scope(request), request.match_info.get("id"), body))


@routes.get("/api/actions/connector/{id}", response=ConnectorInfo, errors=(403, 404))
async def get_connector(request: web.Request) -> web.Response:
    """Get a connector (never its secrets)."""
    return responses.json(await connectors.get(*_scope(request), request.match_info["id"]))


@routes.put("/api/actions/connector/{id}", body=UpdateConnector, response=ConnectorInfo, errors=(403, 404))
async def update_connector(request: web.Request) -> web.Response:
    """Replace a connector's name, config and secrets; its type stays."""
    body = await _body(request, UpdateConnector)
    return responses.json(await connectors.update(*_scope(request), request.match_info["id"], body))


@routes.delete("/api/actions/connector/{id}", status=204, errors=(403, 404))
async def delete_connector(request: web.Request) -> web.Response:
    """Delete a connector."""
    await connectors.delete(*_scope(request), request.match_info["id"])
    return responses.no_content()


@routes.get("/api/actions/connectors", response=list[ConnectorInfo], errors=(403,))
async def list_connectors(request: web.Request) -> web.Response:
    """List the space's connectors and the preconfigured ones."""
    return responses.json(await connectors.list_all(*_scope(request)))


@routes.get("/api/actions/connector_types", query=ConnectorTypesQuery, response=list[ConnectorTypeInfo])
async def list_connector_types(request: web.Request) -> web.Response:
    """List the installed connector types."""
    params = decode.query(request, ConnectorTypesQuery, decode.config_schema_message("request query"))
    return responses.json(connectors.list_types(request.app[CONNECTORS], params.feature_id))


@routes.post(
    "/api/actions/connector/{id}/_execute", body=ExecuteConnector, response=ExecuteResult, errors=(403, 404)
)
async def execute_connector(request: web.Request) -> web.Response:
    """Run a connector's sub-action; a failure in the external system is an answer with ``status: error``."""
    body = await decode.body(request, ExecuteConnector, _body_messages)
    return responses.json(await connectors.execute(*_scope(request), request.match_info["id"], body.params))


@routes.get("/api/cases/configure/connectors/_find", response=list[CaseConnectorInfo], errors=(403,))
async def find_case_connectors(request: web.Request) -> web.Response:
    """List the connectors whose type supports cases."""
    return responses.json(await connectors.for_cases(*_scope(request)))
