"""Kibana's Spaces API (/api/spaces/space) and the isolation of cases objects between spaces."""

import json
from dataclasses import dataclass
from typing import Any

import pytest

from casepush.testing.database import StoredData
from tests.helpers import Api, case_body, configuration_body

DEFAULT_SPACE = {
    "id": "default",
    "name": "Default",
    "description": "This is your default space!",
    "color": "#00bfb3",
    "disabledFeatures": [],
    "_reserved": True,
}
NOT_FOUND = {"statusCode": 404, "error": "Not Found", "message": "Not Found"}
EMPTY_FIND = {
    "cases": [],
    "page": 1,
    "per_page": 20,
    "total": 0,
    "count_open_cases": 0,
    "count_in_progress_cases": 0,
    "count_closed_cases": 0,
}
NO_STATUS_COUNTS = {"count_open_cases": 0, "count_in_progress_cases": 0, "count_closed_cases": 0}
ALERT_ID = "alert-1"


def error(status: int, message: str) -> dict:
    reasons = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict"}
    return {"statusCode": status, "error": reasons[status], "message": message}


def at(space_id: str, path: str) -> str:
    """``path`` as called in a space: bare for ``default``, else under ``/s/<space_id>``."""
    return path if space_id == "default" else f"/s/{space_id}{path}"


async def ok(call: Any) -> Any:
    status, body = await call
    assert status == 200, body
    return body


async def stored_spaces(stored: StoredData) -> list[tuple]:
    return await stored.rows("SELECT id, data FROM spaces ORDER BY id")


# --- objects in a space -------------------------------------------------------------------------


@dataclass
class Seeded:
    """A case with an alert and a user comment, and a configuration, all made in one space."""

    case: dict
    comment: dict
    configuration: dict

    @property
    def ids(self) -> dict[str, str]:
        return {
            "case": self.case["id"],
            "case_version": self.case["version"],
            "comment": self.comment["id"],
            "comment_version": self.comment["version"],
            "configuration": self.configuration["id"],
            "configuration_version": self.configuration["version"],
        }


async def seed(api: Api, space_id: str, owner: str = "cases") -> Seeded:
    case = await ok(api.post(at(space_id, "/api/cases"), case_body(owner=owner, assignees=[{"uid": "u1"}])))
    comments = at(space_id, f"/api/cases/{case['id']}/comments")
    alert = {
        "type": "alert",
        "alertId": ALERT_ID,
        "index": ".alerts-1",
        "rule": {"id": "rule-1", "name": "Rule one"},
        "owner": owner,
    }
    await ok(api.post(comments, alert))
    case = await ok(api.post(comments, {"type": "user", "comment": "a note", "owner": owner}))
    configuration = await ok(api.post(at(space_id, "/api/cases/configure"), configuration_body(owner=owner)))
    return Seeded(case=case, comment=case["comments"][-1], configuration=configuration)


def fill(template: Any, ids: dict[str, str]) -> Any:
    """A request template with ``{case}``, ``{comment}``, ... replaced by the seeded ids."""
    if isinstance(template, str):
        return template.format(**ids)
    if isinstance(template, dict):
        return {key: fill(value, ids) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(value, ids) for value in template]
    return template


#: Tables keyed by space, and tables reached through a case id.
SPACE_TABLES = ("cases", "attachments", "user_actions", "configurations")
CASE_TABLES = ("case_tags", "case_assignees", "case_alerts")


async def stored_counts(stored: StoredData, space_id: str, case_ids: list[str]) -> dict[str, int]:
    """Rows per table that belong to the space, directly or through one of its cases."""
    marks = ",".join("?" * len(case_ids))
    return {
        **{table: await stored.count(table, "space_id = ?", space_id) for table in SPACE_TABLES},
        **{table: await stored.count(table, f"case_id IN ({marks})", *case_ids) for table in CASE_TABLES},
    }


# --- POST /api/spaces/space -----------------------------------------------------------------------


async def test_create_returns_the_space_with_a_trimmed_name_and_without_reserved(
    api: Api, stored: StoredData
) -> None:
    body = {
        "id": "ops",
        "name": "  Operations \t",
        "description": "Ops team",
        "color": "#AABB00",
        "initials": "OP",
        "imageUrl": "data:image/png;base64,iVBORw0KGgo=",
        "disabledFeatures": ["discover"],
        "solution": "oblt",
        "_reserved": True,
    }

    status, space = await api.post("/api/spaces/space", body)

    expected = {key: value for key, value in body.items() if key != "_reserved"}
    assert status == 200
    assert space == {**expected, "name": "Operations"}
    assert await ok(api.get("/api/spaces/space/ops")) == space
    assert "_reserved" not in json.loads(dict(await stored_spaces(stored))["ops"])


async def test_create_with_only_id_and_name_answers_empty_disabled_features(api: Api) -> None:
    space = await api.create_space("ops")

    assert space == {"id": "ops", "name": "Ops", "disabledFeatures": []}


async def test_a_reserved_flag_in_the_body_does_not_reserve_the_space(api: Api) -> None:
    await api.create_space("ops", _reserved=True)

    status, _ = await api.delete("/api/spaces/space/ops")

    assert status == 204


# --- GET /api/spaces/space and /api/spaces/space/{id} ----------------------------------------------


async def test_list_is_sorted_by_name_and_includes_the_reserved_default_space(api: Api) -> None:
    for space_id, name in (("z", "Alpha"), ("a", "beta"), ("m", "Mid")):
        await api.create_space(space_id, name=name)

    spaces = await ok(api.get("/api/spaces/space"))

    # Elasticsearch sorts ``name.keyword`` by code point: capitals first.
    assert [space["name"] for space in spaces] == ["Alpha", "Default", "Mid", "beta"]
    assert spaces[1] == DEFAULT_SPACE


ALL_PURPOSES = {
    "any": True,
    "copySavedObjectsIntoSpace": True,
    "findSavedObjects": True,
    "shareSavedObjectsIntoSpace": True,
}
ONLY_FIND = {**ALL_PURPOSES, "copySavedObjectsIntoSpace": False, "shareSavedObjectsIntoSpace": False}


@pytest.mark.parametrize(
    "query", ["purpose=any", "purpose=copySavedObjectsIntoSpace", "purpose=shareSavedObjectsIntoSpace"]
)
async def test_the_superuser_has_every_purpose_in_every_space(api: Api, query) -> None:
    assert await api.get(f"/api/spaces/space?{query}") == (200, [DEFAULT_SPACE])


async def test_include_authorized_purposes_lists_each_space_with_its_purposes(api: Api) -> None:
    await api.create_space("ops")
    user = await user_with(
        api,
        {"spaces": ["default"], "base": ["all"]},
        {"spaces": ["ops"], "base": [], "feature": {"generalCasesV3": ["read"]}},
    )

    status, spaces = await user.get("/api/spaces/space?include_authorized_purposes=true")

    assert status == 200
    assert spaces == [
        {**DEFAULT_SPACE, "authorizedPurposes": ALL_PURPOSES},
        {"id": "ops", "name": "Ops", "disabledFeatures": [], "authorizedPurposes": ONLY_FIND},
    ]
    # ``false`` is the plain list, as leaving it out is.
    assert await user.get("/api/spaces/space?include_authorized_purposes=false") == (
        200,
        [DEFAULT_SPACE, {"id": "ops", "name": "Ops", "disabledFeatures": []}],
    )


async def test_a_purpose_narrows_the_list_to_the_spaces_it_is_granted_in(api: Api) -> None:
    for space_id in ("a", "b", "c"):
        await api.create_space(space_id)
    user = await user_with(
        api,
        {"spaces": ["a"], "base": ["all"]},
        {"spaces": ["b"], "base": [], "feature": {"savedObjectsManagement": ["all"]}},
        {"spaces": ["c"], "base": [], "feature": {"savedObjectsManagement": ["read"], "actions": ["all"]}},
    )

    async def listed(query: str) -> list[str]:
        return [space["id"] for space in await ok(user.get(f"/api/spaces/space?{query}"))]

    assert await listed("purpose=any") == await listed("") == ["a", "b", "c"]
    assert await listed("purpose=copySavedObjectsIntoSpace") == ["a", "b"]
    assert await listed("purpose=shareSavedObjectsIntoSpace&include_authorized_purposes=false") == ["a", "b"]


async def test_a_purpose_granted_in_no_space_is_403(api: Api) -> None:
    user = await user_with(api, {"spaces": ["*"], "base": ["read"]})

    assert (await user.get("/api/spaces/space?purpose=any"))[0] == 200
    assert await user.get("/api/spaces/space?purpose=copySavedObjectsIntoSpace") == (
        403,
        error(403, "Forbidden"),
    )


@pytest.mark.parametrize(
    "query, message",
    [
        (
            "purpose=any&include_authorized_purposes=true",
            "[request query]: include_authorized_purposes can only be false when purpose is specified",
        ),
        (
            "purpose=findSavedObjects",
            "[request query.purpose]: types that failed validation:\n"
            "- [request query.purpose.0]: expected value to equal [any]\n"
            "- [request query.purpose.1]: expected value to equal [copySavedObjectsIntoSpace]\n"
            "- [request query.purpose.2]: expected value to equal [shareSavedObjectsIntoSpace]",
        ),
        (
            "include_authorized_purposes=maybe",
            "[request query.include_authorized_purposes]: expected value of type [boolean] but got [string]",
        ),
        ("page=1", "[request query.page]: definition for this key is missing"),
    ],
)
async def test_the_list_refuses_what_kibana_refuses(api: Api, query, message) -> None:
    assert await api.get(f"/api/spaces/space?{query}") == (400, error(400, message))


async def test_get_one_space(api: Api) -> None:
    created = await api.create_space("ops", description="Ops team")

    assert await ok(api.get("/api/spaces/space/ops")) == created
    assert await ok(api.get("/api/spaces/space/default")) == DEFAULT_SPACE


async def test_get_an_unknown_space_is_404(api: Api) -> None:
    assert await api.get("/api/spaces/space/nope") == (404, NOT_FOUND)


# --- PUT /api/spaces/space/{id} ----------------------------------------------------------------------


async def test_update_takes_the_id_from_the_path_and_returns_the_updated_space(api: Api) -> None:
    await api.create_space("ops")
    other = await api.create_space("other")

    status, space = await api.put(
        "/api/spaces/space/ops",
        {"id": "other", "name": " Renamed ", "color": "#112233", "disabledFeatures": ["discover"]},
    )

    expected = {"id": "ops", "name": "Renamed", "color": "#112233", "disabledFeatures": ["discover"]}
    assert (status, space) == (200, expected)
    assert await ok(api.get("/api/spaces/space/ops")) == expected
    assert await ok(api.get("/api/spaces/space/other")) == other


async def test_update_keeps_the_optional_fields_the_body_leaves_out(api: Api) -> None:
    """Kibana updates the saved object partially: absent attributes keep their value, while
    ``disabledFeatures`` (defaulted to ``[]`` by the schema) is always replaced."""
    await api.create_space(
        "ops", description="Ops team", color="#112233", initials="OP", disabledFeatures=["discover"]
    )

    space = await ok(api.put("/api/spaces/space/ops", {"id": "ops", "name": "Renamed"}))

    expected = {
        "id": "ops",
        "name": "Renamed",
        "description": "Ops team",
        "color": "#112233",
        "initials": "OP",
        "disabledFeatures": [],
    }
    assert space == expected
    assert await ok(api.get("/api/spaces/space/ops")) == expected


async def test_update_of_the_default_space_keeps_it_reserved(api: Api) -> None:
    body = {"id": "default", "name": "Home", "_reserved": False}

    space = await ok(api.put("/api/spaces/space/default", body))

    assert space == {**DEFAULT_SPACE, "name": "Home"}
    assert await api.delete("/api/spaces/space/default") == (
        400,
        error(400, "The default space cannot be deleted because it is reserved."),
    )


# --- DELETE /api/spaces/space/{id} -------------------------------------------------------------------


async def test_delete_answers_204_and_the_space_is_gone(api: Api) -> None:
    await api.create_space("ops")
    await ok(api.get("/s/ops/api/cases/_find"))  # the space is kept in memory now: the delete forgets it

    assert await api.delete("/api/spaces/space/ops") == (204, None)

    assert await api.get("/api/spaces/space/ops") == (404, NOT_FOUND)
    assert await ok(api.get("/api/spaces/space")) == [DEFAULT_SPACE]
    assert await api.get("/s/ops/api/cases/_find") == (404, NOT_FOUND)


# --- failing writes --------------------------------------------------------------------------------


INVALID_BODIES = [
    pytest.param(
        {"id": "Ops!"},
        "[request body.id]: must be lower case, a-z, 0-9, '_', and '-' are allowed",
        id="id-pattern",
    ),
    pytest.param(
        {"id": ""}, "[request body.id]: must be lower case, a-z, 0-9, '_', and '-' are allowed", id="id-empty"
    ),
    pytest.param(
        {"name": ""},
        "[request body.name]: value has length [0] but it must have a minimum length of [1].",
        id="name",
    ),
    pytest.param(
        {"initials": "ABC"},
        "[request body.initials]: value has length [3] but it must have a maximum length of [2].",
        id="initials",
    ),
    pytest.param(
        {"color": "#12345"},
        "[request body.color]: must be a 6 digit hex color, starting with a #",
        id="color-short",
    ),
    pytest.param(
        {"color": "123456"},
        "[request body.color]: must be a 6 digit hex color, starting with a #",
        id="color-no-hash",
    ),
    pytest.param(
        {"imageUrl": "https://example.com/a.png"},
        "[request body.imageUrl]: must start with 'data:image'",
        id="image-url",
    ),
    pytest.param(
        {"id": None}, "[request body.id]: expected value of type [string] but got [null]", id="id-null"
    ),
    pytest.param(
        {"name": 5}, "[request body.name]: expected value of type [string] but got [number]", id="name-type"
    ),
    pytest.param(
        {"disabledFeatures": "discover"},
        "[request body.disabledFeatures]: expected value of type [array] but got [string]",
        id="disabled-features-type",
    ),
    pytest.param({"foo": 1}, "[request body.foo]: definition for this key is missing", id="unknown-key"),
    pytest.param(
        {"solution": "nope"},
        "[request body.solution]: types that failed validation:\n"
        "- [request body.solution.0]: expected value to equal [es]\n"
        "- [request body.solution.1]: expected value to equal [oblt]\n"
        "- [request body.solution.2]: expected value to equal [security]\n"
        "- [request body.solution.3]: expected value to equal [classic]",
        id="solution",
    ),
    pytest.param(
        {"description": None},
        "[request body.description]: expected value of type [string] but got [null]",
        id="description-null",
    ),
]


@pytest.mark.parametrize(("fields", "message"), INVALID_BODIES)
async def test_create_with_an_invalid_body_is_400_and_stores_nothing(
    api: Api, stored: StoredData, fields, message
) -> None:
    before = await stored_spaces(stored)

    status, body = await api.post("/api/spaces/space", {"id": "ops", "name": "Ops", **fields})

    assert (status, body) == (400, error(400, message))
    assert await stored_spaces(stored) == before


@pytest.mark.parametrize(("fields", "message"), INVALID_BODIES)
async def test_update_with_an_invalid_body_is_400_and_changes_nothing(
    api: Api, stored: StoredData, fields, message
) -> None:
    await api.create_space("ops")
    before = await stored_spaces(stored)

    status, body = await api.put("/api/spaces/space/ops", {"id": "ops", "name": "Ops", **fields})

    assert (status, body) == (400, error(400, message))
    assert await stored_spaces(stored) == before


@pytest.mark.parametrize("missing", ["id", "name"])
async def test_create_without_a_required_field_is_400(api: Api, stored: StoredData, missing) -> None:
    before = await stored_spaces(stored)
    body = {"id": "ops", "name": "Ops"}
    del body[missing]

    status, answer = await api.post("/api/spaces/space", body)

    message = f"[request body.{missing}]: expected value of type [string] but got [undefined]"
    assert (status, answer) == (400, error(400, message))
    assert await stored_spaces(stored) == before


async def test_create_accepts_an_empty_image_url(api: Api) -> None:
    space = await api.create_space("ops", imageUrl="")

    assert space["id"] == "ops"


async def test_create_of_an_existing_id_is_409_and_keeps_the_first_space(
    api: Api, stored: StoredData
) -> None:
    first = await api.create_space("ops", description="first")
    before = await stored_spaces(stored)

    status, body = await api.post("/api/spaces/space", {"id": "ops", "name": "Second"})

    assert (status, body) == (409, error(409, "A space with the identifier ops already exists."))
    assert await stored_spaces(stored) == before
    assert await ok(api.get("/api/spaces/space/ops")) == first


async def test_create_of_the_default_id_is_409(api: Api) -> None:
    status, body = await api.post("/api/spaces/space", {"id": "default", "name": "Mine"})

    assert (status, body) == (409, error(409, "A space with the identifier default already exists."))
    assert await ok(api.get("/api/spaces/space/default")) == DEFAULT_SPACE


async def test_delete_of_the_default_space_is_400_and_keeps_its_cases(api: Api, stored: StoredData) -> None:
    case = await api.create_case()
    before = await stored_spaces(stored)

    status, body = await api.delete("/api/spaces/space/default")

    assert (status, body) == (400, error(400, "The default space cannot be deleted because it is reserved."))
    assert await stored_spaces(stored) == before
    assert (await api.get(f"/api/cases/{case['id']}"))[0] == 200


@pytest.mark.parametrize(
    ("method", "body"), [("PUT", {"id": "nope", "name": "Nope"}), ("DELETE", None)], ids=["put", "delete"]
)
async def test_update_or_delete_of_an_unknown_space_is_404_and_creates_nothing(
    api: Api, stored: StoredData, method, body
) -> None:
    before = await stored_spaces(stored)

    assert await api.request(method, "/api/spaces/space/nope", body) == (404, NOT_FOUND)

    assert await stored_spaces(stored) == before


async def test_space_writes_need_the_kbn_xsrf_header(api: Api, stored: StoredData) -> None:
    before = await stored_spaces(stored)

    status, body = await api.post("/api/spaces/space", {"id": "ops", "name": "Ops"}, xsrf=False)

    assert (status, body) == (400, error(400, "Request must contain a kbn-xsrf header."))
    assert await stored_spaces(stored) == before


# --- deleting a space deletes what is in it ----------------------------------------------------------


async def test_delete_removes_the_spaces_cases_comments_user_actions_and_configurations(
    api: Api, stored: StoredData
) -> None:
    for space_id in ("a", "b"):
        await api.create_space(space_id)
    in_a = [await seed(api, "a"), await seed(api, "a", owner="observability")]
    a_ids = [seeded.case["id"] for seeded in in_a]
    others = {space_id: await seed(api, space_id) for space_id in ("b", "default")}
    before = {
        space_id: await stored_counts(stored, space_id, [s.case["id"]]) for space_id, s in others.items()
    }
    assert 0 not in (await stored_counts(stored, "a", a_ids)).values()

    assert await api.delete("/api/spaces/space/a") == (204, None)

    assert set((await stored_counts(stored, "a", a_ids)).values()) == {0}
    assert await stored.count("spaces", "id = ?", "a") == 0
    after = {
        space_id: await stored_counts(stored, space_id, [s.case["id"]]) for space_id, s in others.items()
    }
    assert after == before
    for space_id, seeded in others.items():
        assert await ok(api.get(at(space_id, f"/api/cases/{seeded.case['id']}"))) == seeded.case


async def test_a_space_created_again_with_the_same_id_is_empty(api: Api) -> None:
    await api.create_space("a")
    seeded = await seed(api, "a")
    await api.delete("/api/spaces/space/a")

    await api.create_space("a")

    assert await ok(api.get("/s/a/api/cases/_find")) == EMPTY_FIND
    assert await ok(api.get("/s/a/api/cases/configure")) == []
    assert await ok(api.get("/s/a/api/cases/tags")) == []
    assert await ok(api.get(f"/s/a/api/cases/alerts/{ALERT_ID}")) == []
    case_id = seeded.case["id"]
    assert await api.get(f"/s/a/api/cases/{case_id}") == (
        404,
        error(404, f"Saved object [cases/{case_id}] not found"),
    )


# --- isolation between spaces --------------------------------------------------------------------------

#: (home, away): objects made in ``home`` are not there for requests in ``away``.
SPACE_PAIRS = [("a", "b"), ("default", "a"), ("a", "default")]


async def seed_in(api: Api, home: str, away: str) -> Seeded:
    for space_id in {home, away} - {"default"}:
        await api.create_space(space_id)
    return await seed(api, home)


CASE_MISSING = "Saved object [cases/{case}] not found"
COMMENT_MISSING = "Saved object [cases-comments/{comment}] not found"
FOREIGN_OBJECT_REQUESTS = [
    pytest.param("GET", "/api/cases/{case}", None, CASE_MISSING, id="get-case"),
    pytest.param(
        "PATCH",
        "/api/cases",
        {"cases": [{"id": "{case}", "version": "{case_version}", "title": "Moved"}]},
        "These cases {case} do not exist. Please check you have the correct ids.",
        id="patch-case",
    ),
    pytest.param("DELETE", "/api/cases?ids={case}", None, CASE_MISSING, id="delete-case"),
    pytest.param(
        "POST",
        "/api/cases/{case}/comments",
        {"type": "user", "comment": "x", "owner": "cases"},
        CASE_MISSING,
        id="add-comment",
    ),
    pytest.param("GET", "/api/cases/{case}/comments", None, CASE_MISSING, id="get-all-comments"),
    pytest.param("GET", "/api/cases/{case}/comments/{comment}", None, COMMENT_MISSING, id="get-comment"),
    pytest.param(
        "PATCH",
        "/api/cases/{case}/comments",
        {"id": "{comment}", "version": "{comment_version}", "type": "user", "comment": "x", "owner": "cases"},
        COMMENT_MISSING,
        id="patch-comment",
    ),
    pytest.param(
        "DELETE", "/api/cases/{case}/comments/{comment}", None, COMMENT_MISSING, id="delete-comment"
    ),
    pytest.param("DELETE", "/api/cases/{case}/comments", None, CASE_MISSING, id="delete-all-comments"),
    pytest.param("GET", "/api/cases/{case}/comments/_find", None, CASE_MISSING, id="find-comments"),
    pytest.param("GET", "/api/cases/{case}/user_actions/_find", None, CASE_MISSING, id="find-user-actions"),
    pytest.param("GET", "/api/cases/{case}/alerts", None, CASE_MISSING, id="case-alerts"),
    pytest.param(
        "PATCH",
        "/api/cases/configure/{configuration}",
        {"version": "{configuration_version}", "closure_type": "close-by-pushing"},
        "Saved object [cases-configure/{configuration}] not found",
        id="patch-configuration",
    ),
]


@pytest.mark.parametrize(("home", "away"), SPACE_PAIRS)
@pytest.mark.parametrize(("method", "path", "body", "message"), FOREIGN_OBJECT_REQUESTS)
async def test_objects_of_another_space_are_404(api: Api, home, away, method, path, body, message) -> None:
    seeded = await seed_in(api, home, away)
    ids = seeded.ids

    status, answer = await api.request(method, at(away, fill(path, ids)), fill(body, ids))

    assert (status, answer) == (404, error(404, fill(message, ids)))
    assert await ok(api.get(at(home, f"/api/cases/{ids['case']}"))) == seeded.case
    assert await ok(api.get(at(home, "/api/cases/configure"))) == [seeded.configuration]


#: Listings of a space, and their answer where the space holds nothing.
EMPTY_LISTINGS = [
    pytest.param("/api/cases/_find", EMPTY_FIND, id="find"),
    pytest.param("/api/cases/tags", [], id="tags"),
    pytest.param("/api/cases/reporters", [], id="reporters"),
    pytest.param("/api/cases/status", NO_STATUS_COUNTS, id="status"),
    pytest.param("/api/cases/configure", [], id="configure"),
    pytest.param(f"/api/cases/alerts/{ALERT_ID}", [], id="cases-of-alert"),
]


@pytest.mark.parametrize(("home", "away"), SPACE_PAIRS)
@pytest.mark.parametrize(("path", "empty"), EMPTY_LISTINGS)
async def test_objects_of_another_space_are_not_listed(api: Api, home, away, path, empty) -> None:
    await seed_in(api, home, away)

    assert await ok(api.get(at(away, path))) == empty
    assert await ok(api.get(at(home, path))) != empty


async def test_the_same_alert_in_two_spaces_lists_only_the_local_case(api: Api) -> None:
    await api.create_space("a")
    here, there = await seed(api, "default"), await seed(api, "a")

    local = await ok(api.get(f"/api/cases/alerts/{ALERT_ID}"))
    remote = await ok(api.get(f"/s/a/api/cases/alerts/{ALERT_ID}"))

    assert [case["id"] for case in local] == [here.case["id"]]
    assert [case["id"] for case in remote] == [there.case["id"]]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/cases/_find", None),
        ("POST", "/api/cases", case_body()),
        ("GET", "/api/cases/configure", None),
        ("POST", "/api/cases/configure", configuration_body()),
        ("GET", "/api/cases/tags", None),
        ("GET", "/api/spaces/space", None),
        ("GET", "/api/spaces/space/default", None),
        ("POST", "/api/spaces/space", {"id": "new", "name": "New"}),
    ],
)
async def test_any_route_under_an_unknown_space_is_404_and_writes_nothing(
    api: Api, stored: StoredData, method, path, body
) -> None:
    before = await stored.count("cases"), await stored_spaces(stored)

    assert await api.request(method, f"/s/unknown{path}", body) == (404, NOT_FOUND)

    assert (await stored.count("cases"), await stored_spaces(stored)) == before


# --- privileges on spaces ------------------------------------------------------------------------------

#: Roles that grant something in space ``a`` only.
ONLY_IN_A = [
    pytest.param({"spaces": ["a"], "base": ["read"]}, id="base-read"),
    pytest.param({"spaces": ["a"], "base": ["all"]}, id="base-all"),
    pytest.param({"spaces": ["a"], "base": [], "feature": {"generalCasesV3": ["read"]}}, id="feature"),
]


async def user_with(api: Api, *privileges: dict) -> Api:
    await api.create_role("tested", *privileges)
    return await api.create_user("tester", "tested")


@pytest.mark.parametrize("privilege", ONLY_IN_A)
async def test_a_user_privileged_in_one_space_lists_and_gets_only_that_space(api: Api, privilege) -> None:
    for space_id in ("a", "b"):
        await api.create_space(space_id)
    user = await user_with(api, privilege)

    assert await user.get("/api/spaces/space") == (200, [await ok(api.get("/api/spaces/space/a"))])
    assert (await user.get("/api/spaces/space/a"))[0] == 200
    for space_id in ("default", "b"):
        assert await user.get(f"/api/spaces/space/{space_id}") == (
            403,
            error(403, f"Unauthorized to get {space_id} space"),
        )


@pytest.mark.parametrize(
    "privileges",
    [
        pytest.param([], id="no-role"),
        pytest.param([{"spaces": ["b"], "base": ["all"]}], id="only-in-another-space"),
    ],
)
async def test_a_user_with_no_privilege_in_any_existing_space_may_not_list_spaces(
    api: Api, privileges
) -> None:
    await api.create_space("a")
    await api.create_role("tested", *privileges)
    user = await api.create_user("tester", "tested")

    assert await user.get("/api/spaces/space") == (403, error(403, "Forbidden"))


#: Roles that may enter spaces but not manage them (``space:manage`` needs ``all`` on every space).
NON_MANAGERS = [
    *ONLY_IN_A,
    pytest.param({"spaces": ["*"], "base": ["read"]}, id="read-everywhere"),
    pytest.param(
        {"spaces": ["*"], "base": [], "feature": {"generalCasesV3": ["all"]}}, id="feature-everywhere"
    ),
]


@pytest.mark.parametrize("privilege", NON_MANAGERS)
async def test_a_user_without_space_management_may_not_create_update_or_delete_spaces(
    api: Api, stored: StoredData, privilege
) -> None:
    await api.create_space("a")
    user = await user_with(api, privilege)
    before = await stored_spaces(stored)

    created = await user.post("/api/spaces/space", {"id": "new", "name": "New"})
    updated = await user.put("/api/spaces/space/a", {"id": "a", "name": "Renamed"})
    deleted = await user.delete("/api/spaces/space/a")

    assert created == (403, error(403, "Unauthorized to create spaces"))
    assert updated == (403, error(403, "Unauthorized to update spaces"))
    assert deleted == (403, error(403, "Unauthorized to delete spaces"))
    assert await stored_spaces(stored) == before


async def test_a_refused_space_delete_keeps_the_spaces_cases(api: Api, stored: StoredData) -> None:
    await api.create_space("a")
    seeded = await seed(api, "a")
    counts = await stored_counts(stored, "a", [seeded.case["id"]])
    user = await user_with(api, {"spaces": ["a"], "base": ["all"]})

    assert (await user.delete("/api/spaces/space/a"))[0] == 403

    assert await stored_counts(stored, "a", [seeded.case["id"]]) == counts


async def test_a_user_with_all_on_every_space_manages_spaces(api: Api) -> None:
    user = await user_with(api, {"spaces": ["*"], "base": ["all"]})

    created = await ok(user.post("/api/spaces/space", {"id": "ops", "name": "Ops"}))
    updated = await ok(user.put("/api/spaces/space/ops", {"id": "ops", "name": "Renamed"}))
    listed = await ok(user.get("/api/spaces/space"))
    deleted = await user.delete("/api/spaces/space/ops")

    assert created == {"id": "ops", "name": "Ops", "disabledFeatures": []}
    assert updated == {"id": "ops", "name": "Renamed", "disabledFeatures": []}
    assert [space["id"] for space in listed] == ["default", "ops"]
    assert deleted == (204, None)
    assert await api.get("/api/spaces/space/ops") == (404, NOT_FOUND)


# --- disabledFeatures ------------------------------------------------------------------------------------


async def test_a_disabled_cases_feature_denies_even_the_superuser_that_owner_only(api: Api) -> None:
    await api.create_space("a")
    general = await ok(api.post("/s/a/api/cases", case_body(owner="cases")))
    observability = await ok(api.post("/s/a/api/cases", case_body(owner="observability")))
    await ok(api.put("/api/spaces/space/a", {"id": "a", "name": "A", "disabledFeatures": ["generalCasesV3"]}))

    refused = await api.post("/s/a/api/cases", case_body(owner="cases"))
    allowed = await ok(api.post("/s/a/api/cases", case_body(owner="observability")))
    found = await ok(api.get("/s/a/api/cases/_find"))

    assert refused == (403, error(403, 'Unauthorized to create case with owners: "cases"'))
    assert {case["id"] for case in found["cases"]} == {observability["id"], allowed["id"]}
    assert {case["owner"] for case in found["cases"]} == {"observability"}
    assert await api.get(f"/s/a/api/cases/{general['id']}") == (
        403,
        error(403, 'Unauthorized to access case with owners: "cases"'),
    )


async def test_a_feature_disabled_in_one_space_stays_enabled_elsewhere(api: Api) -> None:
    await api.create_space("a", disabledFeatures=["generalCasesV3"])

    assert (await api.post("/api/cases", case_body(owner="cases")))[0] == 200
    assert (await api.post("/s/a/api/cases", case_body(owner="cases")))[0] == 403
