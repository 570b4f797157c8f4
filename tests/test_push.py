"""The push: ``POST /api/cases/{case_id}/connector/{connector_id}/_push`` against a fake echo service."""

import asyncio
from typing import Any

import aiohttp
import casepush_echo
import pytest

from casepush.app import create_app
from casepush.plugins import load_plugins
from casepush.testing import KilledAfterCreate
from tests.helpers import Api, case_body, connector_body, echo_plugins

PUBLIC_URL = "https://kibana.example.com"


@pytest.fixture
async def connector(api: Api, echo) -> dict:
    status, made = await api.post("/api/actions/connector", connector_body(echo.url))
    assert status == 200, made
    return made


async def push(
    api: Api, case_id: str, connector_id: str, prefix: str = "", query: str = ""
) -> tuple[int, Any]:
    return await api.post(f"{prefix}/api/cases/{case_id}/connector/{connector_id}/_push{query}", {})


async def pushed(api: Api, case_id: str, connector_id: str, prefix: str = "") -> dict:
    status, case = await push(api, case_id, connector_id, prefix)
    assert status == 200, case
    return case


async def comment(api: Api, case_id: str, text: str, prefix: str = "") -> dict:
    body = {"type": "user", "comment": text, "owner": "cases"}
    status, case = await api.post(f"{prefix}/api/cases/{case_id}/comments", body)
    assert status == 200, case
    return case["comments"][-1]


async def alert(api: Api, case_id: str, alert_id: Any) -> None:
    body = {
        "type": "alert",
        "alertId": alert_id,
        "index": "i",
        "rule": {"id": "r", "name": "r"},
        "owner": "cases",
    }
    status, case = await api.post(f"/api/cases/{case_id}/comments", body)
    assert status == 200, case


async def actions_of(api: Api, case_id: str) -> list[dict]:
    status, found = await api.get(f"/api/cases/{case_id}/user_actions/_find?perPage=100")
    assert status == 200
    return found["userActions"]


def sent(echo, method: str) -> list[dict]:
    return [r.json() for r in echo.requests if r.method == method]


async def snapshot(api: Api, case_id: str) -> tuple:
    _, case = await api.get(f"/api/cases/{case_id}")
    return case, await actions_of(api, case_id)


# --- the flow -------------------------------------------------------------------------------------------


async def test_the_first_push_creates_the_incident_and_records_it(api, echo, connector):
    case = await api.create_case()
    note = await comment(api, case["id"], "Looked at the logs.")

    result = await pushed(api, case["id"], connector["id"])

    (created,) = sent(echo, "POST")[:1]
    assert created == {
        "title": "Suspicious login",
        "description": "Several failed logins followed by a success.\n\nAdded by elastic.",
        "tags": ["auth", "triage"],
        "correlationId": case["id"],
    }
    assert sent(echo, "POST")[1] == {"text": "Looked at the logs.\n\nAdded by elastic."}
    service = result["external_service"]
    assert service == {
        "connector_id": connector["id"],
        "connector_name": "Echo",
        "external_id": "1",
        "external_title": "Suspicious login",
        "external_url": f"{echo.url}/browse/1",
        "pushed_at": service["pushed_at"],
        "pushed_by": {"email": None, "full_name": None, "username": "elastic"},
    }
    assert result["version"] != case["version"]
    assert result["connector"] == case["connector"]
    assert result["updated_at"] == service["pushed_at"]
    assert [(c["id"], c["pushed_at"]) for c in result["comments"]] == [(note["id"], service["pushed_at"])]
    assert (await api.get(f"/api/cases/{case['id']}"))[1] == result
    last = (await actions_of(api, case["id"]))[-1]
    assert (last["type"], last["action"], last["payload"]) == (
        "pushed",
        "push_to_service",
        {"externalService": service},
    )


async def test_a_later_push_updates_with_only_new_and_edited_comments(api, echo, connector):
    case = await api.create_case()
    first = await comment(api, case["id"], "First.")
    second = await comment(api, case["id"], "Second.")
    await pushed(api, case["id"], connector["id"])
    echo.requests.clear()
    status, edited = await api.patch(
        f"/api/cases/{case['id']}/comments",
        {
            "id": first["id"],
            "version": (await api.get(f"/api/cases/{case['id']}/comments/{first['id']}"))[1]["version"],
            "type": "user",
            "comment": "First, edited.",
            "owner": "cases",
        },
    )
    assert status == 200, edited
    third = await comment(api, case["id"], "Third.")

    result = await pushed(api, case["id"], connector["id"])

    assert [r.method + " " + r.path for r in echo.requests] == [
        "PUT /incidents/1",
        "POST /incidents/1/comments",
        "POST /incidents/1/comments",
    ]
    assert [c["text"] for c in sent(echo, "POST")] == [
        "First, edited.\n\nAdded by elastic.",
        "Third.\n\nAdded by elastic.",
    ]
    assert result["external_service"]["external_id"] == "1"
    assert {c["id"] for c in result["comments"]} == {first["id"], second["id"], third["id"]}
    echo.requests.clear()
    await pushed(api, case["id"], connector["id"])
    assert [r.method + " " + r.path for r in echo.requests] == ["PUT /incidents/1"]


async def test_new_alerts_are_summed_up_in_one_comment(api, echo, connector):
    case = await api.create_case()
    await alert(api, case["id"], ["a-1", "a-2"])
    await alert(api, case["id"], "a-3")

    result = await pushed(api, case["id"], connector["id"])

    assert [c["text"] for c in sent(echo, "POST")[1:]] == ["Elastic Alerts attached to the case: 3"]
    assert all(c["pushed_at"] for c in result["comments"])
    echo.requests.clear()
    await pushed(api, case["id"], connector["id"])
    assert sent(echo, "POST") == []
    await alert(api, case["id"], "a-4")
    await pushed(api, case["id"], connector["id"])
    assert [c["text"] for c in sent(echo, "POST")] == ["Elastic Alerts attached to the case: 4"]


async def test_the_description_and_alerts_link_back_when_a_public_url_is_set(api_with, echo):
    api = await api_with(public_base_url=PUBLIC_URL + "/")
    await api.create_space("team")
    _, made = await api.post("/s/team/api/actions/connector", connector_body(echo.url))
    _, case = await api.post("/s/team/api/cases", case_body())
    await api.post(
        f"/s/team/api/cases/{case['id']}/comments",
        {"type": "alert", "alertId": "a", "index": "i", "rule": {"id": "r", "name": "r"}, "owner": "cases"},
    )

    await pushed(api, case["id"], made["id"], prefix="/s/team")

    url = f"{PUBLIC_URL}/s/team/app/management/insightsAndAlerting/cases/{case['id']}"
    assert sent(echo, "POST")[0]["description"] == (
        "Several failed logins followed by a success.\n\nAdded by elastic."
        f"\nFor more details, view this case in Kibana.\nCase URL: {url}"
    )
    assert sent(echo, "POST")[1]["text"] == (
        "Elastic Alerts attached to the case: 1"
        f"\n\nFor more details, view the alerts in Kibana\nAlerts URL: {url}/?tabId=alerts"
    )


async def test_added_by_names_the_last_editor_by_full_name(api, echo, connector):
    await api.create_role("writer", {"spaces": ["*"], "base": ["all"], "feature": {}})
    alice = await api.create_user("alice", "writer", full_name="Alice Smith")
    case = await alice.create_case()
    await comment(alice, case["id"], "Mine.")

    await pushed(alice, case["id"], connector["id"])

    assert sent(echo, "POST")[0]["description"].endswith("\n\nAdded by Alice Smith.")
    assert sent(echo, "POST")[1]["text"] == "Mine.\n\nAdded by Alice Smith."


async def test_close_by_pushing_closes_the_case_with_its_user_actions(api, echo, connector):
    await api.configure(closure_type="close-by-pushing")
    case = await api.create_case()

    result = await pushed(api, case["id"], connector["id"])

    assert result["status"] == "closed"
    assert result["closed_at"] == result["external_service"]["pushed_at"]
    assert result["closed_by"]["username"] == "elastic"
    assert result["duration"] is not None
    types = [(a["type"], a["action"], a["payload"]) for a in await actions_of(api, case["id"])][-2:]
    assert types[0] == ("status", "update", {"status": "closed"})
    assert types[1][:2] == ("pushed", "push_to_service")


async def test_a_closed_case_can_be_pushed(api, echo, connector):
    case = await api.create_case()
    status, closed = await api.patch(
        "/api/cases", {"cases": [{"id": case["id"], "version": case["version"], "status": "closed"}]}
    )
    assert status == 200, closed

    result = await pushed(api, case["id"], connector["id"])

    assert (result["status"], result["external_service"]["external_id"]) == ("closed", "1")


async def test_the_case_connector_is_not_what_decides_where_a_push_goes(api, echo, connector):
    other = await api.post("/api/actions/connector", connector_body(echo.url, name="Other"))
    case = await api.create_case(
        connector={"id": other[1]["id"], "name": "Other", "type": ".echo", "fields": None}
    )

    await pushed(api, case["id"], connector["id"])
    result = await pushed(api, case["id"], other[1]["id"])

    # Each connector has its own incident, decided by its own pushed user actions.
    assert [r.method + " " + r.path for r in echo.requests] == ["POST /incidents", "POST /incidents"]
    assert result["external_service"]["external_id"] == "2"
    assert result["connector"]["id"] == other[1]["id"]


# --- failures ---------------------------------------------------------------------------------------------


async def test_a_failing_external_system_is_a_424_and_changes_nothing(api, echo, connector):
    await api.configure(closure_type="close-by-pushing")
    case = await api.create_case()
    await comment(api, case["id"], "Pending.")
    before = await snapshot(api, case["id"])
    echo.break_all()

    status, body = await push(api, case["id"], connector["id"])

    assert (status, body) == (
        424,
        {
            "statusCode": 424,
            "error": "Failed Dependency",
            "message": "[Action][Echo]: Unable to POST /incidents. Status: 503",
        },
    )
    assert await snapshot(api, case["id"]) == before


async def test_unknown_case_or_connector_is_kibanas_404(api, connector):
    case = await api.create_case()

    assert await push(api, "nope", connector["id"]) == (
        404,
        {"statusCode": 404, "error": "Not Found", "message": "Saved object [cases/nope] not found"},
    )
    assert await push(api, case["id"], "nope") == (
        404,
        {"statusCode": 404, "error": "Not Found", "message": "Saved object [action/nope] not found"},
    )


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ({"generalCases": ["read"], "actions": ["all"]}, 'Unauthorized to push case with owners: "cases"'),
        ({"generalCases": ["all"]}, "Unauthorized to get actions"),
        ({"generalCases": ["all"], "actions": ["read"]}, 'Unauthorized to execute a ".echo" action'),
        (
            {"observabilityCases": ["all"], "actions": ["all"]},
            'Unauthorized to access case with owners: "cases"',
        ),
    ],
    ids=["cases-read", "no-actions", "actions-read", "other-owner"],
)
async def test_pushing_needs_all_on_the_cases_owner_and_on_actions(api, echo, connector, features, message):
    await api.create_role("pusher", {"spaces": ["*"], "base": [], "feature": features})
    bob = await api.create_user("bob", "pusher")
    case = await api.create_case()
    before = await snapshot(api, case["id"])

    status, body = await push(bob, case["id"], connector["id"])

    assert (status, body["message"]) == (403, message)
    assert echo.requests == []
    assert await snapshot(api, case["id"]) == before


async def test_a_push_ignores_query_keys_as_kibanas_route_does(api, echo, connector):
    case = await api.create_case()

    # Kibana's push route validates no query: a client's extra key changes nothing.
    status, pushed_case = await push(api, case["id"], connector["id"], query="?foo=1&apiVersion=2023-10-31")

    assert status == 200, pushed_case
    assert pushed_case["external_service"]["external_id"] == "1"
    assert len(echo.requests) == 1


# --- dry run ------------------------------------------------------------------------------------------------


async def test_a_dry_run_answers_what_would_be_sent_and_sends_and_writes_nothing(api, echo, connector):
    case = await api.create_case()
    note = await comment(api, case["id"], "Looked.")
    before = await snapshot(api, case["id"])

    status, plan = await push(api, case["id"], connector["id"], query="?dry_run=true")

    assert status == 200
    assert plan == {
        "connector_id": connector["id"],
        "connector_name": "Echo",
        "connector_type_id": ".echo",
        "operation": "create",
        "external_id": None,
        "subAction": "pushToService",
        "subActionParams": {
            "incident": {
                "title": "Suspicious login",
                "description": "Several failed logins followed by a success.\n\nAdded by elastic.",
                "tags": ["auth", "triage"],
                "correlationId": case["id"],
                "externalId": None,
            },
            "comments": [{"comment": "Looked.\n\nAdded by elastic.", "commentId": note["id"]}],
        },
    }
    assert echo.requests == []
    assert await snapshot(api, case["id"]) == before
    await pushed(api, case["id"], connector["id"])
    status, plan = await push(api, case["id"], connector["id"], query="?dry_run=true")
    assert (plan["operation"], plan["external_id"], plan["subActionParams"]["comments"]) == (
        "update",
        "1",
        [],
    )


# --- exactly once ---------------------------------------------------------------------------------------


async def test_twenty_concurrent_first_pushes_create_one_incident(api, echo, connector):
    case = await api.create_case()

    results = await asyncio.gather(*(push(api, case["id"], connector["id"]) for _ in range(20)))

    assert [status for status, _ in results] == [200] * 20
    assert [r.method for r in echo.requests].count("POST") == 1
    assert {body["external_service"]["external_id"] for _, body in results} == {"1"}
    pushes = [a for a in await actions_of(api, case["id"]) if a["type"] == "pushed"]
    assert len(pushes) == 20


async def test_two_instances_on_one_database_create_one_incident(aiohttp_client, settings, echo):
    first = Api(await aiohttp_client(create_app(settings, announce=print, plugins=await echo_plugins())))
    second = Api(await aiohttp_client(create_app(settings, announce=print, plugins=await echo_plugins())))
    _, made = await first.post("/api/actions/connector", connector_body(echo.url))
    case = await first.create_case()

    results = await asyncio.gather(*(push(api, case["id"], made["id"]) for api in (first, second) * 5))

    assert [status for status, _ in results] == [200] * 10
    assert [r.method for r in echo.requests].count("POST") == 1


async def test_a_push_killed_after_the_create_is_resumed_without_a_second_incident(
    aiohttp_client, settings, echo
):
    plugins = await load_plugins(allowed=[], extra=[casepush_echo, KilledAfterCreate()])
    api = Api(await aiohttp_client(create_app(settings, announce=print, plugins=plugins)))
    _, made = await api.post("/api/actions/connector", connector_body(echo.url))
    case = await api.create_case()

    with pytest.raises(aiohttp.ClientError):
        await push(api, case["id"], made["id"])
    assert len(echo.incidents) == 1
    assert [a["type"] for a in await actions_of(api, case["id"])] == ["create_case"]

    result = await pushed(api, case["id"], made["id"])

    assert len(echo.incidents) == 1
    assert [r.method + " " + r.path for r in echo.requests][-2:] == [
        f"GET /incidents?correlationId={case['id']}",
        "PUT /incidents/1",
    ]
    assert result["external_service"]["external_id"] == "1"
