"""Two-way sync against the example plugin's fake echo service, on both backends: the settings, changes by
webhook and by polling applied once whatever the repeats, no echo either way, refused calls changing
nothing, the later change winning, and Kibana's ``_sync``. The Jira and ServiceNow plugins test their own
webhooks and polls against their fakes."""

import asyncio
import hashlib
import hmac
import re
import time
from collections.abc import Awaitable, Callable

import pytest

from casepush.domain import now_iso
from casepush.testing.database import StoredData
from casepush.testing.sync import (
    actions,
    anonymous,
    case_now,
    deliver,
    polled,
    pushed_case,
    sync_settings,
    sync_state,
    user_comments,
)
from tests.helpers import NONE_CONNECTOR, Api, case_body, connector_body
from tests.processes import run_cli

SECRET = "inbound-secret-0123456789"
FAST = {"automatic_push_poll_interval": 0.05}


@pytest.fixture
async def api(api_with: Callable[..., Awaitable[Api]]) -> Api:
    return await api_with(**FAST)


@pytest.fixture
async def connector(api: Api, echo) -> dict:
    status, made = await api.post("/api/actions/connector", connector_body(echo.url))
    assert status == 200, made
    return made


# --- settings ------------------------------------------------------------------------------------------


async def test_the_inbound_secret_is_write_only_and_sealed(api, connector, settings):
    saved = await sync_settings(api, connector, inbound_secret=SECRET)

    assert saved["has_inbound_secret"] is True and "inbound_secret" not in saved
    assert saved["inbound_path"] == f"/api/casepush/connectors/{connector['id']}/inbound"
    assert SECRET.encode() not in await StoredData(settings).everything()
    assert (await sync_settings(api, connector))["has_inbound_secret"] is True  # left out: kept
    assert (await sync_settings(api, connector, inbound_secret=None))["has_inbound_secret"] is False


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"inbound_secret": "short"}, "[inbound_secret]: must be at least 16 characters"),
        ({"poll_interval": 1}, "[poll_interval]: must be between 10 and 86400 seconds"),
        ({"pull_colour": True}, "pull_colour"),
    ],
)
async def test_bad_sync_settings_are_refused_and_change_nothing(api, connector, body, message):
    path = f"/api/casepush/connectors/{connector['id']}/case_sync"
    _, before = await api.get(path)

    status, error = await api.put(path, body)

    assert status == 400 and message in error["message"], error
    assert await api.get(path) == (200, before)


# --- by webhook -----------------------------------------------------------------------------------------


async def test_a_comment_and_a_status_reach_the_case_once_by_webhook_delivered_three_times_and_polled(
    api, connector, echo
):
    await sync_settings(api, connector, inbound_secret=SECRET, poll_interval=60)
    case = await pushed_case(api, connector)
    incident = case["external_service"]["external_id"]
    events = [
        echo.person_comments(incident, "Rebooted the host."),
        echo.journal(incident, "Jane Doe", state="done"),
    ]
    body, headers = echo.webhook_call(events, SECRET)

    answers = [await deliver(api, connector, body, headers) for _ in range(3)]
    state = await polled(api, connector)

    assert answers == [(200, {"applied": 2, "ignored": 0})] + [(200, {"applied": 0, "ignored": 2})] * 2
    assert state["last_poll_error"] is None and state["changes_applied"] == 2
    synced = await case_now(api, case["id"])
    assert synced["status"] == "closed"
    (imported,) = user_comments(synced)
    assert imported["comment"] == "Rebooted the host."
    assert imported["created_by"] == {"email": None, "full_name": "Jane Doe (Echo)", "username": None}
    recorded = await actions(api, case["id"], "status,comment,sync")
    by_type = {action["type"]: action for action in recorded}
    assert by_type["status"]["payload"] == {"status": "closed"}
    assert by_type["status"]["created_by"]["full_name"] == "Jane Doe (Echo)"
    assert by_type["status"]["created_at"] == events[1]["at"]
    assert by_type["comment"]["payload"]["comment"]["comment"] == "Rebooted the host."
    assert [action["type"] for action in recorded] == ["comment", "status", "sync"]
    assert by_type["sync"]["payload"]["sync"]["updated_fields"] == ["comments", "status"]
    assert by_type["sync"]["payload"]["sync"]["external_id"] == incident


async def test_comments_casepush_pushed_never_come_back(api, connector, echo):
    await sync_settings(api, connector, inbound_secret=SECRET, poll_interval=60)
    named = {"id": connector["id"], "name": "Echo", "type": ".echo", "fields": None}
    status, case = await api.post("/api/cases", case_body(connector=named))
    assert status == 200, case
    status, _ = await api.post(
        f"/api/cases/{case['id']}/comments", {"type": "user", "comment": "Ours.", "owner": "cases"}
    )
    assert status == 200
    status, pushed = await api.post(f"/api/cases/{case['id']}/connector/{connector['id']}/_push", {})
    assert status == 200, pushed
    incident = pushed["external_service"]["external_id"]
    (ours,) = [event for event in echo.events if "comment" in event]
    # The same comment reported as a person's (its id is one casepush pushed), and a copy of a pushed
    # text carrying Kibana's footer under another id.
    disguised = {**ours, "id": "ev-disguised", "author": "Jane Doe", "integration": False}
    copied = echo.journal(incident, "Jane Doe", comment={**ours["comment"], "id": "c-copy"})
    body, headers = echo.webhook_call([ours, disguised, copied], SECRET)

    answer = await deliver(api, connector, body, headers)
    await polled(api, connector)

    assert answer == (200, {"applied": 0, "ignored": 3})
    assert [c["comment"] for c in user_comments(await case_now(api, case["id"]))] == ["Ours."]
    assert (await sync_state(api, connector))["changes_applied"] == 0


async def test_an_inbound_status_is_not_pushed_back_but_a_later_local_change_is(api_with, echo):
    api = await api_with(automatic_push_poll_interval=0.05)
    status, connector = await api.post("/api/actions/connector", connector_body(echo.url))
    assert status == 200, connector
    await sync_settings(api, connector, inbound_secret=SECRET, push_status=True)
    path = f"/api/casepush/automatic_push/cases/{connector['id']}"
    assert (await api.put(path, {"mode": "updates", "quiet_period": 0.2}))[0] == 200
    case = await pushed_case(api, connector)
    incident = case["external_service"]["external_id"]
    body, headers = echo.webhook_call([echo.journal(incident, "Jane Doe", state="done")], SECRET)
    writes = len([r for r in echo.requests if r.method in ("PUT", "POST")])

    assert (await deliver(api, connector, body, headers))[1] == {"applied": 1, "ignored": 0}
    await asyncio.sleep(1.0)  # five quiet periods

    assert len([r for r in echo.requests if r.method in ("PUT", "POST")]) == writes
    status, state = await api.get(f"/api/casepush/cases/{case['id']}/automatic_push")
    assert state["automatic_pushes"][0]["state"] == "idle" and state["automatic_pushes"][0]["attempts"] == 0
    status, _ = await api.post(
        f"/api/cases/{case['id']}/comments", {"type": "user", "comment": "Done here too.", "owner": "cases"}
    )
    deadline = time.monotonic() + 10
    while not any(r.method == "POST" and r.path.endswith("/comments") for r in echo.requests[writes:]):
        assert time.monotonic() < deadline, "the local change was never pushed"
        await asyncio.sleep(0.05)
    assert echo.incidents[incident]["comments"][-1].startswith("Done here too.")


# --- refused calls --------------------------------------------------------------------------------------


def signed(body: bytes) -> dict:
    """The echo service's signature of ``body`` with the connector's secret."""
    return {"X-Hub-Signature": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()}


def unsigned(echo, events: list[dict]) -> tuple[bytes, dict]:
    return echo.webhook_call(events, SECRET)[0], {}


def wrongly_signed(echo, events: list[dict]) -> tuple[bytes, dict]:
    return echo.webhook_call(events, "another-secret-0123456789")


def altered(echo, events: list[dict]) -> tuple[bytes, dict]:
    body, headers = echo.webhook_call(events, SECRET)
    return body.replace(b"Sneaky", b"Snaaky"), headers


def replayed(echo, events: list[dict]) -> tuple[bytes, dict]:
    return echo.webhook_call(events, SECRET, sent_at="2020-01-01T00:00:00.000Z")


def garbage(echo, events: list[dict]) -> tuple[bytes, dict]:
    return b"{not json", signed(b"{not json")


def oversized(echo, events: list[dict]) -> tuple[bytes, dict]:
    body = echo.webhook_call(events, SECRET)[0] + b" " * 2048
    return body, signed(body)


@pytest.mark.parametrize(
    ("call", "status", "message"),
    [
        (unsigned, 401, "Missing X-Hub-Signature header"),
        (wrongly_signed, 401, "Invalid X-Hub-Signature: the body is not signed with the connector's inbound"),
        (altered, 401, "Invalid X-Hub-Signature"),
        (replayed, 400, "Refused a call sent at 2020-01-01T00:00:00.000Z: more than 3600 seconds from now"),
        (garbage, 400, "Not an echo webhook"),
        (oversized, 413, "Payload content length greater than maximum allowed: 2048"),
    ],
)
async def test_a_refused_call_changes_nothing(api_with, echo, call, status, message):
    api = await api_with(sync_inbound_max_bytes=2048)
    _, connector = await api.post("/api/actions/connector", connector_body(echo.url))
    await sync_settings(api, connector, inbound_secret=SECRET)
    case = await pushed_case(api, connector)
    incident = case["external_service"]["external_id"]
    events = [echo.person_comments(incident, "Sneaky."), echo.journal(incident, "Mallory", state="done")]
    before = await case_now(api, case["id"]), await actions(api, case["id"])

    answered, error = await deliver(api, connector, *call(echo, events))

    assert answered == status and message in error["message"], error
    assert (await case_now(api, case["id"]), await actions(api, case["id"])) == before
    assert message in (await sync_state(api, connector))["last_inbound_error"]


async def test_a_connector_without_an_inbound_secret_takes_no_calls(api, connector, echo):
    case = await pushed_case(api, connector)
    body, headers = echo.webhook_call(
        [echo.person_comments(case["external_service"]["external_id"], "Hi.")], SECRET
    )

    assert await deliver(api, connector, body, headers) == (
        404,
        {"statusCode": 404, "error": "Not Found", "message": "Not Found"},
    )
    missing = {**connector, "id": "no-such-connector"}
    assert (await deliver(api, missing, body, headers))[0] == 404
    assert len(user_comments(await case_now(api, case["id"]))) == 0


async def test_calls_beyond_the_connectors_rate_get_429_with_retry_after(api_with, echo):
    api = await api_with(sync_inbound_rate=0.5)  # a burst of five, then one every two seconds
    _, connector = await api.post("/api/actions/connector", connector_body(echo.url))
    await sync_settings(api, connector, inbound_secret=SECRET)
    body, headers = echo.webhook_call([], SECRET)

    external, path = anonymous(api), f"/api/casepush/connectors/{connector['id']}/inbound"

    answers = [await external.post(path, body, headers=headers, xsrf=False) for _ in range(6)]

    assert [status for status, _ in answers] == [200] * 5 + [429]
    assert "Too many calls" in answers[-1][1]["message"]
    assert external.last_headers["Retry-After"] == "2"


# --- conflicts ------------------------------------------------------------------------------------------


async def test_a_field_changed_here_after_the_external_change_keeps_its_value(api, connector, echo):
    await sync_settings(api, connector, inbound_secret=SECRET)
    case = await pushed_case(api, connector)
    incident = case["external_service"]["external_id"]
    earlier = echo.journal(incident, "Jane Doe", title="Their title")  # made before our edit
    await asyncio.sleep(0.01)
    status, _ = await api.patch(
        "/api/cases", {"cases": [{"id": case["id"], "version": case["version"], "title": "Our title"}]}
    )
    assert status == 200
    later = echo.journal(incident, "Jane Doe", description="Their description")

    answer = await deliver(api, connector, *echo.webhook_call([earlier, later], SECRET))

    assert answer == (200, {"applied": 1, "ignored": 1})
    synced = await case_now(api, case["id"])
    assert (synced["title"], synced["description"]) == ("Our title", "Their description")
    (sync,) = await actions(api, case["id"], "sync")
    assert sync["payload"]["sync"]["updated_fields"] == ["description"]
    assert sync["payload"]["sync"]["conflicted_fields"] == ["title"]


async def test_a_comment_edited_on_both_sides_keeps_the_later_edit_and_records_both(api, connector, echo):
    await sync_settings(api, connector, inbound_secret=SECRET)
    case = await pushed_case(api, connector)
    incident = case["external_service"]["external_id"]
    first = echo.person_comments(incident, "Draft.")
    await deliver(api, connector, *echo.webhook_call([first], SECRET))
    (imported,) = user_comments(await case_now(api, case["id"]))
    edit = {"id": imported["id"], "version": imported["version"], "type": "user", "owner": "cases"}

    their_earlier = {**first["comment"], "text": "Theirs, first.", "updated": now_iso()}
    await asyncio.sleep(0.01)
    assert (await api.patch(f"/api/cases/{case['id']}/comments", {**edit, "comment": "Ours."}))[0] == 200
    older = echo.journal(incident, "Jane Doe", at=their_earlier["updated"], comment=their_earlier)
    answer_older = await deliver(api, connector, *echo.webhook_call([older], SECRET))
    their_later = {**first["comment"], "text": "Theirs, last.", "updated": now_iso()}
    newer = echo.journal(incident, "Jane Doe", at=their_later["updated"], comment=their_later)
    answer_newer = await deliver(api, connector, *echo.webhook_call([newer], SECRET))

    assert (answer_older[1], answer_newer[1]) == ({"applied": 0, "ignored": 1}, {"applied": 1, "ignored": 0})
    (kept,) = user_comments(await case_now(api, case["id"]))
    assert kept["comment"] == "Theirs, last." and kept["updated_by"]["full_name"] == "Jane Doe (Echo)"
    edits = [a for a in await actions(api, case["id"], "comment") if a["action"] == "update"]
    assert [(a["created_by"]["full_name"] or a["created_by"]["username"]) for a in edits] == [
        "elastic",
        "Jane Doe (Echo)",
    ]
    syncs = [a["payload"]["sync"] for a in await actions(api, case["id"], "sync")]
    assert [s["conflicted_fields"] for s in syncs] == [[], ["comments"], []]


async def test_only_what_the_settings_bring_back_is_applied(api, connector, echo):
    await sync_settings(api, connector, inbound_secret=SECRET, pull_comments=False, pull_title=False)
    case = await pushed_case(api, connector)
    incident = case["external_service"]["external_id"]
    events = [
        echo.person_comments(incident, "Not wanted."),
        echo.journal(incident, "Jane Doe", title="Not wanted either"),
        echo.journal(incident, "Jane Doe", state="active"),
    ]

    answer = await deliver(api, connector, *echo.webhook_call(events, SECRET))

    assert answer == (200, {"applied": 1, "ignored": 2})
    synced = await case_now(api, case["id"])
    assert (synced["status"], synced["title"], user_comments(synced)) == ("in-progress", case["title"], [])


# --- by polling -----------------------------------------------------------------------------------------


def change_queries(echo) -> list[str]:
    return [r.path for r in echo.requests if r.path.startswith("/changes")]


async def test_a_restart_resumes_the_poll_at_its_cursor(api_with, echo):
    first = await api_with()
    _, connector = await first.post("/api/actions/connector", connector_body(echo.url))
    await sync_settings(first, connector, poll_interval=60)
    case = await pushed_case(first, connector)
    incident = case["external_service"]["external_id"]
    echo.person_comments(incident, "Before the restart.")
    await polled(first, connector)
    seen = len(echo.events)

    restarted = await api_with()  # another app on the same database: what survives is stored
    echo.person_comments(incident, "After the restart.")
    state = await polled(restarted, connector)

    first_query, resumed_query = change_queries(echo)
    assert "since=" in first_query and "after=" not in first_query
    assert resumed_query.endswith(f"after={seen}")
    assert state["changes_applied"] == 2 and state["last_poll_error"] is None
    comments = [c["comment"] for c in user_comments(await case_now(restarted, case["id"]))]
    assert comments == ["Before the restart.", "After the restart."]


async def test_a_failed_poll_keeps_its_cursor_and_says_why(api, connector, echo):
    await sync_settings(api, connector, poll_interval=60)
    case = await pushed_case(api, connector)
    echo.person_comments(case["external_service"]["external_id"], "Seen once.")
    await polled(api, connector)
    echo.fail(503, path="/changes")

    failed = await polled(api, connector)
    echo.recover()
    recovered = await polled(api, connector)

    assert failed["last_poll_error"].startswith("[Action][Echo]: Unable to GET /changes?")
    assert failed["last_poll_error"].endswith("Status: 503")
    assert recovered["last_poll_error"] is None and recovered["next_poll_at"] is not None
    assert change_queries(echo)[1] == change_queries(echo)[2]  # the failed poll did not move the cursor
    assert len(user_comments(await case_now(api, case["id"]))) == 1


async def test_poll_now_is_refused_for_a_connector_that_is_not_polled_saying_why(api, connector):
    path = f"/api/casepush/connectors/{connector['id']}/sync_state/_poll"
    prefix = f"Connector {connector['id']} is not polled: "

    never = await api.post(path)
    await sync_settings(
        api,
        connector,
        poll_interval=60,
        pull_comments=False,
        pull_status=False,
        pull_title=False,
        pull_description=False,
    )
    nothing_back = await api.post(path)

    assert never == (
        400,
        {"statusCode": 400, "error": "Bad Request", "message": prefix + "set its case sync poll_interval"},
    )
    assert (
        nothing_back[0] == 400 and nothing_back[1]["message"] == prefix + "its case sync brings nothing back"
    )
    assert (await sync_state(api, connector))["next_poll_at"] is None


async def test_two_instances_on_one_database_apply_each_change_once(api_with, echo):
    one, two = await api_with(), await api_with()
    _, connector = await one.post("/api/actions/connector", connector_body(echo.url))
    await sync_settings(one, connector, inbound_secret=SECRET, poll_interval=60)
    cases = [await pushed_case(one, connector) for _ in range(3)]
    events = [
        echo.person_comments(case["external_service"]["external_id"], f"Comment {n} on {case['id'][:8]}.")
        for case in cases
        for n in range(4)
    ]
    call = echo.webhook_call(events, SECRET)

    await asyncio.gather(
        *(deliver(api, connector, *call) for api in (one, two, one, two)),
        polled(one, connector),
        polled(two, connector),
    )

    for case in cases:
        texts = [c["comment"] for c in user_comments(await case_now(one, case["id"]))]
        assert texts == [f"Comment {n} on {case['id'][:8]}." for n in range(4)]
    assert (await sync_state(two, connector))["changes_applied"] == len(events)


# --- Kibana's _sync -------------------------------------------------------------------------------------


async def test_sync_brings_title_description_and_status_by_kibanas_defaults(api, connector, echo):
    case = await pushed_case(api, connector)
    incident = case["external_service"]["external_id"]
    echo.journal(incident, "Jane Doe", title="Renamed there")
    echo.journal(incident, "Jane Doe", description="Rewritten there.\n\nAdded by elastic.")
    echo.journal(incident, "Jane Doe", state="active")
    echo.person_comments(incident, "Comments stay there by default.")

    status, synced = await api.post(f"/api/cases/{case['id']}/_sync")

    assert status == 200, synced
    assert (synced["title"], synced["description"], synced["status"]) == (
        "Renamed there",
        "Rewritten there.",
        "in-progress",
    )
    assert user_comments(synced) == [] and synced["totalComment"] == 0
    (sync,) = await actions(api, case["id"], "sync")
    assert sync["created_by"]["username"] == "elastic"
    assert sync["payload"]["sync"]["updated_fields"] == ["title", "description", "status"]
    assert sync["payload"]["sync"]["external_updated_by"] == "Jane Doe"
    assert sync["payload"]["sync"]["connector_name"] == connector["name"]
    status, again = await api.post(f"/api/cases/{case['id']}/_sync")
    assert status == 200 and again["version"] == synced["version"]
    syncs = await actions(api, case["id"], "sync")
    assert [s["payload"]["sync"]["updated_fields"] for s in syncs] == [["title", "description", "status"], []]


async def test_sync_brings_comments_when_the_settings_say_so(api, connector, echo):
    await sync_settings(api, connector)
    case = await pushed_case(api, connector)
    echo.person_comments(case["external_service"]["external_id"], "Now they come.")

    status, synced = await api.post(f"/api/cases/{case['id']}/_sync")

    assert status == 200 and [c["comment"] for c in user_comments(synced)] == ["Now they come."]


async def test_sync_refuses_as_kibana_does(api, connector, echo):
    named = {"id": connector["id"], "name": "Echo", "type": ".echo", "fields": None}
    status, never_pushed = await api.post("/api/cases", case_body(connector=named))
    moved = await pushed_case(api, connector)
    status, _ = await api.patch(
        "/api/cases",
        {"cases": [{"id": moved["id"], "version": moved["version"], "connector": NONE_CONNECTOR}]},
    )
    assert status == 200
    failing = await pushed_case(api, connector)
    echo.fail(500, path="/changes")

    assert await api.post(f"/api/cases/{never_pushed['id']}/_sync") == (
        400,
        {
            "statusCode": 400,
            "error": "Bad Request",
            "message": "The case has not been pushed to an external incident yet.",
        },
    )
    status, error = await api.post(f"/api/cases/{moved['id']}/_sync")
    assert (status, error["message"]) == (
        400,
        "The case connector changed after the last push. Push the case again before syncing.",
    )
    status, error = await api.post(f"/api/cases/{failing['id']}/_sync")
    assert status == 424 and "Status: 500" in error["message"]
    assert await actions(api, failing["id"], "sync") == []
    status, error = await api.post("/api/cases/no-such-case/_sync")
    assert status == 404 and error["message"] == "Saved object [cases/no-such-case] not found"
    reader = await api.create_user("reader", "viewer")
    status, error = await reader.post(f"/api/cases/{failing['id']}/_sync")
    assert status == 403, error


# --- what shows it --------------------------------------------------------------------------------------


async def test_metrics_count_calls_polls_and_changes(api, connector, echo):
    await sync_settings(api, connector, inbound_secret=SECRET)
    case = await pushed_case(api, connector)
    event = echo.person_comments(case["external_service"]["external_id"], "Counted.")
    call = echo.webhook_call([event], SECRET)
    await deliver(api, connector, *call)
    await deliver(api, connector, *call)
    await deliver(api, connector, call[0], {})
    # Polling turned on only now: its first poll is due at once, so the worker may poll beside the one
    # asked for; only the first sees the comment.
    await sync_settings(api, connector, poll_interval=60)
    await polled(api, connector)

    status, text = await api.get("/metrics")

    assert status == 200
    polls = re.search(r'casepush_sync_polls_total\{connector_type=".echo",outcome="success"\} (\S+)', text)
    assert polls and float(polls[1]) >= 1
    for line in (
        'casepush_sync_inbound_calls_total{connector_type=".echo",status="200"} 2.0',
        'casepush_sync_inbound_calls_total{connector_type=".echo",status="401"} 1.0',
        'casepush_sync_changes_total{connector_type=".echo",outcome="applied",source="webhook"} 1.0',
        'casepush_sync_changes_total{connector_type=".echo",outcome="ignored",source="webhook"} 1.0',
        'casepush_sync_changes_total{connector_type=".echo",outcome="ignored",source="poll"} 1.0',
    ):
        assert line in text


async def test_rotate_key_reseals_inbound_secrets(api_with, echo, settings):
    old, new = "k" * 32, "z" * 32
    api = await api_with(encryption_key=old)
    _, connector = await api.post("/api/actions/connector", connector_body(echo.url))
    await sync_settings(api, connector, inbound_secret=SECRET)

    done = run_cli(settings, "rotate-key", CASEPUSH_ENCRYPTION_KEY=new, CASEPUSH_DECRYPTION_ONLY_KEYS=old)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Re-encrypted the secrets of 1 connector(s).",
        "Re-encrypted 1 inbound webhook secret(s).",
    ]
    api = await api_with(encryption_key=new)  # the old key is gone: the webhook still opens its secret
    assert (await deliver(api, connector, *echo.webhook_call([], SECRET)))[0] == 200


async def test_a_deleted_connector_leaves_no_settings_to_one_made_with_its_id(api, connector, echo, stored):
    await sync_settings(api, connector, inbound_secret=SECRET, push_status=True)
    status, _ = await api.delete(f"/api/actions/connector/{connector['id']}")
    assert status == 204
    assert await stored.rows("SELECT * FROM case_sync_settings") == []

    status, again = await api.post(f"/api/actions/connector/{connector['id']}", connector_body(echo.url))
    assert status == 200, again
    status, settings = await api.get(f"/api/casepush/connectors/{connector['id']}/case_sync")
    assert status == 200, settings
    assert (settings["has_inbound_secret"], settings["push_status"]) == (False, False)
