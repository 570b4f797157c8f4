"""What the Swimlane plugin's test modules share: the app's plugins and settings (on both storage
backends), a fake Swimlane and a connector to it, and the calls that push through ``_execute``."""

from collections.abc import Callable
from typing import Any

import casepush_swimlane
import pytest
from fake_swimlane import APP_ID, MAPPINGS, TOKEN, FakeSwimlane, start_swimlane

from casepush.testing import Api, FakeService, KilledAfterCreate

SECRETS = {"apiToken": TOKEN}
UNDEFINED = "expected value of type [string] but got [undefined]"
#: Kibana's functional test's incident (``swimlane.ts``), every value mapped.
INCIDENT = {
    "alertId": "fs345f78g",
    "ruleName": "Rule Name",
    "severity": "3",
    "caseName": "Case Name",
    "caseId": "es3456789",
    "description": "This is a description",
}
CREATE = f"[Action][Swimlane]: Unable to create record in application with id {APP_ID}."
UPDATE = f"[Action][Swimlane]: Unable to update record in application with id {APP_ID}."
COMMENT = f"[Action][Swimlane]: Unable to create comment in application with id {APP_ID}."
RECORDS = f"/api/app/{APP_ID}/record"
#: A connector's mappings when none is given: every one null, as Kibana's schema defaults them.
UNMAPPED = dict.fromkeys(MAPPINGS)


@pytest.fixture
def casepush_plugins(request: pytest.FixtureRequest) -> list[object]:
    """The plugin, and with the indirect parameter ``"interrupted"`` a fresh ``KilledAfterCreate`` too."""
    interrupted = getattr(request, "param", None) == "interrupted"
    return [casepush_swimlane, KilledAfterCreate()] if interrupted else [casepush_swimlane]


@pytest.fixture
async def swimlane(fake_service: Callable[[], FakeService]) -> FakeSwimlane:
    return await start_swimlane(fake_service())


@pytest.fixture
async def connector(casepush: Api, swimlane: FakeSwimlane) -> dict:
    return await create_connector(casepush, swimlane.url)


def swimlane_config(api_url: str, **changes: Any) -> dict[str, Any]:
    return {"apiUrl": api_url, "appId": APP_ID, "connectorType": "all", "mappings": MAPPINGS, **changes}


def connector_body(api_url: str, secrets: dict | None = None, **changes: Any) -> dict[str, Any]:
    return {
        "name": "Swimlane",
        "connector_type_id": ".swimlane",
        "config": swimlane_config(api_url, **changes),
        "secrets": SECRETS if secrets is None else secrets,
    }


async def create_connector(api: Api, api_url: str, secrets: dict | None = None, **changes: Any) -> dict:
    status, made = await api.post("/api/actions/connector", connector_body(api_url, secrets, **changes))
    assert status == 200, made
    return made


def push_params(external_id: str | None = None, comments: Any = (), **incident: Any) -> dict[str, Any]:
    return {
        "incident": {**INCIDENT, "externalId": external_id, **incident},
        "comments": [{"commentId": comment_id, "comment": text} for comment_id, text in comments],
    }


async def push(api: Api, connector_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """The answer of ``_execute`` of ``pushToService`` (``params`` as its ``subActionParams``)."""
    body = {"params": {"subAction": "pushToService", "subActionParams": params}}
    status, result = await api.post(f"/api/actions/connector/{connector_id}/_execute", body)
    assert status == 200, result
    return result


async def pushed(api: Api, connector_id: str, params: dict[str, Any]) -> dict[str, Any]:
    result = await push(api, connector_id, params)
    assert result["status"] == "ok", result.get("service_message")
    return result["data"]


async def refused(api: Api, connector_id: str, params: dict[str, Any]) -> str:
    """The connector's message of a push that Swimlane failed."""
    result = await push(api, connector_id, params)
    assert (result["status"], result["message"]) == ("error", "an error occurred while running the action")
    return result["service_message"]


async def push_case(api: Api, case_id: str, connector_id: str) -> tuple[int, Any]:
    return await api.post(f"/api/cases/{case_id}/connector/{connector_id}/_push", {})


def case_connector(connector: dict, fields: dict | None = None) -> dict:
    return {"id": connector["id"], "name": "Swimlane", "type": ".swimlane", "fields": fields}
