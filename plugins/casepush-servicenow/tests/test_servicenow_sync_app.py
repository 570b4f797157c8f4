"""Two-way sync end to end: a real casepush app with the ServiceNow plugin, against the fake ServiceNow
running casepush's business rules (posting to the app's inbound URL with the bearer secret) and answering
its polls, on both storage backends. What a person changes on the incident (its state, comments, work
notes) reaches the case once, whichever way it comes; what casepush wrote never comes back; an inbound
change asks for no automatic push; refused calls change nothing; a restart resumes polling at the stored
cursor; Kibana's ``_sync`` pulls on demand."""

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import casepush_servicenow
import pytest
from fake_servicenow import (
    TIME_FORMAT,
    USERNAME,
    FakeServiceNow,
    basic,
    casepush_plugins,
    private_key,
    sn,
)
from test_servicenow_automatic_push import casepush_settings

from casepush.app import create_app
from casepush.config import Settings
from casepush.plugins import load_plugins
from casepush.testing import PASSWORD, Api, case_body, ok
from casepush.testing.database import StoredData
from casepush.testing.sync import actions, case_now, deliver, polled, sync_state, user_comments

ITSM, SIR = ".servicenow", ".servicenow-sir"
SECRET = "inbound-s3cret-0123456789"
#: The case's ``connector.fields`` of each type (none chosen).
FIELDS = {
    ITSM: dict.fromkeys(("impact", "severity", "urgency", "category", "subcategory")),
    SIR: dict.fromkeys(
        ("category", "destIp", "malwareHash", "malwareUrl", "priority", "sourceIp", "subcategory")
    ),
}
#: How the case shows who made a change in ServiceNow: the person and the connector type's name.
ALICE = {ITSM: "Alice Analyst (ServiceNow ITSM)", SIR: "Alice Analyst (ServiceNow SecOps)"}
#: A person closing the incident (with what the data policies ask for), and moving it on.
CLOSING = {
    ITSM: {"state": "6", "close_code": "Solution provided", "close_notes": "Blocked the IP."},
    SIR: {"state": "3", "close_code": "Threat mitigated"},
}
WORKING = {ITSM: {"state": "2"}, SIR: {"state": "18"}}
BOTH_TYPES = pytest.mark.parametrize("type_id", [ITSM, SIR], ids=["itsm", "secops"])


def clock(sn: FakeServiceNow, ahead: float = 0) -> None:
    """ServiceNow's clock at the real time (``ahead`` seconds on): its changes are not older than the case
    (ServiceNow's times are whole seconds, the case's are not)."""
    sn.now = (datetime.now(UTC) + timedelta(seconds=ahead)).strftime(TIME_FORMAT)


def inbound_path(connector: dict) -> str:
    return f"/api/casepush/connectors/{connector['id']}/inbound"


async def connected(
    api: Api, sn: FakeServiceNow, type_id: str = ITSM, rules_secret: str | None = None, **sync: Any
) -> dict:
    """A connector to the fake with these case sync settings (comments come back too); with
    ``rules_secret``, the business rules post to its inbound URL with that bearer secret."""
    body = {"name": "SN", "connector_type_id": type_id, **basic(sn, usesTableApi=True)}
    connector = await ok(api.post("/api/actions/connector", body))
    settings = {"pull_comments": True, **sync}
    await ok(api.put(f"/api/casepush/connectors/{connector['id']}/case_sync", settings))
    if rules_secret is not None:
        sn.install_business_rules(str(api.client.make_url(inbound_path(connector))), rules_secret)
    return connector


async def pushed_case(api: Api, connector: dict, comments: tuple[str, ...] = ()) -> tuple[dict, str]:
    """A case of the connector, with these comments, pushed; the case and its incident's sys_id."""
    type_id = connector["connector_type_id"]
    named = {"id": connector["id"], "name": "SN", "type": type_id, "fields": FIELDS[type_id]}
    case = await ok(api.post("/api/cases", case_body(connector=named)))
    for comment in comments:
        body = {"type": "user", "comment": comment, "owner": "cases"}
        await ok(api.post(f"/api/cases/{case['id']}/comments", body))
    pushed = await ok(api.post(f"/api/cases/{case['id']}/connector/{connector['id']}/_push", {}))
    return pushed, pushed["external_service"]["external_id"]


async def deliver_again(api: Api, connector: dict, body: bytes, secret: str = SECRET) -> tuple[int, Any]:
    """A business rule's call posted once more, as ServiceNow's REST message posts it."""
    return await deliver(api, connector, body, {"Authorization": f"Bearer {secret}"})


def writes(sn: FakeServiceNow) -> list:
    return [r for r in sn.requests if r.method in ("POST", "PATCH", "PUT")]


def query(path: str, name: str = "sysparm_query") -> str:
    return parse_qs(urlsplit(path).query)[name][0]


# --- by webhook and by polling, once ----------------------------------------------------------------------


@BOTH_TYPES
async def test_a_state_a_comment_and_a_work_note_reach_the_case_once_by_webhook_and_poll(
    casepush: Api, sn: FakeServiceNow, type_id: str
):
    clock(sn)
    connector = await connected(casepush, sn, type_id, SECRET, inbound_secret=SECRET, poll_interval=60)
    case, sys_id = await pushed_case(casepush, connector)
    await polled(casepush, connector)  # the poll knows the incident as casepush pushed it
    first = len(sn.notifications)

    clock(sn, 1)
    await sn.act(
        sys_id, "alice", comments="Called the user.", work_notes="Isolated the host.", **CLOSING[type_id]
    )

    calls = sn.notifications[first:]
    assert len(calls) == 3  # the state, the comment, the work note
    assert [status for _, status in sn.deliveries[first:]] == [200, 200, 200]
    assert (await sync_state(casepush, connector))["changes_applied"] == 3
    for body in calls * 2:  # delivered three times in all
        assert await deliver_again(casepush, connector, body) == (200, {"applied": 0, "ignored": 1})
    state = await polled(casepush, connector)
    assert state["last_poll_error"] is None and state["changes_applied"] == 3
    assert state["last_inbound_error"] is None

    synced = await case_now(casepush, case["id"])
    assert synced["status"] == "closed"
    imported = user_comments(synced)
    assert sorted(c["comment"] for c in imported) == ["Called the user.", "Isolated the host."]
    author = {"email": None, "full_name": ALICE[type_id], "username": None}
    assert all(c["created_by"] == author for c in imported)
    changed_at = datetime.strptime(sn.now, TIME_FORMAT).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    [status] = await actions(casepush, case["id"], "status")
    assert status["payload"] == {"status": "closed"}
    assert (status["created_by"], status["created_at"]) == (author, changed_at)
    syncs = [a["payload"]["sync"] for a in await actions(casepush, case["id"], "sync")]
    assert sorted(field for s in syncs for field in s["updated_fields"]) == ["comments", "comments", "status"]
    assert {s["external_id"] for s in syncs} == {sys_id}


async def test_comments_casepush_pushed_are_not_imported_back(casepush: Api, sn: FakeServiceNow):
    clock(sn)
    connector = await connected(casepush, sn, ITSM, SECRET, inbound_secret=SECRET, poll_interval=60)
    await polled(casepush, connector)

    case, sys_id = await pushed_case(casepush, connector, comments=("Ours.",))

    [ours] = sn.journal
    assert (ours["element"], ours["sys_created_by"]) == ("work_notes", USERNAME)
    assert ours["value"].startswith("Ours.")
    # The business rule reported casepush's own work note, and the app took the call.
    reported = [json.loads(body)["journal"] for body in sn.notifications]
    assert [entry["sys_id"] for entries in reported for entry in entries] == [ours["sys_id"]]
    assert {status for _, status in sn.deliveries} == {200}
    # A person pasting what casepush pushed (with its footer) as a comment: casepush's text too.
    clock(sn, 1)
    await sn.act(sys_id, "alice", comments=ours["value"])
    for body in sn.notifications:
        assert await deliver_again(casepush, connector, body) == (200, {"applied": 0, "ignored": 1})
    state = await polled(casepush, connector)

    assert state["changes_applied"] == 0 and state["last_poll_error"] is None
    assert [c["comment"] for c in user_comments(await case_now(casepush, case["id"]))] == ["Ours."]
    assert await actions(casepush, case["id"], "sync") == []


# --- no echo back by automatic push ------------------------------------------------------------------------


async def test_an_inbound_state_is_not_pushed_back_but_a_later_local_change_is(
    casepush: Api, sn: FakeServiceNow
):
    clock(sn)
    connector = await connected(casepush, sn, ITSM, SECRET, inbound_secret=SECRET, push_status=True)
    setting = {"mode": "updates", "quiet_period": 0.2}
    await ok(casepush.put(f"/api/casepush/automatic_push/cases/{connector['id']}", setting))
    case, sys_id = await pushed_case(casepush, connector)
    before = len(writes(sn))

    clock(sn, 1)
    await sn.act(sys_id, "alice", state="3")  # On Hold: in-progress

    assert sn.deliveries[-1][1] == 200
    assert (await case_now(casepush, case["id"]))["status"] == "in-progress"
    # The sync asked for no push: nothing waits (it would have been queued with the change).
    [waiting] = (await ok(casepush.get(f"/api/casepush/cases/{case['id']}/automatic_push")))[
        "automatic_pushes"
    ]
    assert (waiting["state"], waiting["pending_since"], waiting["attempts"]) == ("idle", None, 0)
    assert len(writes(sn)) == before  # casepush wrote nothing to ServiceNow
    assert sn.incidents[sys_id]["state"] == "3"

    clock(sn, 5)  # ServiceNow's clock a little ahead: casepush's update is stamped after the next edit
    await casepush.change_case(case["id"], status="closed")
    await casepush.pushed_automatically(case["id"], 2)

    incident = sn.incidents[sys_id]
    assert (incident["state"], incident["sys_updated_by"]) == ("6", USERNAME)
    assert incident["close_code"] and incident["close_notes"] == "Closed by casepush"
    # casepush's own update came back by the business rule, and was not applied; nor is it when the
    # call comes late, after a newer edit of the case (ServiceNow queues the rules' calls).
    echo = len(sn.notifications) - 1
    assert (sn.notification(echo)["sys_updated_by"], sn.notification(echo)["state"]) == (USERNAME, "6")
    await casepush.change_case(case["id"], status="in-progress")
    assert await deliver_again(casepush, connector, sn.notifications[echo]) == (
        200,
        {"applied": 0, "ignored": 1},
    )
    await casepush.pushed_automatically(case["id"], 3)
    assert (await case_now(casepush, case["id"]))["status"] == "in-progress"
    assert sn.incidents[sys_id]["state"] == "2"
    assert (await sync_state(casepush, connector))["changes_applied"] == 1


async def test_casepush_s_own_update_polled_after_a_newer_edit_is_not_brought_back(
    casepush: Api, sn: FakeServiceNow
):
    clock(sn)
    connector = await connected(casepush, sn, ITSM, poll_interval=60, push_status=True)
    path = f"/api/casepush/automatic_push/cases/{connector['id']}"
    await ok(casepush.put(path, {"mode": "updates", "quiet_period": 0.2}))
    case, sys_id = await pushed_case(casepush, connector)
    await polled(casepush, connector)
    clock(sn, 5)  # ServiceNow's clock a little ahead: casepush's update is stamped after the next edit
    await casepush.change_case(case["id"], status="closed")
    await casepush.pushed_automatically(case["id"], 2)
    assert (sn.incidents[sys_id]["state"], sn.incidents[sys_id]["sys_updated_by"]) == ("6", USERNAME)

    await ok(casepush.put(path, {"mode": "updates", "quiet_period": 600}))  # the next push waits
    await casepush.change_case(case["id"], status="in-progress")
    state = await polled(casepush, connector)

    assert state["last_poll_error"] is None and state["changes_applied"] == 0
    assert (await case_now(casepush, case["id"]))["status"] == "in-progress"
    assert await actions(casepush, case["id"], "sync") == []


# --- refused calls -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules_secret", "person", "status", "message"),
    [
        (
            "an-old-secret-0123456789",
            {"state": "2", "comments": "Sneaky."},
            401,
            "Invalid bearer token",
        ),
        (SECRET, {"comments": "x" * (1 << 20)}, 413, "Payload content length greater than maximum allowed"),
    ],
    ids=["wrong-token", "oversized"],
)
async def test_a_refused_call_changes_nothing(
    casepush: Api, sn: FakeServiceNow, rules_secret: str, person: dict, status: int, message: str
):
    clock(sn)
    connector = await connected(casepush, sn, ITSM, rules_secret, inbound_secret=SECRET)
    case, sys_id = await pushed_case(casepush, connector)
    before = await case_now(casepush, case["id"]), await actions(casepush, case["id"])
    first = len(sn.notifications)

    clock(sn, 1)
    await sn.act(sys_id, "alice", **person)
    answered, error = await deliver_again(casepush, connector, sn.notifications[first], rules_secret)

    assert {answer for _, answer in sn.deliveries[first:]} == {status}
    assert answered == status and message in error["message"], error
    assert (await case_now(casepush, case["id"]), await actions(casepush, case["id"])) == before
    state = await sync_state(casepush, connector)
    assert message in state["last_inbound_error"] and state["changes_applied"] == 0


# --- polling across a restart ------------------------------------------------------------------------------


async def test_a_restart_resumes_polling_at_the_stored_cursor(
    casepush: Api, sn: FakeServiceNow, casepush_settings: Settings, aiohttp_client: Any
):
    clock(sn)
    connector = await connected(casepush, sn, ITSM, poll_interval=60)
    case, sys_id = await pushed_case(casepush, connector)
    clock(sn, 1)
    await sn.act(sys_id, "alice", comments="Before the restart.")
    assert (await polled(casepush, connector))["changes_applied"] == 1
    [(stored,)] = await StoredData(casepush_settings).rows(
        "SELECT cursor FROM sync_state WHERE connector_id = ?", connector["id"]
    )
    await casepush.client.close()  # the first instance stops

    plugins = await load_plugins(allowed=[], extra=[casepush_servicenow])
    app = create_app(casepush_settings, announce=lambda line: None, plugins=plugins)
    restarted = Api(await aiohttp_client(app))
    clock(sn, 2)
    await sn.act(sys_id, "bob", comments="After the restart.")
    sn.requests.clear()
    state = await polled(restarted, connector)

    # The cursor's time less the minute ServiceNow may take to commit an update.
    at = datetime.strptime(json.loads(stored)["at"], TIME_FORMAT) - timedelta(seconds=60)
    since = at.strftime(TIME_FORMAT)
    [records] = sn.calls("GET", "/api/now/v2/table/incident")
    assert query(records.path) == f"sys_idIN{sys_id}^sys_updated_on>={since}^ORDERBYsys_updated_on"
    [journal] = sn.calls("GET", "/api/now/table/sys_journal_field")
    assert f"^sys_created_on>={since}^" in query(journal.path)
    assert state["changes_applied"] == 2 and state["last_poll_error"] is None
    comments = user_comments(await case_now(restarted, case["id"]))
    assert [(c["comment"], c["created_by"]["full_name"]) for c in comments] == [
        ("Before the restart.", "Alice Analyst (ServiceNow ITSM)"),
        ("After the restart.", "Bob Builder (ServiceNow ITSM)"),
    ]


# --- Kibana's _sync ----------------------------------------------------------------------------------------


@BOTH_TYPES
async def test_sync_pulls_the_case_on_demand(casepush: Api, sn: FakeServiceNow, type_id: str):
    clock(sn)
    body = {"name": "SN", "connector_type_id": type_id, **basic(sn, usesTableApi=True)}
    connector = await ok(casepush.post("/api/actions/connector", body))  # no case sync settings
    case, sys_id = await pushed_case(casepush, connector)
    clock(sn, 1)
    await sn.act(
        sys_id, "alice", short_description="Renamed there", comments="Stays there.", **WORKING[type_id]
    )

    synced = await ok(casepush.post(f"/api/cases/{case['id']}/_sync"))

    assert (synced["title"], synced["status"]) == ("Renamed there", "in-progress")
    assert synced["description"] == case["description"]
    assert user_comments(synced) == []  # Kibana's defaults bring no comments
    [sync] = await actions(casepush, case["id"], "sync")
    assert sync["created_by"]["username"] == "elastic"
    assert sorted(sync["payload"]["sync"]["updated_fields"]) == ["status", "title"]
    assert sync["payload"]["sync"]["external_id"] == sys_id
    [title] = await actions(casepush, case["id"], "title")
    assert title["created_by"]["full_name"] == ALICE[type_id]

    again = await ok(casepush.post(f"/api/cases/{case['id']}/_sync"))
    assert again["version"] == synced["version"]
    syncs = await actions(casepush, case["id"], "sync")
    assert [s["payload"]["sync"]["updated_fields"] for s in syncs][1] == []
