"""Attachments of a case: /api/cases/{case_id}/comments and /api/cases/{case_id}/alerts."""

from typing import Any

from tests.helpers import Api

STALE = "This case has been updated. Please refresh before saving additional updates."


def user_comment(text: str = "Looked at the logs.", owner: str = "cases") -> dict:
    return {"type": "user", "comment": text, "owner": owner}


def alert(alert_id: Any = "alert-1", index: Any = "alerts-index", owner: str = "cases") -> dict:
    return {
        "type": "alert",
        "alertId": alert_id,
        "index": index,
        "rule": {"id": "rule-1", "name": "Brute force"},
        "owner": owner,
    }


async def add(api: Api, case_id: str, body: dict) -> dict:
    status, case = await api.post(f"/api/cases/{case_id}/comments", body)
    assert status == 200, case
    return case


async def close(api: Api, case: dict) -> dict:
    status, cases = await api.patch(
        "/api/cases", {"cases": [{"id": case["id"], "version": case["version"], "status": "closed"}]}
    )
    assert status == 200, cases
    return cases[0]


def error(status: int, message: str) -> tuple[int, dict]:
    reasons = {400: "Bad Request", 404: "Not Found", 409: "Conflict"}
    return status, {"statusCode": status, "error": reasons[status], "message": message}


# --- POST /api/cases/{case_id}/comments ------------------------------------------------------


async def test_add_user_comment_returns_the_whole_case(api: Api) -> None:
    case = await api.create_case()

    updated = await add(api, case["id"], user_comment("First look"))

    assert updated["id"] == case["id"]
    assert updated["title"] == case["title"]
    assert updated["totalComment"] == 1
    assert updated["totalAlerts"] == 0
    assert updated["version"] != case["version"]
    assert case["updated_at"] is None
    assert updated["updated_at"] is not None
    assert updated["updated_by"]["username"] == "elastic"
    (comment,) = updated["comments"]
    assert comment["type"] == "user"
    assert comment["comment"] == "First look"
    assert comment["owner"] == "cases"
    assert comment["created_by"]["username"] == "elastic"
    assert comment["created_at"]
    assert comment["id"] and comment["version"]
    for key in ("pushed_at", "pushed_by", "updated_at", "updated_by"):
        assert comment[key] is None


async def test_add_alert_counts_alert_ids_not_comments(api: Api) -> None:
    case = await api.create_case()
    await add(api, case["id"], user_comment())

    updated = await add(api, case["id"], alert(["a1", "a2"], ["idx", "idx"]))

    assert updated["totalComment"] == 1
    assert updated["totalAlerts"] == 2
    assert [c["type"] for c in updated["comments"]] == ["user", "alert"]
    attached = updated["comments"][1]
    assert attached["alertId"] == ["a1", "a2"]
    assert attached["index"] == ["idx", "idx"]
    assert attached["rule"] == {"id": "rule-1", "name": "Brute force"}


async def test_get_case_reflects_added_comments(api: Api) -> None:
    case = await api.create_case()
    await add(api, case["id"], user_comment("one"))
    added = await add(api, case["id"], user_comment("two"))

    status, fetched = await api.get(f"/api/cases/{case['id']}")

    assert status == 200
    assert fetched["version"] == added["version"]
    assert fetched["totalComment"] == 2
    assert [c["comment"] for c in fetched["comments"]] == ["one", "two"]


async def test_add_empty_comment_is_rejected(api: Api) -> None:
    case = await api.create_case()

    result = await api.post(f"/api/cases/{case['id']}/comments", user_comment("   "))

    assert result == error(400, "The comment field cannot be an empty string.")


async def test_add_comment_over_30000_characters_is_rejected(api: Api) -> None:
    case = await api.create_case()

    result = await api.post(f"/api/cases/{case['id']}/comments", user_comment("x" * 30001))

    assert result == error(400, "The length of the comment is too long. The maximum length is 30000.")


async def test_add_comment_of_exactly_30000_characters_is_accepted(api: Api) -> None:
    case = await api.create_case()

    updated = await add(api, case["id"], user_comment("x" * 30000))

    assert len(updated["comments"][0]["comment"]) == 30000


async def test_add_comment_with_another_owner_is_rejected(api: Api) -> None:
    case = await api.create_case()

    result = await api.post(f"/api/cases/{case['id']}/comments", user_comment(owner="observability"))

    assert result == error(400, "The owner field of the comment must match the case")


async def test_alert_cannot_be_attached_to_a_closed_case(api: Api) -> None:
    case = await close(api, await api.create_case())

    result = await api.post(f"/api/cases/{case['id']}/comments", alert())

    assert result == error(400, "Alert cannot be attached to a closed case")


async def test_user_comment_can_be_added_to_a_closed_case(api: Api) -> None:
    case = await close(api, await api.create_case())

    updated = await add(api, case["id"], user_comment("post-mortem"))

    assert updated["status"] == "closed"
    assert updated["totalComment"] == 1


async def test_a_case_holds_at_most_1000_alerts(api: Api) -> None:
    case = await api.create_case()
    ids = [f"alert-{n}" for n in range(1000)]
    full = await add(api, case["id"], alert(ids, ["idx"] * 1000))
    assert full["totalAlerts"] == 1000

    result = await api.post(f"/api/cases/{case['id']}/comments", alert("one-more"))

    assert result == error(400, "Case has reached the maximum allowed number (1000) of attached alerts.")


async def test_a_single_request_of_over_1000_alerts_is_rejected(api: Api) -> None:
    case = await api.create_case()
    ids = [f"alert-{n}" for n in range(1001)]

    result = await api.post(f"/api/cases/{case['id']}/comments", alert(ids, ["idx"] * 1001))

    assert result == error(400, "Case has reached the maximum allowed number (1000) of attached alerts.")


async def test_add_unknown_attachment_type_is_rejected(api: Api) -> None:
    case = await api.create_case()

    status, body = await api.post(
        f"/api/cases/{case['id']}/comments", {"type": "foo", "comment": "x", "owner": "cases"}
    )

    assert status == 400
    assert 'Invalid value "foo" supplied to "type"' in body["message"]


async def test_add_comment_with_unknown_key_is_rejected(api: Api) -> None:
    case = await api.create_case()

    result = await api.post(f"/api/cases/{case['id']}/comments", {**user_comment(), "extra": 1})

    assert result == error(400, 'invalid keys "extra"')


async def test_add_comment_to_unknown_case_is_404(api: Api) -> None:
    result = await api.post("/api/cases/no-such-case/comments", user_comment())

    assert result == error(404, "Saved object [cases/no-such-case] not found")


# --- PATCH /api/cases/{case_id}/comments -------------------------------------------------------


async def test_update_comment(api: Api) -> None:
    case = await api.create_case()
    comment = (await add(api, case["id"], user_comment("draft")))["comments"][0]

    status, updated = await api.patch(
        f"/api/cases/{case['id']}/comments",
        {**user_comment("final"), "id": comment["id"], "version": comment["version"]},
    )

    assert status == 200, updated
    (changed,) = updated["comments"]
    assert changed["id"] == comment["id"]
    assert changed["comment"] == "final"
    assert changed["version"] != comment["version"]
    assert changed["updated_at"] is not None
    assert changed["updated_by"]["username"] == "elastic"
    assert changed["created_at"] == comment["created_at"]
    assert updated["updated_at"] is not None
    status, fetched = await api.get(f"/api/cases/{case['id']}/comments/{comment['id']}")
    assert fetched["comment"] == "final"


async def test_update_comment_with_stale_version_is_409(api: Api) -> None:
    case = await api.create_case()
    comment = (await add(api, case["id"], user_comment("draft")))["comments"][0]
    path = f"/api/cases/{case['id']}/comments"
    status, _ = await api.patch(
        path, {**user_comment("v2"), "id": comment["id"], "version": comment["version"]}
    )
    assert status == 200

    result = await api.patch(path, {**user_comment("v3"), "id": comment["id"], "version": comment["version"]})

    assert result == error(409, STALE)
    status, fetched = await api.get(f"{path}/{comment['id']}")
    assert fetched["comment"] == "v2"


async def test_update_comment_cannot_change_its_type(api: Api) -> None:
    case = await api.create_case()
    comment = (await add(api, case["id"], user_comment()))["comments"][0]

    result = await api.patch(
        f"/api/cases/{case['id']}/comments",
        {**alert(), "id": comment["id"], "version": comment["version"]},
    )

    assert result == error(400, "You cannot change the type of the comment.")


async def test_update_comment_cannot_change_its_owner(api: Api) -> None:
    case = await api.create_case()
    comment = (await add(api, case["id"], user_comment()))["comments"][0]

    result = await api.patch(
        f"/api/cases/{case['id']}/comments",
        {**user_comment(owner="observability"), "id": comment["id"], "version": comment["version"]},
    )

    assert result == error(400, "You cannot change the owner of the comment.")


async def test_update_unknown_comment_is_404(api: Api) -> None:
    case = await api.create_case()

    result = await api.patch(
        f"/api/cases/{case['id']}/comments", {**user_comment(), "id": "nope", "version": "WzEsMV0="}
    )

    assert result == error(404, "Saved object [cases-comments/nope] not found")


async def test_update_comment_of_another_case_is_404(api: Api) -> None:
    first = await api.create_case()
    other = await api.create_case(title="Other")
    comment = (await add(api, first["id"], user_comment()))["comments"][0]

    result = await api.patch(
        f"/api/cases/{other['id']}/comments",
        {**user_comment("moved?"), "id": comment["id"], "version": comment["version"]},
    )

    assert result == error(404, f"This comment {comment['id']} does not exist in {other['id']}).")


async def test_update_comment_checks_the_new_text(api: Api) -> None:
    case = await api.create_case()
    comment = (await add(api, case["id"], user_comment()))["comments"][0]

    result = await api.patch(
        f"/api/cases/{case['id']}/comments",
        {**user_comment(""), "id": comment["id"], "version": comment["version"]},
    )

    assert result == error(400, "The comment field cannot be an empty string.")


# --- GET / DELETE /api/cases/{case_id}/comments/{comment_id} -------------------------------------


async def test_get_comment(api: Api) -> None:
    case = await api.create_case()
    comment = (await add(api, case["id"], user_comment("hello")))["comments"][0]

    status, fetched = await api.get(f"/api/cases/{case['id']}/comments/{comment['id']}")

    assert status == 200
    assert fetched == comment


async def test_get_unknown_comment_is_404(api: Api) -> None:
    case = await api.create_case()

    result = await api.get(f"/api/cases/{case['id']}/comments/nope")

    assert result == error(404, "Saved object [cases-comments/nope] not found")


async def test_delete_comment(api: Api) -> None:
    case = await api.create_case()
    added = await add(api, case["id"], user_comment("one"))
    await add(api, case["id"], user_comment("two"))
    comment_id = added["comments"][0]["id"]

    status, body = await api.delete(f"/api/cases/{case['id']}/comments/{comment_id}")

    assert (status, body) == (204, None)
    result = await api.get(f"/api/cases/{case['id']}/comments/{comment_id}")
    assert result == error(404, f"Saved object [cases-comments/{comment_id}] not found")
    status, fetched = await api.get(f"/api/cases/{case['id']}")
    assert fetched["totalComment"] == 1
    assert [c["comment"] for c in fetched["comments"]] == ["two"]


async def test_delete_alert_comment_detaches_its_alerts(api: Api) -> None:
    case = await api.create_case()
    attached = (await add(api, case["id"], alert(["a1", "a2"], ["i", "i"])))["comments"][0]

    status, _ = await api.delete(f"/api/cases/{case['id']}/comments/{attached['id']}")

    assert status == 204
    status, fetched = await api.get(f"/api/cases/{case['id']}")
    assert fetched["totalAlerts"] == 0
    assert await api.get(f"/api/cases/{case['id']}/alerts") == (200, [])


async def test_delete_comment_of_another_case_is_404(api: Api) -> None:
    first = await api.create_case()
    other = await api.create_case(title="Other")
    comment = (await add(api, first["id"], user_comment()))["comments"][0]

    result = await api.delete(f"/api/cases/{other['id']}/comments/{comment['id']}")

    assert result == error(404, f"This comment {comment['id']} does not exist in {other['id']}.")
    status, _ = await api.get(f"/api/cases/{first['id']}/comments/{comment['id']}")
    assert status == 200


async def test_delete_unknown_comment_is_404(api: Api) -> None:
    case = await api.create_case()

    result = await api.delete(f"/api/cases/{case['id']}/comments/nope")

    assert result == error(404, "Saved object [cases-comments/nope] not found")


async def test_delete_all_comments(api: Api) -> None:
    case = await api.create_case()
    await add(api, case["id"], user_comment("one"))
    await add(api, case["id"], alert())

    status, body = await api.delete(f"/api/cases/{case['id']}/comments")

    assert (status, body) == (204, None)
    status, fetched = await api.get(f"/api/cases/{case['id']}")
    assert fetched["comments"] == []
    assert (fetched["totalComment"], fetched["totalAlerts"]) == (0, 0)
    result = await api.delete(f"/api/cases/{case['id']}/comments")
    assert result == error(404, f"No comments found for {case['id']}.")


async def test_delete_all_comments_of_a_case_without_any_is_404(api: Api) -> None:
    case = await api.create_case()

    result = await api.delete(f"/api/cases/{case['id']}/comments")

    assert result == error(404, f"No comments found for {case['id']}.")


async def test_delete_all_comments_leaves_other_cases_alone(api: Api) -> None:
    first = await api.create_case()
    other = await api.create_case(title="Other")
    await add(api, first["id"], user_comment("mine"))
    await add(api, other["id"], user_comment("theirs"))

    status, _ = await api.delete(f"/api/cases/{first['id']}/comments")

    assert status == 204
    status, fetched = await api.get(f"/api/cases/{other['id']}")
    assert [c["comment"] for c in fetched["comments"]] == ["theirs"]


# --- GET /api/cases/{case_id}/comments/_find -------------------------------------------------------


async def test_find_comments_returns_only_user_comments(api: Api) -> None:
    case = await api.create_case()
    await add(api, case["id"], user_comment("one"))
    await add(api, case["id"], alert())
    await add(api, case["id"], user_comment("two"))

    status, found = await api.get(f"/api/cases/{case['id']}/comments/_find?sortOrder=asc")

    assert status == 200
    assert set(found) == {"comments", "page", "per_page", "total"}
    assert (found["page"], found["per_page"], found["total"]) == (1, 20, 2)
    assert [c["comment"] for c in found["comments"]] == ["one", "two"]
    assert all(c["type"] == "user" for c in found["comments"])


async def test_find_comments_sort_order(api: Api) -> None:
    case = await api.create_case()
    for text in ("one", "two", "three"):
        await add(api, case["id"], user_comment(text))
    path = f"/api/cases/{case['id']}/comments/_find"

    _, ascending = await api.get(f"{path}?sortOrder=asc")
    _, descending = await api.get(f"{path}?sortOrder=desc")

    assert [c["comment"] for c in ascending["comments"]] == ["one", "two", "three"]
    assert [c["comment"] for c in descending["comments"]] == ["three", "two", "one"]


async def test_find_comments_paging(api: Api) -> None:
    case = await api.create_case()
    for n in range(5):
        await add(api, case["id"], user_comment(f"c{n}"))
    path = f"/api/cases/{case['id']}/comments/_find?sortOrder=asc&perPage=2"

    _, first = await api.get(f"{path}&page=1")
    _, second = await api.get(f"{path}&page=2")
    _, last = await api.get(f"{path}&page=3")

    assert [c["comment"] for c in first["comments"]] == ["c0", "c1"]
    assert [c["comment"] for c in second["comments"]] == ["c2", "c3"]
    assert [c["comment"] for c in last["comments"]] == ["c4"]
    assert (second["page"], second["per_page"], second["total"]) == (2, 2, 5)
    assert last["total"] == 5


async def test_find_comments_per_page_over_100_is_rejected(api: Api) -> None:
    case = await api.create_case()

    result = await api.get(f"/api/cases/{case['id']}/comments/_find?perPage=101")

    assert result == error(
        400, "The provided perPage value is too high. The maximum allowed perPage value is 100."
    )


async def test_find_comments_before_the_first_page_is_rejected(api: Api) -> None:
    case = await api.create_case()

    result = await api.get(f"/api/cases/{case['id']}/comments/_find?page=-3")

    assert result == error(400, "[from] parameter cannot be negative, found [-80]")


async def test_find_comments_unknown_query_key_is_rejected(api: Api) -> None:
    case = await api.create_case()

    result = await api.get(f"/api/cases/{case['id']}/comments/_find?foo=bar")

    assert result == error(400, 'invalid keys "foo"')


# --- GET /api/cases/{case_id}/alerts -----------------------------------------------------------------


async def test_get_case_alerts(api: Api) -> None:
    case = await api.create_case()
    await add(api, case["id"], alert(["a1", "a2"], ["index-1", "index-2"]))
    await add(api, case["id"], user_comment())
    await add(api, case["id"], alert("a3", "index-3"))

    status, alerts = await api.get(f"/api/cases/{case['id']}/alerts")

    assert status == 200
    assert [(a["id"], a["index"]) for a in alerts] == [
        ("a1", "index-1"),
        ("a2", "index-2"),
        ("a3", "index-3"),
    ]
    assert all(set(a) == {"id", "index", "attached_at"} and a["attached_at"] for a in alerts)


async def test_get_alerts_of_case_without_alerts(api: Api) -> None:
    case = await api.create_case()
    await add(api, case["id"], user_comment())

    assert await api.get(f"/api/cases/{case['id']}/alerts") == (200, [])


async def test_get_alerts_of_unknown_case_is_404(api: Api) -> None:
    result = await api.get("/api/cases/no-such-case/alerts")

    assert result == error(404, "Saved object [cases/no-such-case] not found")
