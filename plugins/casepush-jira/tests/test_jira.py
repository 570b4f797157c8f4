"""The Jira connector type (``.jira``) through casepush's HTTP API, against a fake Jira (``fake_jira``)."""

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import casepush_jira
import pytest
from casepush_jira.schema import JiraConfig, JiraSecrets
from fake_jira import (
    API,
    API_TOKEN,
    EMAIL,
    PRIORITIES,
    PROJECT,
    START,
    SUB_TASK,
    TASK,
    ZONE,
    Canned,
    FakeJira,
    Inbox,
    answer,
    jira_error,
    jira_time,
    not_json,
    rate_limited,
    server_error,
    start_jira,
    wrong_content_type,
)

from casepush import hookimpl
from casepush.config import Settings
from casepush.connectors import Connector, PushedIncident
from casepush.http import OutboundClient, create_session
from casepush.testing import PASSWORD, Api, FakeService, KilledAfterCreate
from casepush.testing.contract import ConnectorContract

SECRETS = {"email": EMAIL, "apiToken": API_TOKEN}
#: ``START`` as Jira writes it, and as Kibana's connector answers it.
START_JIRA, START_ISO = jira_time(START), "2020-04-27T10:59:46.202Z"
LATER = datetime(2020, 5, 1, 9, 30, 0, 5000, tzinfo=ZONE)
LATER_ISO = "2020-05-01T07:30:00.005Z"
NOT_FOUND = "Issue does not exist or you do not have permission to see it."
NOT_IN_OTHER_FIELDS = "The following properties cannot be defined inside otherFields: summary."
UNDEFINED = "expected value of type [string] but got [undefined]"
#: Runs a test against a fake Jira Cloud and a fake Jira Data Center.
BOTH_EDITIONS = pytest.mark.parametrize("jira", [False, True], ids=["cloud", "data-center"], indirect=True)


# --- fixtures and helpers -------------------------------------------------------------------------------


@pytest.fixture
def casepush_plugins(request: pytest.FixtureRequest) -> list[object]:
    """The plugin, and a fresh ``KilledAfterCreate`` when parametrized indirectly with ``"interrupted"``."""
    interrupted = getattr(request, "param", None) == "interrupted"
    return [casepush_jira, KilledAfterCreate()] if interrupted else [casepush_jira]


@pytest.fixture
async def jira(request: pytest.FixtureRequest, fake_service: Callable[[], FakeService]) -> FakeJira:
    """A fake Jira Cloud, or Data Center when parametrized indirectly with ``True``."""
    return await start_jira(fake_service(), data_center=getattr(request, "param", False))


@pytest.fixture
async def connector(casepush: Api, jira: FakeJira) -> dict:
    return await create_connector(casepush, jira.url)


@pytest.fixture
def issue(jira: FakeJira) -> dict:
    """An issue already in Jira: ``10000``, ``CK-1``."""
    return jira.seed("Suspicious login (again)")


def connector_body(api_url: str, **secrets: str) -> dict:
    return {
        "name": "Jira",
        "connector_type_id": ".jira",
        "config": {"apiUrl": api_url, "projectKey": PROJECT},
        "secrets": {**SECRETS, **secrets},
    }


async def create_connector(api: Api, api_url: str, **secrets: str) -> dict:
    status, made = await api.post("/api/actions/connector", connector_body(api_url, **secrets))
    assert status == 200, made
    return made


def case_connector(connector: dict) -> dict:
    """The ``connector`` of a case pushed to Jira, with the case's Jira fields."""
    fields = {"issueType": TASK, "priority": "High", "parent": None, "otherFields": '{"customfield_1": "x"}'}
    return {"id": connector["id"], "name": "Jira", "type": ".jira", "fields": fields}


def push_params(external_id: str | None = None, comments: Any = (), **incident: Any) -> dict:
    return {
        "incident": {"summary": "Suspicious login", "externalId": external_id, **incident},
        "comments": [{"commentId": comment_id, "comment": text} for comment_id, text in comments],
    }


async def push_case(api: Api, case_id: str, connector_id: str) -> tuple[int, Any]:
    return await api.post(f"/api/cases/{case_id}/connector/{connector_id}/_push", {})


async def pushed_case(api: Api, case_id: str, connector_id: str) -> dict:
    status, case = await push_case(api, case_id, connector_id)
    assert status == 200, case
    return case


# --- create and update ----------------------------------------------------------------------------------


async def test_create_sends_kibanas_fields_and_answers_the_issue_read_back(casepush, jira, connector):
    parent = jira.seed("Parent")
    params = push_params(
        summary=" Suspicious\n login \r\n\r\n from abroad ",
        description="Several failed logins.",
        issueType=TASK,
        priority="High",
        labels=["auth", "casepush-case-1"],
        parent=parent["key"],
        # Merged last: the issue type becomes a Sub-task, the only type whose screen has a parent.
        otherFields={"customfield_1": "Internal", "issuetype": {"id": SUB_TASK}},
    )

    data = await casepush.executed(connector["id"], "pushToService", params)

    assert data == {"id": "10001", "title": "CK-2", "url": f"{jira.url}/browse/CK-2", "pushedDate": START_ISO}
    assert jira.sent("POST", "/issue") == [
        {
            "fields": {
                "summary": "Suspicious, login, from abroad",
                "project": {"key": PROJECT},
                "issuetype": {"id": SUB_TASK},
                "description": "Several failed logins.",
                "labels": ["auth", "casepush-case-1"],
                "priority": {"name": "High"},
                "parent": {"key": "CK-1"},
                "customfield_1": "Internal",
            }
        }
    ]
    assert jira.calls() == ["POST /issue", "GET /issue/10001"]
    assert jira.issues["10001"]["fields"]["issuetype"]["name"] == "Sub-task"


@BOTH_EDITIONS
async def test_create_without_an_issue_type_takes_the_first_of_createmeta(casepush, jira, connector):
    await casepush.executed(connector["id"], "pushToService", push_params())

    assert jira.calls() == [
        "GET /issue/createmeta/CK/issuetypes",
        "POST /issue",
        "GET /issue/10000",
    ]
    assert jira.sent("POST", "/issue") == [
        {"fields": {"summary": "Suspicious login", "project": {"key": PROJECT}, "issuetype": {"id": TASK}}}
    ]


async def test_update_puts_the_fields_reads_the_updated_date_and_adds_the_non_empty_comments(
    casepush, jira, connector, issue
):
    jira.now = LATER
    comments = [("c-1", "Looked at the logs."), ("c-2", ""), ("c-3", "Blocked the address.")]
    params = push_params(issue["id"], comments, summary="Suspicious login,\nagain", labels=["auth"])

    data = await casepush.executed(connector["id"], "pushToService", params)

    assert data == {
        "id": "10000",
        "title": "CK-1",
        "url": f"{jira.url}/browse/CK-1",
        "pushedDate": LATER_ISO,
        "comments": [
            {"commentId": "c-1", "pushedDate": LATER_ISO},
            {"commentId": "c-3", "pushedDate": LATER_ISO},
        ],
    }
    assert jira.calls() == [
        "PUT /issue/10000",
        "GET /issue/10000",
        "POST /issue/10000/comment",
        "POST /issue/10000/comment",
    ]
    assert jira.sent("PUT", "/issue/10000") == [
        {"fields": {"summary": "Suspicious login,, again", "project": {"key": PROJECT}, "labels": ["auth"]}}
    ]
    assert [c["body"] for c in jira.comments["10000"]] == ["Looked at the logs.", "Blocked the address."]
    assert jira.issues["10000"]["fields"]["created"] == START_JIRA


# --- the other sub-actions ------------------------------------------------------------------------------

ISSUE_FIELDS = {
    "project": {"key": PROJECT},
    "issuetype": {"id": TASK, "name": "Task", "subtask": False},
    "summary": "Suspicious login (again)",
    "created": START_JIRA,
    "updated": START_JIRA,
}


@BOTH_EDITIONS
@pytest.mark.parametrize(
    ("sub_action", "params", "expected"),
    [
        ("handshake", {}, {}),
        ("issueTypes", {}, [{"id": TASK, "name": "Task"}, {"id": SUB_TASK, "name": "Sub-task"}]),
        ("issues", {"title": "LOGIN"}, [{"id": "10000", "key": "CK-1", "title": "Suspicious login (again)"}]),
        ("issue", {"id": "CK-1"}, {"id": "10000", "key": "CK-1", "title": "Suspicious login (again)"}),
        (
            "getIncident",
            {"externalId": "10000"},
            lambda jira: {
                "id": "10000",
                "key": "CK-1",
                **ISSUE_FIELDS,
                "status": jira.status_json("To Do"),
                "assignee": None,
            },
        ),
    ],
)
async def test_sub_actions_answer_kibanas_data(
    casepush, jira, connector, issue, sub_action, params, expected
):
    jira.seed("Malware found")

    data = await casepush.executed(connector["id"], sub_action, params)

    assert data == (expected(jira) if callable(expected) else expected)


@BOTH_EDITIONS
async def test_fields_by_issue_type_answers_each_field_of_the_create_screen(casepush, jira, connector):
    data = await casepush.executed(connector["id"], "fieldsByIssueType", {"id": TASK})

    assert list(data) == [
        "summary",
        "issuetype",
        "project",
        "description",
        "labels",
        "priority",
        "customfield_1",
    ]
    assert data["summary"] == {
        "required": True,
        "allowedValues": [],
        "defaultValue": {},
        "schema": {"type": "string", "system": "summary"},
        "name": "Summary",
    }
    assert data["priority"] == {
        "required": False,
        "allowedValues": PRIORITIES,
        "defaultValue": {"id": "3", "name": "Medium"},
        "schema": {"type": "priority", "system": "priority"},
        "name": "Priority",
    }
    assert jira.calls() == [f"GET /issue/createmeta/CK/issuetypes/{TASK}"]


async def test_issues_escapes_the_title_as_kibana_for_jiras_text_search(casepush, jira, connector, issue):
    jira.seed('Login failed - (again) from "10.0.0.1"')

    data = await casepush.executed(connector["id"], "issues", {"title": 'failed - "(again)'})

    assert data == [{"id": "10001", "key": "CK-2", "title": 'Login failed - (again) from "10.0.0.1"'}]
    (search,) = jira.requests
    assert parse_qs(urlsplit(search.path).query) == {
        "jql": ['project="CK" and summary ~"failed \\\\- \\\\(again\\\\)"'],
        "fields": ["summary,key,created"],
    }


# --- validation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("incident", "detail"),
    [
        (
            {"labels": ["auth", "x y"]},
            "[subActionParams.incident]: The label x y cannot contain spaces",
        ),
        (
            {"otherFields": {f"customfield_{i}": "x" for i in range(21)}},
            "[subActionParams.incident]: A maximum of 20 fields in otherFields can be defined at a time.",
        ),
        (
            {"otherFields": {"customfield_1": "x", "summary": "y"}},
            f"[subActionParams.incident]: {NOT_IN_OTHER_FIELDS}",
        ),
        (
            {"otherFields": '{"summary": "y"}'},
            f"[subActionParams.incident]: {NOT_IN_OTHER_FIELDS}",
        ),
        (
            {"summary": None},
            "[subActionParams.incident.summary]: expected value of type [string] but got [null]",
        ),
    ],
    ids=["label-with-space", "too-many-other-fields", "other-fields-naming-summary", "as-json", "no-summary"],
)
async def test_params_kibana_refuses_are_refused_before_calling_jira(
    casepush, jira, connector, incident, detail
):
    result = await casepush.execute(connector["id"], "pushToService", push_params(**incident))

    assert result == {
        "status": "error",
        "message": f"error validating action params: {detail}",
        "connector_id": connector["id"],
        "retry": False,
    }
    assert jira.requests == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"config": {"projectKey": PROJECT}},
            f"error validating action type config: [apiUrl]: {UNDEFINED}",
        ),
        (
            {"secrets": {"email": EMAIL}},
            f"error validating action type secrets: [apiToken]: {UNDEFINED}",
        ),
        (
            {"config": {"apiUrl": "https://jira.example.com", "projectKey": PROJECT, "project": "x"}},
            "error validating action type config: [project]: definition for this key is missing",
        ),
    ],
    ids=["no-api-url", "no-api-token", "unknown-key"],
)
async def test_a_connector_missing_its_settings_is_a_400(casepush, change, message):
    status, body = await casepush.post("/api/actions/connector", {**connector_body("https://x"), **change})

    assert (status, body) == (400, {"statusCode": 400, "error": "Bad Request", "message": message})


@pytest.mark.parametrize("casepush_settings", [{"allowed_hosts": ["jira.example.com"]}], indirect=True)
async def test_an_api_url_on_a_host_not_allowed_is_refused(casepush):
    status, body = await casepush.post(
        "/api/actions/connector", connector_body("https://elastic.atlassian.net")
    )

    assert (status, body["message"]) == (
        400,
        'error validating action type config: error configuring connector action: target url "https://elastic.atlassian.net"'
        " is not added to the Kibana config xpack.actions.allowedHosts",
    )
    await create_connector(casepush, "https://jira.example.com")


# --- errors ---------------------------------------------------------------------------------------------

UNKNOWN = "Reason: unknown: errorResponse was null"
UNKNOWN_ERRORS = "Reason: unknown: errorResponse.errors was null"
CREATE = "[Action][Jira]: Unable to create incident. Error:"
GET_10000 = "[Action][Jira]: Unable to get incident with id 10000. Error:"
UPDATE_10000 = "[Action][Jira]: Unable to update incident with id 10000. Error:"
COMMENT_10000 = "[Action][Jira]: Unable to create comment at incident with id 10000. Error:"
READ_ONLY = "Field 'customfield_1' is read-only."
A_TASK = push_params(issueType=TASK)
GET_INCIDENT = ("getIncident", {"externalId": "10000"})


def error_case(
    case_id: str,
    call: tuple[str, dict],
    message: str,
    fail: Canned | None = None,
    on: str = "",
) -> Any:
    """``call`` (sub-action, params) fails with ``message``; ``fail`` answers the first call ``on``
    (``METHOD part-of-the-path``) instead of Jira itself."""
    return pytest.param(call, message, fail, on, id=case_id)


ERROR_CASES = [
    error_case(
        "create-error-messages",
        ("pushToService", A_TASK),
        f"{CREATE} Request failed with status code 400. Reason: Project is archived., Ask an admin",
        jira_error(400, "Project is archived.", "Ask an admin", project="ignored"),
        "POST /issue",
    ),
    error_case(
        "create-field-errors",
        ("pushToService", push_params(issueType=TASK, priority="Urgent", otherFields={"customfield_9": "x"})),
        f"{CREATE} Request failed with status code 400. Reason: Field 'customfield_9' cannot be set."
        " It is not on the appropriate screen, or unknown. Priority name 'Urgent' is not valid",
    ),
    error_case(
        "create-error-messages-only",
        ("pushToService", A_TASK),
        f"{CREATE} Request failed with status code 409. Reason: Issue is being created",
        answer(409, {"errorMessages": ["Issue is being created"]}),
        "POST /issue",
    ),
    error_case(
        "create-null-body",
        ("pushToService", A_TASK),
        f"{CREATE} Request failed with status code 500. {UNKNOWN}",
        answer(500, None),
        "POST /issue",
    ),
    error_case(
        "create-html-body",
        ("pushToService", A_TASK),
        f"{CREATE} Request failed with status code 502. {UNKNOWN_ERRORS}",
        server_error(502),
        "POST /issue",
    ),
    error_case(
        "create-without-errors",
        ("pushToService", A_TASK),
        f"{CREATE} Request failed with status code 400. {UNKNOWN_ERRORS}",
        answer(400, {"message": "Bad request"}),
        "POST /issue",
    ),
    error_case(
        "create-without-id",
        ("pushToService", A_TASK),
        f"{CREATE} Response is missing at least one of the expected fields: id. {UNKNOWN}",
        answer(201, {"key": "CK-2"}),
        "POST /issue",
    ),
    error_case(
        "create-read-back",
        ("pushToService", A_TASK),
        f"{CREATE} [Action][Jira]: Unable to get incident with id 10001."
        f" Error: Request failed with status code 404. Reason: {NOT_FOUND}. {UNKNOWN}",
        jira_error(404, NOT_FOUND),
        "GET /issue/10001",
    ),
    error_case(
        "create-issue-types",
        ("pushToService", push_params()),
        "[Action][Jira]: Unable to get issue types. Error: Request failed with status code 403."
        " Reason: You do not have permission to create issues in this project.",
        jira_error(403, "You do not have permission to create issues in this project."),
        "GET /issue/createmeta",
    ),
    error_case(
        "update-missing",
        ("pushToService", push_params("99999")),
        "[Action][Jira]: Unable to update incident with id 99999."
        f" Error: Request failed with status code 404. Reason: {NOT_FOUND}",
    ),
    error_case(
        "update-read-back",
        ("pushToService", push_params("10000")),
        f"{UPDATE_10000} [Action][Jira]: Unable to get incident with id 10000."
        f" Error: Request failed with status code 500. {UNKNOWN}. {UNKNOWN}",
        answer(500, None),
        "GET /issue/10000",
    ),
    error_case(
        "comment",
        ("pushToService", push_params("10000", [("c-1", "Seen.")])),
        f"{COMMENT_10000} Request failed with status code 400. Reason: Comment body can not be empty!",
        jira_error(400, comment="Comment body can not be empty!"),
        "POST /comment",
    ),
    error_case(
        "comment-without-created",
        ("pushToService", push_params("10000", [("c-1", "Seen.")])),
        f"{COMMENT_10000} Response is missing at least one of the expected fields: id,created. {UNKNOWN}",
        answer(201, {"id": "10100"}),
        "POST /comment",
    ),
    error_case(
        "get-incident-missing",
        ("getIncident", {"externalId": "99999"}),
        f"[Action][Jira]: Unable to get incident with id 99999. Error: Request failed with status code 404."
        f" Reason: {NOT_FOUND}",
    ),
    error_case(
        "content-type",
        GET_INCIDENT,
        f"{GET_10000} Unsupported content type: text/html;charset=UTF-8 in get {{url}}{API}/issue/10000."
        f" Supported content types: application/json. {UNKNOWN}",
        wrong_content_type(),
        "GET /issue/10000",
    ),
    error_case(
        "no-content-type",
        GET_INCIDENT,
        f"{GET_10000} Unsupported content type: undefined in get {{url}}{API}/issue/10000."
        f" Supported content types: application/json. {UNKNOWN}",
        Canned(200, b"", content_type=None),
        "GET /issue/10000",
    ),
    error_case(
        "not-json",
        GET_INCIDENT,
        f"{GET_10000} Response is not a valid JSON. {UNKNOWN}",
        not_json(),
        "GET /issue/10000",
    ),
    error_case(
        "missing-keys",
        GET_INCIDENT,
        f"{GET_10000} Response is missing at least one of the expected fields: id,key. {UNKNOWN}",
        answer(200, {"id": "10000", "fields": {}}),
        "GET /issue/10000",
    ),
    error_case(
        "issue-missing",
        ("issue", {"id": "CK-9"}),
        f"[Action][Jira]: Unable to get issue with id CK-9. Error: Request failed with status code 404."
        f" Reason: {NOT_FOUND}",
    ),
    error_case(
        "issue-types",
        ("issueTypes", {}),
        "[Action][Jira]: Unable to get issue types."
        f" Error: Request failed with status code 500. {UNKNOWN_ERRORS}",
        server_error(500),
        "GET /issue/createmeta",
    ),
    error_case(
        "fields-unknown-type",
        ("fieldsByIssueType", {"id": "1"}),
        "[Action][Jira]: Unable to get fields. Error: Request failed with status code 404."
        " Reason: The issue type with id '1' does not exist.",
    ),
    error_case(
        "issues",
        ("issues", {"title": "login"}),
        "[Action][Jira]: Unable to get issues. Error: Request failed with status code 400."
        " Reason: The JQL query is too long.",
        jira_error(400, "The JQL query is too long."),
        "GET /search/jql",
    ),
]


@pytest.mark.parametrize(("call", "message", "fail", "on"), ERROR_CASES)
async def test_a_failing_call_is_worded_as_kibana(casepush, jira, connector, issue, call, message, fail, on):
    if fail is not None:
        method, _, path = on.partition(" ")
        jira.fail_next(fail, method=method, path=path)

    assert await casepush.execution_failed(connector["id"], *call) == message.format(url=jira.url)


async def test_wrong_credentials_are_jiras_401(casepush, jira, issue):
    connector = await create_connector(casepush, jira.url, apiToken="not-the-token")

    assert await casepush.execution_failed(connector["id"], *GET_INCIDENT) == (
        f"{GET_10000} Request failed with status code 401. {UNKNOWN_ERRORS}"
    )
    assert jira.calls() == ["GET /issue/10000"]


# --- retries --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "call"),
    [("GET", GET_INCIDENT), ("PUT", ("pushToService", push_params("10000")))],
    ids=["get", "put"],
)
async def test_an_idempotent_call_answered_503_is_made_again(casepush, jira, connector, issue, method, call):
    jira.fail_next(server_error(503), method=method)

    await casepush.executed(connector["id"], *call)

    assert jira.calls().count(f"{method} /issue/10000") == 2


@pytest.mark.parametrize("status", [500, 503])
async def test_a_create_answered_5xx_is_not_made_again(casepush, jira, connector, status):
    jira.fail_next(server_error(status), method="POST")

    message = await casepush.execution_failed(connector["id"], "pushToService", A_TASK)

    assert message == f"{CREATE} Request failed with status code {status}. {UNKNOWN_ERRORS}"
    assert jira.calls() == ["POST /issue"]


async def test_a_create_answered_429_is_made_again_after_retry_after(casepush, jira, connector):
    jira.fail_next(rate_limited(retry_after="0"), method="POST")

    data = await casepush.executed(connector["id"], "pushToService", A_TASK)

    assert data["id"] == "10000"
    assert jira.calls() == ["POST /issue", "POST /issue", "GET /issue/10000"]
    assert list(jira.issues) == ["10000"]


# --- pushing a case -------------------------------------------------------------------------------------


async def test_a_case_push_creates_then_updates_the_issue_with_the_cases_jira_fields(
    casepush, jira, connector
):
    case = await casepush.create_case(tags=["auth", "needs  triage"], connector=case_connector(connector))
    labels = ["auth", "needs-triage", f"casepush-case-{case['id']}"]

    first = await pushed_case(casepush, case["id"], connector["id"])

    assert jira.sent("POST", "/issue") == [
        {
            "fields": {
                "summary": "Suspicious login",
                "project": {"key": PROJECT},
                "issuetype": {"id": TASK},
                "description": "Several failed logins followed by a success.\n\nAdded by elastic.",
                "labels": labels,
                "priority": {"name": "High"},
                "customfield_1": "x",
            }
        }
    ]
    service = first["external_service"]
    assert (service["external_id"], service["external_title"], service["external_url"]) == (
        "10000",
        "CK-1",
        f"{jira.url}/browse/CK-1",
    )
    body = {"type": "user", "comment": "Looked at the logs.", "owner": "cases"}
    assert (await casepush.post(f"/api/cases/{case['id']}/comments", body))[0] == 200
    jira.now = LATER

    again = await pushed_case(casepush, case["id"], connector["id"])

    assert again["external_service"]["external_id"] == "10000"
    assert jira.calls()[2:] == [
        "PUT /issue/10000",
        "GET /issue/10000",
        "POST /issue/10000/comment",
    ]
    assert jira.sent("PUT", "/issue/10000")[0]["fields"]["labels"] == labels
    assert [c["body"] for c in jira.comments["10000"]] == ["Looked at the logs.\n\nAdded by elastic."]
    assert list(jira.issues) == ["10000"]


async def test_a_failing_jira_makes_the_case_push_a_424_and_the_next_push_looks_first(
    casepush, jira, connector
):
    case = await casepush.create_case(connector=case_connector(connector))
    jira.fail_next(jira_error(400, READ_ONLY), method="POST")

    status, body = await push_case(casepush, case["id"], connector["id"])

    assert (status, body) == (
        424,
        {
            "statusCode": 424,
            "error": "Failed Dependency",
            "message": f"{CREATE} Request failed with status code 400. Reason: {READ_ONLY}",
        },
    )
    assert jira.issues == {}
    await pushed_case(casepush, case["id"], connector["id"])
    assert jira.calls()[1:] == ["GET /search/jql", "POST /issue", "GET /issue/10000"]


async def test_a_case_whose_other_fields_name_an_issue_field_is_a_424_before_any_call(
    casepush, jira, connector
):
    fields = {**case_connector(connector)["fields"], "otherFields": '{"summary": "y"}'}
    case = await casepush.create_case(connector={**case_connector(connector), "fields": fields})

    status, body = await push_case(casepush, case["id"], connector["id"])

    assert (status, body["message"]) == (
        424,
        f"error validating action params: [subActionParams.incident]: {NOT_IN_OTHER_FIELDS}",
    )
    assert jira.calls() == []


# --- crash recovery -------------------------------------------------------------------------------------


@pytest.mark.parametrize("casepush_plugins", ["interrupted"], indirect=True)
async def test_a_push_killed_after_the_create_finds_the_issue_by_the_case_label(casepush, jira, connector):
    case = await casepush.create_case(connector=case_connector(connector))
    with pytest.raises(aiohttp.ClientError):
        await push_case(casepush, case["id"], connector["id"])
    assert list(jira.issues) == ["10000"]

    result = await pushed_case(casepush, case["id"], connector["id"])

    assert result["external_service"]["external_id"] == "10000"
    assert list(jira.issues) == ["10000"]
    assert jira.calls()[2:] == ["GET /search/jql", "PUT /issue/10000", "GET /issue/10000"]
    search = parse_qs(urlsplit(jira.requests[2].path).query)
    assert search["jql"] == [f'project="CK" and labels="casepush-case-{case["id"]}"']


async def test_find_incident_answers_the_issue_labelled_with_the_case_or_none(jira):
    jira.seed(labels=["casepush-case-other"])
    jira.seed(labels=["auth", "casepush-case-5f0c-42"])
    connector = Connector(
        "jira", "Jira", casepush_jira.JIRA, JiraConfig(jira.url, PROJECT), JiraSecrets(EMAIL, API_TOKEN)
    )

    async with create_session() as session:
        http = OutboundClient(session, ["*"], timeout=10, max_response_bytes=1 << 20)
        found = await casepush_jira.find_incident(connector, "5f0c-42", http)
        missing = await casepush_jira.find_incident(connector, "5f0c", http)

    assert found == PushedIncident("10001", "CK-2", f"{jira.url}/browse/CK-2", START_ISO)
    assert missing is None


# --- the contract every connector type passes -----------------------------------------------------------


class TestJiraContract(ConnectorContract):
    @pytest.fixture
    def contract_type_id(self) -> str:
        return ".jira"

    @pytest.fixture
    def contract_connector(self, jira: FakeJira) -> dict:
        jira.add_user("Contract Assignee", "assignee@example.com")  # whom the contract's case is assigned to
        return {"config": {"apiUrl": jira.url, "projectKey": PROJECT}, "secrets": SECRETS}

    @pytest.fixture
    def contract_push_params(self) -> Callable[[str | None, list[tuple[str, str]]], dict]:
        return lambda external_id, comments: push_params(external_id, comments, issueType=TASK)

    @pytest.fixture
    def contract_break(self, jira: FakeJira) -> Callable[[], None]:
        return jira.break_all

    @pytest.fixture
    def contract_external_comment(self, jira: FakeJira) -> Callable[[str, str], Any]:
        async def comment(issue_id: str, text: str) -> None:
            jira.now = datetime.now(ZONE)  # polls count from when sync was turned on, in casepush's time
            await jira.comment_as(jira.add_user("Jane Doe", "jane@example.com"), issue_id, text)

        return comment

    @pytest.fixture
    def contract_inbound_call(
        self, jira: FakeJira, fake_service: Callable[[], FakeService], contract_external_comment: Callable
    ) -> Callable[[str, str, str], Any]:
        async def call(issue_id: str, text: str, secret: str) -> tuple[bytes, dict[str, str]]:
            inbox = await Inbox(fake_service()).start()
            jira.register_webhook(inbox.url(), secret, events=("comment_created",))
            await contract_external_comment(issue_id, text)
            (sent,) = inbox.calls
            kept = ("content-type", "x-hub-signature")
            return sent.body, {name: value for name, value in sent.headers.items() if name.lower() in kept}

        return call
