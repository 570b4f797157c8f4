"""Automatic push against the example plugin's fake echo service, on both backends: settings, a burst of
edits making one push after the quiet period, the two modes, retries with backoff (and ``Retry-After``),
failures that are not retried, status and assignees pushed too, and what the API and ``/metrics`` show.
The crash and two-instance tests are in ``test_automatic_push_processes.py``."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.helpers import Api, case_body, connector_body

QUIET = 0.3
FAST = {
    "automatic_push_poll_interval": 0.05,
    "automatic_push_backoff": 0.2,
    "automatic_push_max_backoff": 1.0,
    "automatic_push_max_attempts": 4,
}
CASES_AND_ACTIONS = {"spaces": ["*"], "base": [], "feature": {"generalCases": ["all"], "actions": ["all"]}}


@pytest.fixture
async def api(api_with: Callable[..., Awaitable[Api]]) -> Api:
    """An app whose worker looks for due pushes every 50 ms and retries after 0.2 s."""
    return await api_with(**FAST)


@pytest.fixture
async def connector(api: Api, echo) -> dict:
    status, made = await api.post("/api/actions/connector", connector_body(echo.url))
    assert status == 200, made
    return made


def on_connector(connector: dict, **fields: Any) -> dict:
    named = {"id": connector["id"], "name": "Echo", "type": ".echo", "fields": None}
    return case_body(connector=named, **fields)


async def new_case(api: Api, connector: dict, **fields: Any) -> dict:
    status, case = await api.post("/api/cases", on_connector(connector, **fields))
    assert status == 200, case
    return case


async def push_now(api: Api, case: dict, connector: dict) -> dict:
    status, pushed = await api.post(f"/api/cases/{case['id']}/connector/{connector['id']}/_push", {})
    assert status == 200, pushed
    return pushed


async def turn_on(api: Api, connector: dict, **settings: Any) -> dict:
    body = {"mode": "updates", "quiet_period": QUIET, **settings}
    status, setting = await api.put(f"/api/casepush/automatic_push/cases/{connector['id']}", body)
    assert status == 200, setting
    return setting


async def comment(api: Api, case_id: str, text: str) -> None:
    status, body = await api.post(
        f"/api/cases/{case_id}/comments", {"type": "user", "comment": text, "owner": "cases"}
    )
    assert status == 200, body


async def state_of(api: Api, case_id: str) -> dict:
    status, found = await api.get(f"/api/casepush/cases/{case_id}/automatic_push")
    assert status == 200, found
    return found["automatic_pushes"][0]


async def settled(api: Api, case_id: str, until: Callable[[dict], bool], timeout: float = 10.0) -> dict:
    """The case's automatic push state once ``until`` holds of it."""
    deadline = time.monotonic() + timeout
    while True:
        state = await state_of(api, case_id)
        if until(state):
            return state
        assert time.monotonic() < deadline, f"automatic push never got there: {state}"
        await asyncio.sleep(0.05)


def idle_after_push(state: dict) -> bool:
    return state["state"] == "idle" and state["last_outcome"] == "success"


def calls(echo, method: str, path: str) -> int:
    return sum(r.method == method and r.path == path for r in echo.requests)


async def pushes_recorded(api: Api, case_id: str) -> list[dict]:
    status, found = await api.get(f"/api/cases/{case_id}/user_actions/_find?perPage=100&types=pushed")
    assert status == 200, found
    return found["userActions"]


# --- settings ------------------------------------------------------------------------------------------


async def test_settings_are_put_listed_and_deleted_with_the_servers_quiet_period_by_default(api, connector):
    setting = await turn_on(api, connector, quiet_period=None, mode="all")

    assert setting["enabled"] is True and setting["mode"] == "all" and setting["quiet_period"] == 5.0
    assert setting["owner"] == "cases" and setting["connector_id"] == connector["id"]
    assert setting["updated_by"]["username"] == "elastic"
    assert await api.get("/api/casepush/automatic_push") == (200, {"settings": [setting]})
    path = f"/api/casepush/automatic_push/cases/{connector['id']}"
    assert (await api.delete(path))[0] == 204
    assert await api.get("/api/casepush/automatic_push") == (200, {"settings": []})
    assert (await api.delete(path))[0] == 404


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/api/casepush/automatic_push/nobody/{id}", {}, 400, "Unknown owner 'nobody'"),
        ("/api/casepush/automatic_push/cases/none", {}, 400, "Cases without a connector are never pushed"),
        ("/api/casepush/automatic_push/cases/missing", {}, 404, "Saved object [action/missing] not found"),
        ("/api/casepush/automatic_push/cases/{id}", {"quiet_period": -1}, 400, "quiet_period must be"),
        ("/api/casepush/automatic_push/cases/{id}", {"mode": "sometimes"}, 400, "mode"),
        ("/api/casepush/automatic_push/cases/{id}", {"colour": "red"}, 400, "colour"),
    ],
)
async def test_a_bad_setting_is_a_clear_4xx_and_writes_nothing(api, connector, path, body, status, message):
    answered, error = await api.put(path.format(id=connector["id"]), body)

    assert answered == status and message in error["message"], error
    assert await api.get("/api/casepush/automatic_push") == (200, {"settings": []})


async def test_settings_need_all_on_the_owner_and_on_actions(api, connector):
    await api.create_role("cases_only", {"spaces": ["*"], "base": [], "feature": {"generalCases": ["all"]}})
    await api.create_role("both", CASES_AND_ACTIONS)
    cases_only = await api.create_user("carol", "cases_only")
    both = await api.create_user("dave", "both")
    path = f"/api/casepush/automatic_push/cases/{connector['id']}"

    assert (await cases_only.put(path, {}))[0] == 403
    assert (await both.put(f"/api/casepush/automatic_push/observability/{connector['id']}", {}))[0] == 403
    assert (await both.put(path, {}))[0] == 200
    reader_role = {"spaces": ["*"], "base": [], "feature": {"observabilityCases": ["read"]}}
    await api.create_role("obs_reader", reader_role)
    viewer, outsider = await api.create_user("eve", "viewer"), await api.create_user("olga", "obs_reader")
    status, seen = await viewer.get("/api/casepush/automatic_push")
    assert status == 200 and [s["owner"] for s in seen["settings"]] == ["cases"]
    assert await outsider.get("/api/casepush/automatic_push") == (200, {"settings": []})
    assert (await viewer.put(path, {}))[0] == 403


async def test_case_sync_settings_refuse_what_the_type_cannot_push_and_check_its_options(api, connector):
    path = f"/api/casepush/connectors/{connector['id']}/case_sync"

    status, default = await api.get(path)
    assert status == 200
    assert default == {
        "push_status": False,
        "push_assignees": False,
        "pull_status": True,
        "pull_comments": False,
        "pull_title": True,
        "pull_description": True,
        "poll_interval": None,
        "options": {"statuses": {"open": "new", "in-progress": "active", "closed": "done"}},
        "connector_id": connector["id"],
        "connector_type_id": ".echo",
        "pushable": ["assignees", "status"],
        "pullable": ["comments", "description", "status", "title"],
        "receives": True,
        "polls": True,
        "has_inbound_secret": False,
        "inbound_path": f"/api/casepush/connectors/{connector['id']}/inbound",
    }
    status, error = await api.put(path, {"push_status": True, "options": {"colours": {}}})
    assert status == 400 and "colours" in error["message"]
    status, saved = await api.put(path, {"push_status": True, "options": {"statuses": {"closed": "gone"}}})
    assert status == 200 and saved["options"] == {"statuses": {"closed": "gone"}} and saved["push_status"]
    assert await api.get(path) == (200, saved)


# --- pushing by itself ---------------------------------------------------------------------------------


async def test_a_burst_of_edits_makes_one_push_after_the_quiet_period(api, echo, connector):
    case = await new_case(api, connector)
    await push_now(api, case, connector)
    await turn_on(api, connector)
    await api.create_role("both", CASES_AND_ACTIONS)
    bob = await api.create_user("bob", "both", full_name="Bob")

    for n in range(5):
        await comment(bob, case["id"], f"note {n}")
    status, _ = await bob.patch(
        "/api/cases",
        {
            "cases": [
                {
                    "id": case["id"],
                    "version": (await bob.get(f"/api/cases/{case['id']}"))[1]["version"],
                    "title": "Renamed",
                }
            ]
        },
    )
    assert status == 200
    waiting = await state_of(api, case["id"])
    assert waiting["state"] == "pending" and waiting["caused_by"]["username"] == "bob"
    assert calls(echo, "PUT", "/incidents/1") == 0  # nothing before the quiet period ends

    state = await settled(api, case["id"], idle_after_push)

    assert calls(echo, "PUT", "/incidents/1") == 1
    assert echo.incidents["1"]["title"] == "Renamed"
    assert echo.incidents["1"]["comments"] == [f"note {n}\n\nAdded by Bob." for n in range(5)]
    _, automatic = await pushes_recorded(api, case["id"])
    assert automatic["created_by"]["username"] == "bob"  # Kibana's pushed user action, by the changer
    assert state["attempts"] == 0 and state["last_pushed_at"] is not None and state["due_at"] is None
    await asyncio.sleep(QUIET + 0.3)
    assert calls(echo, "PUT", "/incidents/1") == 1  # the push's own changes ask for no other


async def test_updates_mode_leaves_cases_never_pushed_alone_and_all_mode_makes_their_first_push(
    api, echo, connector
):
    await turn_on(api, connector, mode="updates")
    waiting = await new_case(api, connector)
    await comment(api, waiting["id"], "first words")
    await asyncio.sleep(QUIET + 0.3)
    assert calls(echo, "POST", "/incidents") == 0
    assert (await state_of(api, waiting["id"]))["enabled"] is False

    await turn_on(api, connector, mode="all")
    created = await new_case(api, connector, title="Created with the connector")

    await settled(api, created["id"], idle_after_push)
    [incident] = echo.incidents.values()
    assert incident["title"] == "Created with the connector"
    _, case = await api.get(f"/api/cases/{created['id']}")
    assert case["external_service"]["external_id"] == "1"


async def test_a_failing_system_is_retried_with_backoff_until_it_recovers(api, echo, connector):
    case = await new_case(api, connector)
    await push_now(api, case, connector)
    await turn_on(api, connector)
    echo.fail(503)
    await comment(api, case["id"], "while it is down")

    retrying = await settled(api, case["id"], lambda s: s["attempts"] >= 2)
    assert retrying["state"] == "retrying" and retrying["last_outcome"] == "failure"
    assert "Status: 503" in retrying["last_error"] and retrying["due_at"] is not None
    echo.recover()

    state = await settled(api, case["id"], idle_after_push)
    assert state["attempts"] == 0 and state["last_error"] is None
    assert echo.incidents["1"]["comments"][-1].startswith("while it is down")


async def test_a_refusal_retrying_cannot_fix_is_not_retried(api, echo, connector):
    case = await new_case(api, connector)
    await push_now(api, case, connector)
    await turn_on(api, connector)
    echo.fail(401)
    await comment(api, case["id"], "with a revoked token")

    state = await settled(api, case["id"], lambda s: s["state"] == "failed")
    tried = len(echo.requests)
    await asyncio.sleep(1.0)

    assert len(echo.requests) == tried  # no retry
    assert state["attempts"] == 1 and "Status: 401" in state["last_error"] and state["due_at"] is None
    echo.recover()
    await comment(api, case["id"], "after the token is renewed")  # a new change tries again
    await settled(api, case["id"], idle_after_push)


async def test_a_push_that_keeps_failing_is_left_failed_after_the_last_attempt(api, echo, connector):
    case = await new_case(api, connector)
    await push_now(api, case, connector)
    await turn_on(api, connector)
    echo.fail(502)
    await comment(api, case["id"], "never arrives")

    state = await settled(api, case["id"], lambda s: s["state"] == "failed", timeout=15)

    assert state["attempts"] == FAST["automatic_push_max_attempts"]


async def test_retry_after_is_honoured(api, echo, connector):
    case = await new_case(api, connector)
    await push_now(api, case, connector)
    await turn_on(api, connector)
    echo.fail(429, times=1, **{"Retry-After": "2"})
    await comment(api, case["id"], "rate limited")

    retrying = await settled(api, case["id"], lambda s: s["state"] == "retrying")
    failed_at = time.time()
    done = await settled(api, case["id"], idle_after_push, timeout=15)

    assert retrying["attempts"] == 1
    assert time.time() - failed_at >= 1.5  # the backoff alone (0.2 s) would have tried far sooner
    assert done["last_outcome"] == "success"


async def test_a_change_while_a_push_runs_is_pushed_after_it(api, echo, connector):
    case = await new_case(api, connector)
    await push_now(api, case, connector)
    await turn_on(api, connector, quiet_period=0)
    echo.gate = asyncio.Event()  # the external system takes its time
    await comment(api, case["id"], "first")
    await settled(api, case["id"], lambda s: s["state"] == "running")

    await comment(api, case["id"], "second")
    echo.gate.set()

    await settled(api, case["id"], lambda s: idle_after_push(s) and calls(echo, "PUT", "/incidents/1") == 2)
    texts = [text.split("\n")[0] for text in echo.incidents["1"]["comments"]]
    assert texts == ["first", "second"]


async def test_a_manual_push_takes_the_waiting_automatic_push_with_it(api, echo, connector):
    case = await new_case(api, connector)
    await push_now(api, case, connector)
    await turn_on(api, connector, quiet_period=1.0)
    await comment(api, case["id"], "pushed by hand")
    assert (await state_of(api, case["id"]))["state"] == "pending"

    await push_now(api, case, connector)

    assert (await state_of(api, case["id"]))["state"] == "idle"
    await asyncio.sleep(1.4)
    assert calls(echo, "PUT", "/incidents/1") == 1


async def test_a_case_that_left_the_connector_is_skipped(api, echo, connector):
    case = await new_case(api, connector)
    await push_now(api, case, connector)
    await turn_on(api, connector)
    await comment(api, case["id"], "soon elsewhere")
    _, current = await api.get(f"/api/cases/{case['id']}")
    none = {"id": "none", "name": "none", "type": ".none", "fields": None}
    status, _ = await api.patch(
        "/api/cases", {"cases": [{"id": case["id"], "version": current["version"], "connector": none}]}
    )
    assert status == 200

    await asyncio.sleep(QUIET + 0.4)
    status, found = await api.get(f"/api/casepush/cases/{case['id']}/automatic_push")
    [row] = found["automatic_pushes"]
    assert (row["state"], row["last_outcome"]) == ("idle", "skipped")
    assert "now uses connector none" in row["last_error"]
    assert calls(echo, "PUT", "/incidents/1") == 0


# --- status and assignees -----------------------------------------------------------------------------


async def test_status_and_assignees_are_pushed_and_their_changes_trigger_a_push(api, echo, connector):
    await api.create_user("bob", "editor", email="bob@example.com", full_name="Bob")
    status, _ = await api.put(
        f"/api/casepush/connectors/{connector['id']}/case_sync", {"push_status": True, "push_assignees": True}
    )
    assert status == 200
    case = await new_case(api, connector, assignees=[{"uid": "bob"}])
    await push_now(api, case, connector)
    assert (echo.incidents["1"]["state"], echo.incidents["1"]["assignee"]) == ("new", "bob@example.com")
    await turn_on(api, connector)

    _, current = await api.get(f"/api/cases/{case['id']}")
    status, _ = await api.patch(
        "/api/cases",
        {
            "cases": [
                {"id": case["id"], "version": current["version"], "status": "in-progress", "assignees": []}
            ]
        },
    )
    assert status == 200

    await settled(api, case["id"], idle_after_push)
    assert (echo.incidents["1"]["state"], echo.incidents["1"]["assignee"]) == ("active", None)


async def test_kibanas_push_stays_exact_unless_the_state_is_asked_for(api, echo, connector):
    case = await new_case(api, connector)
    await push_now(api, case, connector)
    _, current = await api.get(f"/api/cases/{case['id']}")
    await api.patch(
        "/api/cases", {"cases": [{"id": case["id"], "version": current["version"], "status": "closed"}]}
    )
    await push_now(api, case, connector)

    assert "state" not in echo.incidents["1"]
    assert calls(echo, "PUT", "/incidents/1/state") == 0


async def test_a_state_the_system_refuses_keeps_kibanas_answer_and_says_why(api, echo, connector):
    await api.put(f"/api/casepush/connectors/{connector['id']}/case_sync", {"push_status": True})
    case = await new_case(api, connector)
    echo.fail(400, path="/state")

    status, pushed = await api.post(f"/api/cases/{case['id']}/connector/{connector['id']}/_push", {})

    # Kibana's part was made and saved: its answer stands, and a Warning says what was not.
    assert status == 200, pushed
    assert pushed["external_service"]["external_id"] == "1"
    warning = '199 casepush "[Action][Echo]: Unable to PUT /incidents/1/state'
    assert api.last_headers["Warning"].startswith(warning)
    assert "state" not in echo.incidents["1"]

    await turn_on(api, connector)
    await comment(api, case["id"], "an automatic push fails the same way")
    state = await settled(api, case["id"], lambda s: s["state"] == "failed")
    assert "Status: 400" in state["last_error"] and state["attempts"] == 1
    assert echo.incidents["1"]["comments"][-1].startswith("an automatic push fails")


# --- what is shown -------------------------------------------------------------------------------------


async def test_metrics_show_the_queue_and_the_attempts(api, echo, connector):
    case = await new_case(api, connector)
    await push_now(api, case, connector)
    await turn_on(api, connector, quiet_period=30)
    await comment(api, case["id"], "waits")
    await asyncio.sleep(0.3)

    status, text = await api.get("/metrics")
    assert status == 200
    assert "casepush_automatic_push_queue_depth 1.0" in text
    oldest = next(line for line in text.splitlines() if line.startswith("casepush_automatic_push_oldest"))
    assert float(oldest.split()[-1]) > 0

    await turn_on(api, connector, quiet_period=0)
    await comment(api, case["id"], "goes")
    await settled(api, case["id"], idle_after_push)
    await asyncio.sleep(0.2)
    _, text = await api.get("/metrics")
    assert 'casepush_automatic_push_attempts_total{outcome="success"} 1.0' in text
    assert "casepush_automatic_push_queue_depth 0.0" in text


async def test_the_case_state_needs_read_on_the_owner(api, connector):
    case = await new_case(api, connector)
    await api.create_role("obs", {"spaces": ["*"], "base": [], "feature": {"observabilityCases": ["all"]}})
    other = await api.create_user("olga", "obs")

    assert (await other.get(f"/api/casepush/cases/{case['id']}/automatic_push"))[0] == 403
    assert (await api.get("/api/casepush/cases/missing/automatic_push"))[0] == 404


async def test_a_case_held_by_another_push_is_tried_again_without_counting_an_attempt(api_with, echo):
    api = await api_with(**FAST, push_lease=0.2)
    _, connector = await api.post("/api/actions/connector", connector_body(echo.url))
    case = await new_case(api, connector)
    await push_now(api, case, connector)
    await turn_on(api, connector, quiet_period=0)
    echo.gate = asyncio.Event()  # a manual push holds the case while the external system answers slowly
    manual = asyncio.create_task(api.post(f"/api/cases/{case['id']}/connector/{connector['id']}/_push", {}))
    await asyncio.sleep(0.1)
    await comment(api, case["id"], "while another push runs")

    busy = await settled(api, case["id"], lambda s: s["state"] == "retrying")
    echo.gate.set()

    assert busy["attempts"] == 0 and "is being pushed to connector" in busy["last_error"]
    assert (await manual)[0] == 200
    await settled(api, case["id"], idle_after_push)
