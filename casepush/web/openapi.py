"""The API's OpenAPI 3.1 document, generated from the routes' metadata (``casepush.web.routing``) and
msgspec's JSON Schemas of the structs, and served at ``GET /api/openapi.json``.

``python -m casepush.web.api`` prints the document; with ``--markdown``, docs/api.md.
"""

import json
import re
from collections.abc import Iterable, Sequence
from functools import cached_property
from http import HTTPStatus
from typing import Any

import msgspec
from aiohttp import web

from casepush import __version__
from casepush.types import ElasticsearchErrorBody, ErrorBody
from casepush.web.elasticsearch import is_elasticsearch_path
from casepush.web.middleware import WRITE_METHODS, is_public
from casepush.web.routing import SPACE_PREFIX, Route, Routes, is_inbound_path

routes = Routes("service", spaced=False)

SCHEMA_REF = "#/components/schemas/{name}"
_PATH_PARAMETER = re.compile(r"\{(\w+)\}")
_NULL = {"type": "null"}

#: Every error status a route may answer, and what it means there.
ERRORS = {
    400: "The query, body or headers are malformed (every write on a Kibana path needs a kbn-xsrf header).",
    401: "Missing or wrong credentials (on an inbound webhook: a missing or wrong signature or token).",
    403: "The caller lacks the privilege.",
    404: "What the path names does not exist (under /s/{space_id}, that includes the space).",
    406: "The update changes nothing: every field is as it is already.",
    408: "The body took longer than the payload timeout to arrive.",
    409: "The object changed since it was read, or already exists.",
    413: "The body is larger than the payload limit.",
    424: "The external system failed or refused the push (or the sync).",
    429: (
        "Too many failed logins from this client, or calls of an inbound webhook: retry after the"
        " Retry-After header's seconds."
    ),
    502: "The external system failed to say what its call means.",
    503: "The database does not answer, or the connector's secrets cannot be read.",
}
SECURITY_SCHEMES = {
    "basic": {"type": "http", "scheme": "basic"},
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`ApiKey <encoded>`, where `encoded` (base64 of `id:api_key`) is given when a key"
        " is created.",
    },
}
XSRF_HEADER = {
    "name": "kbn-xsrf",
    "in": "header",
    "required": True,
    "schema": {"type": "string"},
    "description": "Any value: Kibana's guard against cross-site request forgery.",
}


# --- the document --------------------------------------------------------------------------------


def build(groups: Sequence[Routes]) -> dict[str, Any]:
    """The OpenAPI document of these route groups: every route, in each of its path forms."""
    schemas = _Schemas([route for group in groups for route in group.routes])
    paths: dict[str, dict[str, Any]] = {}
    for group in groups:
        for route in group.routes:
            for path in group.paths(route):
                paths.setdefault(path, {})[route.method.lower()] = _operation(group.tag, route, path, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "casepush",
            "version": __version__,
            "description": "Kibana's Cases, Connectors, Spaces and Security APIs, and the push of cases"
            " to ticketing systems, as casepush serves them.",
        },
        "tags": [{"name": tag} for tag in dict.fromkeys(group.tag for group in groups)],
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "responses": {
                _error_name(status, flavour): _error_response(status, flavour)
                for flavour in (KIBANA, ELASTICSEARCH)
                for status in ERRORS
            },
            "parameters": {"kbn-xsrf": XSRF_HEADER},
            "securitySchemes": SECURITY_SCHEMES,
        },
        "security": [{scheme: []} for scheme in SECURITY_SCHEMES],
    }


class _Schemas:
    """The JSON Schemas of every type the routes decode or answer, sharing one set of components;
    query structs are kept apart, as they become parameters rather than schemas."""

    def __init__(self, routes: Sequence[Route]) -> None:
        # The error bodies, which every route answers.
        types = list(
            dict.fromkeys([*(t for route in routes for t in _types_of(route)), KIBANA, ELASTICSEARCH])
        )
        schemas, components = msgspec.json.schema_components(types, ref_template=SCHEMA_REF)
        self._schemas = dict(zip(types, schemas, strict=True))
        queries = dict.fromkeys(route.query for route in routes if route.query is not None)
        self.queries = {query: components.pop(_ref_name(self._schemas[query])) for query in queries}
        self.components = components

    def __getitem__(self, type_: Any) -> dict[str, Any]:
        return self._schemas[type_]

    def response(self, route: Route) -> dict[str, Any]:
        if isinstance(route.response, tuple):
            return {"anyOf": [self[type_] for type_ in route.response]}
        return self[route.response]


def _types_of(route: Route) -> list[Any]:
    answers = route.response if isinstance(route.response, tuple) else (route.response,)
    return [type_ for type_ in (route.query, route.body, *answers) if type_ is not None]


def _ref_name(schema: dict[str, Any]) -> str:
    return schema["$ref"].rsplit("/", 1)[1]


def _operation(tag: str, route: Route, path: str, schemas: _Schemas) -> dict[str, Any]:
    public = is_public(path)
    operation: dict[str, Any] = {
        "tags": [tag],
        "summary": route.summary,
        "parameters": _parameters(route, path, schemas),
        "responses": _responses(route, path, public, schemas),
    }
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": _json_content(schemas[route.body])}
    if public:
        operation["security"] = []
    return operation


def _parameters(route: Route, path: str, schemas: _Schemas) -> list[dict[str, Any]]:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAMETER.findall(path)
    ]
    if route.query is not None:
        query = schemas.queries[route.query]
        required = set(query.get("required", ()))
        parameters += [
            {"name": name, "in": "query", "required": name in required, "schema": _query_schema(schema)}
            for name, schema in query["properties"].items()
        ]
    if route.method in WRITE_METHODS and not is_elasticsearch_path(path) and not is_inbound_path(path):
        parameters.append({"$ref": "#/components/parameters/kbn-xsrf"})
    return parameters


def _query_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A query string cannot say null: a field that may be None is one that may be left out."""
    if _NULL not in schema.get("anyOf", ()):
        return schema
    options = [option for option in schema["anyOf"] if option != _NULL]
    rest = {
        key: value for key, value in schema.items() if key != "anyOf" and (key, value) != ("default", None)
    }
    return {**rest, **options[0]} if len(options) == 1 else {**rest, "anyOf": options}


def _responses(route: Route, path: str, public: bool, schemas: _Schemas) -> dict[str, Any]:
    success: dict[str, Any] = {"description": HTTPStatus(route.status).phrase}
    if route.response is not None:
        success["content"] = {route.media_type: {"schema": schemas.response(route)}}
    errors = {400, *route.errors}
    if not public:
        errors |= {401, 429}
    if route.body is not None:
        errors |= {408, 413}
    if path.startswith(SPACE_PREFIX):
        errors.add(404)
    flavour = ELASTICSEARCH if is_elasticsearch_path(path) else KIBANA
    return {
        str(route.status): success,
        **{str(status): {**success, "description": ERRORS[status]} for status in route.plain_statuses},
        **{
            str(status): {"$ref": f"#/components/responses/{_error_name(status, flavour)}"}
            for status in sorted(errors)
        },
    }


#: Whose error body a path answers: Kibana's, or Elasticsearch's on its paths.
KIBANA, ELASTICSEARCH = ErrorBody, ElasticsearchErrorBody


def _error_name(status: int, flavour: type) -> str:
    prefix = "Elasticsearch" if flavour is ELASTICSEARCH else ""
    return prefix + HTTPStatus(status).phrase.replace(" ", "")


def _error_response(status: int, flavour: type) -> dict[str, Any]:
    return {
        "description": ERRORS[status],
        "content": _json_content({"$ref": SCHEMA_REF.format(name=flavour.__name__)}),
    }


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


# --- serving it -----------------------------------------------------------------------------------


class Document:
    """An app's document, built when first asked for (most apps, the tests' ones, never are)."""

    def __init__(self, groups: Sequence[Routes]) -> None:
        self._groups = groups

    @cached_property
    def encoded(self) -> bytes:
        return msgspec.json.encode(build(self._groups))


OPENAPI = web.AppKey("openapi", Document)


@routes.get("/api/openapi.json", response=dict[str, Any])
async def get_openapi(request: web.Request) -> web.Response:
    """This document: the API's OpenAPI 3.1 description."""
    return web.Response(body=request.app[OPENAPI].encoded, content_type="application/json")


# --- docs/api.md --------------------------------------------------------------------------------


def markdown(document: dict[str, Any]) -> str:
    """The API reference: each operation by tag, with its summary, query, body and responses."""
    lines = [
        f"# casepush {document['info']['version']} API",
        "",
        "Generated from the OpenAPI document (`GET /api/openapi.json`) by `make docs`: do not edit.",
        "The document has every schema in full. Every route needs credentials (Basic or `ApiKey`)",
        "unless it says otherwise, and every error is a `{statusCode, error, message}` body (`ErrorBody`),",
        "or on Elasticsearch's paths (`/_security`) its `{error, status}` body (`ElasticsearchErrorBody`).",
    ]
    for tag in document["tags"]:
        lines += ["", f"## {tag['name']}"]
        for path, method, operation in _operations(document, tag["name"]):
            lines += ["", f"### `{method.upper()} {path}`", "", operation["summary"], ""]
            lines += _operation_details(document, path, method, operation)
    return "\n".join(lines) + "\n"


def _operations(document: dict[str, Any], tag: str) -> Iterable[tuple[str, str, dict[str, Any]]]:
    """The tag's operations, without the ``/s/{space_id}`` twins (which their bare form mentions)."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if tag in operation["tags"] and not _bare_twin(document, path, method):
                yield path, method, operation


def _bare_twin(document: dict[str, Any], path: str, method: str) -> bool:
    bare = path.removeprefix(SPACE_PREFIX)
    return bare != path and method in document["paths"].get(bare, {})


def _operation_details(
    document: dict[str, Any], path: str, method: str, operation: dict[str, Any]
) -> list[str]:
    details = []
    if method in document["paths"].get(SPACE_PREFIX + path, {}):
        details.append(f"- Also under `{SPACE_PREFIX}`, which answers 404 for a space that does not exist.")
    if operation.get("security") == []:
        details.append("- No credentials needed.")
    for parameter in operation["parameters"]:
        if parameter.get("in") == "query":
            details.append(f"- Query `{parameter['name']}`: {_query_description(parameter)}")
    if "requestBody" in operation:
        details.append(f"- Body: {_describe_content(operation['requestBody']['content'])}")
    errors = []
    for status, response in operation["responses"].items():
        if "$ref" in response:
            errors.append(status)
        elif "content" in response:
            details.append(f"- {status}: {_describe_content(response['content'])}")
        else:
            details.append(f"- {status}: no content")
    details.append(f"- Errors: {', '.join(errors)}")
    return details


def _describe_content(content: dict[str, Any]) -> str:
    ((media_type, body),) = content.items()
    described = _describe(body["schema"])
    return described if media_type == "application/json" else f"{described} as `{media_type}`"


def _query_description(parameter: dict[str, Any]) -> str:
    schema = parameter["schema"]
    text = _describe(schema)
    if parameter["required"]:
        text += " (required)"
    elif "default" in schema:
        text += f" (default {json.dumps(schema['default'])})"
    return text


def _describe(schema: dict[str, Any]) -> str:
    """A schema in a few words: a component's name, an enum's values, a list's item."""
    if "$ref" in schema:
        return f"`{_ref_name(schema)}`"
    if "enum" in schema:
        return f"`{' | '.join(json.dumps(value) for value in schema['enum'])}`"
    if "anyOf" in schema:
        return " or ".join(_describe(option) for option in schema["anyOf"])
    if schema.get("type") == "array":
        return f"list of {_describe(schema['items'])}"
    if isinstance(schema.get("additionalProperties"), dict):
        return f"object of {_describe(schema['additionalProperties'])}"
    return schema.get("type", "any JSON")
