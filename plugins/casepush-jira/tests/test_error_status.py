"""The HTTP status (and ``Retry-After``) that every ``ConnectorError`` of the Jira plugin carries, by which
automatic pushes tell a failure that may pass from a refusal; the hooks called directly, through the
core's real ``OutboundClient``, against the fake Jira (``fake_jira``)."""

import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import casepush_jira
import pytest
from casepush_jira.schema import (
    GetIncident,
    Incident,
    JiraConfig,
    JiraSecrets,
    JiraStateOptions,
    PushToService,
)
from fake_jira import (
    API_TOKEN,
    EMAIL,
    PROJECT,
    TASK,
    Canned,
    FakeJira,
    jira_error,
    server_error,
    start_jira,
    wrong_content_type,
)

from casepush.connectors import CaseAssignee, CaseState, Connector, ConnectorError
from casepush.http import OutboundClient, create_session
from casepush.testing import FakeService

ISSUE = "10000"
UNKNOWN_ERRORS = "Reason: unknown: errorResponse.errors was null"
ANN = CaseAssignee("ann", "ann@acme.com", "Ann Lee")


@pytest.fixture
async def jira(fake_service: Callable[[], FakeService]) -> FakeJira:
    """A fake Jira Cloud holding one issue (``10000``) and one user (``ann@acme.com``)."""
    fake = await start_jira(fake_service())
    fake.seed("Suspicious login")
    fake.add_user("Ann Lee", "ann@acme.com")
    return fake


@pytest.fixture
async def http() -> AsyncIterator[OutboundClient]:
    async with create_session() as session:
        yield OutboundClient(session, ["*"], timeout=10, max_response_bytes=1 << 20)


def connector(api_url: str, token: str = API_TOKEN) -> Connector:
    config, secrets = JiraConfig(api_url, PROJECT), JiraSecrets(EMAIL, token)
    return Connector("jira", "Jira", casepush_jira.JIRA, config, secrets)


# --- the HTTP status of every ConnectorError ------------------------------------------------------------

A_TASK = PushToService(Incident(summary="Suspicious login", issueType=TASK))
UPDATE = PushToService(Incident(summary="Suspicious login", externalId=ISSUE))


def calling(hook: str, *args: Any) -> Callable[[Connector, OutboundClient], Any]:
    return lambda jira_connector, http: getattr(casepush_jira, hook)(jira_connector, *args, http)


CALLS = {
    "create": calling("push_to_service", A_TASK),
    "update": calling("push_to_service", UPDATE),
    "get-incident": calling("execute_sub_action", "getIncident", GetIncident(ISSUE)),
    "issue-types": calling("execute_sub_action", "issueTypes", None),
    "find-incident": calling("find_incident", "5f0c"),
    "case-state": calling("push_case_state", ISSUE, CaseState("in-progress", [ANN], JiraStateOptions())),
}


@pytest.mark.parametrize(
    ("call", "fail", "on", "status", "seconds"),
    [
        (
            "create",
            jira_error(400, summary="You must specify a summary of the issue."),
            "POST /issue",
            400,
            None,
        ),
        ("create", server_error(503, **{"Retry-After": "120"}), "POST /issue", 503, 120.0),
        ("create", jira_error(404, "Issue does not exist"), "GET /issue/10001", 404, None),  # read back
        ("update", server_error(500), f"PUT /issue/{ISSUE}", 500, None),
        ("update", server_error(500), f"GET /issue/{ISSUE}", 500, None),  # read back, wrapped
        ("get-incident", wrong_content_type(), f"GET /issue/{ISSUE}", 200, None),  # not Jira's JSON
        ("issue-types", jira_error(403, "Forbidden"), "GET /issue/createmeta", 403, None),
        ("find-incident", jira_error(400, "The JQL query is invalid."), "GET /search/jql", 400, None),
        ("case-state", jira_error(404, "Issue does not exist"), f"GET /issue/{ISSUE}", 404, None),
        ("case-state", jira_error(403, "Forbidden"), "GET /serverInfo", 403, None),
        ("case-state", Canned(409, b"{}"), f"PUT /issue/{ISSUE}/assignee", 409, None),
        ("case-state", server_error(503, **{"Retry-After": "7"}), "POST /transitions", 503, 7.0),
    ],
    ids=[
        "create-400",
        "create-503-retry-after",
        "create-read-back-404",
        "update-500",
        "update-read-back-500",
        "get-incident-html",
        "issue-types-403",
        "find-incident-400",
        "case-state-issue-404",
        "case-state-server-info-403",
        "case-state-assign-409",
        "case-state-transition-503-retry-after",
    ],
)
async def test_a_connector_error_carries_jiras_http_status_and_retry_after(
    jira, http, call, fail, on, status, seconds
):
    method, _, path = on.partition(" ")
    jira.fail_next(fail, method=method, path=path)

    with pytest.raises(ConnectorError) as raised:
        await CALLS[call](connector(jira.url), http)

    assert (raised.value.status, raised.value.retry_after) == (status, seconds), raised.value.message


@pytest.mark.parametrize("call", list(CALLS))
async def test_bad_credentials_are_a_401_whatever_the_call(jira, http, call):
    with pytest.raises(ConnectorError) as raised:
        await CALLS[call](connector(jira.url, token="not-the-token"), http)

    assert raised.value.status == 401
    assert raised.value.message.endswith(f"Error: Request failed with status code 401. {UNKNOWN_ERRORS}")


async def test_no_answer_is_no_status(http):
    with socket.socket() as free:  # a port that nothing listens on once closed
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]

    with pytest.raises(ConnectorError) as raised:
        await CALLS["create"](connector(f"http://127.0.0.1:{port}"), http)

    assert raised.value.status is None
    assert "ECONNREFUSED" in raised.value.message
