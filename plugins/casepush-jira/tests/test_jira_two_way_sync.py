"""Two-way sync with Jira (casepush's own): Jira's webhooks (``parse_inbound``) and polling
(``fetch_changes``) turned into the changes of the case, the hooks called directly, through the core's real
``OutboundClient``, against the fake Jira (``fake_jira``), whose webhooks go to a recording inbox."""

import hmac
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import casepush_jira
import msgspec
import pytest
from casepush_jira.schema import JiraConfig, JiraSecrets, JiraStateOptions, PushToService
from casepush_jira.service import iso
from casepush_jira.sync import case_status, changes_jql, forget_identities, jql_date, start_of
from fake_jira import (
    API,
    API_TOKEN,
    CLASSIC_WORKFLOW,
    EMAIL,
    PROJECT,
    REVIEW_WORKFLOW,
    START,
    TASK,
    FakeJira,
    Inbox,
    basic,
    jira_error,
    server_error,
    signature,
    start_jira,
)

from casepush.connectors import (
    COMMENTS,
    DESCRIPTION,
    STATUS,
    TITLE,
    CaseState,
    Changes,
    Connector,
    ConnectorError,
    ExternalChange,
    ExternalComment,
    Inbound,
    InboundCall,
    InboundRefused,
)
from casepush.http import OutboundClient, create_session
from casepush.plugins import load_plugins
from casepush.testing import FakeService

#: Runs a test against a fake Jira Cloud and a fake Jira Data Center.
BOTH_EDITIONS = pytest.mark.parametrize("jira", [False, True], ids=["cloud", "data-center"], indirect=True)
ISSUE = "10000"
SECRET = "It's a secret to everybody"
SINCE = iso(START)


# --- fixtures and helpers -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_identities() -> None:
    """Each test finds the connector's account anew (they are kept per site and credentials)."""
    forget_identities()


@pytest.fixture
async def inbox(fake_service: Callable[[], FakeService]) -> Inbox:
    return await Inbox(fake_service()).start()


@pytest.fixture
async def jira(
    request: pytest.FixtureRequest, fake_service: Callable[[], FakeService], inbox: Inbox
) -> FakeJira:
    """A fake Jira Cloud, or Data Center when parametrized indirectly with ``True``, holding one issue
    (``10000``, ``CK-1``, in ``To Do``) and a webhook to the inbox signed with ``SECRET``."""
    fake = await start_jira(fake_service(), data_center=getattr(request, "param", False))
    fake.seed("Suspicious login", description="Seen from 10.0.0.1")
    fake.register_webhook(inbox.url(), SECRET)
    return fake


@pytest.fixture
async def http() -> AsyncIterator[OutboundClient]:
    async with create_session() as session:
        yield OutboundClient(session, ["*"], timeout=10, max_response_bytes=1 << 20)


@pytest.fixture
def ann(jira: FakeJira) -> dict[str, Any]:
    return jira.add_user("Ann Lee", "ann@acme.com")


def connector(api_url: str) -> Connector:
    config, secrets = JiraConfig(api_url, PROJECT), JiraSecrets(EMAIL, API_TOKEN)
    return Connector("jira", "Jira", casepush_jira.JIRA, config, secrets)


async def parse(jira: FakeJira, http: OutboundClient, call: InboundCall, options: Any = None) -> Inbound:
    return await casepush_jira.parse_inbound(connector(jira.url), call, options or JiraStateOptions(), http)


async def received(
    jira: FakeJira, inbox: Inbox, http: OutboundClient, options: Any = None
) -> list[tuple[str, Inbound]]:
    """Each call the inbox received, its signature checked as the core checks it, parsed: its event and
    what it reports. The inbox is emptied."""
    parsed = []
    for call in inbox.calls:
        assert hmac.compare_digest(call.headers["X-Hub-Signature"], signature(SECRET, call.body))
        parsed.append(
            (msgspec.json.decode(call.body)["webhookEvent"], await parse(jira, http, call, options))
        )
    inbox.calls.clear()
    return parsed


def reported(parsed: list[tuple[str, Inbound]]) -> list[ExternalChange]:
    """The changes of these calls, each once (as the core applies them), in the order first reported."""
    changes = {change.change_id: change for _, inbound in parsed for change in inbound.changes}
    return list(changes.values())


async def fetch(
    jira: FakeJira,
    http: OutboundClient,
    ids: list[str] | None = None,
    cursor: str | None = None,
    since: str = SINCE,
    options: Any = None,
) -> Changes:
    return await casepush_jira.fetch_changes(
        connector(jira.url), ids or [ISSUE], cursor, since, options or JiraStateOptions(), http
    )


def now(jira: FakeJira) -> str:
    return iso(jira.now)


def calls_to(jira: FakeJira, call: str) -> int:
    return jira.calls().count(call)


def searched(jira: FakeJira) -> list[dict[str, Any]]:
    """The bodies of the change searches, Cloud's or Data Center's."""
    path = "/search" if jira.data_center else "/search/jql"
    return jira.sent("POST", path)


# --- the type ----------------------------------------------------------------------------------------------


async def test_the_type_pulls_the_status_comments_title_and_description_from_webhooks_signed_as_jira_signs():
    host = await load_plugins(allowed=[], extra=[casepush_jira])

    jira_type = host.types[".jira"]
    assert jira_type.pulls == frozenset({STATUS, COMMENTS, TITLE, DESCRIPTION})
    assert jira_type.inbound_auth == "hub-signature"
    assert host.implements(jira_type, "parse_inbound")
    assert host.implements(jira_type, "fetch_changes")


# --- webhooks: each event -----------------------------------------------------------------------------------


@BOTH_EDITIONS
async def test_a_transition_comes_back_as_the_case_status_its_jira_status_maps_to(jira, inbox, http, ann):
    jira.tick(minutes=5)
    history = await jira.transition_as(ann, ISSUE, "In Progress")

    [(event, inbound)] = await received(jira, inbox, http)

    assert event == "jira:issue_updated"
    assert inbound == Inbound(
        [
            ExternalChange(
                incident_id=ISSUE,
                change_id=f"changelog:{history['id']}:status",
                at=now(jira),
                author="Ann Lee",
                status="in-progress",
                external_status="In Progress",
            )
        ],
        sent_at=now(jira),
    )


@BOTH_EDITIONS
async def test_a_summary_and_description_edited_at_once_come_back_as_title_and_description(
    jira, inbox, http, ann
):
    history = await jira.edit_as(ann, ISSUE, summary="Brute force on the VPN", description="From 10.0.0.2")

    [(_, inbound)] = await received(jira, inbox, http)

    assert [(c.change_id, c.title, c.description, c.author) for c in inbound.changes] == [
        (f"changelog:{history['id']}:summary", "Brute force on the VPN", None, "Ann Lee"),
        (f"changelog:{history['id']}:description", None, "From 10.0.0.2", "Ann Lee"),
    ]


async def test_a_description_cleared_comes_back_empty(jira, inbox, http, ann):
    await jira.edit_as(ann, ISSUE, description=None)

    [(_, inbound)] = await received(jira, inbox, http)

    assert [c.description for c in inbound.changes] == [""]


@BOTH_EDITIONS
async def test_a_comment_comes_back_once_from_comment_created_and_from_the_issue_updated_carrying_it(
    jira, inbox, http, ann
):
    jira.tick(minutes=1)
    comment = await jira.comment_as(ann, ISSUE, "The user confirms it was not them.")

    parsed = await received(jira, inbox, http)

    expected = ExternalChange(
        incident_id=ISSUE,
        change_id=f"comment:{comment['id']}:{now(jira)}",
        at=now(jira),
        author="Ann Lee",
        comment=ExternalComment(comment["id"], "The user confirms it was not them.", "Ann Lee", now(jira)),
    )
    assert [(event, inbound.changes) for event, inbound in parsed] == [
        ("comment_created", [expected]),
        ("jira:issue_updated", [expected]),
    ]
    if jira.data_center:  # Data Center's comment event names its issue only in the comment's URL
        assert "issue" not in msgspec.json.decode(inbox_body(jira, "comment_created"))


def inbox_body(jira: FakeJira, event: str) -> bytes:
    return next(d.body for d in jira.deliveries if d.event == event)


@BOTH_EDITIONS
async def test_an_edited_comment_is_a_change_of_its_own_by_whoever_edited_it(jira, inbox, http, ann):
    bob = jira.add_user("Bob Roy", "bob@acme.com")
    comment = await jira.comment_as(ann, ISSUE, "Not them.")
    created = now(jira)
    inbox.calls.clear()
    jira.tick(minutes=3)

    await jira.edit_comment_as(bob, ISSUE, comment["id"], "Not them: they were on leave.")

    parsed = await received(jira, inbox, http)
    assert [event for event, _ in parsed] == ["comment_updated", "jira:issue_updated"]
    assert reported(parsed) == [
        ExternalChange(
            incident_id=ISSUE,
            change_id=f"comment:{comment['id']}:{now(jira)}",
            at=now(jira),
            author="Bob Roy",
            comment=ExternalComment(
                comment["id"], "Not them: they were on leave.", "Ann Lee", created, now(jira)
            ),
        )
    ]


async def test_a_webhook_sent_again_reports_the_same_changes(jira, inbox, http, ann):
    await jira.transition_as(ann, ISSUE, "In Progress")
    [delivery] = jira.deliveries

    await jira.redeliver(delivery, times=2)

    parsed = await received(jira, inbox, http)
    assert len(parsed) == 3
    assert parsed[0][1] == parsed[1][1] == parsed[2][1]
    assert delivery.statuses == [204, 204, 204]


async def test_events_the_sync_does_not_cover_bring_nothing_and_need_no_call(jira, inbox, http, ann):
    jira.webhooks[0].events = ("jira:issue_updated", "jira:issue_created", "comment_created")
    await jira.edit_as(ann, ISSUE, labels=["phishing"])  # a field that does not come back
    await casepush_jira.push_to_service(connector(jira.url), push_params(summary="New alert"), http)
    await jira.settle()
    deleted = {"timestamp": 1587985186202, "webhookEvent": "comment_deleted", "comment": {"id": "10100"}}
    inbox.calls.append(InboundCall({}, msgspec.json.encode(deleted)))
    for call in inbox.calls:
        call.headers["X-Hub-Signature"] = signature(SECRET, call.body)
    jira.requests.clear()

    parsed = await received(jira, inbox, http)

    assert [(event, inbound.changes) for event, inbound in parsed] == [
        ("jira:issue_updated", []),
        ("jira:issue_created", []),
        ("comment_deleted", []),
    ]
    assert parsed[2][1].sent_at == "2020-04-27T10:59:46.202Z"
    assert jira.calls() == []  # no change: no need to know the connector's account


def push_params(external_id: str | None = None, comments: list[str] = (), **incident: Any) -> PushToService:
    return msgspec.convert(
        {
            "incident": {
                "summary": "Suspicious login",
                "issueType": TASK,
                "externalId": external_id,
                **incident,
            },
            "comments": [{"comment": text, "commentId": f"c{n}"} for n, text in enumerate(comments)],
        },
        PushToService,
    )


# --- webhooks: the connector's own changes ----------------------------------------------------------------


@BOTH_EDITIONS
async def test_what_casepush_pushed_comes_back_by_integration_and_its_comments_have_their_jira_ids(
    jira, inbox, http, ann
):
    jira.me["hidden_email"] = True  # Cloud hides it from others: the account is known by its id
    incident = await casepush_jira.push_to_service(
        connector(jira.url),
        push_params(ISSUE, ["Blocked the address."], summary="Brute force", description="Seen twice"),
        http,
    )
    await casepush_jira.push_case_state(
        connector(jira.url),
        ISSUE,
        CaseState("closed", None, JiraStateOptions(closed="In Progress")),
        http,
    )
    await jira.settle()
    await jira.comment_as(ann, ISSUE, "Thanks.")

    parsed = await received(jira, inbox, http)

    [pushed] = incident.comments
    assert pushed.external_id == jira.comments[ISSUE][0]["id"]
    mine = [c for c in reported(parsed) if c.by_integration]
    theirs = [c for c in reported(parsed) if not c.by_integration]
    assert sorted(c.change_id.split(":")[-1] for c in mine if c.comment is None) == [
        "description",
        "status",
        "summary",
    ]
    assert [c.comment.id for c in mine if c.comment] == [pushed.external_id]
    assert [(c.author, c.comment.body) for c in theirs] == [("Ann Lee", "Thanks.")]
    assert calls_to(jira, "GET /myself") == 1  # the account is kept


async def test_the_account_is_known_by_its_email_when_a_payload_shows_no_id(jira, http):
    body = {
        "timestamp": 1587985186202,
        "webhookEvent": "comment_created",
        "comment": {
            "self": f"{jira.url}{API}/issue/{ISSUE}/comment/10100",
            "id": "10100",
            "body": "Pushed",
            "author": {"displayName": "SOC automation", "emailAddress": EMAIL.upper()},
            "created": "2020-04-27T12:59:46.202+0200",
            "updated": "2020-04-27T12:59:46.202+0200",
        },
    }

    inbound = await parse(jira, http, InboundCall({}, msgspec.json.encode(body)))

    assert [c.by_integration for c in inbound.changes] == [True]


# --- the status mapping, backwards ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "jira_status", "case"),
    [
        (JiraStateOptions(), "To Do", "open"),
        (JiraStateOptions(), "in progress", "in-progress"),
        (JiraStateOptions(), " DONE ", "closed"),
        (JiraStateOptions(), "In Review", None),
        (JiraStateOptions(open=["Open", "Reopened"], closed=["Closed", "Resolved"]), "Reopened", "open"),
        (JiraStateOptions(open=["Open", "Reopened"], closed=["Closed", "Resolved"]), "Resolved", "closed"),
        (JiraStateOptions(closed=None), "Done", None),
        (JiraStateOptions(in_progress=["In Review", "Done"]), "Done", "in-progress"),
        ({"in-progress": "Doing"}, "doing", "in-progress"),
        (None, "Done", "closed"),
    ],
    ids=[
        "default-open",
        "any-case",
        "spaces",
        "unmapped",
        "list",
        "list-second",
        "none-mapped",
        "first-case-status-wins",
        "settings-as-json",
        "defaults",
    ],
)
def test_a_jira_status_maps_back_to_the_case_status_whose_mapping_names_it(options, jira_status, case):
    assert case_status(options, jira_status) == case


async def test_the_connectors_mapping_decides_and_a_status_it_does_not_name_maps_to_none(
    jira, inbox, http, ann
):
    jira.workflow = CLASSIC_WORKFLOW
    jira.move(ISSUE, "Open")
    classic = JiraStateOptions(open=["Open", "Reopened"], closed=["Closed", "Resolved"])
    await jira.transition_as(ann, ISSUE, "Resolved")
    await jira.transition_as(ann, ISSUE, "Reopened")
    jira.workflow = REVIEW_WORKFLOW
    jira.move(ISSUE, "In Progress")
    await jira.transition_as(ann, ISSUE, "In Review")

    changes = reported(await received(jira, inbox, http, classic))

    assert [(c.external_status, c.status) for c in changes] == [
        ("Resolved", "closed"),
        ("Reopened", "open"),
        ("In Review", None),
    ]


# --- webhooks: what Jira would never send -----------------------------------------------------------------


def _comment(**changes: Any) -> dict[str, Any]:
    comment = {
        "self": f"http://jira.local{API}/issue/{ISSUE}/comment/10100",
        "id": "10100",
        "body": "Hello",
        "author": {"accountId": "5b10"},
        "created": "2020-04-27T12:59:46.202+0200",
        "updated": "2020-04-27T12:59:46.202+0200",
    }
    return {key: value for key, value in {**comment, **changes}.items() if value is not None}


def _event(event: str, **payload: Any) -> bytes:
    return msgspec.json.encode({"timestamp": 1587985186202, "webhookEvent": event, **payload})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<xml/>", "the body is not JSON"),
        (b"[]", "the body is not a JSON object"),
        (b'{"timestamp": 1587985186202}', "webhookEvent is missing"),
        (
            b'{"webhookEvent": "jira:issue_updated", "timestamp": "today"}',
            "timestamp is not a number of milliseconds",
        ),
        (_event("jira:issue_updated"), "the jira:issue_updated event has no issue"),
        (_event("jira:issue_updated", issue={"key": "CK-1"}), "issue.id is missing"),
        (_event("jira:issue_updated", issue={"id": ISSUE}, changelog=[]), "changelog is not an object"),
        (
            _event("jira:issue_updated", issue={"id": ISSUE}, changelog={"id": "1", "items": "status"}),
            "changelog.items is not a list",
        ),
        (
            _event("jira:issue_updated", issue={"id": ISSUE}, changelog={"items": [{"field": "status"}]}),
            "changelog.id is missing",
        ),
        (
            _event(
                "jira:issue_updated",
                issue={"id": ISSUE},
                changelog={"id": "1", "items": [{"field": "summary", "fieldtype": "jira", "toString": 3}]},
            ),
            "the summary item's toString is not a string",
        ),
        (_event("comment_created", issue={"id": ISSUE}), "the comment_created event has no comment"),
        (
            _event("comment_updated", comment=_comment(created="yesterday")),
            "comment.created is not a Jira date",
        ),
        (_event("comment_created", comment=_comment(body=None)), "comment.body is not text"),
        (_event("comment_created", comment=_comment(id=None)), "comment.id is missing"),
        (_event("comment_created", comment=_comment(self=None)), "the comment's issue is unknown"),
    ],
    ids=[
        "not-json",
        "not-an-object",
        "no-event",
        "bad-timestamp",
        "no-issue",
        "no-issue-id",
        "bad-changelog",
        "bad-items",
        "no-changelog-id",
        "bad-value",
        "no-comment",
        "bad-date",
        "no-body",
        "no-comment-id",
        "no-comment-issue",
    ],
)
async def test_a_body_jira_would_never_send_is_refused_saying_why(jira, http, body, message):
    with pytest.raises(InboundRefused) as refused:
        await parse(jira, http, InboundCall({}, body))

    assert refused.value.message.startswith(f"Not a Jira webhook: {message}")
    assert jira.calls() == []


async def test_a_comment_in_atlassian_document_format_is_read_as_its_text(jira, http):
    document = {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [{"type": "text", "text": "Blocked "}, {"type": "text", "text": "it."}],
            },
            {"type": "paragraph", "content": [{"type": "text", "text": "Line"}, {"type": "hardBreak"}]},
        ],
    }

    inbound = await parse(
        jira, http, InboundCall({}, _event("comment_created", comment=_comment(body=document)))
    )

    assert [c.comment.body for c in inbound.changes] == ["Blocked it.\nLine"]


# --- polling --------------------------------------------------------------------------------------------


@BOTH_EDITIONS
async def test_a_poll_finds_the_same_changes_with_the_same_ids_as_the_webhooks(jira, inbox, http, ann):
    jira.tick(minutes=2)
    await jira.transition_as(ann, ISSUE, "In Progress")
    jira.tick(minutes=1)
    await jira.edit_as(ann, ISSUE, summary="Brute force", description="Twice")
    jira.tick(minutes=1)
    comment = await jira.comment_as(ann, ISSUE, "Not them.")
    jira.tick(minutes=1)
    await jira.edit_comment_as(ann, ISSUE, comment["id"], "Not them at all.")
    jira.tick(minutes=1)
    await jira.comment_as(None, ISSUE, "Pushed by casepush.")  # the connector's own

    from_webhooks = reported(await received(jira, inbox, http))
    polled = await fetch(jira, http)

    # The poll sees the comment as it is now (edited): its creation's change only the webhook reported.
    edited = [c for c in from_webhooks if c.comment and c.comment.id == comment["id"]]
    assert len(edited) == 2
    expected = [c for c in from_webhooks if c is not edited[0]]
    assert sorted(polled.changes, key=by_id) == sorted(expected, key=by_id)
    assert polled.changes == sorted(polled.changes, key=lambda c: c.at)  # oldest first
    assert [c.by_integration for c in polled.changes] == [False] * 4 + [True]


def by_id(change: ExternalChange) -> str:
    return change.change_id


@BOTH_EDITIONS
async def test_the_cursor_moves_on_with_what_was_found_and_each_poll_reports_only_what_is_after_it(
    jira, http, ann
):
    first = await fetch(jira, http)

    assert first == Changes([], SINCE)
    [search] = searched(jira)
    assert search["jql"] == 'id in (10000) AND updated >= "2020/04/27 12:59"'  # Paris time, to the minute
    assert search.get("reconcileIssues") == (None if jira.data_center else [10000])

    jira.tick(minutes=10)
    history = await jira.transition_as(ann, ISSUE, "In Progress")
    second = await fetch(jira, http, cursor=first.cursor)

    status = f"changelog:{history['id']}:status"
    assert [c.change_id for c in second.changes] == [status]
    assert second.cursor == iso(jira.now - timedelta(minutes=1))  # a minute of overlap

    again = await fetch(jira, http, cursor=second.cursor)
    assert (again.changes, again.cursor) == (second.changes, second.cursor)  # the core applies it once

    jira.tick(minutes=10)
    history = await jira.edit_as(ann, ISSUE, summary="Brute force")
    third = await fetch(jira, http, cursor=again.cursor)
    fourth = await fetch(jira, http, cursor=third.cursor)

    summary = f"changelog:{history['id']}:summary"
    assert [c.change_id for c in third.changes] == [status, summary]
    assert [c.change_id for c in fourth.changes] == [summary]
    assert [body["jql"][-17:-1] for body in searched(jira)[-2:]] == ["2020/04/27 13:08", "2020/04/27 13:18"]


async def test_changes_before_since_do_not_count(jira, http, ann):
    await jira.transition_as(ann, ISSUE, "In Progress")
    jira.tick(minutes=5)
    await jira.comment_as(ann, ISSUE, "Later.")

    polled = await fetch(jira, http, since=iso(jira.now))

    assert [c.comment.body for c in polled.changes if c.comment] == ["Later."]
    assert [c for c in polled.changes if c.comment is None] == []


async def test_jql_dates_are_written_in_the_connector_accounts_time_zone(jira, http, ann):
    jira.me["time_zone"] = "America/New_York"
    jira.tick(minutes=5)
    await jira.transition_as(ann, ISSUE, "In Progress")

    polled = await fetch(jira, http, since=iso(jira.now))

    assert searched(jira)[0]["jql"].endswith('updated >= "2020/04/27 07:04"')  # 11:04Z
    assert [c.external_status for c in polled.changes] == ["In Progress"]


@pytest.mark.parametrize(
    ("zone", "written"),
    [
        ("Europe/Paris", "2020/04/27 12:59"),
        ("UTC", "2020/04/27 10:59"),
        ("Mars/Olympus_Mons", "2020/04/26 22:59"),  # unknown: 12 hours back, the earliest any zone reads
        (None, "2020/04/26 22:59"),
    ],
)
def test_a_jql_date_is_the_local_minute(zone, written):
    assert jql_date(START, zone) == written


def test_a_jql_date_in_the_hour_a_clock_goes_back_is_written_an_hour_earlier():
    # 2020-10-25 00:30Z is 02:30 in Paris for the second time that night (the clocks went back at 01:00Z).
    moment = start_of(None, "2020-10-25T00:30:00Z")

    assert jql_date(moment, "Europe/Paris") == "2020/10/25 01:30"


def test_the_jql_names_ids_bare_and_anything_else_quoted():
    assert changes_jql(["10000", "CK-2", 'we"ird'], "2020/04/27 12:59") == (
        'id in (10000, "CK-2", "we\\"ird") AND updated >= "2020/04/27 12:59"'
    )


async def test_a_cursor_that_cannot_be_read_starts_from_since(jira, http, ann):
    await jira.transition_as(ann, ISSUE, "In Progress")

    polled = await fetch(jira, http, cursor="page 3 of the old format")

    assert len(polled.changes) == 1


@BOTH_EDITIONS
async def test_incidents_are_searched_fifty_at_a_time_and_every_page_is_read(jira, http, ann):
    for n in range(1, 120):
        jira.seed(f"Alert {n}")
    ids = list(jira.issues)
    jira.tick(minutes=1)
    for issue_id in (ids[0], ids[60], ids[119]):
        await jira.comment_as(ann, issue_id, f"On {issue_id}")
        jira.tick(seconds=1)

    polled = await fetch(jira, http, ids=[*ids, ids[0]])  # an id twice is searched once

    listed = [body["jql"].partition("(")[2].partition(")")[0].split(", ") for body in searched(jira)]
    assert [len(batch) for batch in listed] == [50, 50, 20]
    assert [issue_id for batch in listed for issue_id in batch] == ids
    assert [c.comment.body for c in polled.changes] == [f"On {ids[0]}", f"On {ids[60]}", f"On {ids[119]}"]


@BOTH_EDITIONS
async def test_a_search_of_many_changed_issues_reads_every_page(jira, http, ann):
    jira.webhooks.clear()
    jira.page_size = 20
    for n in range(1, 50):
        jira.seed(f"Alert {n}")
    for issue_id in jira.issues:
        await jira.comment_as(ann, issue_id, "Seen")

    polled = await fetch(jira, http, ids=list(jira.issues))

    pages = [body.get("startAt" if jira.data_center else "nextPageToken") for body in searched(jira)]
    assert pages == ([0, 20, 40] if jira.data_center else [None, "20", "40"])
    assert len(polled.changes) == 50


async def test_an_incident_jira_no_longer_has_is_left_out_and_the_others_are_polled(jira, http, ann):
    jira.seed("Another")
    await jira.comment_as(ann, "10000", "One")
    await jira.comment_as(ann, "10001", "Two")

    polled = await fetch(jira, http, ids=["10000", "99999", "10001"])

    assert [c.comment.body for c in polled.changes] == ["One", "Two"]
    assert [body["jql"].partition(")")[0] for body in searched(jira)] == [
        "id in (10000, 99999, 10001",
        "id in (10000",
        "id in (99999, 10001",
        "id in (99999",
        "id in (10001",
    ]


async def test_a_query_jira_refuses_for_another_reason_fails_the_poll(jira, http):
    jira.fail_next(
        jira_error(400, "Error in the JQL Query: the query is too complex."), method="POST", times=10
    )

    with pytest.raises(ConnectorError) as failed:
        await fetch(jira, http, ids=["10000", "10001"])

    assert failed.value.message == (
        "[Action][Jira]: Unable to search for the changes of incidents. Error: Request failed with status"
        " code 400. Reason: Error in the JQL Query: the query is too complex."
    )


async def test_a_failing_jira_fails_the_poll_with_its_status(jira, http):
    jira.fail_next(server_error(503, **{"Retry-After": "0"}), method="POST", times=3)

    with pytest.raises(ConnectorError) as failed:
        await fetch(jira, http)

    assert (failed.value.status, failed.value.may_pass) == (503, True)


@BOTH_EDITIONS
async def test_a_long_changelog_is_read_beyond_what_the_search_shows(jira, http, ann):
    jira.changelog_limit = 2
    await jira.edit_as(ann, ISSUE, summary="Old news")  # before since
    jira.tick(minutes=5)
    since = iso(jira.now)
    for n in range(5):
        await jira.edit_as(ann, ISSUE, summary=f"Take {n}")
        jira.tick(seconds=1)

    polled = await fetch(jira, http, since=since)

    assert [c.title for c in polled.changes] == [f"Take {n}" for n in range(5)]
    more = "GET /issue/10000" if jira.data_center else "GET /issue/10000/changelog"
    assert calls_to(jira, more) == 1


async def test_a_cloud_changelog_is_paged_back_to_since(jira, http, ann):
    jira.webhooks.clear()
    jira.changelog_limit = 1
    for n in range(230):
        await jira.edit_as(ann, ISSUE, summary=f"Take {n}")
        jira.tick(seconds=1)
    since = iso(jira.now)
    jira.tick(minutes=1)
    await jira.edit_as(ann, ISSUE, summary="Last")

    polled = await fetch(jira, http, since=since)

    assert [c.title for c in polled.changes] == ["Last"]
    assert [r.path.partition("?")[2] for r in jira.requests if "/changelog" in r.path] == [
        "startAt=131&maxResults=100"
    ]


@BOTH_EDITIONS
async def test_every_comment_is_read_when_the_search_shows_only_some(jira, http, ann):
    jira.comment_limit = 1
    for n in range(3):
        await jira.comment_as(ann, ISSUE, f"Comment {n}")

    polled = await fetch(jira, http)

    assert [c.comment.body for c in polled.changes] == ["Comment 0", "Comment 1", "Comment 2"]
    assert calls_to(jira, f"GET /issue/{ISSUE}/comment") == 1


async def test_no_incident_no_call(jira, http):
    assert await casepush_jira.fetch_changes(connector(jira.url), [], None, SINCE, None, http) == Changes(
        [], SINCE
    )
    assert jira.calls() == []


# --- the fake's rules, which the tests above rely on ----------------------------------------------------


async def test_the_fake_signs_its_webhooks_and_resends_the_same_bytes_as_jira(jira, inbox, ann):
    jira.webhooks[0].events = ("comment_created",)
    unsigned = jira.register_webhook(inbox.url("other"), events=["comment_created"])

    await jira.transition_as(ann, ISSUE, "In Progress")  # not an event it asked for
    await jira.comment_as(ann, ISSUE, "Hello")
    signed, plain = jira.deliveries
    await jira.redeliver(signed)

    assert (signed.webhook, plain.webhook) == (jira.webhooks[0], unsigned)
    first, second, again = inbox.calls
    assert (
        first.headers["X-Hub-Signature"] == signature(SECRET, first.body) == again.headers["X-Hub-Signature"]
    )
    assert "X-Hub-Signature" not in second.headers
    assert first.body == again.body
    assert again.headers["X-Atlassian-Webhook-Retry"] == "1"
    assert again.headers["X-Atlassian-Webhook-Identifier"] == first.headers["X-Atlassian-Webhook-Identifier"]


async def test_the_fake_refuses_an_id_of_no_issue_and_reads_dates_in_the_accounts_zone(jira, http):
    headers = {"Authorization": basic(EMAIL, API_TOKEN)}

    async def search(jql: str) -> tuple[int, Any]:
        response = await http.request(
            "POST", f"{jira.url}{API}/search/jql", json={"jql": jql}, headers=headers
        )
        return response.status, response.json()

    unknown = await search('id in (10000, 99999) AND updated >= "2020/04/27 12:59"')
    at_the_minute = await search('id in (10000) AND updated >= "2020/04/27 12:59"')
    after = await search('id in (10000) AND updated >= "2020/04/27 13:00"')

    assert unknown == (
        400,
        {
            "errorMessages": [
                "Error in the JQL Query: An issue with key '99999' does not exist for field 'id'."
            ],
            "errors": {},
        },
    )
    assert [issue["id"] for issue in at_the_minute[1]["issues"]] == [ISSUE]
    assert after[1]["issues"] == []
