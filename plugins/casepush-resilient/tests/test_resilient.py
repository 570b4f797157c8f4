"""The IBM Resilient connector type (``.resilient``) through casepush's HTTP API, against a fake Resilient
(``fake_resilient``), on both storage backends."""

import asyncio
import base64
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import casepush_resilient
import pytest
from casepush_resilient.schema import ResilientConfig, ResilientSecrets
from casepush_resilient.service import ResilientService
from fake_resilient import (
    INCIDENT_TYPES,
    KEY_ID,
    KEY_SECRET,
    ORG,
    START,
    Canned,
    FakeResilient,
    resilient_error,
    start_resilient,
)

from casepush import hookimpl
from casepush.config import Settings
from casepush.connectors import ConnectorError, PushedIncident
from casepush.http import OutboundClient, create_session
from casepush.testing import PASSWORD, Api, FakeService, KilledAfterCreate
from casepush.testing.client import case_body
from casepush.testing.contract import ConnectorContract
from casepush.testing.database import StoredData

SECRETS = {"apiKeyId": KEY_ID, "apiKeySecret": KEY_SECRET}
START_ISO = "2020-05-13T17:44:34.472Z"
LATER, LATER_ISO = START + 86_400_000, "2020-05-14T17:44:34.472Z"
UNDEFINED = "expected value of type [string] but got [undefined]"
CREATE = "[Action][IBM Resilient]: Unable to create incident. Error:"
UPDATE = "[Action][IBM Resilient]: Unable to update incident with id 2096. Error:"
GET_2096 = "[Action][IBM Resilient]: Unable to get incident with id 2096. Error:"
FIELDS = "[Action][IBM Resilient]: Unable to get fields. Error:"
ACCEPTED_TYPES = ",".join(f'{value} (for "{label}")' for value, label in INCIDENT_TYPES.items())


# --- fixtures and helpers -------------------------------------------------------------------------------


@pytest.fixture
def casepush_plugins(request: pytest.FixtureRequest) -> list[object]:
    """The plugin, and a fresh ``KilledAfterCreate`` when parametrized indirectly with ``"interrupted"``."""
    interrupted = getattr(request, "param", None) == "interrupted"
    return [casepush_resilient, KilledAfterCreate()] if interrupted else [casepush_resilient]


@pytest.fixture
async def resilient(fake_service: Callable[[], FakeService]) -> FakeResilient:
    return await start_resilient(fake_service())


@pytest.fixture
async def connector(casepush: Api, resilient: FakeResilient) -> dict:
    return await create_connector(casepush, resilient.url)


@pytest.fixture
def incident(resilient: FakeResilient) -> dict:
    """An incident already in Resilient: ``2096``, a Low communication error with a ticket reference."""
    return resilient.seed(incident_type_ids=[17], severity_code=4, properties={"ticket_ref": "T-1"})


def connector_body(api_url: str, **secrets: str) -> dict:
    return {
        "name": "SOAR",
        "connector_type_id": ".resilient",
        "config": {"apiUrl": api_url, "orgId": ORG},
        "secrets": {**SECRETS, **secrets},
    }


async def create_connector(api: Api, api_url: str, **secrets: str) -> dict:
    status, made = await api.post("/api/actions/connector", connector_body(api_url, **secrets))
    assert status == 200, made
    return made


def push_params(external_id: str | None = None, comments: Any = (), **incident: Any) -> dict:
    return {
        "incident": {"name": "Suspicious login", "externalId": external_id, **incident},
        "comments": [{"commentId": comment_id, "comment": text} for comment_id, text in comments],
    }


def case_connector(connector: dict, **fields: Any) -> dict:
    """The ``connector`` of a case pushed to Resilient, with the case's Resilient fields."""
    values = {"incidentTypes": ["17", "19"], "severityCode": "5", **fields}
    return {"id": connector["id"], "name": "SOAR", "type": ".resilient", "fields": values}


async def push_case(api: Api, case_id: str, connector_id: str) -> tuple[int, Any]:
    return await api.post(f"/api/cases/{case_id}/connector/{connector_id}/_push", {})


async def pushed_case(api: Api, case_id: str, connector_id: str) -> dict:
    status, case = await push_case(api, case_id, connector_id)
    assert status == 200, case
    return case


def pushed(resilient: FakeResilient, date: str, comment_ids: list[str] | None = None) -> dict:
    """Kibana's ``pushToService`` answer about incident 2096, pushed at ``date``."""
    data = {"id": "2096", "title": "2096", "url": f"{resilient.url}/#incidents/2096", "pushedDate": date}
    if comment_ids:
        data["comments"] = [{"commentId": comment_id, "pushedDate": date} for comment_id in comment_ids]
    return data


def discovered(body: dict, before: float) -> dict:
    """The body with its ``discovered_date`` checked (the epoch ms of the push) and left out."""
    date = body.pop("discovered_date")
    assert isinstance(date, int) and before * 1000 - 1 <= date <= time.time() * 1000 + 1
    return body


# --- the type -------------------------------------------------------------------------------------------


async def test_the_type_is_listed_as_kibanas(casepush):
    status, types = await casepush.get("/api/actions/connector_types")

    assert status == 200
    (listed,) = [t for t in types if t["id"] == ".resilient"]
    assert listed["name"] == "IBM Resilient"
    assert listed["supported_feature_ids"] == ["alerting", "cases", "siem"]
    assert listed["minimum_license_required"] == "platinum"


# --- create and update ----------------------------------------------------------------------------------


async def test_create_sends_kibanas_body_and_answers_the_incident_made(casepush, resilient, connector):
    additional = {
        "ticket_ref": "T-9",
        "region": 110,
        "resolution_summary": "Open",
        "properties": {"escalated": True},
    }
    params = push_params(
        description="<p>Several failed logins.</p>",
        incidentTypes=["17", 19],
        severityCode="5",
        additionalFields=json.dumps(additional),
    )
    before = time.time()

    data = await casepush.executed(connector["id"], "pushToService", params)

    assert data == pushed(resilient, START_ISO)
    assert resilient.calls() == ["GET /types/incident/fields", "POST /incidents"]
    (sent,) = resilient.sent("POST", "/incidents")
    assert discovered(sent, before) == {
        "name": "Suspicious login",
        "description": {"format": "html", "content": "<p>Several failed logins.</p>"},
        "incident_type_ids": [{"id": 17}, {"id": 19}],
        "severity_code": {"id": 5},
        "resolution_summary": "Open",
        "properties": {"escalated": True, "ticket_ref": "T-9", "region": 110},
    }
    assert (
        resilient.requests[-1].path
        == f"/rest/orgs/{ORG}/incidents?text_content_output_format=objects_convert"
    )
    assert resilient.incidents[2096]["properties"]["region"] == 110


async def test_create_leaves_out_what_kibana_leaves_out(casepush, resilient, connector):
    before = time.time()

    await casepush.executed(
        connector["id"],
        "pushToService",
        push_params(description="", severityCode=0, incidentTypes=[]),
    )

    assert resilient.calls() == ["POST /incidents"]
    (sent,) = resilient.sent("POST", "/incidents")
    assert discovered(sent, before) == {"name": "Suspicious login", "incident_type_ids": []}


async def test_every_call_carries_the_api_key_as_basic_auth_and_kibanas_empty_body(
    casepush, resilient, connector
):
    await casepush.executed(connector["id"], "severity", {})

    (call,) = resilient.requests
    expected = base64.b64encode(f"{KEY_ID}:{KEY_SECRET}".encode()).decode()
    assert call.headers["Authorization"] == f"Basic {expected}"
    assert call.headers["Content-Type"] == "application/json"
    assert call.json() == {}  # axios sends Kibana's ``{}`` even with a GET


async def test_update_patches_the_changes_from_the_incident_read_and_adds_every_comment(
    casepush, resilient, connector, incident
):
    resilient.now = LATER
    params = push_params(
        "2096",
        [("c-1", "Looked at the logs."), ("c-2", "")],
        name="Suspicious login, again",
        description="Seen three times.",
        incidentTypes=["19"],
        severityCode=6,
        additionalFields={"ticket_ref": "T-2", "resolution_summary": "Blocked."},
    )

    data = await casepush.executed(connector["id"], "pushToService", params)

    assert data == pushed(resilient, LATER_ISO, ["c-1", "c-2"])
    assert resilient.calls() == [
        "GET /incidents/2096",
        "GET /types/incident/fields",
        "PATCH /incidents/2096",
        "GET /incidents/2096",
        "POST /incidents/2096/comments",
        "POST /incidents/2096/comments",
    ]
    assert resilient.sent("PATCH", "/incidents/2096") == [
        {
            "changes": [
                {"field": {"name": "ticket_ref"}, "old_value": {"text": "T-1"}, "new_value": {"text": "T-2"}},
                {
                    "field": {"name": "resolution_summary"},
                    "old_value": {"textarea": None},
                    "new_value": {"textarea": {"format": "text", "content": "Blocked."}},
                },
                {
                    "field": {"name": "name"},
                    "old_value": {"text": "Suspicious login"},
                    "new_value": {"text": "Suspicious login, again"},
                },
                {
                    "field": {"name": "description"},
                    "old_value": {"textarea": {"format": "html", "content": "Seen twice."}},
                    "new_value": {"textarea": {"format": "html", "content": "Seen three times."}},
                },
                {
                    "field": {"name": "incident_type_ids"},
                    "old_value": {"ids": [17]},
                    "new_value": {"ids": [19]},
                },
                {"field": {"name": "severity_code"}, "old_value": {"id": 4}, "new_value": {"id": 6}},
            ]
        }
    ]
    assert resilient.sent("POST", "/incidents/2096/comments") == [
        {"text": {"format": "text", "content": "Looked at the logs."}},
        {"text": {"format": "text", "content": ""}},
    ]
    assert resilient.incidents[2096]["severity_code"] == 6
    assert resilient.incidents[2096]["properties"]["ticket_ref"] == "T-2"


async def test_update_leaves_the_null_values_alone(casepush, resilient, connector, incident):
    params = push_params("2096", name="Renamed", description=None, incidentTypes=None, severityCode=None)

    await casepush.executed(connector["id"], "pushToService", params)

    assert resilient.sent("PATCH", "/incidents/2096") == [
        {
            "changes": [
                {
                    "field": {"name": "name"},
                    "old_value": {"text": "Suspicious login"},
                    "new_value": {"text": "Renamed"},
                }
            ]
        }
    ]
    assert resilient.incidents[2096]["incident_type_ids"] == [17]


# --- the other sub-actions ------------------------------------------------------------------------------


async def test_get_fields_answers_kibanas_keys_of_each_field(casepush, resilient, connector):
    data = await casepush.executed(connector["id"], "getFields", {})

    assert [field["name"] for field in data] == [field["name"] for field in resilient.fields]
    assert data[4] == {
        "name": "severity_code",
        "input_type": "select",
        "read_only": False,
        "required": None,
        "text": "Severity Code",
        "prefix": None,
        "values": resilient.fields[4]["values"],
    }
    assert resilient.calls() == ["GET /types/incident/fields"]


@pytest.mark.parametrize(
    ("sub_action", "path", "expected"),
    [
        (
            "incidentTypes",
            "/types/incident/fields/incident_type_ids",
            [
                {"id": "17", "name": "Communication error (fax; email)"},
                {"id": "19", "name": "Malware"},
                {"id": "21", "name": "Phishing"},
            ],
        ),
        (
            "severity",
            "/types/incident/fields/severity_code",
            [{"id": "4", "name": "Low"}, {"id": "5", "name": "Medium"}, {"id": "6", "name": "High"}],
        ),
    ],
)
async def test_choice_sub_actions_answer_each_value_as_an_id_and_a_name(
    casepush, resilient, connector, sub_action, path, expected
):
    assert await casepush.executed(connector["id"], sub_action, {}) == expected
    assert resilient.calls() == [f"GET {path}"]


# --- validation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sub_action", "params", "detail"),
    [
        (
            "pushToService",
            push_params(additionalFields={"ticket_ref": "x", "name": "y"}),
            "[incident]: The following properties cannot be defined inside additionalFields: name.",
        ),
        (
            "pushToService",
            push_params(additionalFields={f"field_{i}": i for i in range(51)}),
            "[incident]: A maximum of 50 fields in additionalFields can be defined at a time.",
        ),
        (
            "pushToService",
            push_params(additionalFields="{not json"),
            "[incident]: [additionalFields]: could not parse record value from json input",
        ),
        (
            "pushToService",
            push_params(incidentTypes=["17", "malware"]),
            "[incident]: [incidentTypes]: expected value of type [number] but got [string]",
        ),
        (
            "pushToService",
            {"incident": {"description": "x"}},
            f"[incident.name]: {UNDEFINED}",
        ),
        ("getFields", {"all": True}, "[all]: definition for this key is missing"),
    ],
    ids=["own-name", "too-many", "not-json", "not-a-number", "no-name", "fields-with-params"],
)
async def test_params_kibana_refuses_fail_the_run_before_calling_resilient(
    casepush, resilient, connector, sub_action, params, detail
):
    result = await casepush.execute(connector["id"], sub_action, params)

    assert result == {  # Kibana's sub-action framework checks the params in the run
        "status": "error",
        "message": "an error occurred while running the action",
        "connector_id": connector["id"],
        "retry": True,
        "service_message": f"Request validation failed (Error: {detail})",
    }
    assert resilient.requests == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"config": {"orgId": ORG}}, f"error validating action type config: [apiUrl]: {UNDEFINED}"),
        (
            {"config": {"apiUrl": "https://soar.example.com"}},
            f"error validating action type config: [orgId]: {UNDEFINED}",
        ),
        (
            {"secrets": {"apiKeyId": KEY_ID}},
            f"error validating action type secrets: [apiKeySecret]: {UNDEFINED}",
        ),
        (
            {"config": {"apiUrl": "https://soar.example.com", "orgId": ORG, "org": "x"}},
            "error validating action type config: [org]: definition for this key is missing",
        ),
    ],
    ids=["no-api-url", "no-org-id", "no-key-secret", "unknown-key"],
)
async def test_a_connector_missing_its_settings_is_a_400(casepush, change, message):
    status, body = await casepush.post("/api/actions/connector", {**connector_body("https://x"), **change})

    assert (status, body) == (400, {"statusCode": 400, "error": "Bad Request", "message": message})


@pytest.mark.parametrize("casepush_settings", [{"allowed_hosts": ["soar.example.com"]}], indirect=True)
async def test_an_api_url_on_a_host_not_allowed_is_refused(casepush):
    status, body = await casepush.post("/api/actions/connector", connector_body("https://elastic.co"))

    assert (status, body["message"]) == (
        400,
        'error validating action type config: error validating url: target url "https://elastic.co"'
        " is not added to the Kibana config xpack.actions.allowedHosts",
    )
    await create_connector(casepush, "https://soar.example.com")


@pytest.mark.parametrize(
    "fields",
    [
        {"incidentTypes": [17], "severityCode": None},
        {"incidentTypes": None, "severityCode": 5},
        {"incidentTypes": None},
        {"incidentTypes": None, "severityCode": None, "issueTypes": ["17"]},
    ],
    ids=["number-ids", "number-severity", "no-severity", "unknown-key"],
)
async def test_case_fields_kibana_refuses_are_a_400(casepush, connector, fields):
    named = {"id": connector["id"], "name": "SOAR", "type": ".resilient", "fields": fields}
    status, body = await casepush.post("/api/cases", _case(named))

    assert status == 400, body
    assert body["message"].endswith('supplied to "connector,fields"')


def _case(connector: dict) -> dict:
    return case_body(connector=connector)


async def test_case_fields_may_be_null_and_leave_out_the_additional_fields(casepush, connector):
    for fields in (
        None,
        {"incidentTypes": None, "severityCode": None},
        {"incidentTypes": ["1"], "severityCode": "4"},
    ):
        named = {"id": connector["id"], "name": "SOAR", "type": ".resilient", "fields": fields}
        status, body = await casepush.post("/api/cases", _case(named))
        assert status == 200, body


# --- errors ---------------------------------------------------------------------------------------------

ADDITIONAL_2096 = push_params("2096", additionalFields={"ticket_ref": "T-2"})


def error_case(call: tuple[str, dict], message: str, fail: Canned | None = None, on: str = "") -> Any:
    return pytest.param(call, message, fail, on)


@pytest.mark.parametrize(
    ("call", "message", "fail", "on"),
    [
        error_case(
            ("pushToService", push_params()),
            f"{CREATE} Status code: 500. Message: API Error: Database unavailable.",
            resilient_error(500, "Database unavailable"),
            "POST /incidents",
        ),
        error_case(
            ("pushToService", push_params()),
            f"{CREATE} Status code: 502. Message: API Error: Bad Gateway.",
            Canned(502, text="<html>proxy</html>"),
            "POST /incidents",
        ),
        error_case(
            ("pushToService", push_params(additionalFields={"unknown_field": "x"})),
            f"{CREATE} Status code: 400. Message: API Error: Unrecognized field: unknown_field.",
        ),
        error_case(
            ("pushToService", push_params(additionalFields={"region": 999})),
            f"{CREATE} Invalid values provided to region: [\n  999\n]."
            ' Accepted values: 100 (for "EU"),110 (for "US").',
        ),
        error_case(
            ("pushToService", push_params(additionalFields={"region": 110})),
            f"{CREATE} {FIELDS} Status code: 500. Message: API Error: Internal Server Error..",
            Canned(500, text="oops"),
            "GET /types/incident/fields",
        ),
        error_case(
            ("pushToService", push_params()),
            f"{CREATE} Response validation failed"
            " (Error: [id]: expected value of type [number] but got [undefined]).",
            Canned(200, {"name": "Suspicious login"}),
            "POST /incidents",
        ),
        error_case(
            ("pushToService", push_params()),
            f"{CREATE} Invalid time value.",
            Canned(200, {"id": 7, "create_date": "1589391874472"}),
            "POST /incidents",
        ),
        error_case(
            ("pushToService", push_params("999")),
            "[Action][IBM Resilient]: Unable to update incident with id 999. Error: [Action][IBM Resilient]:"
            " Unable to get incident with id 999. Error: Status code: 404."
            " Message: API Error: Incident not found: 999..",
        ),
        error_case(
            ("pushToService", ADDITIONAL_2096),
            f"{UPDATE} Error while updating incident: The ticket_ref field was changed by someone else..",
            Canned(200, {"success": False, "message": "The ticket_ref field was changed by someone else."}),
            "PATCH /incidents",
        ),
        error_case(
            ("pushToService", ADDITIONAL_2096),
            f"{UPDATE} Error while updating incident: undefined.",
            Canned(200, {"success": False}),
            "PATCH /incidents",
        ),
        error_case(
            ("pushToService", ADDITIONAL_2096),
            f"{UPDATE} Response validation failed"
            " (Error: [success]: expected value of type [boolean] but got [undefined]).",
            Canned(200, {}),
            "PATCH /incidents",
        ),
        error_case(
            ("pushToService", push_params("2096", additionalFields={"unknown_field": "x"})),
            f"{UPDATE} No metadata found for field unknown_field.",
        ),
        error_case(
            ("pushToService", push_params("2096", incidentTypes=["99"])),
            f"{UPDATE} Invalid values provided to incident_type_ids: [\n  99\n]."
            f" Accepted values: {ACCEPTED_TYPES}.",
        ),
        error_case(
            ("pushToService", push_params("2096")),
            f"{UPDATE} {GET_2096} Response validation failed (Error: [inc_last_modified_date]:"
            " expected value of type [number] but got [undefined])..",
            Canned(200, {"id": 2096}),
            "GET /incidents/2096",
        ),
        error_case(
            ("pushToService", push_params("2096", [("c-1", "Noted.")])),
            "[Action][IBM Resilient]: Unable to create comment at incident with id 2096."
            " Error: Status code: 500. Message: API Error: Comments are read-only.",
            resilient_error(500, "Comments are read-only"),
            "POST /incidents/2096/comments",
        ),
        error_case(
            ("incidentTypes", {}),
            "[Action][IBM Resilient]: Unable to get incident types. Error: Response validation failed"
            " (Error: [values.1.label]: expected value of type [string] but got [undefined]).",
            Canned(200, {"values": [{"value": 17, "label": "Malware"}, {"value": 18}]}),
            "GET /types/incident/fields/incident_type_ids",
        ),
        error_case(
            ("severity", {}),
            "[Action][IBM Resilient]: Unable to get severity."
            " Error: Status code: 500. Message: API Error: Busy.",
            resilient_error(500, "Busy"),
            "GET /types/incident/fields/severity_code",
        ),
        error_case(
            ("getFields", {}),
            f"{FIELDS} Response validation failed (Error: expected value of type [array] but got [Object]).",
            Canned(200, {"fields": []}),
            "GET /types/incident/fields",
        ),
    ],
    ids=[
        "create-500",
        "create-502-html",
        "create-refused",
        "create-choice-not-offered",
        "create-fields-failing",
        "create-answer-without-id",
        "create-date-not-a-number",
        "update-missing-incident",
        "update-conflict",
        "update-refused-without-message",
        "update-answer-without-success",
        "update-field-unknown",
        "update-type-not-offered",
        "update-read-back-incomplete",
        "comment-500",
        "incident-types-incomplete",
        "severity-500",
        "fields-not-a-list",
    ],
)
async def test_a_failing_call_is_worded_as_kibana(
    casepush, resilient, connector, incident, call, message, fail, on
):
    if fail is not None:
        resilient.fail(on, fail)

    assert await casepush.execution_failed(connector["id"], *call) == message


async def test_wrong_credentials_are_resilients_401(casepush, resilient):
    connector = await create_connector(casepush, resilient.url, apiKeySecret="wrong")

    message = await casepush.execution_failed(connector["id"], "pushToService", push_params())

    assert message == f"{CREATE} Status code: 401. Message: Unauthorized API Error."
    assert resilient.incidents == {}


async def test_an_unreachable_resilient_is_an_unknown_api_error(casepush):
    connector = await create_connector(casepush, "http://127.0.0.1:9")

    message = await casepush.execution_failed(connector["id"], "pushToService", push_params())

    assert message == f"{CREATE} Status code: undefined. Message: Unknown API Error."


async def test_a_host_no_longer_allowed_is_refused_before_any_call(resilient):
    service_config = ResilientConfig(resilient.url, ORG), ResilientSecrets(KEY_ID, KEY_SECRET)
    async with create_session() as session:
        http = OutboundClient(session, ["soar.example.com"], timeout=10, max_response_bytes=1 << 20)
        with pytest.raises(ConnectorError) as refused:
            await ResilientService(http, *service_config).choices("severity_code", "Unable to get severity")

    assert refused.value.message == (
        "[Action][IBM Resilient]: Unable to get severity. Error: error configuring connector action:"
        f' target url "{resilient.url}/rest/orgs/{ORG}/types/incident/fields/severity_code" is not added'
        " to the Kibana config xpack.actions.allowedHosts."
    )
    assert resilient.requests == []


async def test_a_trailing_slash_of_the_api_url_is_dropped_as_kibana_does(casepush, resilient):
    connector = await create_connector(casepush, f"{resilient.url}/")

    data = await casepush.executed(connector["id"], "pushToService", push_params())

    assert data["url"] == f"{resilient.url}/#incidents/2096"
    assert resilient.calls() == ["POST /incidents"]


# --- pushing a case -------------------------------------------------------------------------------------


async def add_comment(api: Api, case_id: str, text: str) -> None:
    body = {"type": "user", "comment": text, "owner": "cases"}
    assert (await api.post(f"/api/cases/{case_id}/comments", body))[0] == 200


async def add_alert(api: Api, case_id: str, alert_id: str) -> None:
    body = {
        "type": "alert",
        "alertId": alert_id,
        "index": ".alerts",
        "rule": {"id": "r", "name": "R"},
        "owner": "cases",
    }
    assert (await api.post(f"/api/cases/{case_id}/comments", body))[0] == 200


async def test_a_case_push_creates_then_updates_the_incident_with_the_cases_resilient_fields(
    casepush, resilient, connector
):
    fields = {"additionalFields": '{"ticket_ref": "T-9"}'}
    case = await casepush.create_case(connector=case_connector(connector, **fields))
    await add_comment(casepush, case["id"], "Looked at the logs.")
    await add_alert(casepush, case["id"], "alert-1")
    before = time.time()

    first = await pushed_case(casepush, case["id"], connector["id"])

    (sent,) = resilient.sent("POST", "/incidents")
    assert discovered(sent, before) == {
        "name": "Suspicious login",
        "description": {
            "format": "html",
            "content": "Several failed logins followed by a success.\n\nAdded by elastic.",
        },
        "incident_type_ids": [{"id": 17}, {"id": 19}],
        "severity_code": {"id": 5},
        "properties": {"ticket_ref": "T-9"},
    }
    service = first["external_service"]
    assert (service["external_id"], service["external_title"], service["external_url"]) == (
        "2096",
        "2096",
        f"{resilient.url}/#incidents/2096",
    )
    assert [c["text"] for c in resilient.comments[2096]] == [
        "Looked at the logs.\n\nAdded by elastic.",
        "Elastic Alerts attached to the case: 1",
    ]
    await add_comment(casepush, case["id"], "Blocked the address.")
    resilient.now = LATER

    again = await pushed_case(casepush, case["id"], connector["id"])

    assert again["external_service"]["external_id"] == "2096"
    assert resilient.calls()[4:] == [
        "GET /incidents/2096",
        "GET /types/incident/fields",
        "PATCH /incidents/2096",
        "GET /incidents/2096",
        "POST /incidents/2096/comments",
    ]
    (patch,) = resilient.sent("PATCH", "/incidents/2096")
    assert [change["field"]["name"] for change in patch["changes"]] == [
        "ticket_ref",
        "name",
        "description",
        "incident_type_ids",
        "severity_code",
    ]
    assert [c["text"] for c in resilient.comments[2096]][2:] == ["Blocked the address.\n\nAdded by elastic."]
    assert list(resilient.incidents) == [2096]


async def test_a_failing_resilient_makes_the_case_push_a_424_and_leaves_the_case(
    casepush, resilient, connector
):
    case = await casepush.create_case(connector=case_connector(connector))
    resilient.fail("POST /incidents", resilient_error(500, "Database unavailable"))

    status, body = await push_case(casepush, case["id"], connector["id"])

    assert (status, body) == (
        424,
        {
            "statusCode": 424,
            "error": "Failed Dependency",
            "message": f"{CREATE} Status code: 500. Message: API Error: Database unavailable.",
        },
    )
    status, unchanged = await casepush.get(f"/api/cases/{case['id']}")
    assert unchanged["external_service"] is None
    assert unchanged["version"] == case["version"]


async def test_a_case_whose_additional_fields_are_not_json_is_a_424_before_any_call(
    casepush, resilient, connector
):
    case = await casepush.create_case(connector=case_connector(connector, additionalFields="{oops"))

    status, body = await push_case(casepush, case["id"], connector["id"])

    assert (status, body["message"]) == (
        424,
        "Request validation failed (Error: [incident]: [additionalFields]:"
        " could not parse record value from json input)",
    )
    assert resilient.requests == []


@pytest.mark.parametrize("casepush_plugins", ["interrupted"], indirect=True)
async def test_a_push_killed_after_the_create_makes_a_second_incident_as_kibana_would(
    casepush, resilient, connector
):
    """Kibana-compatible incidents carry no case id Resilient could search for: the type has no
    ``find_incident``, and the next push creates the incident again."""
    case = await casepush.create_case(connector=case_connector(connector))
    with pytest.raises(aiohttp.ClientError):
        await push_case(casepush, case["id"], connector["id"])

    result = await pushed_case(casepush, case["id"], connector["id"])

    assert result["external_service"]["external_id"] == "2097"
    assert list(resilient.incidents) == [2096, 2097]


# --- secrets --------------------------------------------------------------------------------------------


async def test_the_api_key_is_in_no_answer_and_not_stored_in_clear(
    casepush, casepush_settings, resilient, connector
):
    await casepush.executed(connector["id"], "pushToService", push_params())
    answers = [
        connector,
        *[
            (await casepush.get(path))[1]
            for path in ("/api/actions/connectors", f"/api/actions/connector/{connector['id']}")
        ],
    ]

    assert KEY_SECRET not in repr(answers) and KEY_ID not in repr(answers)
    stored = await StoredData(casepush_settings).everything()
    assert KEY_SECRET.encode() not in stored and KEY_ID.encode() not in stored


# --- the contract every connector type passes -----------------------------------------------------------


class TestResilientContract(ConnectorContract):
    @pytest.fixture
    def contract_type_id(self) -> str:
        return ".resilient"

    @pytest.fixture
    def contract_connector(self, resilient: FakeResilient) -> dict:
        return {"config": {"apiUrl": resilient.url, "orgId": ORG}, "secrets": SECRETS}

    @pytest.fixture
    def contract_push_params(self) -> Callable[[str | None, list[tuple[str, str]]], dict]:
        return lambda external_id, comments: push_params(external_id, comments, incidentTypes=["19"])

    @pytest.fixture
    def contract_break(self, resilient: FakeResilient) -> Callable[[], None]:
        return lambda: setattr(resilient, "broken", True)
