"""``GET /api/openapi.json``: the document generated from the routes and structs, and docs/api.md from it."""

from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from casepush import __version__
from casepush.app import create_app
from casepush.web.api import ROUTE_GROUPS, main
from casepush.web.openapi import build
from casepush.web.routing import SPACE_PREFIX
from casepush.web.ui import is_ui_path
from tests.helpers import Api, echo_plugins

API_MD = Path(__file__).parents[1] / "docs" / "api.md"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build(ROUTE_GROUPS)


def parameters(operation: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in operation["parameters"] if p.get("in") == where}


def component(document: dict[str, Any], ref: str) -> dict[str, Any]:
    section, name = ref.split("/")[-2:]
    return document["components"][section][name]


def test_the_document_is_valid_openapi(document):
    validate(document)
    assert (document["openapi"], document["info"]["version"]) == ("3.1.0", __version__)


async def test_every_route_of_the_router_is_in_the_document(settings, document):
    app = create_app(settings, announce=lambda line: None, plugins=await echo_plugins())
    # The web UI's pages (``/app``) are served on the same router but are not API.
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and not is_ui_path(route.resource.canonical)
    }
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert served == documented
    assert all(operation["summary"] for item in document["paths"].values() for operation in item.values())


async def test_the_document_is_served_without_credentials(api, document):
    anonymous = Api(api.client, auth=None)
    assert await anonymous.get("/api/openapi.json") == (200, document)


def test_kibana_routes_have_both_path_forms_and_their_errors(document):
    bare = document["paths"]["/api/cases/{case_id}"]["get"]
    spaced = document["paths"][SPACE_PREFIX + "/api/cases/{case_id}"]["get"]
    assert set(parameters(bare, "path")) == {"case_id"}
    assert set(parameters(spaced, "path")) == {"space_id", "case_id"}
    assert set(bare["responses"]) == set(spaced["responses"]) == {"200", "400", "401", "403", "404", "429"}
    # Only routes that take a body can answer the body's limits.
    assert {"408", "413"} <= set(document["paths"]["/api/cases"]["post"]["responses"])
    # Only the spaced form can miss its space.
    find = document["paths"]["/api/cases/_find"]["get"]["responses"]
    assert "404" not in find
    assert "404" in document["paths"][SPACE_PREFIX + "/api/cases/_find"]["get"]["responses"]
    error = component(document, find["401"]["$ref"])["content"]["application/json"]["schema"]
    assert set(component(document, error["$ref"])["required"]) == {"statusCode", "error", "message"}


def test_public_routes_need_no_credentials_and_others_do(document):
    assert set(document["components"]["securitySchemes"]) == {"basic", "apiKey"}
    assert document["security"] == [{"basic": []}, {"apiKey": []}]
    status = document["paths"]["/api/status"]["get"]
    assert status["security"] == []
    assert "401" not in status["responses"]
    assert "security" not in document["paths"]["/api/cases"]["post"]


def test_create_case_takes_kibanas_body(document):
    operation = document["paths"]["/api/cases"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/CreateCase"}
    severity = component(document, body["$ref"])["properties"]["severity"]
    assert sorted(severity["enum"]) == sorted(["low", "medium", "high", "critical"])
    assert {"$ref": "#/components/parameters/kbn-xsrf"} in operation["parameters"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Case"
    }


def test_find_cases_query_parameters(document):
    query = parameters(document["paths"]["/api/cases/_find"]["get"], "query")
    assert {"perPage", "sortField", "from", "to", "owner"} <= set(query)
    assert "from_" not in query
    assert query["perPage"] == {
        "name": "perPage",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "default": 20},
    }
    assert sorted(query["sortField"]["schema"]["enum"]) == sorted(
        ["createdAt", "updatedAt", "closedAt", "title", "category", "status", "severity"]
    )
    # A query cannot say null: an optional filter is a value or a list of them.
    assert query["tags"]["schema"] == {
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
    }


def test_delete_cases_answers_204(document):
    operation = document["paths"]["/api/cases"]["delete"]
    assert operation["responses"]["204"] == {"description": "No Content"}
    assert parameters(operation, "query")["ids"]["required"] is True


def test_an_update_that_changes_nothing_is_a_documented_406(document):
    for path in ("/api/cases", SPACE_PREFIX + "/api/cases"):
        assert document["paths"][path]["patch"]["responses"]["406"] == {
            "$ref": "#/components/responses/NotAcceptable"
        }


def test_push_names_its_case_and_connector(document):
    operation = document["paths"]["/api/cases/{case_id}/connector/{connector_id}/_push"]["post"]
    assert set(parameters(operation, "path")) == {"case_id", "connector_id"}
    assert set(parameters(operation, "query")) == {"dry_run"}
    answers = operation["responses"]["200"]["content"]["application/json"]["schema"]["anyOf"]
    assert answers == [{"$ref": "#/components/schemas/Case"}, {"$ref": "#/components/schemas/DryRun"}]
    assert {"409", "424"} <= set(operation["responses"])


def test_docs_api_md_is_what_the_generator_prints(capsys):
    main(["--markdown"])
    assert capsys.readouterr().out == API_MD.read_text(), "regenerate it: make docs"
