"""A failing request leaves the database exactly as it was."""

from typing import Any

from casepush.testing.database import StoredData
from tests.helpers import IMPACT_FIELD, Api


async def populated(api: Api) -> tuple[dict, dict]:
    """Two cases with comments, an alert, a configuration and user actions to lose."""
    await api.configure(customFields=[IMPACT_FIELD])
    first = await api.create_case(title="First", tags=["a"])
    second = await api.create_case(title="Second", tags=["b"])
    status, first = await api.post(
        f"/api/cases/{first['id']}/comments", {"type": "user", "comment": "hello", "owner": "cases"}
    )
    assert status == 200
    status, second = await api.post(
        f"/api/cases/{second['id']}/comments",
        {
            "type": "alert",
            "alertId": "a-1",
            "index": "idx",
            "rule": {"id": None, "name": None},
            "owner": "cases",
        },
    )
    assert status == 200
    return first, second


async def assert_unchanged(
    api: Api, stored: StoredData, method: str, path: str, body: Any, status: int
) -> dict:
    before = await stored.snapshot()
    assert before["cases"], "the database should hold data before the failing request"

    got, response = await api.request(method, path, body)

    assert got == status, response
    assert await stored.snapshot() == before
    return response


async def test_bad_json_changes_nothing(api: Api, stored: StoredData) -> None:
    await populated(api)

    await assert_unchanged(api, stored, "POST", "/api/cases", '{"title": ', 400)


async def test_wrong_field_type_changes_nothing(api: Api, stored: StoredData) -> None:
    first, _ = await populated(api)

    await assert_unchanged(
        api,
        stored,
        "PATCH",
        "/api/cases",
        {"cases": [{"id": first["id"], "version": first["version"], "title": 123}]},
        400,
    )


async def test_stale_comment_version_changes_nothing(api: Api, stored: StoredData) -> None:
    first, _ = await populated(api)
    comment = first["comments"][0]
    status, _ = await api.patch(
        f"/api/cases/{first['id']}/comments",
        {
            "type": "user",
            "comment": "v2",
            "owner": "cases",
            "id": comment["id"],
            "version": comment["version"],
        },
    )
    assert status == 200

    await assert_unchanged(
        api,
        stored,
        "PATCH",
        f"/api/cases/{first['id']}/comments",
        {
            "type": "user",
            "comment": "v3",
            "owner": "cases",
            "id": comment["id"],
            "version": comment["version"],
        },
        409,
    )


async def test_stale_configuration_version_changes_nothing(api: Api, stored: StoredData) -> None:
    await populated(api)
    _, (config,) = await api.get("/api/cases/configure")
    status, _ = await api.patch(
        f"/api/cases/configure/{config['id']}",
        {"version": config["version"], "closure_type": "close-by-pushing"},
    )
    assert status == 200

    await assert_unchanged(
        api,
        stored,
        "PATCH",
        f"/api/cases/configure/{config['id']}",
        {"version": config["version"], "closure_type": "close-by-user"},
        409,
    )


async def test_deleting_a_known_and_an_unknown_case_deletes_neither(api: Api, stored: StoredData) -> None:
    first, _ = await populated(api)

    await assert_unchanged(api, stored, "DELETE", f"/api/cases?ids={first['id']}&ids=no-such-case", None, 404)


async def test_comment_on_unknown_case_changes_nothing(api: Api, stored: StoredData) -> None:
    await populated(api)

    await assert_unchanged(
        api,
        stored,
        "POST",
        "/api/cases/no-such-case/comments",
        {"type": "user", "comment": "x", "owner": "cases"},
        404,
    )


async def test_over_limit_alert_attach_changes_nothing(api: Api, stored: StoredData) -> None:
    _, second = await populated(api)
    ids = [f"alert-{n}" for n in range(1000)]

    await assert_unchanged(
        api,
        stored,
        "POST",
        f"/api/cases/{second['id']}/comments",
        {
            "type": "alert",
            "alertId": ids,
            "index": ["idx"] * 1000,
            "rule": {"id": None, "name": None},
            "owner": "cases",
        },
        400,
    )


async def test_bulk_patch_with_second_case_stale_changes_nothing(api: Api, stored: StoredData) -> None:
    first, second = await populated(api)
    status, _ = await api.patch(
        "/api/cases", {"cases": [{"id": second["id"], "version": second["version"], "title": "Moved on"}]}
    )
    assert status == 200

    await assert_unchanged(
        api,
        stored,
        "PATCH",
        "/api/cases",
        {
            "cases": [
                {"id": first["id"], "version": first["version"], "title": "Renamed", "tags": ["x"]},
                {"id": second["id"], "version": second["version"], "title": "Stale"},
            ]
        },
        409,
    )


async def test_bulk_patch_failing_on_second_case_after_first_is_written_changes_nothing(
    api: Api, stored: StoredData
) -> None:
    """The second case's custom fields are checked only once the first case has been updated."""
    first, second = await populated(api)

    response = await assert_unchanged(
        api,
        stored,
        "PATCH",
        "/api/cases",
        {
            "cases": [
                {"id": first["id"], "version": first["version"], "title": "Renamed", "tags": ["x"]},
                {
                    "id": second["id"],
                    "version": second["version"],
                    "customFields": [{"key": "unknown", "type": "text", "value": "v"}],
                },
            ]
        },
        400,
    )

    assert response["message"] == "Invalid custom field keys: unknown"


async def test_patch_comment_of_another_case_changes_nothing(api: Api, stored: StoredData) -> None:
    first, second = await populated(api)
    comment = first["comments"][0]

    await assert_unchanged(
        api,
        stored,
        "PATCH",
        f"/api/cases/{second['id']}/comments",
        {
            "type": "user",
            "comment": "x",
            "owner": "cases",
            "id": comment["id"],
            "version": comment["version"],
        },
        404,
    )


async def test_configuration_patch_with_retyped_field_changes_nothing(api: Api, stored: StoredData) -> None:
    await populated(api)
    _, (config,) = await api.get("/api/cases/configure")

    await assert_unchanged(
        api,
        stored,
        "PATCH",
        f"/api/cases/configure/{config['id']}",
        {
            "version": config["version"],
            "customFields": [{"key": "impact", "label": "Impact", "type": "toggle", "required": False}],
        },
        400,
    )


async def test_snapshot_sees_a_successful_write(api: Api, stored: StoredData) -> None:
    """The snapshot is sensitive: a request that succeeds does change it."""
    first, _ = await populated(api)
    before = await stored.snapshot()

    status, _ = await api.post(
        f"/api/cases/{first['id']}/comments", {"type": "user", "comment": "more", "owner": "cases"}
    )

    assert status == 200
    after = await stored.snapshot()
    assert after != before
    assert len(after["attachments"]) == len(before["attachments"]) + 1
