"""Pushing a case's status and assignees to Jira (``push_case_state``, casepush's own): the hook called
directly, through the core's real ``OutboundClient``, against the fake Jira (``fake_jira``)."""

from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import casepush_jira
import msgspec
import pytest
from casepush_jira.schema import (
    JiraConfig,
    JiraSecrets,
    JiraStateOptions,
)
from fake_jira import (
    API,
    API_TOKEN,
    CLASSIC_WORKFLOW,
    EMAIL,
    PROJECT,
    REVIEW_WORKFLOW,
    FakeJira,
    basic,
    jira_error,
    server_error,
    start_jira,
)

from casepush.connectors import ASSIGNEES, STATUS, CaseAssignee, CaseState, Connector, ConnectorError
from casepush.http import OutboundClient, create_session
from casepush.plugins import load_plugins
from casepush.testing import FakeService

#: Runs a test against a fake Jira Cloud and a fake Jira Data Center.
BOTH_EDITIONS = pytest.mark.parametrize("jira", [False, True], ids=["cloud", "data-center"], indirect=True)
ISSUE = "10000"
UNKNOWN_ERRORS = "Reason: unknown: errorResponse.errors was null"


# --- fixtures and helpers -------------------------------------------------------------------------------


@pytest.fixture
async def jira(request: pytest.FixtureRequest, fake_service: Callable[[], FakeService]) -> FakeJira:
    """A fake Jira Cloud, or Data Center when parametrized indirectly with ``True``, holding one issue
    (``10000``, ``CK-1``, in ``To Do``, unassigned)."""
    fake = await start_jira(fake_service(), data_center=getattr(request, "param", False))
    fake.seed("Suspicious login")
    return fake


@pytest.fixture
async def http() -> AsyncIterator[OutboundClient]:
    async with create_session() as session:
        yield OutboundClient(session, ["*"], timeout=10, max_response_bytes=1 << 20)


def connector(api_url: str, token: str = API_TOKEN) -> Connector:
    config, secrets = JiraConfig(api_url, PROJECT), JiraSecrets(EMAIL, token)
    return Connector("jira", "Jira", casepush_jira.JIRA, config, secrets)


async def push_state(
    jira: FakeJira,
    http: OutboundClient,
    status: str | None = None,
    assignees: list[CaseAssignee] | None = None,
    options: JiraStateOptions | None = None,
) -> None:
    state = CaseState(status, assignees, JiraStateOptions() if options is None else options)
    await casepush_jira.push_case_state(connector(jira.url), ISSUE, state, http)


async def refused(jira: FakeJira, http: OutboundClient, **state: Any) -> ConnectorError:
    with pytest.raises(ConnectorError) as raised:
        await push_state(jira, http, **state)
    return raised.value


def transitions_taken(jira: FakeJira) -> list[str]:
    return [body["transition"]["id"] for body in jira.sent("POST", f"/issue/{ISSUE}/transitions")]


def query_of(jira: FakeJira, path: str) -> dict[str, list[str]]:
    (request,) = [r for r in jira.requests if urlsplit(r.path).path == API + path]
    return parse_qs(urlsplit(request.path).query)


def assignee_of(jira: FakeJira) -> dict[str, Any] | None:
    return jira.issues[ISSUE]["fields"]["assignee"]


ANN = CaseAssignee("ann", "ann@acme.com", "Ann Lee")
#: The issue's status and assignee, read before anything else.
READ = f"GET /issue/{ISSUE}"


# --- the options ----------------------------------------------------------------------------------------


def test_the_options_default_to_jiras_default_workflow():
    defaults = JiraStateOptions()

    assert (defaults.open, defaults.in_progress, defaults.closed) == ("To Do", "In Progress", "Done")
    assert msgspec.convert({}, JiraStateOptions) == defaults
    assert msgspec.json.decode(msgspec.json.encode(defaults)) == {
        "open": "To Do",
        "in-progress": "In Progress",
        "closed": "Done",
    }
    partial = msgspec.convert({"in-progress": ["Doing", "Review"], "closed": None}, JiraStateOptions)
    assert [partial.targets(status) for status in ("open", "in-progress", "closed")] == [
        ["To Do"],
        ["Doing", "Review"],
        [],
    ]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"in_progress": "Doing"}, "Object contains unknown field `in_progress`"),
        ({"resolved": "Done"}, "Object contains unknown field `resolved`"),
        ({"closed": ""}, "Expected `str` of length >= 1 - at `$.closed`"),
        ({"closed": []}, "Expected `array` of length >= 1 - at `$.closed`"),
        ({"closed": ["Done", ""]}, "Expected `str` of length >= 1 - at `$.closed[1]`"),
        ({"open": 3}, "Expected `str | array | null`, got `int` - at `$.open`"),
    ],
    ids=["python-name", "unknown-status", "empty", "empty-list", "empty-in-list", "not-a-string"],
)
def test_the_options_refuse_unknown_keys_and_values_that_name_no_status(options, error):
    with pytest.raises(msgspec.ValidationError) as raised:
        msgspec.convert(options, JiraStateOptions)

    assert str(raised.value) == error


async def test_the_type_pushes_status_and_assignees_through_the_hook():
    host = await load_plugins(allowed=[], extra=[casepush_jira])

    jira_type = host.types[".jira"]
    assert jira_type.pushes_state == frozenset({STATUS, ASSIGNEES})
    assert jira_type.state_options is JiraStateOptions
    assert host.implements(jira_type, "push_case_state")


# --- status ---------------------------------------------------------------------------------------------


@BOTH_EDITIONS
async def test_each_case_status_takes_the_transition_to_its_jira_status(jira, http):
    steps = [
        # case status, the transition taken (None: the issue is there already), the issue's status after
        ("open", None, "To Do"),
        ("in-progress", "11", "In Progress"),  # Start Progress
        ("in-progress", None, "In Progress"),
        ("closed", "31", "Done"),  # Done
        ("open", "41", "To Do"),  # Reopen
    ]
    for status, transition, reached in steps:
        jira.requests.clear()

        await push_state(jira, http, status)

        assert transitions_taken(jira) == ([transition] if transition else []), status
        assert jira.status_of(ISSUE) == reached
        moving = [f"GET /issue/{ISSUE}/transitions", f"POST /issue/{ISSUE}/transitions"]
        assert jira.calls() == [READ, *(moving if transition else [])]
    assert query_of(jira, f"/issue/{ISSUE}") == {"fields": ["status,assignee"]}


async def test_the_status_is_found_by_the_transitions_target_not_its_name_and_regardless_of_case(jira, http):
    jira.workflow = REVIEW_WORKFLOW  # its "Done" transition leads to "In Review"
    jira.move(ISSUE, "In Progress")
    options = JiraStateOptions(in_progress="in review", closed="DONE")

    error = await refused(jira, http, status="closed", options=options)
    await push_state(jira, http, "in-progress", options=options)  # "In Review" through "Done"
    await push_state(jira, http, "closed", options=options)  # "Done" through "Approve"

    assert "no transition leads there" in error.message
    assert transitions_taken(jira) == ["21", "31"]
    assert jira.status_of(ISSUE) == "Done"


async def test_several_jira_statuses_may_stand_for_a_case_status(jira, http):
    """Jira's classic workflow reopens an issue into "Reopened", not "Open": both stand for an open case."""
    jira.workflow = CLASSIC_WORKFLOW
    jira.move(ISSUE, "Open")
    classic = JiraStateOptions(
        open=["Open", "Reopened"], in_progress="In Progress", closed=["Closed", "Resolved"]
    )
    steps = [
        ("open", None, "Open"),
        ("closed", "2", "Closed"),  # Close Issue, the first status listed that a transition leads to
        ("open", "3", "Reopened"),  # Reopen Issue
        ("open", None, "Reopened"),
        ("in-progress", "4", "In Progress"),  # Start Progress
    ]
    for status, transition, reached in steps:
        jira.requests.clear()

        await push_state(jira, http, status, options=classic)

        assert (transitions_taken(jira), jira.status_of(ISSUE)) == (
            [transition] if transition else [],
            reached,
        )
    jira.move(ISSUE, "Resolved")
    jira.requests.clear()
    await push_state(jira, http, "closed", options=classic)
    assert jira.calls() == [READ]


async def test_a_status_without_a_direct_transition_is_refused_naming_the_transitions_available(jira, http):
    error = await refused(jira, http, status="closed")

    assert error.message == (
        f"[Action][Jira]: Unable to set the status of incident with id {ISSUE}. Error: the case status"
        ' closed maps to the Jira status "Done", and no transition leads there from the issue\'s status'
        ' "To Do". Reason: the transitions available are "Start Progress" (to "In Progress")'
    )
    # The same workflow answers a retry: not a failure that may pass.
    assert (error.may_pass, error.retry_after) == (False, None)
    assert transitions_taken(jira) == []
    assert jira.status_of(ISSUE) == "To Do"


async def test_a_final_status_is_refused_saying_that_no_transition_is_available(jira, http):
    jira.workflow = REVIEW_WORKFLOW
    jira.move(ISSUE, "Done")

    error = await refused(jira, http, status="open")

    assert error.message.endswith(
        'no transition leads there from the issue\'s status "Done". Reason: no transition is available'
    )


async def test_a_case_status_mapped_to_none_leaves_the_issue_alone(jira, http):
    await push_state(jira, http, "closed", options=JiraStateOptions(closed=None))

    assert jira.calls() == []


async def test_a_transition_refused_by_jira_is_its_400(jira, http):
    jira.fail_next(jira_error(400, resolution="Resolution is required."), method="POST", path="/transitions")

    error = await refused(jira, http, status="in-progress")

    assert error.message == (
        f'[Action][Jira]: Unable to move incident with id {ISSUE} to the status "In Progress".'
        " Error: Request failed with status code 400. Reason: Resolution is required."
    )
    assert error.status == 400


# --- assignees ------------------------------------------------------------------------------------------


@BOTH_EDITIONS
async def test_the_first_assignee_with_an_email_is_found_by_it_and_assigned(jira, http):
    jira.add_user("Ann Lee Jr", "ann@acme.com.au")  # found by the same search, not the same email
    ann = jira.add_user("Ann Lee", "ann@acme.com")
    assignees = [
        CaseAssignee("elastic"),
        CaseAssignee("ann", "Ann@ACME.com"),
        CaseAssignee("bob", "bob@acme.com"),
    ]

    await push_state(jira, http, assignees=assignees)

    cloud = not jira.data_center
    assert jira.calls() == [READ, "GET /serverInfo", "GET /user/search", f"PUT /issue/{ISSUE}/assignee"]
    assert query_of(jira, "/user/search") == {"query" if cloud else "username": ["Ann@ACME.com"]}
    key = "accountId" if cloud else "name"
    assert jira.sent("PUT", f"/issue/{ISSUE}/assignee") == [{key: ann[key]}]
    assert assignee_of(jira)[key] == ann[key]


@BOTH_EDITIONS
async def test_an_issue_assigned_so_already_is_left_alone(jira, http):
    jira.add_user("Ann Lee", "ann@acme.com")
    await push_state(jira, http, assignees=[ANN])
    jira.requests.clear()

    await push_state(jira, http, assignees=[ANN])

    assert jira.calls() == [READ, "GET /serverInfo", "GET /user/search"]


async def test_a_cloud_user_whose_email_is_hidden_is_found_when_the_search_finds_only_them(jira, http):
    ann = jira.add_user("Ann Lee", "ann@acme.com", hidden_email=True)

    await push_state(jira, http, assignees=[ANN])

    assert assignee_of(jira)["accountId"] == ann["accountId"]
    assert "emailAddress" not in ann


@BOTH_EDITIONS
async def test_a_case_without_assignees_unassigns_the_issue(jira, http):
    jira.add_user("Ann Lee", "ann@acme.com")
    await push_state(jira, http, assignees=[ANN])
    jira.requests.clear()

    await push_state(jira, http, assignees=[])

    key = "name" if jira.data_center else "accountId"
    assert jira.sent("PUT", f"/issue/{ISSUE}/assignee") == [{key: None}]
    assert assignee_of(jira) is None
    jira.requests.clear()
    await push_state(jira, http, assignees=[])  # unassigned already
    assert jira.calls() == [READ]


@BOTH_EDITIONS
async def test_an_email_that_no_jira_user_has_is_refused(jira, http):
    jira.add_user("Ann Lee", "ann@acme.com.au")

    error = await refused(jira, http, assignees=[ANN])

    assert error.message == (
        f"[Action][Jira]: Unable to assign incident with id {ISSUE}. Error: no Jira user has the email"
        " ann@acme.com. Reason: Jira's user search found none"
    )
    assert (error.status, error.may_pass) == (None, False)  # Jira's answer: no retry will find one
    assert jira.sent("PUT", f"/issue/{ISSUE}/assignee") == []


async def test_an_email_that_several_data_center_users_have_is_refused(fake_service, http):
    jira = await start_jira(fake_service(), data_center=True)
    jira.seed()
    jira.add_user("Ann Lee", "ann@acme.com")
    jira.users[-1]["name"] = "alee"
    jira.add_user("Ann Lee (admin)", "ann@acme.com")

    error = await refused(jira, http, assignees=[ANN])

    assert error.message.endswith(
        "Error: several Jira users have the email ann@acme.com. Reason: they are alee, ann"
    )
    assert jira.sent("PUT", f"/issue/{ISSUE}/assignee") == []


async def test_assignees_without_an_email_are_refused(jira, http):
    error = await refused(jira, http, assignees=[CaseAssignee("elastic"), CaseAssignee("bob", None, "Bob")])

    assert error.message == (
        f"[Action][Jira]: Unable to assign incident with id {ISSUE}. Error: none of the case's assignees"
        " (elastic, bob) has an email. Reason: Jira users are found by their email"
    )
    assert error.status is None
    assert jira.calls() == [READ]


async def test_a_user_jira_will_not_assign_is_its_refusal(jira, http):
    jira.add_user("Ann Lee", "ann@acme.com")
    jira.fail_next(jira_error(400, assignee="User 'Ann Lee' cannot be assigned issues."), method="PUT")

    error = await refused(jira, http, assignees=[ANN])

    assert error.message == (
        f"[Action][Jira]: Unable to assign incident with id {ISSUE}. Error: Request failed with status"
        " code 400. Reason: User 'Ann Lee' cannot be assigned issues."
    )
    assert error.status == 400


# --- both -----------------------------------------------------------------------------------------------


async def test_the_issue_is_assigned_before_its_status_moves(jira, http):
    ann = jira.add_user("Ann Lee", "ann@acme.com")

    await push_state(jira, http, "in-progress", [ANN])

    assert jira.calls() == [
        READ,
        "GET /serverInfo",
        "GET /user/search",
        f"PUT /issue/{ISSUE}/assignee",
        f"GET /issue/{ISSUE}/transitions",
        f"POST /issue/{ISSUE}/transitions",
    ]
    assert (assignee_of(jira)["accountId"], jira.status_of(ISSUE)) == (ann["accountId"], "In Progress")


async def test_a_refused_assignee_does_not_keep_the_status_from_moving(jira, http):
    error = await refused(jira, http, status="in-progress", assignees=[ANN])

    assert error.message.startswith(f"[Action][Jira]: Unable to assign incident with id {ISSUE}.")
    assert jira.status_of(ISSUE) == "In Progress"


async def test_when_both_are_refused_the_error_tells_of_both_with_the_status_of_one_that_may_pass(jira, http):
    jira.fail_next(server_error(503, **{"Retry-After": "0"}), method="GET", path="/transitions", times=3)

    error = await refused(jira, http, status="closed", assignees=[ANN])

    assert error.message == (
        f"[Action][Jira]: Unable to assign incident with id {ISSUE}. Error: no Jira user has the email"
        " ann@acme.com. Reason: Jira's user search found none"
        f" [Action][Jira]: Unable to get the transitions of incident with id {ISSUE}. Error: Request failed"
        f" with status code 503. {UNKNOWN_ERRORS}"
    )
    # The assignee's refusal (200) would not be retried, the transitions' 503 is: retry both.
    assert (error.status, error.retry_after) == (503, 0.0)


async def test_nothing_to_push_makes_no_call(jira, http):
    await push_state(jira, http)

    assert jira.calls() == []


# --- the fake's rules, which the tests above rely on ----------------------------------------------------


async def jira_call(jira: FakeJira, http: OutboundClient, method: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": basic(EMAIL, API_TOKEN)}
    response = await http.request(method, f"{jira.url}{API}{path}", json=body, headers=headers)
    return response.status, (response.json() if response.body else None)


async def test_the_fake_lists_only_the_transitions_from_the_issues_status_and_refuses_the_others(jira, http):
    listed = await jira_call(jira, http, "GET", f"/issue/{ISSUE}/transitions")
    not_from_here = await jira_call(
        jira, http, "POST", f"/issue/{ISSUE}/transitions", {"transition": {"id": "31"}}
    )
    unknown = await jira_call(jira, http, "POST", f"/issue/{ISSUE}/transitions", {"transition": {"id": "99"}})
    missing = await jira_call(jira, http, "POST", f"/issue/{ISSUE}/transitions", {})

    assert listed[0] == 200
    assert [(t["id"], t["name"], t["to"]["name"]) for t in listed[1]["transitions"]] == [
        ("11", "Start Progress", "In Progress")
    ]
    assert not_from_here == (
        400,
        {
            "errorMessages": [
                "It seems that you have tried to perform a workflow operation (Done) that is not valid for"
                " the current state of this issue (CK-1). The likely cause is that somebody has changed the"
                " issue recently, please look at the issue history for details."
            ],
            "errors": {},
        },
    )
    assert unknown == (
        400,
        {"errorMessages": ["Transition id '99' is not valid for this issue."], "errors": {}},
    )
    assert missing == (400, {"errorMessages": ["Missing 'transition' identifier"], "errors": {}})
    assert jira.status_of(ISSUE) == "To Do"


@BOTH_EDITIONS
async def test_the_fake_searches_and_assigns_users_as_each_edition_does(jira, http):
    ann = jira.add_user("Ann Lee", "ann@acme.com")
    cloud = not jira.data_center
    right, wrong = ("query", "username") if cloud else ("username", "query")
    key, other = ("accountId", "name") if cloud else ("name", "accountId")

    found = await jira_call(jira, http, "GET", f"/user/search?{right}=lee")
    refused_search = await jira_call(jira, http, "GET", f"/user/search?{wrong}=ann")
    wrong_key = await jira_call(jira, http, "PUT", f"/issue/{ISSUE}/assignee", {other: ann[key]})
    unknown = await jira_call(jira, http, "PUT", f"/issue/{ISSUE}/assignee", {key: "nobody"})
    info = await jira_call(jira, http, "GET", "/serverInfo")

    assert found == (200, [ann])
    assert refused_search[0] == 400
    assert wrong_key[0] == 400
    assert unknown == (
        (404, {"errorMessages": ["The user with account id 'nobody' does not exist."], "errors": {}})
        if cloud
        else (400, {"errorMessages": [], "errors": {"assignee": "User 'nobody' cannot be assigned issues."}})
    )
    assert info[1]["deploymentType"] == ("Cloud" if cloud else "Server")
    assert assignee_of(jira) is None
