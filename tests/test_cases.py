"""Create, get, update and delete cases over HTTP, with Kibana's fields and messages."""

import re
from datetime import datetime
from typing import Any

import pytest

from tests.helpers import NONE_CONNECTOR, case_body

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def bad_request(message: str) -> dict:
    return {"statusCode": 400, "error": "Bad Request", "message": message}


async def configure(api: Any, custom_fields: list[dict], owner: str = "cases") -> dict:
    status, body = await api.post(
        "/api/cases/configure",
        {
            "connector": NONE_CONNECTOR,
            "closure_type": "close-by-user",
            "owner": owner,
            "customFields": custom_fields,
        },
    )
    assert status == 200, body
    return body


async def patch(api: Any, case: dict, **fields: Any) -> tuple[int, Any]:
    return await api.patch(
        "/api/cases", {"cases": [{"id": case["id"], "version": case["version"], **fields}]}
    )


async def add_alert(api: Any, case_id: str, alert_id: str | list[str], index: str | list[str] = ".alerts-1"):
    status, body = await api.post(
        f"/api/cases/{case_id}/comments",
        {
            "type": "alert",
            "alertId": alert_id,
            "index": index,
            "rule": {"id": "rule-1", "name": "Rule one"},
            "owner": "cases",
        },
    )
    assert status == 200, body
    return body


async def add_comment(api: Any, case_id: str, text: str = "a note") -> dict:
    status, body = await api.post(
        f"/api/cases/{case_id}/comments", {"type": "user", "comment": text, "owner": "cases"}
    )
    assert status == 200, body
    return body


# --- POST /api/cases ----------------------------------------------------------------------------


async def test_create_returns_every_field_of_a_new_case(api):
    status, case = await api.post("/api/cases", case_body())

    assert status == 200
    assert UUID.match(case["id"])
    assert isinstance(case["version"], str) and case["version"]
    assert ISO_Z.match(case["created_at"])
    assert case["created_by"] == {"email": None, "full_name": None, "username": "elastic"}
    expected = {
        "title": "Suspicious login",
        "description": "Several failed logins followed by a success.",
        "tags": ["auth", "triage"],
        "status": "open",
        "severity": "low",
        "owner": "cases",
        "assignees": [],
        "settings": {"syncAlerts": False},
        "category": None,
        "customFields": [],
        "connector": NONE_CONNECTOR,
        "external_service": None,
        "updated_at": None,
        "updated_by": None,
        "closed_at": None,
        "closed_by": None,
        "duration": None,
        "totalComment": 0,
        "totalAlerts": 0,
        "comments": [],
    }
    assert {key: case[key] for key in expected} == expected


async def test_create_keeps_given_severity_category_and_assignees(api):
    case = await api.create_case(
        severity="critical", category="Malware", assignees=[{"uid": "u1"}, {"uid": "u1"}, {"uid": "u2"}]
    )

    assert case["severity"] == "critical"
    assert case["category"] == "Malware"
    assert case["assignees"] == [{"uid": "u1"}, {"uid": "u2"}]


async def test_create_trims_title_description_tags_and_category(api):
    case = await api.create_case(
        title="  Padded title \t", description="\n described  ", tags=[" a ", "b  "], category=" cat "
    )

    assert case["title"] == "Padded title"
    assert case["description"] == "described"
    assert case["tags"] == ["a", "b"]
    assert case["category"] == "cat"
    status, stored = await api.get(f"/api/cases/{case['id']}")
    assert status == 200
    assert (stored["title"], stored["tags"]) == ("Padded title", ["a", "b"])


def without(key: str) -> dict:
    body = case_body()
    del body[key]
    return body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (without("title"), 'Invalid value "undefined" supplied to "title"'),
        (without("settings"), 'Invalid value "undefined" supplied to "settings"'),
        (case_body(title=123), 'Invalid value "123" supplied to "title"'),
        (case_body(tags="x"), 'Invalid value "x" supplied to "tags"'),
        (case_body(severity="urgent"), 'Invalid value "urgent" supplied to "severity"'),
        (case_body(owner="nobody"), 'Invalid value "nobody" supplied to "owner"'),
        (case_body(status="open"), 'invalid keys "status"'),
        (case_body(foo=1), 'invalid keys "foo"'),
        (
            case_body(connector={**NONE_CONNECTOR, "extra": 1}),
            'invalid keys "extra"',
        ),
        (case_body(title="x" * 161), "The length of the title is too long. The maximum length is 160."),
        (case_body(title="   "), "The title field cannot be an empty string."),
        (case_body(description=""), "The description field cannot be an empty string."),
        (
            case_body(description="d" * 30001),
            "The length of the description is too long. The maximum length is 30000.",
        ),
        (
            case_body(tags=[f"t{i}" for i in range(201)]),
            "The length of the field tags is too long. Array must be of length <= 200.",
        ),
        (case_body(tags=["t" * 257]), "The length of the tag is too long. The maximum length is 256."),
        (case_body(tags=["ok", " "]), "The tag field cannot be an empty string."),
        (
            case_body(assignees=[{"uid": str(i)} for i in range(11)]),
            "The length of the field assignees is too long. Array must be of length <= 10.",
        ),
        (
            case_body(connector={**NONE_CONNECTOR, "fields": {"a": 1}}),
            'Invalid value "{"a":1}" supplied to "connector,fields"',
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
async def test_create_rejects_invalid_bodies_with_kibana_messages(api, body, message):
    status, error = await api.post("/api/cases", body)

    assert (status, error) == (400, bad_request(message))


async def test_create_title_limit_counts_trimmed_length(api):
    """Kibana's limitedString checks the trimmed text: padding does not count against 160."""
    case = await api.create_case(title="  " + "x" * 160 + "  ")

    assert case["title"] == "x" * 160


async def test_create_accepts_boundary_lengths(api):
    case = await api.create_case(
        title="t" * 160, description="d" * 30000, tags=["g" * 256] + [f"t{i}" for i in range(199)]
    )

    assert len(case["title"]) == 160
    assert len(case["tags"]) == 200


async def test_create_rejects_category_over_50(api):
    """Category is ``union([limitedString, null])``: io-ts reports both failed branches."""
    long = "c" * 51
    status, error = await api.post("/api/cases", case_body(category=long))

    assert status == 400
    assert error["message"] == (
        "The length of the category is too long. The maximum length is 50.,"
        f'Invalid value "{long}" supplied to "category"'
    )


async def test_create_rejects_empty_category(api):
    status, error = await api.post("/api/cases", case_body(category="  "))

    assert (status, error) == (
        400,
        bad_request(
            'The category field cannot be an empty string.,Invalid value "  " supplied to "category"'
        ),
    )


async def test_create_accepts_null_category(api):
    case = await api.create_case(category=None)

    assert case["category"] is None


async def test_patch_rejects_category_over_50(api):
    case = await api.create_case()
    long = "c" * 51

    status, error = await patch(api, case, category=long)

    assert status == 400
    assert error["message"] == (
        "The length of the category is too long. The maximum length is 50.,"
        f'Invalid value "{long}" supplied to "category"'
    )


async def test_create_rejects_bad_json(api):
    status, error = await api.post("/api/cases", '{"title": ')

    assert (status, error) == (400, bad_request("Invalid request payload JSON format"))


async def test_failed_create_stores_nothing(api):
    await api.post("/api/cases", case_body(title=""))

    status, found = await api.get("/api/cases/_find")
    assert (status, found["total"]) == (200, 0)


# --- custom fields ------------------------------------------------------------------------------

TEXT_FIELD = {"key": "ticket", "label": "Ticket", "type": "text", "required": False}
TOGGLE_FIELD = {"key": "urgent", "label": "Urgent", "type": "toggle", "required": True}


async def test_custom_fields_without_configuration_are_refused(api):
    status, error = await api.post(
        "/api/cases", case_body(customFields=[{"key": "ticket", "type": "text", "value": "T-1"}])
    )

    assert (status, error) == (400, bad_request("No custom fields configured."))


async def test_custom_fields_with_unknown_key_are_refused(api):
    await configure(api, [TEXT_FIELD])

    status, error = await api.post(
        "/api/cases",
        case_body(
            customFields=[
                {"key": "nope", "type": "text", "value": "x"},
                {"key": "other", "type": "text", "value": "y"},
            ]
        ),
    )

    assert (status, error) == (400, bad_request("Invalid custom field keys: nope,other"))


async def test_custom_fields_with_duplicated_keys_are_refused(api):
    await configure(api, [TEXT_FIELD])

    field = {"key": "ticket", "type": "text", "value": "x"}
    status, error = await api.post("/api/cases", case_body(customFields=[field, field]))

    assert (status, error) == (400, bad_request("Invalid duplicated customFields keys in request: ticket"))


async def test_missing_required_custom_field_without_default_is_refused(api):
    await configure(api, [TEXT_FIELD, TOGGLE_FIELD])

    status, error = await api.post(
        "/api/cases", case_body(customFields=[{"key": "ticket", "type": "text", "value": "x"}])
    )

    assert (status, error) == (
        400,
        bad_request('Missing required custom fields without default value configured: "Urgent"'),
    )


async def test_required_custom_field_set_to_null_is_refused(api):
    await configure(api, [TOGGLE_FIELD])

    status, error = await api.post(
        "/api/cases", case_body(customFields=[{"key": "urgent", "type": "toggle", "value": None}])
    )

    assert (status, error) == (
        400,
        bad_request('Invalid value "null" supplied for the following required custom fields: "Urgent"'),
    )


@pytest.mark.parametrize(
    "field",
    [
        {"key": "ticket", "type": "toggle", "value": True},
        {"key": "ticket", "type": "text", "value": True},
    ],
)
async def test_custom_field_of_wrong_type_is_refused(api, field):
    await configure(api, [TEXT_FIELD])

    status, error = await api.post("/api/cases", case_body(customFields=[field]))

    assert (status, error) == (
        400,
        bad_request('The following custom fields have the wrong type in the request: "Ticket"'),
    )


async def test_missing_custom_fields_are_filled_with_defaults_or_null(api):
    await configure(
        api,
        [
            {**TOGGLE_FIELD, "defaultValue": True},
            TEXT_FIELD,
            {"key": "team", "label": "Team", "type": "text", "required": False, "defaultValue": "blue"},
        ],
    )

    case = await api.create_case(customFields=[{"key": "ticket", "type": "text", "value": "T-9"}])

    assert case["customFields"] == [
        {"key": "ticket", "type": "text", "value": "T-9"},
        {"key": "urgent", "type": "toggle", "value": True},
        {"key": "team", "type": "text", "value": "blue"},
    ]


async def test_configuration_of_another_owner_does_not_apply(api):
    await configure(api, [TEXT_FIELD], owner="observability")

    status, error = await api.post(
        "/api/cases", case_body(customFields=[{"key": "ticket", "type": "text", "value": "T-1"}])
    )

    assert (status, error) == (400, bad_request("No custom fields configured."))


# --- GET /api/cases/{id} ------------------------------------------------------------------------


async def test_get_includes_comments_by_default(api):
    case = await api.create_case()
    await add_comment(api, case["id"], "first")

    status, found = await api.get(f"/api/cases/{case['id']}")

    assert status == 200
    assert [c["comment"] for c in found["comments"]] == ["first"]
    assert found["totalComment"] == 1
    assert found["id"] == case["id"]


async def test_get_without_comments(api):
    case = await api.create_case()
    await add_comment(api, case["id"])

    status, found = await api.get(f"/api/cases/{case['id']}", params={"includeComments": "false"})

    assert status == 200
    assert found["comments"] == []
    assert found["totalComment"] == 1


async def test_get_unknown_case_is_404(api):
    status, error = await api.get("/api/cases/no-such-case")

    assert (status, error) == (
        404,
        {"statusCode": 404, "error": "Not Found", "message": "Saved object [cases/no-such-case] not found"},
    )


# --- PATCH /api/cases ---------------------------------------------------------------------------


async def test_patch_returns_updated_cases_with_a_new_version(api):
    case = await api.create_case()

    status, updated = await patch(api, case, title="  Renamed ", severity="high", tags=["x"])

    assert status == 200
    assert isinstance(updated, list) and len(updated) == 1
    (after,) = updated
    assert after["version"] != case["version"]
    assert (after["title"], after["severity"], after["tags"]) == ("Renamed", "high", ["x"])
    assert ISO_Z.match(after["updated_at"])
    assert after["updated_by"]["username"] == "elastic"
    assert after["created_at"] == case["created_at"]
    status, stored = await api.get(f"/api/cases/{case['id']}")
    assert stored["version"] == after["version"]
    assert stored["title"] == "Renamed"


async def test_patch_updates_several_cases_at_once(api):
    first, second = await api.create_case(title="one"), await api.create_case(title="two")

    status, updated = await api.patch(
        "/api/cases",
        {
            "cases": [
                {"id": first["id"], "version": first["version"], "status": "closed"},
                {"id": second["id"], "version": second["version"], "title": "deux"},
            ]
        },
    )

    assert status == 200
    assert {c["id"]: (c["status"], c["title"]) for c in updated} == {
        first["id"]: ("closed", "one"),
        second["id"]: ("open", "deux"),
    }


async def test_patch_with_stale_version_is_409(api):
    case = await api.create_case()
    status, _ = await patch(api, case, title="v2")
    assert status == 200

    status, error = await patch(api, case, title="v3")

    assert status == 409
    assert error["message"] == (
        f"These cases {case['id']} has been updated. Please refresh before saving additional updates."
    )
    status, stored = await api.get(f"/api/cases/{case['id']}")
    assert stored["title"] == "v2"


async def test_patch_with_garbage_version_is_409(api):
    case = await api.create_case()

    status, error = await api.patch("/api/cases", {"cases": [{"id": case["id"], "version": "nope"}]})

    assert status == 409
    assert error["message"].startswith(f"These cases {case['id']} has been updated.")


async def test_patch_unknown_case_is_404_before_conflicts(api):
    case = await api.create_case()

    status, error = await api.patch(
        "/api/cases",
        {
            "cases": [
                {"id": case["id"], "version": "stale", "title": "x"},
                {"id": "ghost-1", "version": "WzEsMV0=", "title": "x"},
                {"id": "ghost-2", "version": "WzEsMV0=", "title": "x"},
            ]
        },
    )

    assert (status, error["message"]) == (
        404,
        "These cases ghost-1, ghost-2 do not exist. Please check you have the correct ids.",
    )


async def test_patch_without_changes_is_406(api):
    case = await api.create_case(severity="medium")

    status, error = await patch(
        api, case, title=case["title"], severity="medium", settings={"syncAlerts": False}
    )

    assert (status, error) == (
        406,
        {
            "statusCode": 406,
            "error": "Not Acceptable",
            "message": "All update fields are identical to current version.",
        },
    )


async def test_patch_reordering_tags_is_not_a_change(api):
    case = await api.create_case(tags=["a", "b", "c"])

    status, error = await patch(api, case, tags=["c", "a", "b"])

    assert (status, error["message"]) == (406, "All update fields are identical to current version.")


async def test_patch_changing_owner_is_refused(api):
    case = await api.create_case()

    status, error = await patch(api, case, owner="observability", title="new")

    assert (status, error) == (
        400,
        bad_request(f"Updating the owner of a case is not allowed ids: [{case['id']}]"),
    )


async def test_patch_with_same_owner_is_not_an_owner_change(api):
    case = await api.create_case()

    status, updated = await patch(api, case, owner="cases", title="new")

    assert status == 200
    assert updated[0]["title"] == "new"


async def test_closing_sets_closed_info_and_reopening_clears_it(api):
    case = await api.create_case()

    status, (closed,) = await patch(api, case, status="closed")

    assert status == 200
    assert closed["status"] == "closed"
    assert ISO_Z.match(closed["closed_at"])
    assert closed["closed_by"]["username"] == "elastic"
    assert isinstance(closed["duration"], int) and not isinstance(closed["duration"], bool)
    created = datetime.fromisoformat(case["created_at"].replace("Z", "+00:00"))
    closed_at = datetime.fromisoformat(closed["closed_at"].replace("Z", "+00:00"))
    assert closed["duration"] == int((closed_at - created).total_seconds())

    status, (reopened,) = await patch(api, closed, status="open")

    assert status == 200
    assert (reopened["closed_at"], reopened["closed_by"], reopened["duration"]) == (None, None, None)


async def test_in_progress_sets_in_progress_at_once(api):
    case = await api.create_case()

    _, (progressing,) = await patch(api, case, status="in-progress")
    assert ISO_Z.match(progressing["in_progress_at"])
    _, (reopened,) = await patch(api, progressing, status="open")
    _, (again,) = await patch(api, reopened, status="in-progress")

    assert reopened["in_progress_at"] == progressing["in_progress_at"]
    assert again["in_progress_at"] == progressing["in_progress_at"]


async def test_patch_trims_and_validates_fields(api):
    case = await api.create_case()

    status, error = await patch(api, case, title="")
    assert (status, error) == (400, bad_request("The title field cannot be an empty string."))
    status, error = await patch(api, case, tags=["ok", "t" * 257])
    assert (status, error) == (
        400,
        bad_request("The length of the tag is too long. The maximum length is 256."),
    )
    status, error = await patch(api, case, foo="bar")
    assert (status, error) == (400, bad_request('invalid keys "foo"'))

    status, (updated,) = await patch(api, case, description="  new  ", tags=[" z "], category=" c ")
    assert (updated["description"], updated["tags"], updated["category"]) == ("new", ["z"], "c")


async def test_patch_can_clear_category(api):
    case = await api.create_case(category="cat")

    status, (updated,) = await patch(api, case, category=None)

    assert status == 200
    assert updated["category"] is None


async def test_patch_more_than_100_cases_is_refused(api):
    cases = [{"id": f"id-{i}", "version": "WzEsMV0=", "title": "x"} for i in range(101)]

    status, error = await api.patch("/api/cases", {"cases": cases})

    assert (status, error) == (
        400,
        bad_request("The length of the field cases is too long. Array must be of length <= 100."),
    )


async def test_patch_with_no_cases_is_refused(api):
    status, error = await api.patch("/api/cases", {"cases": []})

    assert (status, error) == (
        400,
        bad_request("The length of the field cases is too short. Array must be of length >= 1."),
    )


async def test_patch_missing_version_is_400(api):
    case = await api.create_case()

    status, error = await api.patch("/api/cases", {"cases": [{"id": case["id"], "title": "x"}]})

    assert (status, error) == (400, bad_request('Invalid value "undefined" supplied to "cases,version"'))


async def test_old_version_cannot_be_reused_after_an_update(api):
    case = await api.create_case()
    status, (first,) = await patch(api, case, title="first")
    assert status == 200

    status, error = await patch(api, case, description="second")

    assert (status, error["statusCode"]) == (409, 409)
    status, (second,) = await patch(api, first, description="second")
    assert status == 200
    assert (second["title"], second["description"]) == ("first", "second")


async def test_patch_custom_fields_are_validated_and_filled(api):
    await configure(api, [TEXT_FIELD, {**TOGGLE_FIELD, "required": False}])
    case = await api.create_case()
    assert case["customFields"] == [
        {"key": "ticket", "type": "text", "value": None},
        {"key": "urgent", "type": "toggle", "value": None},
    ]

    status, error = await patch(api, case, customFields=[{"key": "nope", "type": "text", "value": "x"}])
    assert (status, error) == (400, bad_request("Invalid custom field keys: nope"))

    status, (updated,) = await patch(
        api, case, customFields=[{"key": "urgent", "type": "toggle", "value": True}]
    )
    assert status == 200
    assert updated["customFields"] == [
        {"key": "urgent", "type": "toggle", "value": True},
        {"key": "ticket", "type": "text", "value": None},
    ]


# --- DELETE /api/cases --------------------------------------------------------------------------


async def test_delete_one_case(api):
    keep, gone = await api.create_case(title="keep"), await api.create_case(title="gone")

    status, body = await api.delete("/api/cases", params={"ids": gone["id"]})

    assert (status, body) == (204, None)
    assert (await api.get(f"/api/cases/{gone['id']}"))[0] == 404
    assert (await api.get(f"/api/cases/{keep['id']}"))[0] == 200


async def test_delete_with_repeated_ids_params(api):
    first, second = await api.create_case(), await api.create_case()

    status, _ = await api.delete("/api/cases", params=[("ids", first["id"]), ("ids", second["id"])])

    assert status == 204
    _, found = await api.get("/api/cases/_find")
    assert found["total"] == 0


async def test_delete_with_json_array_ids(api):
    first, second, third = await api.create_case(), await api.create_case(), await api.create_case()

    status, _ = await api.delete("/api/cases", params={"ids": f'["{first["id"]}","{second["id"]}"]'})

    assert status == 204
    _, found = await api.get("/api/cases/_find")
    assert [c["id"] for c in found["cases"]] == [third["id"]]


async def test_delete_unknown_id_is_404_and_deletes_nothing(api):
    case = await api.create_case()

    status, error = await api.delete("/api/cases", params=[("ids", case["id"]), ("ids", "ghost")])

    assert (status, error) == (
        404,
        {"statusCode": 404, "error": "Not Found", "message": "Saved object [cases/ghost] not found"},
    )
    assert (await api.get(f"/api/cases/{case['id']}"))[0] == 200


async def test_delete_without_ids_is_400(api):
    status, error = await api.delete("/api/cases")

    assert status == 400
    assert error["statusCode"] == 400


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ('["unclosed', 'Invalid value "["unclosed" supplied to "ids"'),
        ('["fine", 7]', 'Invalid value "7" supplied to "ids"'),
    ],
)
async def test_delete_with_a_malformed_json_array_of_ids_is_400_and_deletes_nothing(api, ids, message):
    case = await api.create_case()

    status, error = await api.delete("/api/cases", params={"ids": ids})

    assert (status, error) == (400, {"statusCode": 400, "error": "Bad Request", "message": message})
    assert (await api.get(f"/api/cases/{case['id']}"))[0] == 200


async def test_delete_removes_comments_and_user_actions(api, stored):
    case = await api.create_case()
    with_comment = await add_comment(api, case["id"])
    comment_id = with_comment["comments"][0]["id"]
    await add_alert(api, case["id"], "alert-1")
    other = await api.create_case()
    await add_comment(api, other["id"])

    status, _ = await api.delete("/api/cases", params={"ids": case["id"]})

    assert status == 204
    status, error = await api.get(f"/api/cases/{case['id']}/comments/{comment_id}")
    assert (status, error["message"]) == (404, f"Saved object [cases-comments/{comment_id}] not found")
    status, error = await api.get(f"/api/cases/{case['id']}/user_actions/_find")
    assert (status, error["message"]) == (404, f"Saved object [cases/{case['id']}] not found")
    status, cases = await api.get("/api/cases/alerts/alert-1")
    assert (status, cases) == (200, [])
    for table in ("attachments", "user_actions"):
        rows = await stored.rows(f"SELECT case_id, COUNT(*) FROM {table} GROUP BY case_id")
        assert dict(rows).keys() == {other["id"]}, table


# --- tags, reporters, status, alerts ------------------------------------------------------------


async def test_tags_are_unique_and_filtered_by_owner(api):
    await api.create_case(tags=["b", "a"])
    await api.create_case(tags=["a", "c"])
    await api.create_case(tags=["obs"], owner="observability")

    status, tags = await api.get("/api/cases/tags")
    assert status == 200
    assert sorted(tags) == ["a", "b", "c", "obs"]
    assert len(tags) == len(set(tags))

    status, tags = await api.get("/api/cases/tags", params={"owner": "observability"})
    assert (status, tags) == (200, ["obs"])


async def test_reporters_are_unique_users(api):
    await api.create_case()
    await api.create_case()

    status, reporters = await api.get("/api/cases/reporters")
    assert (status, reporters) == (200, [{"email": None, "full_name": None, "username": "elastic"}])

    status, reporters = await api.get("/api/cases/reporters", params={"owner": "securitySolution"})
    assert (status, reporters) == (200, [])


async def test_reporters_and_tags_refuse_unknown_query_keys(api):
    for path in ("/api/cases/tags", "/api/cases/reporters", "/api/cases/status"):
        status, error = await api.get(path, params={"foo": "1"})
        assert (status, error) == (400, bad_request('invalid keys "foo"')), path


async def test_status_counts_with_owner_filter(api):
    open_case = await api.create_case()
    to_close = await api.create_case()
    await patch(api, to_close, status="closed")
    in_progress = await api.create_case(owner="observability")
    await patch(api, in_progress, status="in-progress")
    del open_case

    status, counts = await api.get("/api/cases/status")
    assert (status, counts) == (
        200,
        {"count_open_cases": 1, "count_in_progress_cases": 1, "count_closed_cases": 1},
    )
    status, counts = await api.get("/api/cases/status", params={"owner": "cases"})
    assert counts == {"count_open_cases": 1, "count_in_progress_cases": 0, "count_closed_cases": 1}
    status, counts = await api.get("/api/cases/status", params={"owner": "observability"})
    assert counts == {"count_open_cases": 0, "count_in_progress_cases": 1, "count_closed_cases": 0}


async def test_cases_of_an_alert(api):
    first = await api.create_case(title="first", description="d1")
    second = await api.create_case(title="second")
    await api.create_case(title="unrelated")
    await add_alert(api, first["id"], ["alert-1", "alert-2"], [".alerts-a", ".alerts-b"])
    await add_comment(api, first["id"])
    await add_alert(api, second["id"], "alert-1")

    status, found = await api.get("/api/cases/alerts/alert-1")

    assert status == 200
    by_id = {c["id"]: c for c in found}
    assert by_id.keys() == {first["id"], second["id"]}
    assert by_id[first["id"]] == {
        "id": first["id"],
        "title": "first",
        "description": "d1",
        "status": "open",
        "createdAt": first["created_at"],
        "totals": {"alerts": 2, "userComments": 1},
    }
    assert by_id[second["id"]]["totals"] == {"alerts": 1, "userComments": 0}
    assert (await api.get("/api/cases/alerts/alert-unknown")) == (200, [])


async def test_alerts_of_a_case(api):
    case = await api.create_case()
    after = await add_alert(api, case["id"], ["alert-1", "alert-2"], [".alerts-a", ".alerts-b"])
    attached_at = after["comments"][0]["created_at"]

    status, alerts = await api.get(f"/api/cases/{case['id']}/alerts")

    assert status == 200
    assert sorted(alerts, key=lambda a: a["id"]) == [
        {"id": "alert-1", "index": ".alerts-a", "attached_at": attached_at},
        {"id": "alert-2", "index": ".alerts-b", "attached_at": attached_at},
    ]
    assert after["totalAlerts"] == 2
    status, error = await api.get("/api/cases/ghost/alerts")
    assert (status, error["message"]) == (404, "Saved object [cases/ghost] not found")


async def test_title_length_counts_utf16_units_as_kibana(api):
    """Kibana (JavaScript) counts an emoji as two characters: 80 emoji fill the 160 limit."""
    status, case = await api.post("/api/cases", case_body(title="🔥" * 80))
    assert status == 200, case
    status, error = await api.post("/api/cases", case_body(title="🔥" * 80 + "x"))
    assert status == 400
    assert error["message"] == "The length of the title is too long. The maximum length is 160."
