"""The audit trail: GET /api/cases/{case_id}/user_actions/_find."""

from typing import Any

from tests.helpers import IMPACT_FIELD, NONE_CONNECTOR, Api

ITEM_KEYS = {
    "id",
    "version",
    "type",
    "action",
    "payload",
    "comment_id",
    "created_at",
    "created_by",
    "owner",
}


async def find(api: Api, case_id: str, query: str = "") -> dict:
    status, found = await api.get(f"/api/cases/{case_id}/user_actions/_find{query}")
    assert status == 200, found
    return found


async def patch_case(api: Api, case: dict, **fields: Any) -> dict:
    status, cases = await api.patch(
        "/api/cases", {"cases": [{"id": case["id"], "version": case["version"], **fields}]}
    )
    assert status == 200, cases
    return cases[0]


async def add_comment(api: Api, case_id: str, body: dict) -> dict:
    status, case = await api.post(f"/api/cases/{case_id}/comments", body)
    assert status == 200, case
    return case


def user_comment(text: str = "note") -> dict:
    return {"type": "user", "comment": text, "owner": "cases"}


def alert(alert_id: str = "alert-1") -> dict:
    return {
        "type": "alert",
        "alertId": alert_id,
        "index": "alerts-index",
        "rule": {"id": "rule-1", "name": "Brute force"},
        "owner": "cases",
    }


def summary(found: dict) -> list[tuple[str, str, dict]]:
    return [(a["type"], a["action"], a["payload"]) for a in found["userActions"]]


# --- create_case ---------------------------------------------------------------------------------


async def test_create_case_action_carries_the_whole_case(api: Api) -> None:
    await api.configure(customFields=[IMPACT_FIELD])
    case = await api.create_case(
        severity="high",
        assignees=[{"uid": "u-1"}],
        category="intrusion",
        customFields=[{"key": "impact", "type": "text", "value": "wide"}],
    )

    found = await find(api, case["id"])

    assert (found["page"], found["perPage"], found["total"]) == (1, 20, 1)
    (action,) = found["userActions"]
    assert set(action) == ITEM_KEYS
    assert action["type"] == "create_case"
    assert action["action"] == "create"
    assert action["comment_id"] is None
    assert action["owner"] == "cases"
    assert action["created_by"]["username"] == "elastic"
    assert action["created_at"] and action["id"] and action["version"]
    assert action["payload"] == {
        "title": "Suspicious login",
        "description": "Several failed logins followed by a success.",
        "tags": ["auth", "triage"],
        "connector": NONE_CONNECTOR,
        "settings": {"syncAlerts": False},
        "owner": "cases",
        "severity": "high",
        "assignees": [{"uid": "u-1"}],
        "status": "open",
        "category": "intrusion",
        "customFields": [{"key": "impact", "type": "text", "value": "wide"}],
    }


async def test_create_case_action_defaults(api: Api) -> None:
    case = await api.create_case()

    (action,) = (await find(api, case["id"]))["userActions"]

    payload = action["payload"]
    assert (payload["severity"], payload["status"]) == ("low", "open")
    assert (payload["assignees"], payload["category"], payload["customFields"]) == ([], None, [])


# --- case changes ------------------------------------------------------------------------------------


async def test_each_changed_field_is_an_update_action(api: Api) -> None:
    case = await api.create_case()
    connector = {"id": "echo-1", "name": "Echo", "type": ".echo", "fields": None}
    changes = {
        "title": "New title",
        "description": "New description",
        "status": "in-progress",
        "severity": "critical",
        "settings": {"syncAlerts": True},
        "connector": connector,
        "category": "malware",
    }
    await patch_case(api, case, **changes)

    found = await find(api, case["id"], "?types=action")

    updates = {t: (action, payload) for t, action, payload in summary(found) if t != "create_case"}
    assert updates == {field: ("update", {field: value}) for field, value in changes.items()}
    assert found["total"] == 1 + len(changes)


async def test_unchanged_fields_record_nothing(api: Api) -> None:
    case = await api.create_case()
    await patch_case(api, case, title="Other title", description=case["description"])

    found = await find(api, case["id"])

    assert [(t, a) for t, a, _ in summary(found)] == [("create_case", "create"), ("title", "update")]


async def test_tags_split_into_add_and_delete(api: Api) -> None:
    case = await api.create_case(tags=["auth", "triage"])
    await patch_case(api, case, tags=["auth", "phishing", "urgent"])

    found = await find(api, case["id"], "?types=tags")

    assert sorted(summary(found)) == [
        ("tags", "add", {"tags": ["phishing", "urgent"]}),
        ("tags", "delete", {"tags": ["triage"]}),
    ]
    assert found["total"] == 2


async def test_assignees_split_into_add_and_delete(api: Api) -> None:
    case = await api.create_case(assignees=[{"uid": "u-1"}, {"uid": "u-2"}])
    await patch_case(api, case, assignees=[{"uid": "u-2"}, {"uid": "u-3"}])

    found = await find(api, case["id"], "?types=assignees")

    assert sorted(summary(found)) == [
        ("assignees", "add", {"assignees": [{"uid": "u-3"}]}),
        ("assignees", "delete", {"assignees": [{"uid": "u-1"}]}),
    ]


async def test_only_added_tags_record_a_single_add(api: Api) -> None:
    case = await api.create_case(tags=["auth"])
    await patch_case(api, case, tags=["auth", "new"])

    found = await find(api, case["id"], "?types=tags")

    assert summary(found) == [("tags", "add", {"tags": ["new"]})]


async def test_change_actions_belong_to_the_changed_case(api: Api) -> None:
    case = await api.create_case()
    other = await api.create_case(title="Other")
    await patch_case(api, case, title="Renamed")

    found = await find(api, other["id"])

    assert [a["type"] for a in found["userActions"]] == ["create_case"]


# --- comments -------------------------------------------------------------------------------------------


async def test_comment_create_update_and_delete_actions(api: Api) -> None:
    case = await api.create_case()
    comment = (await add_comment(api, case["id"], user_comment("draft")))["comments"][0]
    status, _ = await api.patch(
        f"/api/cases/{case['id']}/comments",
        {**user_comment("final"), "id": comment["id"], "version": comment["version"]},
    )
    assert status == 200
    status, _ = await api.delete(f"/api/cases/{case['id']}/comments/{comment['id']}")
    assert status == 204

    found = await find(api, case["id"], "?types=comment")

    assert [(a["type"], a["action"], a["comment_id"]) for a in found["userActions"]] == [
        ("comment", "create", comment["id"]),
        ("comment", "update", comment["id"]),
        ("comment", "delete", comment["id"]),
    ]
    assert [a["payload"] for a in found["userActions"]] == [
        {"comment": {"type": "user", "owner": "cases", "comment": "draft"}},
        {"comment": {"type": "user", "owner": "cases", "comment": "final"}},
        {"comment": {"type": "user", "owner": "cases", "comment": "final"}},
    ]
    assert all(a["owner"] == "cases" for a in found["userActions"])


async def test_alert_comment_action_payload(api: Api) -> None:
    case = await api.create_case()
    attached = (await add_comment(api, case["id"], alert("a-9")))["comments"][0]

    found = await find(api, case["id"], "?types=alert")

    (action,) = found["userActions"]
    assert (action["type"], action["action"], action["comment_id"]) == ("comment", "create", attached["id"])
    assert action["payload"] == {
        "comment": {
            "type": "alert",
            "owner": "cases",
            "alertId": "a-9",
            "index": "alerts-index",
            "rule": {"id": "rule-1", "name": "Brute force"},
        }
    }


async def test_delete_all_comments_records_one_action_per_comment(api: Api) -> None:
    case = await api.create_case()
    await add_comment(api, case["id"], user_comment("one"))
    await add_comment(api, case["id"], alert())
    status, _ = await api.delete(f"/api/cases/{case['id']}/comments")
    assert status == 204

    found = await find(api, case["id"], "?types=comment")

    deletes = [a for a in found["userActions"] if a["action"] == "delete"]
    assert sorted(a["payload"]["comment"]["type"] for a in deletes) == ["alert", "user"]
    assert all(a["comment_id"] for a in deletes)


# --- filters, order and paging ---------------------------------------------------------------------------


async def scenario(api: Api) -> dict:
    """A case with: create_case, title, user comment, alert, tags add."""
    case = await api.create_case(tags=["auth"])
    case = await patch_case(api, case, title="Renamed")
    await add_comment(api, case["id"], user_comment())
    case = await add_comment(api, case["id"], alert())
    await patch_case(api, case, tags=["auth", "more"])
    return case


async def test_types_filter_single(api: Api) -> None:
    case = await scenario(api)

    found = await find(api, case["id"], "?types=title")

    assert [(a["type"], a["action"]) for a in found["userActions"]] == [("title", "update")]
    assert found["total"] == 1


async def test_types_filter_repeated(api: Api) -> None:
    case = await scenario(api)

    found = await find(api, case["id"], "?types=title&types=tags")

    assert [a["type"] for a in found["userActions"]] == ["title", "tags"]
    assert found["total"] == 2


async def test_types_filter_user_means_user_comments(api: Api) -> None:
    case = await scenario(api)

    found = await find(api, case["id"], "?types=user")

    assert [(a["type"], a["payload"]["comment"]["type"]) for a in found["userActions"]] == [
        ("comment", "user")
    ]


async def test_types_filter_alert_means_alert_comments(api: Api) -> None:
    case = await scenario(api)

    found = await find(api, case["id"], "?types=alert")

    assert [(a["type"], a["payload"]["comment"]["type"]) for a in found["userActions"]] == [
        ("comment", "alert")
    ]


async def test_types_filter_action_means_everything_but_comments(api: Api) -> None:
    case = await scenario(api)

    found = await find(api, case["id"], "?types=action")

    assert [a["type"] for a in found["userActions"]] == ["create_case", "title", "tags"]
    assert found["total"] == 3


async def test_types_filter_user_and_a_field(api: Api) -> None:
    case = await scenario(api)

    found = await find(api, case["id"], "?types=user&types=title")

    assert [a["type"] for a in found["userActions"]] == ["title", "comment"]


async def test_no_filter_returns_everything_in_ascending_order(api: Api) -> None:
    case = await scenario(api)

    found = await find(api, case["id"])

    assert [a["type"] for a in found["userActions"]] == [
        "create_case",
        "title",
        "comment",
        "comment",
        "tags",
    ]
    assert found["total"] == 5
    assert all(set(a) == ITEM_KEYS for a in found["userActions"])


async def test_sort_order_desc(api: Api) -> None:
    case = await scenario(api)

    ascending = await find(api, case["id"], "?sortOrder=asc")
    descending = await find(api, case["id"], "?sortOrder=desc")

    ids = [a["id"] for a in ascending["userActions"]]
    assert [a["id"] for a in descending["userActions"]] == ids[::-1]
    assert descending["userActions"][0]["type"] == "tags"


async def test_paging(api: Api) -> None:
    case = await scenario(api)
    every = [a["id"] for a in (await find(api, case["id"]))["userActions"]]

    first = await find(api, case["id"], "?perPage=2&page=1")
    second = await find(api, case["id"], "?perPage=2&page=2")
    third = await find(api, case["id"], "?perPage=2&page=3")

    assert [a["id"] for a in first["userActions"]] == every[0:2]
    assert [a["id"] for a in second["userActions"]] == every[2:4]
    assert [a["id"] for a in third["userActions"]] == every[4:]
    assert (second["page"], second["perPage"], second["total"]) == (2, 2, 5)


async def test_paging_with_a_filter_counts_the_filtered_total(api: Api) -> None:
    case = await scenario(api)

    found = await find(api, case["id"], "?types=comment&perPage=1&page=2")

    assert found["total"] == 2
    assert [a["payload"]["comment"]["type"] for a in found["userActions"]] == ["alert"]


async def test_per_page_over_100_is_rejected(api: Api) -> None:
    case = await api.create_case()

    status, body = await api.get(f"/api/cases/{case['id']}/user_actions/_find?perPage=101")

    assert status == 400
    assert body["message"] == (
        "The provided perPage value is too high. The maximum allowed perPage value is 100."
    )


async def test_negative_per_page_is_rejected(api: Api) -> None:
    case = await api.create_case()

    status, body = await api.get(f"/api/cases/{case['id']}/user_actions/_find?perPage=-1")

    assert (status, body["message"]) == (400, "[size] parameter cannot be negative, found [-1]")


async def test_unknown_type_is_rejected(api: Api) -> None:
    case = await api.create_case()

    status, body = await api.get(f"/api/cases/{case['id']}/user_actions/_find?types=nonsense")

    assert status == 400
    assert 'Invalid value "nonsense" supplied to "types"' in body["message"]


async def test_unknown_case_is_404(api: Api) -> None:
    status, body = await api.get("/api/cases/no-such-case/user_actions/_find")

    assert (status, body["message"]) == (404, "Saved object [cases/no-such-case] not found")


async def test_deleted_case_has_no_user_actions(api: Api) -> None:
    case = await api.create_case()
    status, _ = await api.delete(f"/api/cases?ids={case['id']}")
    assert status == 204

    status, body = await api.get(f"/api/cases/{case['id']}/user_actions/_find")

    assert (status, body["message"]) == (404, f"Saved object [cases/{case['id']}] not found")
