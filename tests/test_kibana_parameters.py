"""Query parameters and body fields that Kibana's own route validation accepts (besides its published
spec): each is accepted by casepush, with Kibana's meaning where casepush can give it, or ignored
(docs/kibana-compatibility.md, "Kibana parameters casepush accepts and ignores")."""

import pytest

from tests.helpers import Api, case_body

OWNER_SPACES = [{"spaces": ["*"], "base": [], "feature": {"generalCases": ["all"]}}]


def bad_request(message: str) -> dict:
    return {"statusCode": 400, "error": "Bad Request", "message": message}


async def ok(call) -> object:
    status, body = await call
    assert status == 200, body
    return body


# --- cases --------------------------------------------------------------------------------------------


async def test_get_case_ignores_query_keys_it_does_not_know_and_keeps_include_comments(api: Api) -> None:
    case = await api.create_case()
    await ok(
        api.post(f"/api/cases/{case['id']}/comments", {"type": "user", "comment": "c", "owner": "cases"})
    )

    # Kibana 9.x's route validates no query at all.
    found = await ok(api.get(f"/api/cases/{case['id']}", params={"foo": "1", "apiVersion": "x"}))
    without = await ok(api.get(f"/api/cases/{case['id']}", params={"includeComments": "false", "foo": "1"}))

    assert (found["id"], len(found["comments"]), without["comments"]) == (case["id"], 1, [])
    assert await api.get(f"/api/cases/{case['id']}", params={"includeComments": "maybe"}) == (
        400,
        bad_request('Invalid value "maybe" supplied to "includeComments"'),
    )


async def test_find_accepts_the_incremental_id_search_field_which_matches_no_case(api: Api) -> None:
    await api.create_case(title="Login storm 12")

    async def found(fields: list[str]) -> list[str]:
        params = [("search", "storm"), *(("searchFields", f) for f in fields)]
        return [c["title"] for c in (await ok(api.get("/api/cases/_find", params=params)))["cases"]]

    assert await found(["incremental_id.text"]) == []
    assert await found(["incremental_id.text", "title"]) == ["Login storm 12"]
    assert await found([]) == ["Login storm 12"]


async def test_case_settings_keep_extract_observables(api: Api) -> None:
    created = await ok(
        api.post("/api/cases", case_body(settings={"syncAlerts": False, "extractObservables": True}))
    )
    patch = {"id": created["id"], "version": created["version"]}
    (patched,) = await ok(
        api.patch(
            "/api/cases",
            {"cases": [{**patch, "settings": {"syncAlerts": True, "extractObservables": False}}]},
        )
    )
    plain = await api.create_case()

    assert created["settings"] == {"syncAlerts": False, "extractObservables": True}
    assert patched["settings"] == {"syncAlerts": True, "extractObservables": False}
    assert (await ok(api.get(f"/api/cases/{created['id']}")))["settings"] == patched["settings"]
    assert plain["settings"] == {"syncAlerts": False}
    status, error = await api.post("/api/cases", case_body(settings={"syncAlerts": False, "other": 1}))
    assert (status, error) == (400, bad_request('invalid keys "other"'))


@pytest.mark.parametrize("type_", ["delete_case", "observables", "extended_fields", "template", "workflow"])
async def test_user_actions_find_accepts_kibanas_newer_types_which_filter_to_nothing(api: Api, type_) -> None:
    case = await api.create_case()

    found = await ok(api.get(f"/api/cases/{case['id']}/user_actions/_find", params={"types": type_}))
    mixed = await ok(
        api.get(
            f"/api/cases/{case['id']}/user_actions/_find", params=[("types", type_), ("types", "create_case")]
        )
    )

    assert (found["userActions"], found["total"]) == ([], 0)
    assert [a["type"] for a in mixed["userActions"]] == ["create_case"]


# --- configuration ------------------------------------------------------------------------------------------


async def test_configuration_keeps_observable_types_and_ignores_analytics_enabled(api: Api) -> None:
    types = [{"key": "ip-internal", "label": "Internal IP"}]
    created = await api.configure(observableTypes=types, analytics_enabled=True)
    patched = await ok(
        api.patch(
            f"/api/cases/configure/{created['id']}",
            {"version": created["version"], "observableTypes": [], "analytics_enabled": False},
        )
    )
    plain = await api.configure(owner="observability")

    assert created["observableTypes"] == types
    assert patched["observableTypes"] == []
    assert "analytics_enabled" not in created and "analytics_enabled" not in patched
    assert "observableTypes" not in plain
    (listed,) = await ok(api.get("/api/cases/configure", params={"owner": "cases"}))
    assert listed["observableTypes"] == []


async def test_configuration_observable_types_must_be_key_and_label(api: Api) -> None:
    status, error = await api.post(
        "/api/cases/configure",
        {
            "closure_type": "close-by-user",
            "owner": "cases",
            "connector": {"id": "none", "name": "none", "type": ".none", "fields": None},
            "observableTypes": [{"key": "ip"}],
        },
    )

    assert (status, error) == (
        400,
        bad_request('Invalid value "undefined" supplied to "observableTypes,label"'),
    )


# --- roles ------------------------------------------------------------------------------------------------


async def test_roles_replace_deprecated_cases_privileges_when_asked(api: Api) -> None:
    await api.create_role(
        "legacy",
        {"spaces": ["default"], "base": [], "feature": {"generalCases": ["all"], "actions": ["read"]}},
        {
            "spaces": ["ops"],
            "base": [],
            "feature": {
                "observabilityCasesV2": ["minimal_all", "cases_delete"],
                "securitySolutionCases": ["minimal_all"],
                "securitySolutionCasesV3": ["cases_settings"],
            },
        },
    )

    kept = await ok(api.get("/api/security/role/legacy"))
    replaced = await ok(api.get("/api/security/role/legacy", params={"replaceDeprecatedPrivileges": "true"}))
    listed = await ok(api.get("/api/security/role", params={"replaceDeprecatedPrivileges": "true"}))

    assert kept["kibana"][0]["feature"] == {"generalCases": ["all"], "actions": ["read"]}
    assert [p["feature"] for p in replaced["kibana"]] == [
        {"generalCasesV3": ["all"], "actions": ["read"]},
        {
            "observabilityCasesV3": ["minimal_all", "cases_assign", "cases_delete"],
            "securitySolutionCasesV3": [
                "minimal_all",
                "create_comment",
                "case_reopen",
                "cases_assign",
                "cases_settings",
            ],
        },
    ]
    assert next(role for role in listed if role["name"] == "legacy") == replaced
    assert (
        await ok(api.get("/api/security/role/legacy", params={"replaceDeprecatedPrivileges": "false"}))
    ) == kept


async def test_role_reads_refuse_other_query_keys_as_kibana(api: Api) -> None:
    for path in ("/api/security/role", "/api/security/role/viewer"):
        assert await api.get(path, params={"foo": "1"}) == (
            400,
            bad_request("[request query.foo]: definition for this key is missing"),
        )
        assert await api.get(path, params={"replaceDeprecatedPrivileges": "often"}) == (
            400,
            bad_request(
                "[request query.replaceDeprecatedPrivileges]:"
                " expected value of type [boolean] but got [string]"
            ),
        )


async def test_a_replaced_role_still_grants_what_it_granted(api: Api) -> None:
    await api.create_role("legacy", *OWNER_SPACES)
    user = await api.create_user("tester", "legacy")

    await ok(api.get("/api/security/role/legacy", params={"replaceDeprecatedPrivileges": "true"}))

    assert (await user.post("/api/cases", case_body()))[0] == 200
