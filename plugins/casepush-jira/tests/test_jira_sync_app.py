"""Two-way sync with the Jira plugin in a running casepush app, against the fake Jira, on both storage
backends: what people do in Jira (a comment, a transition) reaches the case once, by the fake's signed
webhooks and by polling, whatever the repeats; nothing casepush did comes back, and nothing that came
back is pushed again; refused calls change nothing; two instances and a restart keep each change once
and the poll's cursor; Kibana's ``_sync`` pulls a case on demand.

The fake Jira's clock starts in 2020: each test sets it to now, so that what people do in Jira is newer
than the cases (and its webhooks' timestamps are not taken for replays)."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import casepush_jira
import pytest
from casepush_jira.service import iso
from casepush_jira.sync import OVERLAP, changes_jql, jql_date
from fake_jira import TIME_ZONE, ZONE, FakeJira, Inbox, Webhook, server_error, start_jira
from test_jira import create_connector
from test_jira_automatic_push import casepush_plugins, casepush_settings

from casepush.app import create_app
from casepush.config import Settings
from casepush.plugins import load_plugins
from casepush.testing import Api, FakeService, ok
from casepush.testing import sync as kit
from casepush.testing.client import NONE_CONNECTOR

SECRET = "jira-inbound-secret-0123456789"
ANN = "Ann Lee (Jira)"
SAID = "The user confirms it was not them."


# --- fixtures and helpers -------------------------------------------------------------------------------


@pytest.fixture
async def jira(fake_service: Callable[[], FakeService]) -> FakeJira:
    """A fake Jira Cloud on casepush's clock."""
    fake = await start_jira(fake_service())
    fake.now = datetime.now(ZONE)
    return fake


@pytest.fixture
def ann(jira: FakeJira) -> dict[str, Any]:
    """A person working in Jira."""
    return jira.add_user("Ann Lee", "ann@acme.example")


@pytest.fixture
async def connector(casepush: Api, jira: FakeJira) -> dict:
    return await create_connector(casepush, jira.url)


async def another_instance(aiohttp_client: Any, settings: Settings) -> Api:
    """Another casepush app with the Jira plugin, on the same database."""
    plugins = await load_plugins(allowed=[], extra=[casepush_jira])
    app = create_app(settings, announce=lambda line: None, plugins=plugins)
    return Api(await aiohttp_client(app))


def webhook_to(casepush: Api, jira: FakeJira, connector: dict, secret: str | None = SECRET) -> Webhook:
    """Jira's webhook of the events two-way sync takes, calling the connector's inbound path of this app."""
    url = casepush.client.make_url(f"/api/casepush/connectors/{connector['id']}/inbound")
    return jira.register_webhook(str(url), secret)


async def synced_case(casepush: Api, jira: FakeJira, connector: dict, **settings: Any) -> tuple[dict, str]:
    """A case pushed to Jira once sync was turned on with ``settings`` (comments come back too), and its
    issue's id; the webhooks of the push sent, and Jira's clock set to now."""
    await kit.sync_settings(casepush, connector, **settings)
    case = await kit.pushed_case(casepush, connector)
    await jira.settle()
    jira.now = datetime.now(ZONE)
    return case, case["external_service"]["external_id"]


async def ann_comments_and_starts_progress(jira: FakeJira, ann: dict, issue: str) -> None:
    """In Jira, a comment and a transition to In Progress, which the default status mapping names for the
    case's ``in-progress``."""
    await jira.comment_as(ann, issue, SAID)
    await jira.transition_as(ann, issue, "In Progress")


async def assert_came_back_once(casepush: Api, jira: FakeJira, case: dict, issue: str) -> None:
    """Ann's comment is the case's one imported comment, her transition its status, each recorded once
    as a user action by her in Jira, when she made it, in ``sync`` user actions naming the issue."""
    synced = await kit.case_now(casepush, case["id"])
    assert synced["status"] == "in-progress"
    (imported,) = kit.user_comments(synced)
    assert imported["comment"] == SAID
    assert imported["created_by"] == {"email": None, "full_name": ANN, "username": None}
    recorded = await kit.actions(casepush, case["id"], "comment,status")
    assert sorted((a["type"], a["action"], a["created_by"]["full_name"]) for a in recorded) == [
        ("comment", "create", ANN),
        ("status", "update", ANN),
    ]
    status = next(a for a in recorded if a["type"] == "status")
    assert (status["payload"], status["created_at"]) == ({"status": "in-progress"}, iso(jira.now))
    syncs = [a["payload"]["sync"] for a in await kit.actions(casepush, case["id"], "sync")]
    assert sorted(field for sync in syncs for field in sync["updated_fields"]) == ["comments", "status"]
    assert {(s["external_id"], s["external_title"], s["external_updated_by"]) for s in syncs} == {
        (issue, "CK-1", "Ann Lee")
    }


async def metric(casepush: Api, series: str) -> float:
    """The value of a series of the app's ``/metrics`` (0 when nothing was counted yet)."""
    status, text = await casepush.get("/metrics")
    assert status == 200
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(series + " "))


async def counted(casepush: Api, source: str, outcome: str) -> float:
    """How many changes the app counted from ``source`` with ``outcome``."""
    labels = f'connector_type=".jira",outcome="{outcome}",source="{source}"'
    return await metric(casepush, f"casepush_sync_changes_total{{{labels}}}")


async def polls_made(casepush: Api) -> float:
    """How many polls this app made that succeeded."""
    return await metric(casepush, 'casepush_sync_polls_total{connector_type=".jira",outcome="success"}')


def forwarded(inbox: Inbox) -> list[tuple[bytes, dict[str, str]]]:
    """The calls Jira made to the inbox, as they are to be made to casepush (its body and signature)."""
    kept = ("content-type", "x-hub-signature")
    return [(c.body, {k: v for k, v in c.headers.items() if k.lower() in kept}) for c in inbox.calls]


# --- a comment and a status, once -----------------------------------------------------------------------


async def test_a_comment_and_a_status_come_by_webhooks_delivered_three_times_and_a_poll_once_each(
    casepush, jira, connector, ann
):
    webhook_to(casepush, jira, connector)
    case, issue = await synced_case(casepush, jira, connector, inbound_secret=SECRET, poll_interval=60)
    sent = len(jira.deliveries)

    await ann_comments_and_starts_progress(jira, ann, issue)
    deliveries = jira.deliveries[sent:]
    for delivery in deliveries:
        await jira.redeliver(delivery, times=2)  # as Jira retries, the same bytes
    state = await kit.polled(casepush, connector)

    # The comment's own event, the issue's update carrying it, the transition: each taken three times.
    assert [d.event for d in deliveries] == ["comment_created", "jira:issue_updated", "jira:issue_updated"]
    assert [d.statuses for d in deliveries] == [[200] * 3] * 3
    assert state["last_poll_error"] is None and state["changes_applied"] == 2
    await assert_came_back_once(casepush, jira, case, issue)
    webhook = [await counted(casepush, "webhook", outcome) for outcome in ("applied", "ignored")]
    poll = [await counted(casepush, "poll", outcome) for outcome in ("applied", "ignored")]
    assert sum(webhook) == 9  # each call's one change
    # Each applied once, whichever came first (the first poll, due when sync was turned on, may run while
    # Ann acts); the poll asked for saw both again.
    assert webhook[0] + poll[0] == 2 and poll[1] >= 2


async def test_a_comment_and_a_status_come_by_a_poll_and_then_webhooks_delivered_three_times_once_each(
    casepush, jira, connector, ann, fake_service
):
    inbox = await Inbox(fake_service()).start()  # Jira's calls held back, made after the poll
    jira.register_webhook(inbox.url(connector["id"]), SECRET)
    case, issue = await synced_case(casepush, jira, connector, inbound_secret=SECRET, poll_interval=60)
    inbox.calls.clear()

    await ann_comments_and_starts_progress(jira, ann, issue)
    state = await kit.polled(casepush, connector)
    answers = [await kit.deliver(casepush, connector, *call) for call in forwarded(inbox) for _ in range(3)]

    assert state["last_poll_error"] is None and state["changes_applied"] == 2
    assert answers == [(200, {"applied": 0, "ignored": 1})] * 9
    assert (await kit.sync_state(casepush, connector))["changes_applied"] == 2
    await assert_came_back_once(casepush, jira, case, issue)
    assert await counted(casepush, "poll", "applied") == 2
    assert await counted(casepush, "webhook", "ignored") == 9


# --- no echo --------------------------------------------------------------------------------------------


async def test_a_comment_casepush_pushed_comes_back_neither_by_webhook_nor_by_poll(casepush, jira, connector):
    webhook_to(casepush, jira, connector)
    case, issue = await synced_case(casepush, jira, connector, inbound_secret=SECRET, poll_interval=60)
    comment = {"type": "user", "comment": "Blocked the address.", "owner": "cases"}
    await ok(casepush.post(f"/api/cases/{case['id']}/comments", comment))
    sent = len(jira.deliveries)

    await ok(casepush.post(f"/api/cases/{case['id']}/connector/{connector['id']}/_push", {}))
    await jira.settle()  # Jira's webhooks of the comment casepush wrote
    state = await kit.polled(casepush, connector)

    [written] = jira.comments[issue]
    assert written["body"].startswith("Blocked the address.")
    assert [(d.event, d.statuses) for d in jira.deliveries[sent:]] == [
        ("comment_created", [200]),
        ("jira:issue_updated", [200]),
    ]
    assert [c["comment"] for c in kit.user_comments(await kit.case_now(casepush, case["id"]))] == [
        "Blocked the address."
    ]
    assert state["changes_applied"] == 0 and state["last_inbound_error"] is None
    assert await kit.actions(casepush, case["id"], "sync") == []
    assert await counted(casepush, "webhook", "ignored") == 2
    assert await counted(casepush, "poll", "ignored") >= 1  # the poll saw it
    assert await counted(casepush, "poll", "applied") == 0


async def test_an_inbound_status_is_not_pushed_back_but_a_later_local_change_is(
    casepush, jira, connector, ann
):
    webhook_to(casepush, jira, connector)
    await ok(
        casepush.put(
            f"/api/casepush/automatic_push/cases/{connector['id']}", {"mode": "updates", "quiet_period": 0.2}
        )
    )
    case, issue = await synced_case(casepush, jira, connector, inbound_secret=SECRET, push_status=True)
    transitions = f"/issue/{issue}/transitions"

    await jira.transition_as(ann, issue, "In Progress")

    assert jira.deliveries[-1].statuses == [200]
    assert (await kit.case_now(casepush, case["id"]))["status"] == "in-progress"
    state = await ok(casepush.get(f"/api/casepush/cases/{case['id']}/automatic_push"))
    [waiting] = state["automatic_pushes"]
    assert (waiting["enabled"], waiting["state"], waiting["pending_since"]) == (True, "idle", None)

    await casepush.change_case(case["id"], status="closed")
    await casepush.pushed_automatically(case["id"], 2)  # the first push, and this change's: no other
    await jira.settle()  # Jira's webhook of casepush's transition: not brought back

    assert [body["transition"]["id"] for body in jira.sent("POST", transitions)] == ["31"]  # to Done
    assert jira.status_of(issue) == "Done"
    synced = await kit.case_now(casepush, case["id"])
    assert synced["status"] == "closed"
    assert [a["payload"]["status"] for a in await kit.actions(casepush, case["id"], "status")] == [
        "in-progress",
        "closed",
    ]
    assert (await kit.sync_state(casepush, connector))["changes_applied"] == 1


# --- refused calls --------------------------------------------------------------------------------------


def wrongly_signed(casepush: Api, jira: FakeJira, connector: dict) -> None:
    webhook_to(casepush, jira, connector, secret="another-secret-0123456789")


def unsigned(casepush: Api, jira: FakeJira, connector: dict) -> None:
    webhook_to(casepush, jira, connector, secret=None)


def sent_too_long_ago(casepush: Api, jira: FakeJira, connector: dict) -> None:
    """Jira's webhook signed with the right secret, but its calls stamped two hours ago (what a replay of
    a captured call looks like)."""
    webhook_to(casepush, jira, connector)
    jira.tick(hours=-2)


@pytest.mark.parametrize(
    ("calls", "status", "message"),
    [
        (wrongly_signed, 401, "Invalid X-Hub-Signature: the body is not signed with the connector's inbound"),
        (unsigned, 401, "Missing X-Hub-Signature header"),
        (sent_too_long_ago, 400, "more than 3600 seconds from now (a replay?)"),
    ],
    ids=["wrongly-signed", "unsigned", "replayed"],
)
async def test_a_refused_call_is_refused_every_time_jira_sends_it_and_changes_nothing(
    casepush, jira, connector, ann, calls, status, message
):
    case, issue = await synced_case(casepush, jira, connector, inbound_secret=SECRET)
    calls(casepush, jira, connector)
    before = await kit.case_now(casepush, case["id"]), await kit.actions(casepush, case["id"])

    await ann_comments_and_starts_progress(jira, ann, issue)
    for delivery in jira.deliveries:
        await jira.redeliver(delivery)  # sent again, the same bytes

    assert [d.statuses for d in jira.deliveries] == [[status] * 2] * 3
    assert (await kit.case_now(casepush, case["id"]), await kit.actions(casepush, case["id"])) == before
    state = await kit.sync_state(casepush, connector)
    assert message in state["last_inbound_error"] and state["changes_applied"] == 0
    if status == 400:
        sent_at = iso(datetime.fromtimestamp(jira.deliveries[0].payload["timestamp"] / 1000, UTC))
        assert state["last_inbound_error"].startswith(f"Refused a call sent at {sent_at}: ")


# --- instances and restarts -----------------------------------------------------------------------------


async def test_two_instances_polling_one_database_import_each_change_once(
    casepush, jira, connector, ann, fake_service, aiohttp_client, casepush_settings
):
    other = await another_instance(aiohttp_client, casepush_settings)
    inbox = await Inbox(fake_service()).start()
    jira.register_webhook(inbox.url(connector["id"]), SECRET)
    await kit.sync_settings(casepush, connector, inbound_secret=SECRET, poll_interval=60)
    cases = [await kit.pushed_case(casepush, connector) for _ in range(3)]
    await jira.settle()
    jira.now = datetime.now(ZONE)
    inbox.calls.clear()
    issues = [case["external_service"]["external_id"] for case in cases]

    for round_ in range(2):  # the second round's polls see the first's changes again
        for issue in issues:
            for n in range(2):
                await jira.comment_as(ann, issue, f"Comment {round_}.{n} on {issue}.")
        calls = forwarded(inbox)
        await asyncio.gather(
            *(kit.deliver(instance, connector, *call) for call in calls for instance in (casepush, other)),
            kit.polled(casepush, connector),
            kit.polled(other, connector),
        )
        await kit.polled(other, connector)
        await kit.polled(casepush, connector)
    await jira.transition_as(ann, issues[0], "In Progress")
    await asyncio.gather(kit.polled(casepush, connector), kit.polled(other, connector))

    for case, issue in zip(cases, issues, strict=True):
        texts = [c["comment"] for c in kit.user_comments(await kit.case_now(other, case["id"]))]
        # each once (calls taken at once may be applied in any order)
        assert sorted(texts) == [f"Comment {r}.{n} on {issue}." for r in range(2) for n in range(2)]
    assert [c["status"] for c in [await kit.case_now(casepush, case["id"]) for case in cases]] == [
        "in-progress",
        "open",
        "open",
    ]
    state = await kit.sync_state(other, connector)
    assert state["changes_applied"] == 3 * 4 + 1 and state["last_poll_error"] is None
    assert [await polls_made(instance) > 0 for instance in (casepush, other)] == [True, True]


async def test_a_restart_resumes_the_poll_at_its_stored_cursor(
    casepush, jira, connector, ann, aiohttp_client, casepush_settings
):
    turned_on = datetime.now(UTC)
    case, issue = await synced_case(casepush, jira, connector, poll_interval=60)
    sync_started = {jql_date(turned_on, TIME_ZONE), jql_date(datetime.now(UTC), TIME_ZONE)}
    jira.tick(minutes=10)  # Jira's clock ahead: the cursor (its latest change less a minute) is later
    await jira.comment_as(ann, issue, "Before the restart.")
    await kit.polled(casepush, connector)
    cursor = jql_date(jira.now - OVERLAP, TIME_ZONE)
    before = [body["jql"] for body in jira.sent("POST", "/search/jql")]

    await casepush.client.close()  # the instance stops; what it knew is in the database
    restarted = await another_instance(aiohttp_client, casepush_settings)
    jira.tick(minutes=10)
    await jira.comment_as(ann, issue, "After the restart.")
    state = await kit.polled(restarted, connector)

    resumed = [body["jql"] for body in jira.sent("POST", "/search/jql")][len(before) :]
    # Before: from when sync was turned on (the first poll may come by itself once the case is pushed).
    assert before and all(jql in [changes_jql([issue], start) for start in sync_started] for jql in before)
    assert resumed == [changes_jql([issue], cursor)] and cursor > max(sync_started)
    assert state["changes_applied"] == 2 and state["last_poll_error"] is None
    comments = [c["comment"] for c in kit.user_comments(await kit.case_now(restarted, case["id"]))]
    assert comments == ["Before the restart.", "After the restart."]


# --- Kibana's _sync -------------------------------------------------------------------------------------


async def test_sync_pulls_the_title_description_and_status_on_demand_by_kibanas_defaults(
    casepush, jira, connector, ann
):
    case = await kit.pushed_case(casepush, connector)  # no case sync settings: Kibana's field rules
    issue = case["external_service"]["external_id"]
    jira.now = datetime.now(ZONE)
    await jira.edit_as(ann, issue, summary="Brute force on the VPN", description="From 10.0.0.2")
    await ann_comments_and_starts_progress(jira, ann, issue)

    status, synced = await casepush.post(f"/api/cases/{case['id']}/_sync")
    again_status, again = await casepush.post(f"/api/cases/{case['id']}/_sync")

    assert status == 200, synced
    assert (synced["id"], synced["title"], synced["description"], synced["status"]) == (
        case["id"],
        "Brute force on the VPN",
        "From 10.0.0.2",
        "in-progress",
    )
    assert kit.user_comments(synced) == [] and synced["totalComment"] == 0  # comments are not pulled
    assert again_status == 200 and again["version"] == synced["version"]  # each change applied once
    syncs = await kit.actions(casepush, case["id"], "sync")
    assert [s["created_by"]["username"] for s in syncs] == ["elastic", "elastic"]
    first, second = (s["payload"]["sync"] for s in syncs)
    assert sorted(first["updated_fields"]) == ["description", "status", "title"]
    assert (first["connector_name"], first["external_title"], first["external_updated_by"]) == (
        "Jira",
        "CK-1",
        "Ann Lee",
    )
    assert second["updated_fields"] == []


async def test_sync_refuses_as_kibana_does(casepush, jira, connector):
    moved = await kit.pushed_case(casepush, connector)
    await casepush.change_case(moved["id"], connector=NONE_CONNECTOR)
    never_pushed = await casepush.create_case()
    failing = await kit.pushed_case(casepush, connector)
    jira.fail_next(server_error(500), method="POST", path="/search", times=3)

    answers = [await casepush.post(f"/api/cases/{c['id']}/_sync") for c in (moved, never_pushed, failing)]

    assert answers[:2] == [
        (
            400,
            {
                "statusCode": 400,
                "error": "Bad Request",
                "message": "The case connector changed after the last push."
                " Push the case again before syncing.",
            },
        ),
        (
            400,
            {
                "statusCode": 400,
                "error": "Bad Request",
                "message": "The case has not been pushed to an external incident yet.",
            },
        ),
    ]
    status, error = answers[2]
    assert (status, error["message"]) == (
        424,
        "[Action][Jira]: Unable to search for the changes of incidents. Error: Request failed with status"
        " code 500. Reason: unknown: errorResponse.errors was null",
    )
    for case in (moved, never_pushed, failing):
        assert await kit.actions(casepush, case["id"], "sync") == []
