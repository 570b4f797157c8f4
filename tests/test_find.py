"""GET /api/cases/_find: filters, sorting, paging, counts; and the shape of a case response."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.helpers import case_body


def stable_id(value: object) -> str:
    """A parameter's test id; sets sorted, so that every pytest-xdist worker collects the same ids."""
    return "{" + ", ".join(sorted(map(repr, value))) + "}" if isinstance(value, set) and value else str(value)


def bad_request(message: str) -> dict:
    return {"statusCode": 400, "error": "Bad Request", "message": message}


async def find(api: Any, **params: Any) -> dict:
    status, body = await api.get("/api/cases/_find", params=_params(params))
    assert status == 200, body
    return body


def _params(params: dict) -> list[tuple[str, str]]:
    pairs = []
    for key, value in params.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, str(item)))
    return pairs


def titles(found: dict) -> list[str]:
    return [c["title"] for c in found["cases"]]


async def set_status(api: Any, case: dict, status: str) -> dict:
    code, body = await api.patch(
        "/api/cases", {"cases": [{"id": case["id"], "version": case["version"], "status": status}]}
    )
    assert code == 200, body
    return body[0]


@pytest.fixture
async def corpus(api: Any) -> dict[str, dict]:
    """Five cases created one after another (distinct created_at), in several states."""
    specs = {
        "alpha": dict(
            description="phishing mail from the boss",
            tags=["mail", "phish"],
            severity="low",
            category="email",
            assignees=[{"uid": "u1"}],
        ),
        "bravo": dict(
            description="malware on laptop", tags=["malware"], severity="critical", category="endpoint"
        ),
        "charlie": dict(
            description="phishing link clicked",
            tags=["phish"],
            severity="medium",
            assignees=[{"uid": "u2"}],
        ),
        "delta": dict(description="lost badge", tags=[], severity="high", owner="observability"),
        "echo": dict(description="boss laptop stolen", tags=["theft"], severity="medium", category="email"),
    }
    cases = {}
    for title, fields in specs.items():
        cases[title] = await api.create_case(title=title, **fields)
        await asyncio.sleep(0.002)
    cases["bravo"] = await set_status(api, cases["bravo"], "closed")
    cases["charlie"] = await set_status(api, cases["charlie"], "in-progress")
    return cases


async def test_find_without_filters_returns_everything_newest_first(api, corpus):
    found = await find(api)

    assert titles(found) == ["echo", "delta", "charlie", "bravo", "alpha"]
    assert (found["page"], found["per_page"], found["total"]) == (1, 20, 5)
    assert (found["count_open_cases"], found["count_in_progress_cases"], found["count_closed_cases"]) == (
        3,
        1,
        1,
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "open"}, {"alpha", "delta", "echo"}),
        ({"status": ["closed", "in-progress"]}, {"bravo", "charlie"}),
        ({"severity": "medium"}, {"charlie", "echo"}),
        ({"severity": ["low", "critical"]}, {"alpha", "bravo"}),
        ({"tags": "phish"}, {"alpha", "charlie"}),
        ({"tags": ["malware", "theft"]}, {"bravo", "echo"}),
        ({"tags": "phi"}, set()),
        ({"owner": "observability"}, {"delta"}),
        ({"owner": ["cases", "observability"]}, {"alpha", "bravo", "charlie", "delta", "echo"}),
        ({"category": "email"}, {"alpha", "echo"}),
        ({"category": ["email", "endpoint"]}, {"alpha", "bravo", "echo"}),
        ({"reporters": "elastic"}, {"alpha", "bravo", "charlie", "delta", "echo"}),
        ({"reporters": "someone-else"}, set()),
        ({"assignees": "u1"}, {"alpha"}),
        ({"assignees": ["u1", "u2"]}, {"alpha", "charlie"}),
        ({"assignees": "none"}, {"bravo", "delta", "echo"}),
        ({"assignees": ["none", "u2"]}, {"bravo", "charlie", "delta", "echo"}),
        ({"status": "open", "severity": "medium", "category": "email"}, {"echo"}),
    ],
    ids=stable_id,
)
async def test_find_filters(api, corpus, params, expected):
    found = await find(api, **params)

    assert set(titles(found)) == expected
    assert found["total"] == len(expected)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"search": "phishing"}, {"alpha", "charlie"}),
        ({"search": "boss laptop"}, {"alpha", "bravo", "echo"}),
        ({"search": "boss laptop", "defaultSearchOperator": "OR"}, {"alpha", "bravo", "echo"}),
        ({"search": "boss laptop", "defaultSearchOperator": "AND"}, {"echo"}),
        ({"search": "charlie", "searchFields": "title"}, {"charlie"}),
        ({"search": "charlie", "searchFields": "description"}, set()),
        ({"search": "badge", "searchFields": "title"}, set()),
        ({"search": "badge", "searchFields": ["title", "description"]}, {"delta"}),
        ({"search": "nothing-matches"}, set()),
    ],
    ids=stable_id,
)
async def test_find_search(api, corpus, params, expected):
    found = await find(api, **params)

    assert set(titles(found)) == expected


async def test_find_search_matches_a_case_id(api, corpus):
    found = await find(api, search=corpus["delta"]["id"])

    assert titles(found) == ["delta"]


async def test_find_counts_ignore_status_and_search_but_apply_other_filters(api, corpus):
    found = await find(api, status="open", search="phishing", tags="phish")

    assert titles(found) == ["alpha"]
    # tags narrows the counts to alpha (open) and charlie (in-progress); status and search do not.
    assert (found["count_open_cases"], found["count_in_progress_cases"], found["count_closed_cases"]) == (
        1,
        1,
        0,
    )

    found = await find(api, severity=["critical", "medium"], status="closed")
    assert titles(found) == ["bravo"]
    assert (found["count_open_cases"], found["count_in_progress_cases"], found["count_closed_cases"]) == (
        1,
        1,
        1,
    )


async def test_find_from_and_to(api, corpus):
    middle = corpus["charlie"]["created_at"]

    assert set(titles(await find(api, **{"from": middle}))) == {"charlie", "delta", "echo"}
    assert set(titles(await find(api, to=middle))) == {"alpha", "bravo", "charlie"}
    assert titles(await find(api, **{"from": middle, "to": middle})) == ["charlie"]


async def test_find_from_and_to_with_date_math(api, corpus):
    assert (await find(api, **{"from": "now-1d"}))["total"] == 5
    assert (await find(api, **{"from": "now-1d/d", "to": "now+1h"}))["total"] == 5
    assert (await find(api, **{"from": "now+1d"}))["total"] == 0
    assert (await find(api, to="now-1d"))["total"] == 0
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    assert (await find(api, to=tomorrow))["total"] == 5
    assert (await find(api, **{"from": tomorrow}))["total"] == 0


@pytest.mark.parametrize("params", [{"from": "yesterday-ish"}, {"to": "2024-13-45"}, {"from": "now-1x"}])
async def test_find_invalid_dates_are_400(api, params):
    status, error = await api.get("/api/cases/_find", params=params)

    assert (status, error) == (400, bad_request('Invalid "from" and/or "to" query parameters'))


async def test_find_sort_by_title(api, corpus):
    assert titles(await find(api, sortField="title", sortOrder="asc")) == [
        "alpha",
        "bravo",
        "charlie",
        "delta",
        "echo",
    ]
    assert titles(await find(api, sortField="title", sortOrder="desc"))[0] == "echo"


async def test_find_sort_by_created_at(api, corpus):
    assert titles(await find(api, sortField="createdAt", sortOrder="asc")) == [
        "alpha",
        "bravo",
        "charlie",
        "delta",
        "echo",
    ]


async def test_find_sort_by_severity_is_by_rank_not_by_name(api, corpus):
    found = await find(api, sortField="severity", sortOrder="asc")

    severities = [c["severity"] for c in found["cases"]]
    assert severities == ["low", "medium", "medium", "high", "critical"]
    found = await find(api, sortField="severity", sortOrder="desc")
    assert [c["severity"] for c in found["cases"]] == ["critical", "high", "medium", "medium", "low"]


async def test_find_sort_by_status(api, corpus):
    found = await find(api, sortField="status", sortOrder="asc")

    assert [c["status"] for c in found["cases"]] == ["open", "open", "open", "in-progress", "closed"]


async def test_find_sort_by_updated_at(api, corpus):
    # bravo was updated (closed) before charlie (in-progress); alpha is updated last, here.
    await asyncio.sleep(0.002)
    alpha = corpus["alpha"]
    status, _ = await api.patch(
        "/api/cases", {"cases": [{"id": alpha["id"], "version": alpha["version"], "title": "alpha2"}]}
    )
    assert status == 200

    found = await find(api, sortField="updatedAt", sortOrder="desc")

    assert titles(found)[:3] == ["alpha2", "charlie", "bravo"]
    found = await find(api, sortField="updatedAt", sortOrder="asc")
    assert titles(found)[:3] == ["bravo", "charlie", "alpha2"]


async def test_find_paging(api, corpus):
    page1 = await find(api, perPage=2, page=1, sortField="title", sortOrder="asc")
    page3 = await find(api, perPage=2, page=3, sortField="title", sortOrder="asc")
    page4 = await find(api, perPage=2, page=4, sortField="title", sortOrder="asc")

    assert (titles(page1), page1["page"], page1["per_page"], page1["total"]) == (["alpha", "bravo"], 1, 2, 5)
    assert (titles(page3), page3["total"]) == (["echo"], 5)
    assert (titles(page4), page4["total"]) == ([], 5)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"perPage": "101"},
            "The provided perPage value is too high. The maximum allowed perPage value is 100.",
        ),
        (
            {"page": "101", "perPage": "100"},
            "The number of documents is too high. "
            "Paginating through more than 10000 documents is not possible.",
        ),
        (
            {"page": "10001"},
            "The number of documents is too high. "
            "Paginating through more than 10000 documents is not possible.",
        ),
        ({"perPage": "-1"}, "[size] parameter cannot be negative, found [-1]"),
        ({"page": "0"}, "[from] parameter cannot be negative, found [-20]"),
        (
            {"page": "-54384864284", "perPage": "2"},
            "[from] parameter cannot be negative, found [-108769728570]",
        ),
        ({"foo": "bar"}, 'invalid keys "foo"'),
        ({"sortField": "owner"}, 'Invalid value "owner" supplied to "sortField"'),
        ({"status": "pending"}, 'Invalid value "pending" supplied to "status"'),
        ({"severity": "extreme"}, 'Invalid value "extreme" supplied to "severity"'),
        ({"sortOrder": "up"}, 'Invalid value "up" supplied to "sortOrder"'),
        ({"defaultSearchOperator": "XOR"}, 'Invalid value "XOR" supplied to "defaultSearchOperator"'),
    ],
    ids=stable_id,
)
async def test_find_invalid_queries_are_400(api, params, message):
    status, error = await api.get("/api/cases/_find", params=params)

    assert (status, error) == (400, bad_request(message))


async def test_find_allows_exactly_10000_documents(api):
    status, found = await api.get("/api/cases/_find", params={"page": "100", "perPage": "100"})

    assert (status, found["cases"], found["total"]) == (200, [], 0)


async def test_find_fills_comment_and_alert_totals(api):
    case = await api.create_case()
    for text in ("one", "two"):
        status, _ = await api.post(
            f"/api/cases/{case['id']}/comments", {"type": "user", "comment": text, "owner": "cases"}
        )
        assert status == 200
    status, _ = await api.post(
        f"/api/cases/{case['id']}/comments",
        {
            "type": "alert",
            "alertId": ["a1", "a2", "a3"],
            "index": ["i1", "i2", "i3"],
            "rule": {"id": "r", "name": "rule"},
            "owner": "cases",
        },
    )
    assert status == 200

    found = await find(api)

    (listed,) = found["cases"]
    assert (listed["totalComment"], listed["totalAlerts"], listed["comments"]) == (2, 3, [])


# --- the shape of a case, by hand from Kibana's CaseRt (common/types/domain/case/v1.ts) ----------

STR, INT, BOOL, NULL, DICT, LIST = str, int, bool, type(None), dict, list
USER_FIELDS = {"email": (STR, NULL), "full_name": (STR, NULL), "username": (STR, NULL)}
CASE_FIELDS: dict[str, tuple] = {
    "id": (STR,),
    "version": (STR,),
    "title": (STR,),
    "description": (STR,),
    "tags": (LIST,),
    "status": (STR,),
    "severity": (STR,),
    "owner": (STR,),
    "assignees": (LIST,),
    "settings": (DICT,),
    "category": (STR, NULL),
    "customFields": (LIST,),
    "connector": (DICT,),
    "external_service": (DICT, NULL),
    "created_at": (STR,),
    "created_by": (DICT,),
    "updated_at": (STR, NULL),
    "updated_by": (DICT, NULL),
    "closed_at": (STR, NULL),
    "closed_by": (DICT, NULL),
    "duration": (INT, NULL),
    "totalComment": (INT,),
    "totalAlerts": (INT,),
    "comments": (LIST,),
}
#: Fields newer Kibanas add; optional in the schema, but when present they must have these types.
OPTIONAL_CASE_FIELDS: dict[str, tuple] = {
    "in_progress_at": (STR, NULL),
    "time_to_acknowledge": (INT, NULL),
    "time_to_investigate": (INT, NULL),
    "time_to_resolve": (INT, NULL),
}
ENUMS = {
    "status": {"open", "in-progress", "closed"},
    "severity": {"low", "medium", "high", "critical"},
    "owner": {"cases", "observability", "securitySolution"},
}
CONNECTOR_TYPES = {
    ".none",
    ".jira",
    ".resilient",
    ".servicenow",
    ".servicenow-sir",
    ".swimlane",
    ".cases-webhook",
    ".thehive",
}
CUSTOM_FIELD_TYPES = {"text": (STR, NULL), "toggle": (BOOL, NULL), "number": (INT, NULL)}


def is_type(value: Any, types: tuple) -> bool:
    if isinstance(value, bool):
        return BOOL in types
    return isinstance(value, types)


def check_user(user: Any, where: str) -> None:
    assert isinstance(user, dict), where
    for key, types in USER_FIELDS.items():
        assert key in user, f"{where}.{key} missing"
        assert is_type(user[key], types), f"{where}.{key} = {user[key]!r}"


def check_case_shape(case: dict) -> None:
    for key, types in CASE_FIELDS.items():
        assert key in case, f"{key} missing"
        assert is_type(case[key], types), f"{key} = {case[key]!r}"
    for key, types in OPTIONAL_CASE_FIELDS.items():
        if key in case:
            assert is_type(case[key], types), f"{key} = {case[key]!r}"
    unexpected = case.keys() - CASE_FIELDS.keys() - OPTIONAL_CASE_FIELDS.keys()
    assert not unexpected, unexpected
    for key, allowed in ENUMS.items():
        assert case[key] in allowed, f"{key} = {case[key]!r}"
    assert all(is_type(tag, (STR,)) for tag in case["tags"])
    assert all(set(a) == {"uid"} and is_type(a["uid"], (STR,)) for a in case["assignees"])
    assert set(case["settings"]) >= {"syncAlerts"} and is_type(case["settings"]["syncAlerts"], (BOOL,))
    connector = case["connector"]
    assert set(connector) == {"id", "name", "type", "fields"}
    assert connector["type"] in CONNECTOR_TYPES
    assert is_type(connector["fields"], (DICT, NULL))
    for field in case["customFields"]:
        assert set(field) == {"key", "type", "value"}
        assert field["type"] in CUSTOM_FIELD_TYPES
        assert is_type(field["value"], CUSTOM_FIELD_TYPES[field["type"]])
    for key in ("created_by", "updated_by", "closed_by"):
        if case[key] is not None:
            check_user(case[key], key)


async def test_created_found_and_patched_cases_have_kibanas_shape(api):
    status, configured = await api.post(
        "/api/cases/configure",
        {
            "connector": {"id": "none", "name": "none", "type": ".none", "fields": None},
            "closure_type": "close-by-user",
            "owner": "cases",
            "customFields": [
                {"key": "ticket", "label": "Ticket", "type": "text", "required": False},
                {
                    "key": "urgent",
                    "label": "Urgent",
                    "type": "toggle",
                    "required": False,
                    "defaultValue": False,
                },
            ],
        },
    )
    assert status == 200, configured
    status, created = await api.post(
        "/api/cases", case_body(assignees=[{"uid": "u1"}], category="cat", severity="high")
    )
    assert status == 200
    check_case_shape(created)

    found = await find(api)
    check_case_shape(found["cases"][0])
    assert set(found) == {
        "cases",
        "page",
        "per_page",
        "total",
        "count_open_cases",
        "count_in_progress_cases",
        "count_closed_cases",
    }

    status, patched = await api.patch(
        "/api/cases",
        {"cases": [{"id": created["id"], "version": created["version"], "status": "closed"}]},
    )
    assert status == 200
    check_case_shape(patched[0])
    assert patched[0]["closed_by"] is not None

    status, fetched = await api.get(f"/api/cases/{created['id']}")
    check_case_shape(fetched)


def test_shape_check_rejects_wrong_cases():
    """The shape check itself must fail on a missing field, a bad enum and a wrong type."""
    good = {
        **{key: None for key in CASE_FIELDS},
        "id": "x",
        "version": "v",
        "title": "t",
        "description": "d",
        "tags": [],
        "status": "open",
        "severity": "low",
        "owner": "cases",
        "assignees": [],
        "settings": {"syncAlerts": True},
        "customFields": [],
        "connector": {"id": "none", "name": "none", "type": ".none", "fields": None},
        "created_at": "2024-01-01T00:00:00.000Z",
        "created_by": {"email": None, "full_name": None, "username": "elastic"},
        "totalComment": 0,
        "totalAlerts": 0,
        "comments": [],
    }
    check_case_shape(good)
    for broken in (
        {k: v for k, v in good.items() if k != "duration"},
        {**good, "severity": "urgent"},
        {**good, "duration": "5"},
        {**good, "totalAlerts": True},
        {**good, "connector": {**good["connector"], "type": ".bogus"}},
        {**good, "extra": 1},
    ):
        with pytest.raises(AssertionError):
            check_case_shape(broken)


async def test_more_than_100_values_in_a_filter_is_refused(api):
    await api.create_case()
    params = [("tags", f"t{n}") for n in range(101)]
    status, body = await api.get("/api/cases/_find", params=params)
    assert status == 400
    assert body["message"].startswith(
        "The length of the field tags is too long. Array must be of length <= 100."
    )
    status, _ = await api.get("/api/cases/_find", params=params[:100])
    assert status == 200


@pytest.mark.parametrize(
    "term",
    ['"quoted"', "o'neil", "NEAR(a b)", "{title}:", "^start", "-minus", "50%", "snake_case", "ÉCOLE", "AND"],
)
async def test_find_search_takes_any_text_literally_as_a_substring(api, term):
    """Search terms are substrings, whatever characters they hold (none is query syntax), matched
    case-insensitively for ASCII letters only, as before the trigram index."""
    made = await api.create_case(title=f"about {term} here", description="text")
    await api.create_case(title="unrelated", description="other")
    lowered = await api.create_case(title=f"lower {term.lower()}", description="text")

    found = await find(api, search=term, searchFields="title")

    expected = {made["title"]} | ({lowered["title"]} if term.lower() == term or term.isascii() else set())
    assert set(titles(found)) == expected
