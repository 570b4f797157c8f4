"""casepush's own beyond Kibana's TheHive connector, through the app on both backends: a case's status and
assignee pushed (automatically too), an interrupted push finding its TheHive case again, and two-way sync
from TheHive's audits, polled or notified by a webhook endpoint."""

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import casepush_thehive
import msgspec
import pytest
from fake_thehive import ANALYST, API_KEY, ME, FakeTheHive, start_thehive

from casepush import hookimpl
from casepush.config import Settings
from casepush.connectors import PushedIncident
from casepush.testing import PASSWORD, Api, FakeService, KilledAfterCreate, ok
from casepush.testing.client import case_body

SECRET = "thehive-inbound-secret-0123456789"


@pytest.fixture
def casepush_plugins(request: pytest.FixtureRequest) -> list[object]:
    """The plugin, and a fresh ``KilledAfterCreate`` when parametrized indirectly with ``"interrupted"``."""
    interrupted = getattr(request, "param", None) == "interrupted"
    return [casepush_thehive, KilledAfterCreate()] if interrupted else [casepush_thehive]


@pytest.fixture
def casepush_settings(tmp_path: Path, casepush_database_url: str | None) -> Settings:
    """The kit's settings, with a worker that looks for due automatic pushes every 50 ms."""
    return Settings(
        data_dir=str(tmp_path / "casepush"),
        database_url=casepush_database_url,
        elastic_password=PASSWORD,
        automatic_push_poll_interval=0.05,
    )


@pytest.fixture
async def thehive(fake_service: Callable[[], FakeService]) -> FakeTheHive:
    fake = await start_thehive(fake_service())
    fake.now = int(time.time() * 1000)  # TheHive's clock is casepush's: polls count from its time
    return fake


@pytest.fixture
async def connector(casepush: Api, thehive: FakeTheHive) -> dict:
    body = {
        "name": "TheHive",
        "connector_type_id": ".thehive",
        "config": {"url": thehive.url},
        "secrets": {"apiKey": API_KEY},
    }
    return await ok(casepush.post("/api/actions/connector", body))


async def case_sync(api: Api, connector: dict, **settings: Any) -> dict:
    return await ok(api.put(f"/api/casepush/connectors/{connector['id']}/case_sync", settings))


async def new_case(api: Api, connector: dict, **fields: Any) -> dict:
    named = {"id": connector["id"], "name": "TheHive", "type": ".thehive", "fields": {"tlp": 2}}
    return await ok(api.post("/api/cases", case_body(connector=named, **fields)))


async def push(api: Api, case_id: str, connector_id: str) -> dict:
    return await ok(api.post(f"/api/cases/{case_id}/connector/{connector_id}/_push", {}))


# --- the case's status and assignee ---------------------------------------------------------------------


async def test_status_and_assignee_reach_theHive_by_automatic_push(casepush: Api, thehive, connector):
    await casepush.create_user("ann", "editor", email=ANALYST, full_name="Ann Analyst")
    await case_sync(casepush, connector, push_status=True, push_assignees=True)
    await ok(
        casepush.put(
            f"/api/casepush/automatic_push/cases/{connector['id']}", {"mode": "all", "quiet_period": 0.2}
        )
    )
    case = await new_case(casepush, connector, assignees=[{"uid": "ann"}])

    await casepush.pushed_automatically(case["id"], 1)
    [case_id] = thehive.cases
    assert (thehive.cases[case_id]["status"], thehive.cases[case_id]["assignee"]) == ("New", ANALYST)

    await casepush.change_case(case["id"], status="in-progress")
    await casepush.pushed_automatically(case["id"], 2)
    assert (thehive.cases[case_id]["status"], thehive.cases[case_id]["stage"]) == ("InProgress", "InProgress")

    await casepush.change_case(case["id"], status="closed", assignees=[])
    await casepush.pushed_automatically(case["id"], 3)
    assert thehive.cases[case_id]["stage"] == "Closed"
    assert thehive.cases[case_id]["status"] == "Indeterminate"
    assert thehive.cases[case_id]["assignee"] is None
    state_patches = [p for p in thehive.sent("PATCH", f"/case/{case_id}") if "title" not in p]
    assert state_patches == [
        {"assignee": ANALYST},
        {"status": "InProgress"},
        {"status": "Indeterminate", "assignee": None},
    ]


async def test_the_status_mapping_is_the_connectors_option(casepush: Api, thehive, connector):
    await case_sync(casepush, connector, push_status=True, options={"closed": "TruePositive"})
    case = await new_case(casepush, connector)
    await push(casepush, case["id"], connector["id"])

    await casepush.change_case(case["id"], status="closed")
    await push(casepush, case["id"], connector["id"])

    [found] = thehive.cases.values()
    assert found["status"] == "TruePositive"


async def test_an_assignee_theHive_does_not_know_is_a_warning_and_the_push_stands(
    casepush, thehive, connector
):
    await casepush.create_user("bob", "editor", email="bob@nowhere.example")
    await case_sync(casepush, connector, push_assignees=True)
    case = await new_case(casepush, connector, assignees=[{"uid": "bob"}])

    pushed = await push(casepush, case["id"], connector["id"])

    assert pushed["external_service"] is not None
    assert "no TheHive user has the login bob@nowhere.example" in casepush.last_headers["Warning"]


# --- crash recovery ------------------------------------------------------------------------------------


@pytest.mark.parametrize("casepush_plugins", ["interrupted"], indirect=True)
async def test_a_push_killed_after_the_create_finds_the_case_by_its_tag(casepush, thehive, connector):
    case = await new_case(casepush, connector)
    with pytest.raises(aiohttp.ClientError):
        await casepush.post(f"/api/cases/{case['id']}/connector/{connector['id']}/_push", {})
    [case_id] = thehive.cases

    pushed = await push(casepush, case["id"], connector["id"])

    assert pushed["external_service"]["external_id"] == case_id
    assert list(thehive.cases) == [case_id]
    assert thehive.calls()[1:] == ["POST /query", f"PATCH /case/{case_id}"]
    (search,) = thehive.sent("POST", "/query")
    assert search["query"][1] == {
        "_name": "filter",
        "_eq": {"_field": "tags", "_value": f"casepush-case-{case['id']}"},
    }


# --- two-way sync ----------------------------------------------------------------------------------------


async def pushed_case(api: Api, thehive: FakeTheHive, connector: dict, **settings: Any) -> tuple[dict, str]:
    await case_sync(api, connector, **settings)
    case = await new_case(api, connector)
    pushed = await push(api, case["id"], connector["id"])
    return pushed, pushed["external_service"]["external_id"]


async def poll(api: Api, connector_id: str) -> dict:
    path = f"/api/casepush/connectors/{connector_id}/sync_state"
    before = await ok(api.get(path))
    state = await ok(api.post(f"{path}/_poll"))
    deadline = time.monotonic() + 15
    while state["last_poll_at"] in (None, before["last_poll_at"]):
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.05)
        state = await ok(api.get(path))
    assert state["last_poll_error"] is None, state
    return state


async def test_a_poll_brings_back_what_a_person_changed_and_not_what_casepush_did(
    casepush, thehive, connector
):
    case, case_id = await pushed_case(
        casepush, thehive, connector, pull_status=True, pull_title=True, pull_comments=True, poll_interval=60
    )
    thehive.update_as(ME, case_id, description="Written by the connector's own key.")
    thehive.update_as(ANALYST, case_id, status="InProgress", title="Ransomware on laptop-7")
    thehive.comment_as(ANALYST, case_id, "Isolated the host.")

    await poll(casepush, connector["id"])
    await poll(casepush, connector["id"])

    current = await ok(casepush.get(f"/api/cases/{case['id']}"))
    assert (current["status"], current["title"]) == ("in-progress", "Ransomware on laptop-7")
    assert current["description"] == case["description"]
    comments = [c for c in current["comments"] if c["type"] == "user"]
    assert [c["comment"] for c in comments] == ["Isolated the host."]
    assert comments[0]["created_by"]["full_name"] == f"{ANALYST} (TheHive)"
    (first, *_) = thehive.sent("POST", "/query")
    audits_filter = first["query"][1]["_and"]
    assert audits_filter[0] == {"_in": {"_field": "rootId", "_values": [case_id]}}


async def test_a_notification_brings_a_closing_status_back_once(casepush, thehive, connector):
    case, case_id = await pushed_case(casepush, thehive, connector, pull_status=True, inbound_secret=SECRET)
    sync = await ok(casepush.get(f"/api/casepush/connectors/{connector['id']}/case_sync"))
    thehive.update_as(ANALYST, case_id, status="TruePositive")
    body = msgspec.json.encode(thehive.notification(thehive.audits[-1]))
    external = Api(casepush.client, auth=None)
    headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}

    answers = [await external.post(sync["inbound_path"], body, headers=headers, xsrf=False) for _ in range(2)]

    assert [(status, answer["applied"]) for status, answer in answers] == [(200, 1), (200, 0)]
    current = await ok(casepush.get(f"/api/cases/{case['id']}"))
    assert current["status"] == "closed"


async def test_a_notification_of_the_connectors_own_change_is_not_applied(casepush, thehive, connector):
    case, case_id = await pushed_case(casepush, thehive, connector, pull_title=True, inbound_secret=SECRET)
    sync = await ok(casepush.get(f"/api/casepush/connectors/{connector['id']}/case_sync"))
    thehive.update_as(ME, case_id, title="Changed with casepush's key")
    body = msgspec.json.encode(thehive.notification(thehive.audits[-1]))
    headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}

    status, answer = await Api(casepush.client, auth=None).post(
        sync["inbound_path"], body, headers=headers, xsrf=False
    )

    assert (status, answer["applied"]) == (200, 0)
    assert (await ok(casepush.get(f"/api/cases/{case['id']}")))["title"] == case["title"]


async def test_a_body_that_is_no_notification_is_refused(casepush, thehive, connector):
    await pushed_case(casepush, thehive, connector, pull_status=True, inbound_secret=SECRET)
    sync = await ok(casepush.get(f"/api/casepush/connectors/{connector['id']}/case_sync"))
    headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}

    status, refused = await Api(casepush.client, auth=None).post(
        sync["inbound_path"], {"hello": "world"}, headers=headers, xsrf=False
    )

    assert status == 400, refused
    assert refused["message"].startswith("Not a TheHive notification")
