"""Kibana's Connectors API over the example plugin's ``.echo`` type, and its fake echo service."""

import subprocess
from typing import Any

import pytest
from aiohttp import web

from casepush.app import create_app
from casepush.config import PreconfiguredConnector, Settings
from tests.helpers import TOKEN, Api, case_body, connector_body, echo_plugins
from tests.processes import run_cli


def push_params(external_id: str | None, comments: list[tuple[str, str]]) -> dict:
    incident = {"title": "Suspicious login", "description": "Added by elastic.", "externalId": external_id}
    return {"incident": incident, "comments": [{"commentId": i, "comment": text} for i, text in comments]}


# --- the API --------------------------------------------------------------------------------------------


async def create(api: Api, body: dict, path: str = "/api/actions/connector") -> dict:
    status, connector = await api.post(path, body)
    assert status == 200, connector
    return connector


async def execute(api: Api, connector_id: str, sub_action: str, params: dict) -> tuple[int, Any]:
    body = {"params": {"subAction": sub_action, "subActionParams": params}}
    return await api.post(f"/api/actions/connector/{connector_id}/_execute", body)


def error(status: int, message: str) -> dict:
    reasons = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict"}
    return {"statusCode": status, "error": reasons[status], "message": message}


async def test_create_answers_kibanas_connector_without_secrets(api, echo):
    connector = await create(api, connector_body(echo.url))

    assert list(connector) == [
        "id",
        "name",
        "config",
        "connector_type_id",
        "is_preconfigured",
        "is_deprecated",
        "is_missing_secrets",
        "is_system_action",
    ]
    assert connector == {
        "id": connector["id"],
        "name": "Echo",
        "config": {"url": echo.url},
        "connector_type_id": ".echo",
        "is_preconfigured": False,
        "is_deprecated": False,
        "is_missing_secrets": False,
        "is_system_action": False,
    }
    assert len(connector["id"]) == 36
    assert await api.get(f"/api/actions/connector/{connector['id']}") == (200, connector)


async def test_create_with_an_id_and_again_is_a_409(api, echo):
    connector = await create(api, connector_body(echo.url), "/api/actions/connector/my-echo")
    assert connector["id"] == "my-echo"

    status, body = await api.post("/api/actions/connector/my-echo", connector_body(echo.url, name="Other"))

    assert (status, body) == (409, error(409, "Saved object [action/my-echo] conflict"))
    assert (await api.get("/api/actions/connector/my-echo"))[1]["name"] == "Echo"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"connector_type_id": ".nope"}, 'Action type ".nope" is not registered.'),
        (
            {"config": {}},
            "error validating action type config: [url]: expected value of type [string] but got [undefined]",
        ),
        (
            {"config": {"url": "http://x", "extra": 1}},
            "error validating action type config: [extra]: definition for this key is missing",
        ),
        (
            {"secrets": {"token": 5}},
            "error validating action type secrets: [token]: expected value of type [string] but got [number]",
        ),
        ({"name": "  "}, "[request body.name]: value '' is not valid"),
        ({"config": {"url": ""}}, "[request body.config.url]: value '' is not valid"),
        ({"id": "x"}, "[request body.id]: definition for this key is missing"),
        ({"name": None}, "[request body.name]: expected value of type [string] but got [null]"),
    ],
    ids=[
        "unknown-type",
        "missing-field",
        "unknown-field",
        "secret-type",
        "blank-name",
        "blank-config",
        "id",
        "null",
    ],
)
async def test_a_bad_connector_is_a_400_and_nothing_is_stored(api, echo, change, message):
    status, body = await api.post("/api/actions/connector", {**connector_body(echo.url), **change})

    assert (status, body) == (400, error(400, message))
    assert await api.get("/api/actions/connectors") == (200, [])


@pytest.mark.parametrize(
    ("connector_id", "message"),
    [
        ("My_Echo", "Connector ID must contain only lowercase letters, numbers, and hyphens."),
        ("e" * 37, "Connector ID must be 36 characters or less."),
    ],
)
async def test_a_chosen_id_follows_kibanas_rule(api, echo, connector_id, message):
    status, body = await api.post(f"/api/actions/connector/{connector_id}", connector_body(echo.url))

    assert (status, body) == (400, error(400, f"[request params.id]: {message}"))
    assert await api.get("/api/actions/connectors") == (200, [])


async def test_update_replaces_name_config_and_secrets_but_not_the_type(api, echo):
    connector = await create(api, connector_body(echo.url))
    path = f"/api/actions/connector/{connector['id']}"

    status, updated = await api.put(
        path, {"name": "Renamed", "config": {"url": echo.url + "/v2"}, "secrets": {"token": "new"}}
    )

    assert status == 200
    assert (updated["name"], updated["config"], updated["connector_type_id"]) == (
        "Renamed",
        {"url": echo.url + "/v2"},
        ".echo",
    )
    status, body = await api.put(
        path, {"name": "X", "connector_type_id": ".echo", "config": {"url": echo.url}}
    )
    assert (status, body) == (
        400,
        error(400, "[request body.connector_type_id]: definition for this key is missing"),
    )
    status, body = await api.put(path, {"name": "X", "config": {"url": echo.url}})
    assert (status, body) == (
        400,
        error(
            400,
            "error validating action type secrets:"
            " [token]: expected value of type [string] but got [undefined]",
        ),
    )
    assert (await api.get(path))[1] == updated


async def test_unknown_connectors_are_kibanas_404(api):
    message = "Saved object [action/nope] not found"
    for method in ("GET", "DELETE"):
        assert await api.request(method, "/api/actions/connector/nope") == (404, error(404, message))
    status, body = await api.put("/api/actions/connector/nope", {"name": "x", "config": {"url": "http://x"}})
    assert (status, body) == (404, error(404, message))
    assert await execute(api, "nope", "getIncident", {"externalId": "1"}) == (404, error(404, message))


async def test_delete_answers_204_and_the_connector_is_gone(api, echo):
    connector = await create(api, connector_body(echo.url))

    assert await api.delete(f"/api/actions/connector/{connector['id']}") == (204, None)
    assert (await api.get(f"/api/actions/connector/{connector['id']}"))[0] == 404


async def test_list_is_sorted_by_name_and_counts_the_cases_and_configurations_using_each(api, echo):
    beta = await create(api, connector_body(echo.url, name="beta"))
    alpha = await create(api, connector_body(echo.url, name="Alpha"))
    as_case_connector = {"id": beta["id"], "name": "beta", "type": ".echo", "fields": None}
    await api.create_case(connector=as_case_connector)
    await api.create_case(connector=as_case_connector)
    await api.configure(connector=as_case_connector)

    status, listed = await api.get("/api/actions/connectors")

    assert status == 200
    assert [(c["name"], c["referenced_by_count"]) for c in listed] == [("Alpha", 0), ("beta", 3)]
    assert list(listed[0]) == [
        "id",
        "name",
        "config",
        "connector_type_id",
        "is_preconfigured",
        "is_deprecated",
        "referenced_by_count",
        "is_missing_secrets",
        "is_system_action",
    ]
    assert listed[0]["id"] == alpha["id"]


async def test_a_case_names_only_installed_connector_types_with_fitting_fields(api, echo):
    connector = await create(api, connector_body(echo.url))
    base = {"id": connector["id"], "name": "Echo", "type": ".echo"}

    status, body = await api.post(
        "/api/cases", case_body(connector={**base, "type": ".nope", "fields": None})
    )
    assert (status, body["message"]) == (400, 'Invalid value ".nope" supplied to "connector,type"')
    status, body = await api.post("/api/cases", case_body(connector={**base, "fields": {"priority": "High"}}))
    assert (status, body["message"]) == (
        400,
        'Invalid value "{"priority":"High"}" supplied to "connector,fields"',
    )
    status, case = await api.post("/api/cases", case_body(connector={**base, "fields": None}))
    assert status == 200
    assert case["connector"] == {**base, "fields": None}


async def test_connector_types_lists_only_installed_types(api):
    status, types = await api.get("/api/actions/connector_types")

    assert status == 200
    assert types == [
        {
            "id": ".echo",
            "name": "Echo",
            "enabled": True,
            "enabled_in_config": True,
            "enabled_in_license": True,
            "minimum_license_required": "basic",
            "supported_feature_ids": ["cases", "alerting"],
            "is_system_action_type": False,
            "is_deprecated": False,
        }
    ]
    assert (await api.get("/api/actions/connector_types?feature_id=cases"))[1] == types
    assert (await api.get("/api/actions/connector_types?feature_id=uptime"))[1] == []


async def test_cases_find_lists_case_connectors_in_kibanas_camel_case(api, echo):
    connector = await create(api, connector_body(echo.url))

    status, found = await api.get("/api/cases/configure/connectors/_find")

    assert status == 200
    assert found == [
        {
            "id": connector["id"],
            "actionTypeId": ".echo",
            "name": "Echo",
            "config": {"url": echo.url},
            "isPreconfigured": False,
            "isDeprecated": False,
            "isSystemAction": False,
            "isMissingSecrets": False,
            "referencedByCount": 0,
        }
    ]


# --- _execute -------------------------------------------------------------------------------------------


async def test_execute_push_creates_then_updates_with_comments_and_the_token(api, echo):
    connector = await create(api, connector_body(echo.url))

    status, created = await execute(api, connector["id"], "pushToService", push_params(None, []))
    assert (status, created["status"], created["connector_id"]) == (200, "ok", connector["id"])
    assert created["data"] == {
        "id": "1",
        "title": "Suspicious login",
        "url": f"{echo.url}/browse/1",
        "pushedDate": "2026-11-28T10:00:00.000Z",
    }
    status, updated = await execute(
        api, connector["id"], "pushToService", push_params("1", [("c-1", "Seen.")])
    )
    assert updated["data"]["comments"] == [{"commentId": "c-1", "pushedDate": "2026-11-28T10:00:00.000Z"}]
    assert [r.method + " " + r.path for r in echo.requests] == [
        "POST /incidents",
        "PUT /incidents/1",
        "POST /incidents/1/comments",
    ]
    assert {r.headers["Authorization"] for r in echo.requests} == {f"Bearer {TOKEN}"}


async def test_execute_another_sub_action_answers_its_data(api, echo):
    connector = await create(api, connector_body(echo.url))
    await execute(api, connector["id"], "pushToService", push_params(None, []))

    status, result = await execute(api, connector["id"], "getIncident", {"externalId": "1"})

    assert status == 200
    assert result["status"] == "ok"
    assert result["data"]["title"] == "Suspicious login"


async def test_execute_with_bad_params_is_an_error_answer(api, echo):
    connector = await create(api, connector_body(echo.url))

    status, result = await execute(api, connector["id"], "nope", {})
    assert (status, result) == (
        200,
        {
            "status": "error",
            "message": "error validating action params: types that failed validation:\n"
            "- [0.subAction]: expected value to equal [pushToService]\n"
            "- [1.subAction]: expected value to equal [getIncident]",
            "connector_id": connector["id"],
            "retry": False,
        },
    )
    status, result = await execute(api, connector["id"], "getIncident", {})
    assert result["message"] == (
        "error validating action params:"
        " [subActionParams.externalId]: expected value of type [string] but got [undefined]"
    )
    assert echo.requests == []


async def test_execute_against_a_failing_service_is_an_error_answer(api, echo):
    connector = await create(api, connector_body(echo.url))
    echo.break_all()

    status, result = await execute(api, connector["id"], "pushToService", push_params(None, []))

    assert (status, result) == (
        200,
        {
            "status": "error",
            "message": "an error occurred while running the action",
            "connector_id": connector["id"],
            "retry": True,
            "service_message": "[Action][Echo]: Unable to POST /incidents. Status: 503",
        },
    )


# --- secrets ------------------------------------------------------------------------------------------


async def test_the_database_holds_no_secret_in_clear_text(api, stored, echo):
    connector = await create(api, connector_body(echo.url))
    await api.put(
        f"/api/actions/connector/{connector['id']}",
        {"name": "Echo", "config": {"url": echo.url}, "secrets": {"token": TOKEN + "-2"}},
    )

    assert TOKEN.encode() not in await stored.everything()
    (sealed,) = (await stored.rows("SELECT secrets FROM connectors"))[0]
    assert sealed.startswith("gAAAA")  # a Fernet token


async def test_secrets_sealed_with_a_lost_key_mark_the_connector_and_fail_its_use(api_with, echo):
    api = await api_with(encryption_key="k" * 32)
    connector = await create(api, connector_body(echo.url))
    api = await api_with(encryption_key="z" * 32)

    status, found = await api.get(f"/api/actions/connector/{connector['id']}")
    assert (status, found["is_missing_secrets"]) == (200, True)
    status, result = await execute(api, connector["id"], "getIncident", {"externalId": "1"})
    assert result["status"] == "error"
    assert result["message"].startswith(
        'Unable to execute action because no secrets are defined for the "Echo" connector.'
    )
    assert echo.requests == []


async def test_an_old_key_given_for_decryption_keeps_secrets_readable(api_with, echo):
    api = await api_with(encryption_key="k" * 32)
    connector = await create(api, connector_body(echo.url))
    api = await api_with(
        encryption_key="z" * 32,
        decryption_only_keys=["k" * 32],
    )

    assert (await api.get(f"/api/actions/connector/{connector['id']}"))[1]["is_missing_secrets"] is False
    _, result = await execute(api, connector["id"], "pushToService", push_params(None, []))
    assert result["status"] == "ok"


# --- allowed hosts ---------------------------------------------------------------------------------------


async def test_a_disallowed_host_is_refused_on_create(api_with):
    api = await api_with(allowed_hosts=["jira.example.com"])

    status, body = await api.post("/api/actions/connector", connector_body("http://127.0.0.1:8080/x"))

    assert (status, body) == (
        400,
        error(
            400,
            'error validating action type config: error configuring echo action: target url "http://127.0.0.1:8080/x"'
            " is not added to the Kibana config xpack.actions.allowedHosts",
        ),
    )


async def test_a_redirect_to_a_disallowed_host_is_refused_without_calling_it(api_with, fake_service):
    elsewhere = fake_service()
    await elsewhere.start()
    redirecting = fake_service()

    @redirecting.route("POST", "/incidents")
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(elsewhere.url.replace("127.0.0.1", "localhost") + "/incidents")

    await redirecting.start()
    api = await api_with(allowed_hosts=["127.0.0.1"])
    connector = await create(api, connector_body(redirecting.url))

    status, result = await execute(api, connector["id"], "pushToService", push_params(None, []))

    assert (status, result["status"]) == (200, "error")
    assert result["service_message"] == (
        'target hostname "localhost" is not added to the Kibana config xpack.actions.allowedHosts'
    )
    assert elsewhere.requests == []


# --- preconfigured connectors -----------------------------------------------------------------------------


@pytest.fixture
async def with_preconfigured(api_with, echo) -> Api:
    declared = PreconfiguredConnector(
        connector_type_id=".echo", name="Shared echo", config={"url": echo.url}, secrets={"token": TOKEN}
    )
    return await api_with(preconfigured={"shared-echo": declared})


async def test_a_preconfigured_connector_shows_neither_config_nor_secrets_and_cannot_change(
    with_preconfigured,
):
    api = with_preconfigured
    expected = {
        "id": "shared-echo",
        "name": "Shared echo",
        "connector_type_id": ".echo",
        "is_preconfigured": True,
        "is_deprecated": False,
        "is_system_action": False,
    }
    assert await api.get("/api/actions/connector/shared-echo") == (200, expected)
    await api.create_space("team")
    assert (await api.get("/s/team/api/actions/connector/shared-echo"))[1] == expected
    status, body = await api.put(
        "/api/actions/connector/shared-echo", {"name": "x", "config": {"url": "http://x"}}
    )
    assert (status, body) == (400, error(400, "Preconfigured action shared-echo can not be updated."))
    status, body = await api.delete("/api/actions/connector/shared-echo")
    assert (status, body) == (400, error(400, "Preconfigured action shared-echo is not allowed to delete."))
    status, body = await api.post("/api/actions/connector/shared-echo", connector_body("http://x"))
    assert (status, body) == (400, error(400, "This shared-echo already exists in a preconfigured action."))


async def test_a_preconfigured_connector_runs_with_its_declared_secrets(with_preconfigured, echo):
    _, result = await execute(with_preconfigured, "shared-echo", "pushToService", push_params(None, []))

    assert result["status"] == "ok"
    assert echo.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


async def test_an_invalid_preconfigured_connector_stops_the_start(tmp_path):
    declared = PreconfiguredConnector(
        connector_type_id=".echo", name="Broken", config={}, secrets={"token": TOKEN}
    )
    settings = Settings(data_dir=str(tmp_path), preconfigured={"broken": declared})

    with pytest.raises(
        ValueError, match=r"preconfigured connector broken: error validating action type config: \[url\]"
    ):
        create_app(settings, announce=print, plugins=await echo_plugins())


# --- spaces ---------------------------------------------------------------------------------------------


async def test_a_connector_of_another_space_is_404(api, echo):
    await api.create_space("team")
    connector = await create(api, connector_body(echo.url), "/s/team/api/actions/connector")

    assert (await api.get(f"/api/actions/connector/{connector['id']}"))[0] == 404
    assert await api.get("/api/actions/connectors") == (200, [])
    assert (await api.get(f"/s/team/api/actions/connector/{connector['id']}"))[0] == 200
    status, _ = await execute(api, connector["id"], "getIncident", {"externalId": "1"})
    assert status == 404
    status, _ = await api.delete("/api/spaces/space/team")
    assert status == 204
    await api.create_space("team")
    assert await api.get("/s/team/api/actions/connectors") == (200, [])


def rotate_key(settings: Settings, **keys: str) -> subprocess.CompletedProcess:
    return run_cli(settings, "rotate-key", **keys)


async def test_rotate_key_reseals_old_secrets_so_the_old_key_can_go(api_with, echo, settings):
    old, new = "k" * 32, "z" * 32
    api = await api_with(encryption_key=old)
    connector = await create(api, connector_body(echo.url))

    done = rotate_key(settings, CASEPUSH_ENCRYPTION_KEY=new, CASEPUSH_DECRYPTION_ONLY_KEYS=old)
    assert (done.returncode, done.stdout.strip()) == (0, "Re-encrypted the secrets of 1 connector(s).")
    again = rotate_key(settings, CASEPUSH_ENCRYPTION_KEY=new)
    assert (again.returncode, again.stdout.strip()) == (0, "Re-encrypted the secrets of 0 connector(s).")

    api = await api_with(encryption_key=new)
    _, result = await execute(api, connector["id"], "pushToService", push_params(None, []))
    assert result["status"] == "ok"
    lost = rotate_key(settings, CASEPUSH_ENCRYPTION_KEY="y" * 32)
    assert lost.returncode == 1
    assert lost.stderr.strip() == f"No configured key opens the secrets of: default/{connector['id']}"
