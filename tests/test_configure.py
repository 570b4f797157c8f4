"""Case settings per owner: /api/cases/configure."""

from typing import Any

import pytest

from tests.helpers import NONE_CONNECTOR, Api, connector_body

STALE = "This configuration has been updated. Please refresh before saving additional updates."


def configuration(**fields: Any) -> dict:
    body: dict = {"closure_type": "close-by-user", "connector": NONE_CONNECTOR, "owner": "cases"}
    body.update(fields)
    return body


def text_field(key: str = "impact", label: str = "Impact", **extra: Any) -> dict:
    return {"key": key, "label": label, "type": "text", "required": False, **extra}


async def create(api: Api, **fields: Any) -> dict:
    status, created = await api.post("/api/cases/configure", configuration(**fields))
    assert status == 200, created
    return created


def error(status: int, message: str) -> tuple[int, dict]:
    reasons = {400: "Bad Request", 404: "Not Found", 409: "Conflict"}
    return status, {"statusCode": status, "error": reasons[status], "message": message}


# --- POST ------------------------------------------------------------------------------------------


async def test_create_configuration(api: Api) -> None:
    created = await create(api, customFields=[text_field()])

    assert set(created) == {
        "id",
        "version",
        "owner",
        "closure_type",
        "connector",
        "customFields",
        "templates",
        "mappings",
        "error",
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
    }
    assert created["id"] and created["version"]
    assert created["owner"] == "cases"
    assert created["closure_type"] == "close-by-user"
    assert created["connector"] == NONE_CONNECTOR
    assert created["customFields"] == [text_field()]
    assert created["templates"] == []
    assert created["mappings"] == []
    assert created["error"] is None
    assert created["created_at"]
    assert created["created_by"]["username"] == "elastic"
    assert created["updated_at"] is None
    assert created["updated_by"] is None


async def test_a_configured_connector_shows_its_types_mappings_as_kibana_does(api: Api, echo) -> None:
    status, connector = await api.post("/api/actions/connector", connector_body(echo.url))
    assert status == 200, connector
    named = {"id": connector["id"], "name": "Echo", "type": ".echo", "fields": None}
    echo_mappings = [
        {"source": "title", "target": "summary", "action_type": "overwrite"},
        {"source": "description", "target": "body", "action_type": "overwrite"},
        {"source": "tags", "target": "labels", "action_type": "overwrite"},
        {"source": "comments", "target": "notes", "action_type": "append"},
    ]

    created = await create(api, connector=named)
    _, listed = await api.get("/api/cases/configure")
    status, unset = await api.patch(
        f"/api/cases/configure/{created['id']}", {"version": created["version"], "connector": NONE_CONNECTOR}
    )

    assert created["mappings"] == listed[0]["mappings"] == echo_mappings
    assert status == 200 and unset["mappings"] == []


async def test_create_defaults_custom_fields_and_templates_to_empty(api: Api) -> None:
    created = await create(api)

    assert (created["customFields"], created["templates"]) == ([], [])


async def test_posting_again_replaces_the_owners_configuration(api: Api) -> None:
    first = await create(api, closure_type="close-by-user")

    second = await create(api, closure_type="close-by-pushing")

    assert second["id"] != first["id"]
    status, found = await api.get("/api/cases/configure?owner=cases")
    assert status == 200
    assert [(c["id"], c["closure_type"]) for c in found] == [(second["id"], "close-by-pushing")]
    result = await api.patch(f"/api/cases/configure/{first['id']}", {"version": first["version"]})
    assert result == error(404, f"Saved object [cases-configure/{first['id']}] not found")


async def test_create_with_unknown_key_is_rejected(api: Api) -> None:
    result = await api.post("/api/cases/configure", configuration(foo=1))

    assert result == error(400, 'invalid keys "foo"')


async def test_create_with_bad_closure_type_is_rejected(api: Api) -> None:
    status, body = await api.post("/api/cases/configure", configuration(closure_type="never"))

    assert status == 400
    assert 'Invalid value "never" supplied to "closure_type"' in body["message"]


async def test_create_with_duplicated_custom_field_keys_is_rejected(api: Api) -> None:
    fields = [text_field("impact", "Impact"), text_field("impact", "Impact again")]

    result = await api.post("/api/cases/configure", configuration(customFields=fields))

    assert result == error(400, "Invalid duplicated customFields keys in request: impact")


@pytest.mark.parametrize("key", ["Impact", "has space", "dot.ted", "ünï"])
async def test_create_with_invalid_custom_field_key_characters_is_rejected(api: Api, key: str) -> None:
    result = await api.post("/api/cases/configure", configuration(customFields=[text_field(key)]))

    assert result == error(400, "Key must be lower case, a-z, 0-9, '_', and '-' are allowed")


async def test_create_accepts_every_allowed_key_character(api: Api) -> None:
    created = await create(api, customFields=[text_field("a-z_0-9")])

    assert created["customFields"][0]["key"] == "a-z_0-9"


async def test_create_with_too_long_custom_field_key_is_rejected(api: Api) -> None:
    result = await api.post("/api/cases/configure", configuration(customFields=[text_field("k" * 37)]))

    assert result == error(400, "The length of the key is too long. The maximum length is 36.")


async def test_create_with_more_than_10_custom_fields_is_rejected(api: Api) -> None:
    fields = [text_field(f"f{n}", f"F{n}") for n in range(11)]

    result = await api.post("/api/cases/configure", configuration(customFields=fields))

    assert result == error(
        400, "The length of the field customFields is too long. Array must be of length <= 10."
    )


# --- GET ------------------------------------------------------------------------------------------------


async def test_get_without_configurations_is_empty(api: Api) -> None:
    assert await api.get("/api/cases/configure") == (200, [])


async def test_get_filters_by_owner(api: Api) -> None:
    cases = await create(api, owner="cases")
    observability = await create(api, owner="observability")

    _, only_cases = await api.get("/api/cases/configure?owner=cases")
    _, only_observability = await api.get("/api/cases/configure?owner=observability")
    _, every = await api.get("/api/cases/configure")
    _, none = await api.get("/api/cases/configure?owner=securitySolution")

    assert only_cases == [cases]
    assert only_observability == [observability]
    assert sorted(c["id"] for c in every) == sorted([cases["id"], observability["id"]])
    assert none == []


# --- PATCH -----------------------------------------------------------------------------------------------


async def test_patch_configuration(api: Api) -> None:
    created = await create(api)

    status, patched = await api.patch(
        f"/api/cases/configure/{created['id']}",
        {
            "version": created["version"],
            "closure_type": "close-by-pushing",
            "customFields": [text_field()],
        },
    )

    assert status == 200, patched
    assert patched["id"] == created["id"]
    assert patched["version"] != created["version"]
    assert patched["closure_type"] == "close-by-pushing"
    assert patched["customFields"] == [text_field()]
    assert patched["connector"] == NONE_CONNECTOR
    assert patched["created_at"] == created["created_at"]
    assert patched["updated_at"] is not None
    assert patched["updated_by"]["username"] == "elastic"
    _, found = await api.get("/api/cases/configure?owner=cases")
    assert found == [patched]


async def test_patch_with_stale_version_is_409(api: Api) -> None:
    created = await create(api)
    path = f"/api/cases/configure/{created['id']}"
    status, _ = await api.patch(path, {"version": created["version"], "closure_type": "close-by-pushing"})
    assert status == 200

    result = await api.patch(path, {"version": created["version"], "closure_type": "close-by-user"})

    assert result == error(409, STALE)
    _, (found,) = await api.get("/api/cases/configure")
    assert found["closure_type"] == "close-by-pushing"


async def test_patch_unknown_configuration_is_404(api: Api) -> None:
    result = await api.patch("/api/cases/configure/nope", {"version": "WzEsMV0="})

    assert result == error(404, "Saved object [cases-configure/nope] not found")


async def test_patch_cannot_change_the_owner(api: Api) -> None:
    created = await create(api)

    result = await api.patch(
        f"/api/cases/configure/{created['id']}", {"version": created["version"], "owner": "observability"}
    )

    assert result == error(400, 'invalid keys "owner"')


async def test_patch_cannot_change_a_custom_field_type(api: Api) -> None:
    created = await create(api, customFields=[text_field("impact", "Impact"), text_field("area", "Area")])
    retyped = [
        {"key": "impact", "label": "Impact", "type": "toggle", "required": False},
        text_field("area", "Area"),
    ]

    result = await api.patch(
        f"/api/cases/configure/{created['id']}",
        {"version": created["version"], "customFields": retyped},
    )

    assert result == error(400, 'Invalid custom field types in request for the following labels: "Impact"')


async def test_patch_may_add_and_remove_custom_fields(api: Api) -> None:
    created = await create(api, customFields=[text_field("impact", "Impact")])
    toggle = {"key": "urgent", "label": "Urgent", "type": "toggle", "required": True, "defaultValue": False}

    status, patched = await api.patch(
        f"/api/cases/configure/{created['id']}", {"version": created["version"], "customFields": [toggle]}
    )

    assert status == 200, patched
    assert patched["customFields"] == [toggle]


async def test_patch_with_duplicated_custom_field_keys_is_rejected(api: Api) -> None:
    created = await create(api)
    fields = [text_field("impact", "Impact"), text_field("impact", "Other")]

    result = await api.patch(
        f"/api/cases/configure/{created['id']}", {"version": created["version"], "customFields": fields}
    )

    assert result == error(400, "Invalid duplicated customFields keys in request: impact")


async def test_patch_with_invalid_custom_field_key_is_rejected(api: Api) -> None:
    created = await create(api)

    result = await api.patch(
        f"/api/cases/configure/{created['id']}",
        {"version": created["version"], "customFields": [text_field("Bad Key")]},
    )

    assert result == error(400, "Key must be lower case, a-z, 0-9, '_', and '-' are allowed")


async def test_patch_without_version_is_rejected(api: Api) -> None:
    created = await create(api)

    result = await api.patch(f"/api/cases/configure/{created['id']}", {"closure_type": "close-by-pushing"})

    assert result == error(400, 'Invalid value "undefined" supplied to "version"')
