"""The Swimlane connector type (``.swimlane``) through casepush's HTTP API, against a fake Swimlane
(``fake_swimlane``)."""

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import casepush_swimlane
import msgspec
import pytest
from casepush_swimlane.schema import SwimlaneConfig, SwimlaneSecrets
from casepush_swimlane.service import js_date, js_number
from fake_swimlane import (
    APP_ID,
    MAPPINGS,
    START_ISO,
    TOKEN,
    Canned,
    FakeSwimlane,
    answer,
    later,
    mapping,
    server_error,
    start_swimlane,
    swimlane_error,
)

from casepush import hookimpl
from casepush.config import Settings
from casepush.connectors import Connector, PushedIncident
from casepush.http import OutboundClient, create_session
from casepush.testing import PASSWORD, Api, FakeService, case_body
from casepush.testing.contract import ConnectorContract
from casepush.testing.database import StoredData

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


# --- fixtures and helpers -------------------------------------------------------------------------------


@pytest.fixture
def casepush_plugins(request: pytest.FixtureRequest) -> list[object]:
    """The plugin, and with the indirect parameter ``"interrupted"`` a fresh ``Interrupter`` too."""
    interrupted = getattr(request, "param", None) == "interrupted"
    return [casepush_swimlane, Interrupter()] if interrupted else [casepush_swimlane]


@pytest.fixture
def casepush_settings(
    request: pytest.FixtureRequest, tmp_path: Path, casepush_database_url: str | None
) -> Settings:
    """The kit's settings (on both storage backends), plus those an indirect parametrization gives."""
    extra = getattr(request, "param", {})
    return Settings(
        data_dir=str(tmp_path / "casepush"),
        database_url=casepush_database_url,
        elastic_password=PASSWORD,
        **extra,
    )


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


# --- the type -------------------------------------------------------------------------------------------


async def test_the_type_is_listed_as_kibana_lists_it(casepush):
    status, types = await casepush.get("/api/actions/connector_types")

    assert status == 200
    (listed,) = [t for t in types if t["id"] == ".swimlane"]
    assert (listed["name"], listed["minimum_license_required"], listed["supported_feature_ids"]) == (
        "Swimlane",
        "gold",
        ["alerting", "cases", "siem"],
    )


async def test_a_connector_answers_its_config_and_keeps_its_token_sealed(
    casepush, casepush_settings, swimlane
):
    made = await create_connector(casepush, swimlane.url)

    assert made["config"] == swimlane_config(swimlane.url)
    assert made["is_missing_secrets"] is False
    assert "secrets" not in made
    assert TOKEN.encode() not in await StoredData(casepush_settings).everything()


# --- pushToService through _execute ---------------------------------------------------------------------


async def test_create_posts_kibanas_record_with_the_private_token(casepush, swimlane, connector):
    data = await pushed(casepush, connector["id"], push_params())

    record = next(iter(swimlane.records.values()))
    assert data == {
        "id": record["id"],
        "title": "SEC-1",
        "url": f"{swimlane.url}/record/{APP_ID}/{record['id']}",
        "pushedDate": START_ISO,
    }
    assert swimlane.sent("POST", RECORDS) == [
        {
            "applicationId": APP_ID,
            "values": {
                "adnfls": "Rule Name",
                "ednjls": "fs345f78g",
                "a6sst": "es3456789",
                "a6fst": "Case Name",
                "adnlas": 3,
                "a6dsc": "This is a description",
            },
        }
    ]
    (call,) = swimlane.requests
    assert (call.headers["Private-Token"], call.headers["Content-Type"]) == (TOKEN, "application/json")


async def test_update_patches_the_record_then_adds_every_comment_with_one_date(casepush, swimlane, connector):
    record = swimlane.seed(a6fst="Case Name")
    swimlane.now = later(5)
    comments = [("c-1", "Looked at the logs."), ("c-2", ""), ("c-3", "Blocked the address.")]

    data = await pushed(casepush, connector["id"], push_params(record["id"], comments, alertId=None))

    sent = [r.json() for r in swimlane.requests[1:]]
    created_date = sent[0]["createdDate"]
    assert data == {
        "id": record["id"],
        "title": "SEC-1",
        "url": f"{swimlane.url}/record/{APP_ID}/{record['id']}",
        "pushedDate": "2021-06-01T17:34:51.092Z",
        "comments": [{"commentId": c, "pushedDate": created_date} for c in ("c-1", "c-2", "c-3")],
    }
    assert (
        swimlane.calls()
        == [f"PATCH {RECORDS}/{record['id']}"] + [f"POST {RECORDS}/{record['id']}/a6cmt/comment"] * 3
    )
    assert swimlane.sent("PATCH", f"{RECORDS}/{record['id']}")[0]["id"] == record["id"]
    assert "ednjls" not in swimlane.records[record["id"]]["values"]
    assert sent == [
        {"createdDate": created_date, "fieldId": "a6cmt", "isRichText": True, "message": text}
        for _, text in comments
    ]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", created_date)


async def test_only_mapped_non_empty_values_are_sent_and_a_shared_field_takes_the_later(casepush, swimlane):
    # Kibana's functional test maps the comments and the description to one field id.
    mappings = {"caseNameConfig": mapping("a6fst"), "descriptionConfig": {**mapping("a6cmt"), "id": "a6fst"}}
    connector = await create_connector(casepush, swimlane.url, mappings=mappings)

    await pushed(casepush, connector["id"], push_params(caseName="Name", description="Text"))
    await pushed(casepush, connector["id"], push_params(caseName="Name", description=""))

    assert [body["values"] for body in swimlane.sent("POST", RECORDS)] == [
        {"a6fst": "Text"},
        {"a6fst": "Name"},
    ]


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("3", 3),
        (" 2.5 ", 2.5),
        ("1e3", 1000),
        ("0x1F", 31),
        ("-.5", -0.5),
        ("high", 0),
        ("1_000", 0),
        ("   ", 0),
        ("Infinity", None),
    ],
)
def test_a_numeric_field_takes_javascripts_number_of_the_value(text, number):
    assert js_number(text) == number


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("2021-06-01T17:29:51.092Z", "2021-06-01T17:29:51.092Z"),
        ("2021-06-01T19:29:51.0921234+02:00", "2021-06-01T17:29:51.092Z"),
        ("2021-06-01", "2021-06-01T00:00:00.000Z"),
        ("Tue, 01 Jun 2021 17:29:51 GMT", "2021-06-01T17:29:51.000Z"),
        (1622568591092, "2021-06-01T17:29:51.092Z"),
        (None, "1970-01-01T00:00:00.000Z"),
    ],
)
def test_swimlanes_dates_are_read_as_javascripts_date(value, iso):
    assert js_date(value) == iso


@pytest.mark.parametrize("api_url", ["{url}/api", "{url}/api/"])
async def test_an_api_url_ending_with_api_is_not_given_it_twice(casepush, swimlane, api_url):
    connector = await create_connector(casepush, api_url.format(url=swimlane.url))

    data = await pushed(casepush, connector["id"], push_params())

    assert swimlane.calls() == [f"POST {RECORDS}"]
    assert data["url"] == f"{swimlane.url}/api/record/{APP_ID}/{data['id']}"


# --- validation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        (
            {"incident": {}, "comments": [{"comment": "x"}]},
            f"[subActionParams.comments.0.commentId]: {UNDEFINED}",
        ),
        (
            {"incident": {"summary": "x"}},
            "[subActionParams.incident.summary]: definition for this key is missing",
        ),
        (
            {"incident": {"severity": 3}},
            "[subActionParams.incident.severity]: expected value of type [string] but got [number]",
        ),
        (None, "[subActionParams]: expected value of type [object] but got [null]"),
    ],
    ids=["comment-without-id", "unknown-key", "severity-number", "no-params"],
)
async def test_params_kibana_refuses_are_refused_before_calling_swimlane(
    casepush, swimlane, connector, params, detail
):
    result = await push(casepush, connector["id"], params)

    assert (result["status"], result["message"]) == ("error", f"error validating action params: {detail}")
    assert swimlane.requests == []


async def test_pushtoservice_is_the_only_sub_action(casepush, connector):
    body = {"params": {"subAction": "getIncident", "subActionParams": {"externalId": "x"}}}
    status, result = await casepush.post(f"/api/actions/connector/{connector['id']}/_execute", body)

    assert (status, result["message"]) == (
        200,
        "error validating action params: types that failed validation:\n"
        "- [0.subAction]: expected value to equal [pushToService]",
    )


@pytest.mark.parametrize(
    ("config", "secrets", "message"),
    [
        ({"apiUrl": None}, None, "config: [apiUrl]: expected value of type [string] but got [null]"),
        ({"appId": 42}, None, "config: [appId]: expected value of type [string] but got [number]"),
        (
            {"connectorType": "incidents"},
            None,
            "config: [connectorType]: types that failed validation:\n"
            "- [connectorType.0]: expected value to equal [all]\n"
            "- [connectorType.1]: expected value to equal [alerts]\n"
            "- [connectorType.2]: expected value to equal [cases]",
        ),
        ({"mappings": None}, None, "config: [mappings]: expected value of type [object] but got [null]"),
        (
            {"mappings": {"caseIdConfig": {"id": "a6sst", "key": "case-id", "name": "Case Id"}}},
            None,
            f"config: [mappings.caseIdConfig.fieldType]: {UNDEFINED}",
        ),
        (
            {"mappings": {"caseTitleConfig": None}},
            None,
            "config: [mappings.caseTitleConfig]: definition for this key is missing",
        ),
        ({"isOAuth": False}, None, "config: [isOAuth]: definition for this key is missing"),
        ({}, {}, f"secrets: [apiToken]: {UNDEFINED}"),
    ],
    ids=[
        "api-url",
        "app-id",
        "connector-type",
        "mappings",
        "mapping-field-type",
        "mapping-key",
        "key",
        "token",
    ],
)
async def test_a_connector_kibana_refuses_is_a_400(casepush, config, secrets, message):
    status, body = await casepush.post(
        "/api/actions/connector", connector_body("https://x", secrets, **config)
    )

    assert (status, body) == (
        400,
        {"statusCode": 400, "error": "Bad Request", "message": f"error validating action type {message}"},
    )


async def test_empty_mappings_and_any_connector_type_are_taken_as_kibanas_api_takes_them(casepush, swimlane):
    made = await create_connector(casepush, swimlane.url, connectorType="alerts", mappings={})

    assert made["config"]["mappings"] == UNMAPPED


@pytest.mark.parametrize("casepush_settings", [{"allowed_hosts": ["swimlane.example.com"]}], indirect=True)
async def test_an_api_url_on_a_host_not_allowed_is_refused(casepush):
    status, body = await casepush.post("/api/actions/connector", connector_body("https://acme.swimlane.app"))

    assert (status, body["message"]) == (
        400,
        "error validating action type config: error configuring connector action: target url"
        ' "https://acme.swimlane.app" is not added to the Kibana config xpack.actions.allowedHosts',
    )
    await create_connector(casepush, "https://swimlane.example.com")


# --- errors ---------------------------------------------------------------------------------------------


def error_case(case_id: str, params: dict, message: str, canned: Canned | None = None, on: str = "") -> Any:
    """``params`` fail with ``message``; ``canned`` answers the calls ``on`` (``METHOD part-of-path``)."""
    return pytest.param(params, message, canned, on, id=case_id)


A_COMMENT = [("c-1", "Seen.")]
ERROR_CASES = [
    error_case(
        "create-refused",
        push_params(),
        f"{CREATE} Status: 400. Error: Request failed with status code 400. Reason: Severity (5013)",
        swimlane_error(5013, "Severity"),
        "POST /record",
    ),
    error_case(
        "create-required-field",
        push_params(caseName=None),
        f"{CREATE} Status: 400. Error: Request failed with status code 400. Reason: Case Name (5010)",
    ),
    error_case(
        "create-proxy-page",
        push_params(),
        f"{CREATE} Status: 500. Error: Request failed with status code 500. Reason: unknown",
        server_error(500),
        "POST /record",
    ),
    error_case(
        "create-error-without-argument",
        push_params(),
        f"{CREATE} Status: 403. Error: Request failed with status code 403. Reason: unknown",
        answer(403, {"ErrorCode": 1007}),
        "POST /record",
    ),
    error_case(
        "create-wrong-content-type",
        push_params(),
        f"{CREATE} Status: 500. Error: Unsupported content type: text/html in post {{url}}{RECORDS}."
        " Supported content types: application/json. Reason: unknown",
        Canned(200, b"<html></html>", "text/html"),
        "POST /record",
    ),
    error_case(
        "create-no-content-type",
        push_params(),
        f"{CREATE} Status: 500. Error: Unsupported content type: undefined in post {{url}}{RECORDS}."
        " Supported content types: application/json. Reason: unknown",
        Canned(200, b"", None),
        "POST /record",
    ),
    error_case(
        "create-not-json",
        push_params(),
        f"{CREATE} Status: 500. Error: Response is not a valid JSON. Reason: unknown",
        Canned(200, b"created"),
        "POST /record",
    ),
    error_case(
        "create-missing-date",
        push_params(),
        f"{CREATE} Status: 500. Error: Response is missing at least one of the expected fields:"
        " id,name,createdDate. Reason: unknown",
        answer(200, {"id": "x", "name": "SEC-1"}),
        "POST /record",
    ),
    error_case(
        "create-array",
        push_params(),
        f"{CREATE} Status: 500. Error: Response is missing at least one of the expected fields:"
        " id,name,createdDate. Reason: unknown",
        answer(200, [{"id": "x", "name": "SEC-1", "createdDate": START_ISO}]),
        "POST /record",
    ),
    error_case(
        "create-bad-date",
        push_params(),
        f"{CREATE} Status: 500. Error: Invalid time value. Reason: unknown",
        answer(200, {"id": "x", "name": "SEC-1", "createdDate": "yesterday"}),
        "POST /record",
    ),
    error_case(
        "create-no-content",
        push_params(),
        f"{CREATE} Status: 500. Error: Invalid time value. Reason: unknown",
        Canned(204),
        "POST /record",
    ),
    error_case(
        "update-missing",
        push_params("nosuchrecord"),
        f"{UPDATE} Status: 400. Error: Request failed with status code 400. Reason: nosuchrecord (3002)",
    ),
    error_case(
        "update-missing-date",
        push_params("{record}"),
        f"{UPDATE} Status: 500. Error: Response is missing at least one of the expected fields:"
        " id,name,modifiedDate. Reason: unknown",
        answer(200, {"id": "x", "name": "SEC-1", "createdDate": START_ISO}),
        "PATCH /record",
    ),
    error_case(
        "comment-refused",
        push_params("{record}", A_COMMENT),
        f"{COMMENT} Status: 429. Error: Request failed with status code 429. Reason: unknown",
        answer(429, {"message": "Too many requests"}),
        "/comment",
    ),
]


@pytest.mark.parametrize(("params", "message", "canned", "on"), ERROR_CASES)
async def test_a_failing_call_is_worded_as_kibana(casepush, swimlane, connector, params, message, canned, on):
    record = swimlane.seed(a6fst="Existing")
    if params["incident"]["externalId"] == "{record}":
        params = {**params, "incident": {**params["incident"], "externalId": record["id"]}}
    if canned is not None:
        method, _, path = on.rpartition(" ")
        swimlane.fail_next(canned, method or None, path, times=3)

    assert await refused(casepush, connector["id"], params) == message.format(url=swimlane.url)


async def test_a_wrong_token_is_swimlanes_401(casepush, swimlane):
    connector = await create_connector(casepush, swimlane.url, secrets={"apiToken": "not-the-token"})

    message = await refused(casepush, connector["id"], push_params())

    assert message == f"{CREATE} Status: 401. Error: Request failed with status code 401. Reason: unknown"
    assert "not-the-token" not in message


async def test_comments_without_a_comments_mapping_fail_after_the_record_is_saved(casepush, swimlane):
    connector = await create_connector(casepush, swimlane.url, mappings={"caseNameConfig": mapping("a6fst")})

    message = await refused(casepush, connector["id"], push_params(comments=A_COMMENT))

    assert message == (
        f"{COMMENT} Status: 500. Error: No comment field mapped in Swimlane connector. Reason: unknown"
    )
    assert len(swimlane.records) == 1


async def test_no_answer_is_worded_with_the_connection_error(casepush):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    connector = await create_connector(casepush, f"http://127.0.0.1:{port}")

    message = await refused(casepush, connector["id"], push_params())

    assert message == f"{CREATE} Status: 500. Error: connect ECONNREFUSED 127.0.0.1:{port}. Reason: unknown"


# --- pushing a case -------------------------------------------------------------------------------------


async def test_a_case_push_creates_then_updates_the_record_with_new_comments_and_the_alerts(
    casepush, swimlane, connector
):
    case = await casepush.create_case(connector=case_connector(connector))

    status, first = await push_case(casepush, case["id"], connector["id"])

    assert status == 200, first
    (record,) = swimlane.records.values()
    assert swimlane.sent("POST", RECORDS) == [
        {
            "applicationId": APP_ID,
            "values": {
                "a6sst": case["id"],
                "a6fst": "Suspicious login",
                "a6dsc": "Several failed logins followed by a success.\n\nAdded by elastic.",
            },
        }
    ]
    service = first["external_service"]
    assert (service["external_id"], service["external_title"], service["external_url"]) == (
        record["id"],
        "SEC-1",
        f"{swimlane.url}/record/{APP_ID}/{record['id']}",
    )
    comment = {"type": "user", "comment": "Looked at the logs.", "owner": "cases"}
    alert = {"type": "alert", "alertId": ["a1", "a2"], "index": "alerts", "rule": {"id": "r", "name": "R"}}
    for attachment in (comment, {**alert, "owner": "cases"}):
        assert (await casepush.post(f"/api/cases/{case['id']}/comments", attachment))[0] == 200

    status, again = await push_case(casepush, case["id"], connector["id"])

    assert status == 200, again
    assert again["external_service"]["external_id"] == record["id"]
    path = f"{RECORDS}/{record['id']}"
    assert swimlane.calls()[1:] == [
        f"PATCH {path}",
        f"POST {path}/a6cmt/comment",
        f"POST {path}/a6cmt/comment",
    ]
    assert [c["message"] for c in swimlane.comments[record["id"]]] == [
        "Looked at the logs.\n\nAdded by elastic.",
        "Elastic Alerts attached to the case: 2",
    ]
    await push_case(casepush, case["id"], connector["id"])
    assert len(swimlane.comments[record["id"]]) == 2  # nothing new: no comment again


@pytest.mark.parametrize(
    ("fields", "sent"),
    [({"caseId": "SOC-7"}, "SOC-7"), ({"caseId": None}, None), (None, "{case}")],
    ids=["given", "null", "no-fields"],
)
async def test_the_case_id_sent_is_the_fields_one_when_they_name_it(
    casepush, swimlane, connector, fields, sent
):
    case = await casepush.create_case(connector=case_connector(connector, fields))

    assert (await push_case(casepush, case["id"], connector["id"]))[0] == 200

    values = swimlane.sent("POST", RECORDS)[0]["values"]
    assert values.get("a6sst") == (case["id"] if sent == "{case}" else sent)


@pytest.mark.parametrize("fields", [{}, {"caseId": 7}, {"caseId": "x", "severity": "high"}])
async def test_case_fields_not_of_swimlane_are_a_400(casepush, connector, fields):
    status, body = await casepush.post("/api/cases", case_body(connector=case_connector(connector, fields)))

    assert status == 400, body
    assert "connector,fields" in body["message"]


async def test_a_failing_swimlane_makes_the_case_push_a_424_and_leaves_the_case_as_it_was(
    casepush, swimlane, connector
):
    case = await casepush.create_case(connector=case_connector(connector))
    swimlane.fail_next(swimlane_error(5013, "Case Name"), "POST")

    status, body = await push_case(casepush, case["id"], connector["id"])

    assert (status, body) == (
        424,
        {
            "statusCode": 424,
            "error": "Failed Dependency",
            "message": f"{CREATE} Status: 400. Error: Request failed with status code 400."
            " Reason: Case Name (5013)",
        },
    )
    status, after = await casepush.get(f"/api/cases/{case['id']}")
    assert (after["external_service"], after["version"]) == (None, case["version"])


# --- crash recovery -------------------------------------------------------------------------------------


class Interrupter:
    """A fault hook: dies (as a killed process would) right after the record is made, before the save."""

    def __init__(self) -> None:
        self.armed = True

    @hookimpl
    def after_push(self, incident: PushedIncident | None) -> None:
        if self.armed and incident is not None:
            self.armed = False
            raise asyncio.CancelledError


@pytest.mark.parametrize("casepush_plugins", ["interrupted"], indirect=True)
async def test_a_push_killed_after_the_create_finds_the_record_by_the_case_id(casepush, swimlane, connector):
    case = await casepush.create_case(connector=case_connector(connector))
    swimlane.seed(a6fst="Another case", a6sst="another-case")
    with pytest.raises(aiohttp.ClientError):
        await push_case(casepush, case["id"], connector["id"])
    (record,) = [r for r in swimlane.records.values() if r["values"].get("a6sst") == case["id"]]

    status, result = await push_case(casepush, case["id"], connector["id"])

    assert status == 200, result
    assert result["external_service"]["external_id"] == record["id"]
    assert len(swimlane.records) == 2
    assert swimlane.calls()[1:] == [
        "POST /api/search",
        f"GET {RECORDS}/{record['id']}",
        f"PATCH {RECORDS}/{record['id']}",
    ]
    assert swimlane.sent("POST", "/api/search")[0]["filters"] == [
        {"fieldId": "a6sst", "filterType": "equals", "value": case["id"]}
    ]


@pytest.fixture
async def http() -> AsyncIterator[OutboundClient]:
    async with create_session() as session:
        yield OutboundClient(session, ["*"], timeout=10, max_response_bytes=1 << 20)


def direct_connector(api_url: str, mappings: dict[str, Any]) -> Connector:
    """A connector as the hooks get it, called directly (no app)."""
    config = msgspec.convert(swimlane_config(api_url, mappings=mappings), SwimlaneConfig)
    return Connector("sw", "Swimlane", casepush_swimlane.SWIMLANE, config, SwimlaneSecrets(TOKEN))


async def test_find_incident_answers_the_newest_record_of_the_case_or_none(swimlane, http):
    swimlane.seed(a6sst="case-1")
    swimlane.now = later(1)
    newest = swimlane.seed(a6sst="case-1")
    swimlane.seed(a6sst="case-2")
    connector = direct_connector(swimlane.url, MAPPINGS)

    found = await casepush_swimlane.find_incident(connector, "case-1", http)
    missing = await casepush_swimlane.find_incident(connector, "case-3", http)

    url = f"{swimlane.url}/record/{APP_ID}/{newest['id']}"
    assert found == PushedIncident(newest["id"], newest["name"], url, "2021-06-01T17:30:51.092Z")
    assert missing is None


async def test_find_incident_without_a_case_id_mapping_finds_nothing_and_asks_nothing(swimlane, http):
    connector = direct_connector(swimlane.url, {"caseNameConfig": mapping("a6fst")})

    assert await casepush_swimlane.find_incident(connector, "case-1", http) is None
    assert swimlane.requests == []


# --- the web UI's connector form ------------------------------------------------------------------------


async def test_the_ui_makes_a_swimlane_connector_from_its_form(casepush, swimlane):
    client = casepush.client
    login = await (await client.get("/app/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]*)"', login)[1]
    await client.post("/app/login", data={"csrf": csrf, "username": "elastic", "password": PASSWORD})

    form = await (await client.get("/app/connectors/new?type=.swimlane")).text()

    for name in ("config.apiUrl", "config.appId", "config.mappings", "secrets.apiToken"):
        assert f'name="{name}"' in form
    assert all(f'value="{kind}"' in form for kind in ("all", "alerts", "cases"))
    fields = {
        "csrf": re.search(r'name="csrf" value="([^"]*)"', form)[1],
        "connector_type_id": ".swimlane",
        "name": "From the form",
        "config.apiUrl": swimlane.url,
        "config.appId": APP_ID,
        "config.connectorType": "cases",
        "config.mappings": msgspec.json.encode({"caseIdConfig": mapping("a6sst")}).decode(),
        "secrets.apiToken": TOKEN,
    }
    created = await (await client.post("/app/connectors/new", data=fields)).text()
    assert "Connector From the form created." in created and TOKEN not in created
    _, found = await casepush.get("/api/actions/connectors")
    assert [c["config"]["mappings"] for c in found] == [{**UNMAPPED, "caseIdConfig": mapping("a6sst")}]


# --- the contract every connector type passes -----------------------------------------------------------


class TestSwimlaneContract(ConnectorContract):
    @pytest.fixture
    def contract_type_id(self) -> str:
        return ".swimlane"

    @pytest.fixture
    def contract_connector(self, swimlane: FakeSwimlane) -> dict:
        return {"config": swimlane_config(swimlane.url), "secrets": SECRETS}

    @pytest.fixture
    def contract_push_params(self) -> Callable[[str | None, list[tuple[str, str]]], dict]:
        return push_params

    @pytest.fixture
    def contract_break(self, swimlane: FakeSwimlane) -> Callable[[], None]:
        return swimlane.break_all
