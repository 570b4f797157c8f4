"""The Swimlane connector type (``.swimlane``) through casepush's HTTP API: its listing, connectors,
``_execute``'s ``pushToService`` and its errors, against a fake Swimlane (``fake_swimlane``)."""

import re
import socket
from typing import Any

import pytest
from casepush_swimlane.service import InvalidAnswer, js_date, js_number
from fake_swimlane import (
    APP_ID,
    START_ISO,
    TOKEN,
    Canned,
    answer,
    later,
    mapping,
    server_error,
    swimlane_error,
)
from swimlane_support import (
    COMMENT,
    CREATE,
    RECORDS,
    UNDEFINED,
    UNMAPPED,
    UPDATE,
    casepush_plugins,
    connector,
    connector_body,
    create_connector,
    push,
    push_params,
    pushed,
    refused,
    swimlane,
    swimlane_config,
)

from casepush.testing.database import StoredData

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


@pytest.mark.parametrize("value", ["yesterday", 9e15, float("nan"), {"date": "2021-06-01"}, "2021-13-01"])
def test_a_date_javascript_cannot_read_is_its_invalid_time_value(value):
    with pytest.raises(InvalidAnswer, match=r"^Invalid time value$"):
        js_date(value)


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
