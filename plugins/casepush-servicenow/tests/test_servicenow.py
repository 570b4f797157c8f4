"""casepush-servicenow against a fake ServiceNow: both types, both APIs, Basic and OAuth, Kibana's
messages, retries, token caching, crash recovery and case pushes."""

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from fake_servicenow import (
    CLIENT_ID,
    CLIENT_SECRET,
    KEY_ID,
    KEY_PASSWORD,
    LEGACY_CLOSE_CODES,
    PASSWORD,
    TIME_FORMAT,
    USER_ID,
    USERNAME,
    FakeServiceNow,
    basic,
    casepush_plugins,
    oauth,
    private_key,
    sn,
)

from casepush.config import Settings
from casepush.testing import Api, FakeService
from casepush.testing.contract import ConnectorContract

ERROR = {
    "error": {"message": "Invalid field", "detail": "short_description is too long"},
    "status": "failure",
}


async def create_connector(casepush: Api, type_id: str, body: dict) -> str:
    status, connector = await casepush.post(
        "/api/actions/connector", {"name": "SN", "connector_type_id": type_id, **body}
    )
    assert status == 200, connector
    return connector["id"]


async def execute(casepush: Api, connector_id: str, sub_action: str, params: dict) -> dict:
    body = {"params": {"subAction": sub_action, "subActionParams": params}}
    status, result = await casepush.post(f"/api/actions/connector/{connector_id}/_execute", body)
    assert status == 200, result
    return result


async def push(casepush: Api, connector_id: str, incident: dict, comments: list | None = None) -> dict:
    params = {"incident": {"short_description": "Suspicious login", **incident}, "comments": comments}
    return await execute(casepush, connector_id, "pushToService", params)


def failed(result: dict) -> str:
    assert result["status"] == "error", result
    assert result["message"] == "an error occurred while running the action"
    return result["service_message"]


ITSM_NULLS = {
    "description": None,
    "category": None,
    "subcategory": None,
    "correlation_id": "{{rule.id}}:{{alert.id}}",
    "correlation_display": None,
    "severity": None,
    "urgency": None,
    "impact": None,
}


# --- connectors --------------------------------------------------------------------------------------


async def test_a_new_connector_uses_the_import_set_api_and_basic_auth(casepush: Api, sn: FakeServiceNow):
    status, connector = await casepush.post(
        "/api/actions/connector", {"name": "SN", "connector_type_id": ".servicenow", **basic(sn)}
    )
    assert status == 200, connector
    assert connector["config"] == {
        "apiUrl": sn.url,
        "usesTableApi": False,
        "isOAuth": False,
        "userIdentifierValue": None,
        "clientId": None,
        "jwtKeyId": None,
    }
    status, types = await casepush.get("/api/actions/connector_types?feature_id=cases")
    assert {".servicenow", ".servicenow-sir"} <= {t["id"] for t in types}


OAUTH_CONFIG = {"isOAuth": True, "clientId": "c", "userIdentifierValue": "u", "jwtKeyId": "k"}
OAUTH_SECRETS = {"clientSecret": "s", "privateKey": "key"}
BASIC_SECRETS = {"username": "u", "password": "p"}


@pytest.mark.parametrize(
    ("config", "secrets", "message"),
    [
        (
            {"isOAuth": True, "clientId": "c", "jwtKeyId": "k"},
            OAUTH_SECRETS,
            "config: userIdentifierValue must be provided when isOAuth = true",
        ),
        (
            {"isOAuth": True, "clientId": "c", "userIdentifierValue": "u"},
            OAUTH_SECRETS,
            "config: jwtKeyId must be provided when isOAuth = true",
        ),
        ({}, {}, "secrets: Either basic auth or OAuth credentials must be specified"),
        ({}, {"username": "u"}, "secrets: username and password must both be specified"),
        ({}, {"password": "p"}, "secrets: username and password must both be specified"),
        (OAUTH_CONFIG, {"clientSecret": "s"}, "secrets: clientSecret and privateKey must both be specified"),
        (OAUTH_CONFIG, BASIC_SECRETS, "connector: clientSecret must be provided when isOAuth = true"),
        (
            OAUTH_CONFIG,
            {**OAUTH_SECRETS, **BASIC_SECRETS},
            "connector: Username and password should not be provided with isOAuth = true",
        ),
        (
            {"clientId": "c"},
            BASIC_SECRETS,
            "connector: clientId, clientSecret, userIdentifierValue, jwtKeyId and privateKey should not be"
            " provided with isOAuth = false",
        ),
        ({}, OAUTH_SECRETS, "connector: username must be provided when isOAuth = false"),
    ],
)
async def test_connectors_are_validated_as_kibana(casepush: Api, config: dict, secrets: dict, message: str):
    body = {
        "name": "SN",
        "connector_type_id": ".servicenow-sir",
        "config": {"apiUrl": "https://acme.service-now.com", **config},
        "secrets": secrets,
    }
    status, answer = await casepush.post("/api/actions/connector", body)
    assert (status, answer["message"]) == (400, f"error validating action type {message}")


@pytest.mark.parametrize("casepush_settings", [{"allowed_hosts": ["ok.example"]}], indirect=True)
class TestAllowedHosts:
    async def test_the_api_url_must_be_allowed(self, casepush: Api):
        body = {
            "name": "SN",
            "connector_type_id": ".servicenow",
            "config": {"apiUrl": "https://evil.example"},
            "secrets": BASIC_SECRETS,
        }
        status, answer = await casepush.post("/api/actions/connector", body)
        assert status == 400
        assert answer["message"] == (
            "error validating action type config: error configuring connector action: target url"
            ' "https://evil.example" is not added to the Kibana config xpack.actions.allowedHosts'
        )


# --- the Table API -------------------------------------------------------------------------------------


async def test_table_api_create_update_and_work_notes(casepush: Api, sn: FakeServiceNow):
    connector_id = await create_connector(casepush, ".servicenow", basic(sn, usesTableApi=True))
    created = await push(casepush, connector_id, {"impact": "2", "description": "Several failures"})
    assert created["status"] == "ok", created
    assert created["data"] == {
        "id": "sys1",
        "title": "INC0000001",
        "url": f"{sn.url}/nav_to.do?uri=incident.do?sys_id=sys1",
        "pushedDate": "2020-03-10T12:24:20.000Z",
    }
    post, get = (
        sn.calls("POST", "/api/now/v2/table/incident"),
        sn.calls("GET", "/api/now/v2/table/incident/sys1"),
    )
    assert post[0].json() == {
        **ITSM_NULLS,
        "short_description": "Suspicious login",
        "description": "Several failures",
        "impact": "2",
        "caller_id": USERNAME,
        "opened_by": USERNAME,
    }
    assert len(get) == 1 and not sn.calls(path="/api/x_elas2_inc_int")
    comments = [{"comment": "First note", "commentId": "c1"}, {"comment": "", "commentId": "c2"}]
    updated = await push(casepush, connector_id, {"externalId": "sys1", "urgency": "1"}, comments)
    assert updated["data"]["pushedDate"] == "2020-03-11T08:00:05.000Z"
    assert updated["data"]["comments"] == [
        {"commentId": "c1", "pushedDate": "2020-03-11T08:00:05.000Z"},
        {"commentId": "c2", "pushedDate": "2020-03-11T08:00:05.000Z"},
    ]
    patches = [r.json() for r in sn.calls("PATCH", "/api/now/v2/table/incident/sys1")]
    fields = {**ITSM_NULLS, "short_description": "Suspicious login", "urgency": "1"}
    assert patches == [fields, {**fields, "work_notes": "First note"}, {**fields, "work_notes": ""}]
    assert sn.work_notes["sys1"] == ["First note", ""]


async def test_table_api_refuses_additional_fields(casepush: Api, sn: FakeServiceNow):
    connector_id = await create_connector(casepush, ".servicenow", basic(sn, usesTableApi=True))
    result = await push(casepush, connector_id, {"additional_fields": '{"u_team": "soc"}'})
    assert failed(result) == (
        "[Action][ServiceNow]: Unable to create incident. Error: ServiceNow additional fields are not"
        " supported for deprecated connectors. [status=400] [method=post] [endpoint=table]"
    )
    assert sn.requests == []


async def test_additional_fields_are_checked_as_kibana(casepush: Api, sn: FakeServiceNow):
    connector_id = await create_connector(casepush, ".servicenow", basic(sn))
    result = await push(casepush, connector_id, {"additional_fields": {"short_description": "x"}})
    assert result["status"] == "error"
    assert (
        "The following properties cannot be defined inside additional_fields: short_description."
        in (result["message"])
    )
    many = {f"u_f{i}": i for i in range(21)}
    result = await push(casepush, connector_id, {"additional_fields": many})
    assert "A maximum of 20 fields in additional_fields can be defined at a time." in result["message"]


# --- the Import Set API --------------------------------------------------------------------------------


async def test_import_set_api_create_update_and_work_notes(casepush: Api, sn: FakeServiceNow):
    connector_id = await create_connector(casepush, ".servicenow", basic(sn))
    created = await push(casepush, connector_id, {"severity": "1", "additional_fields": {"u_team": "soc"}})
    assert created["data"]["id"] == "sys1"
    assert created["data"]["title"] == "INC0000001"
    health = "/api/x_elas2_inc_int/elastic_api/health"
    imports = sn.calls("POST", "/api/now/import/x_elas2_inc_int_elastic_incident")
    assert [r.path for r in sn.requests] == [health, imports[0].path, "/api/now/v2/table/incident/sys1"]
    prefixed = {f"u_{key}": value for key, value in ITSM_NULLS.items()}
    assert imports[0].json() == {
        "u_team": "soc",
        **prefixed,
        "u_short_description": "Suspicious login",
        "u_severity": "1",
        "u_caller_id": USERNAME,
        "u_opened_by": USERNAME,
    }
    updated = await push(
        casepush, connector_id, {"externalId": "sys1"}, [{"comment": "A note", "commentId": "c1"}]
    )
    assert updated["data"]["comments"] == [{"commentId": "c1", "pushedDate": "2020-03-11T08:00:05.000Z"}]
    bodies = [r.json() for r in sn.calls("POST", "/api/now/import/")[1:]]
    update = {**prefixed, "u_short_description": "Suspicious login", "elastic_incident_id": "sys1"}
    assert bodies == [update, {**update, "u_work_notes": "A note"}]
    assert sn.work_notes["sys1"] == ["A note"]


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([{"status": "error", "error_message": "Transform failed", "sys_id": ""}], "Transform failed"),
        ([], "Unexpected result"),
    ],
)
async def test_import_set_errors(casepush: Api, sn: FakeServiceNow, rows: list, reason: str):
    sn.answer("POST", "/api/now/import/", 201, {"import_set": "ISET01", "result": rows})
    connector_id = await create_connector(casepush, ".servicenow", basic(sn))
    assert failed(await push(casepush, connector_id, {})) == (
        f"[Action][ServiceNow]: Unable to create incident. Error: {reason} [status=201] [method=post]"
        " [endpoint=import_set]"
    )


async def test_import_set_needs_the_elastic_application(casepush: Api, sn: FakeServiceNow):
    sn.app_installed = False
    connector_id = await create_connector(casepush, ".servicenow", basic(sn))
    assert failed(await push(casepush, connector_id, {"externalId": "sys9"})) == (
        "[Action][ServiceNow]: Unable to update incident with id sys9. Error: [Action][ServiceNow]: Unable to"
        " get application version. Error: Request failed with status code 400 Reason: Requested URI does not"
        " represent any resource [status=400] [method=get] [endpoint=health] Reason: Requested URI does not"
        " represent any resource [status=400] [method=post] [endpoint=import_set]"
    )
    assert not sn.calls("POST")


# --- SecOps --------------------------------------------------------------------------------------------


async def test_sir_table_api_sends_observables_joined(casepush: Api, sn: FakeServiceNow):
    connector_id = await create_connector(casepush, ".servicenow-sir", basic(sn, usesTableApi=True))
    incident = {"dest_ip": ["10.0.0.1", "10.0.0.2"], "source_ip": "10.0.0.3", "priority": "1"}
    created = await push(casepush, connector_id, incident)
    assert created["data"]["url"] == f"{sn.url}/nav_to.do?uri=sn_si_incident.do?sys_id=sys1"
    body = sn.calls("POST", "/api/now/v2/table/sn_si_incident")[0].json()
    assert body["dest_ip"] == "10.0.0.1,10.0.0.2"
    assert (body["source_ip"], body["malware_hash"], body["priority"]) == ("10.0.0.3", None, "1")
    assert not sn.calls(path="/api/x_elas2_sir_int")


async def test_sir_import_set_attaches_observables(casepush: Api, sn: FakeServiceNow):
    connector_id = await create_connector(casepush, ".servicenow-sir", basic(sn))
    incident = {
        "dest_ip": ["10.0.0.1", "10.0.0.2"],
        "source_ip": "10.0.0.1, 10.0.0.3",
        "malware_hash": "abc|abc",
        "malware_url": ["https://bad.example"],
    }
    await push(casepush, connector_id, incident)
    body = sn.calls("POST", "/api/now/import/x_elas2_sir_int_elastic_si_incident")[0].json()
    assert [body[f"u_{name}"] for name in ("dest_ip", "source_ip", "malware_hash", "malware_url")] == [
        None
    ] * 4
    assert sn.observables["sys1"] == [
        {"value": "10.0.0.1", "type": "ipv4-addr"},
        {"value": "10.0.0.2", "type": "ipv4-addr"},
        {"value": "10.0.0.3", "type": "ipv4-addr"},
        {"value": "abc", "type": "SHA256"},
        {"value": "https://bad.example", "type": "URL"},
    ]
    assert sn.requests[-2].path == "/api/x_elas2_sir_int/elastic_api/health"
    sn.answer(
        "POST", "/api/x_elas2_sir_int/elastic_api/incident/", 400, {"error": {"message": "Bad observable"}}
    )
    assert failed(await push(casepush, connector_id, {"externalId": "sys1", "malware_hash": "h"})) == (
        "[Action][ServiceNow]: Unable to add observables to security incident with id sys1. Error: Request"
        " failed with status code 400 Reason: Bad observable [status=400] [method=post] [endpoint=other]"
    )


# --- errors --------------------------------------------------------------------------------------------


async def test_servicenow_errors_are_worded_as_kibana(casepush: Api, sn: FakeServiceNow):
    connector_id = await create_connector(casepush, ".servicenow", basic(sn, usesTableApi=True))
    sn.answer("POST", "/api/now/v2/table/incident", 400, ERROR, times=1)
    assert failed(await push(casepush, connector_id, {})) == (
        "[Action][ServiceNow]: Unable to create incident. Error: Request failed with status code 400"
        " Reason: Invalid field: short_description is too long [status=400] [method=post] [endpoint=table]"
    )
    sn.answer("PATCH", "/api/now/v2/table/incident/sys7", 403, {"status": "failure"}, times=1)
    assert failed(await push(casepush, connector_id, {"externalId": "sys7"})) == (
        "[Action][ServiceNow]: Unable to update incident with id sys7. Error: Request failed with status code"
        " 403 Reason: unknown: no error in error response [status=403] [method=patch] [endpoint=table]"
    )


async def test_a_failed_read_back_names_both_steps(casepush: Api, sn: FakeServiceNow):
    connector_id = await create_connector(casepush, ".servicenow", basic(sn, usesTableApi=True))
    sn.answer("GET", "/api/now/v2/table/incident/", 404, {"error": {"message": "No Record found"}})
    assert failed(await push(casepush, connector_id, {})) == (
        "[Action][ServiceNow]: Unable to create incident. Error: [Action][ServiceNow]: Unable to get incident"
        " with id sys1. Error: Request failed with status code 404 Reason: No Record found [status=404]"
        " [method=get] [endpoint=table] Reason: No Record found [status=404] [method=post] [endpoint=table]"
    )


async def test_a_hibernating_instance_is_named(casepush: Api, sn: FakeServiceNow):
    connector_id = await create_connector(casepush, ".servicenow", basic(sn, usesTableApi=True))
    sn.answer("POST", "/api/now/v2/table/incident", 200, "<html>Your instance is hibernating</html>")
    assert failed(await push(casepush, connector_id, {})) == (
        "[Action][ServiceNow]: Unable to create incident. Error: There is an issue with your Service Now"
        " Instance. Please check . [status=none] [method=post] [endpoint=table]"
    )


async def test_an_unreachable_instance(casepush: Api, sn: FakeServiceNow):
    body = basic(sn, usesTableApi=True)
    body["config"]["apiUrl"] = "http://127.0.0.1:9"
    connector_id = await create_connector(casepush, ".servicenow", body)
    assert failed(await execute(casepush, connector_id, "getIncident", {"externalId": "sys1"})) == (
        "[Action][ServiceNow]: Unable to get incident with id sys1. Error: connect ECONNREFUSED 127.0.0.1:9"
        " [status=ECONNREFUSED] [method=get] [endpoint=table]"
    )


async def test_failures_carry_no_secret(casepush: Api, sn: FakeServiceNow, private_key):
    sn.break_all()
    for body in (basic(sn), oauth(sn, private_key)):
        result = await push(casepush, await create_connector(casepush, ".servicenow", body), {})
        assert "Instance down" in failed(result)
        for secret in (PASSWORD, CLIENT_SECRET, KEY_PASSWORD):
            assert secret not in repr(result)


# --- retries -------------------------------------------------------------------------------------------


async def test_reads_and_updates_are_retried_creates_and_notes_only_on_429(casepush: Api, sn: FakeServiceNow):
    connector_id = await create_connector(casepush, ".servicenow", basic(sn, usesTableApi=True))
    sn.answer(
        "POST",
        "/api/now/v2/table/incident",
        429,
        {"error": {"message": "slow down"}},
        times=1,
        **{"Retry-After": "0"},
    )
    sn.answer("GET", "/api/now/v2/table/incident/sys1", 503, ERROR, times=1, **{"Retry-After": "0"})
    assert (await push(casepush, connector_id, {}))["status"] == "ok"
    assert len(sn.calls("POST")) == 2 and len(sn.calls("GET")) == 2
    sn.answer("PATCH", "/api/now/v2/table/incident/sys1", 503, ERROR, times=1, **{"Retry-After": "0"})
    comments = [{"comment": "note", "commentId": "c1"}]
    assert (await push(casepush, connector_id, {"externalId": "sys1"}, comments))["status"] == "ok"
    assert len(sn.calls("PATCH")) == 3  # the update twice, the note once
    sn.answer("PATCH", "/api/now/v2/table/incident/sys1", 503, ERROR, times=3, **{"Retry-After": "0"})
    failing = await push(casepush, connector_id, {"externalId": "sys1"}, [])
    assert "[status=503] [method=patch]" in failed(failing)  # after three attempts
    sn.answer("POST", "/api/now/v2/table/incident", 503, ERROR, times=1)
    assert "[status=503] [method=post]" in failed(await push(casepush, connector_id, {}))
    assert len(sn.calls("POST")) == 3  # the 503 create was not repeated


# --- OAuth ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key_password", [KEY_PASSWORD, None])
async def test_oauth_signs_a_jwt_and_caches_the_token(
    casepush: Api, sn: FakeServiceNow, private_key, key_password
):
    connector_id = await create_connector(casepush, ".servicenow", oauth(sn, private_key, key_password))
    created = await push(casepush, connector_id, {})
    assert created["status"] == "ok", created
    header, claims = sn.assertions[0]
    assert header["kid"] == KEY_ID and header["alg"] == "RS256"
    assert (claims["sub"], claims["aud"], claims["iss"]) == (USER_ID, CLIENT_ID, CLIENT_ID)
    assert claims["exp"] - claims["iat"] == 3600 and abs(claims["iat"] - time.time()) < 60
    assert "u_caller_id" not in sn.calls("POST", "/api/now/import/")[0].json()
    await push(casepush, connector_id, {"externalId": created["data"]["id"]})
    assert len(sn.calls("POST", "/oauth_token.do")) == 1
    assert {r.headers["Authorization"] for r in sn.requests if r.path != "/oauth_token.do"} == {
        "Bearer sim-token-1"
    }


async def test_oauth_refreshes_a_refused_token_once(casepush: Api, sn: FakeServiceNow, private_key):
    connector_id = await create_connector(casepush, ".servicenow", oauth(sn, private_key, usesTableApi=True))
    await push(casepush, connector_id, {})
    sn.revoked.add("sim-token-1")
    assert (await execute(casepush, connector_id, "getIncident", {"externalId": "sys1"}))["status"] == "ok"
    assert len(sn.tokens) == 2
    sn.revoked.add("sim-token-2")
    sn.answer(
        "POST",
        "/oauth_token.do",
        200,
        {"access_token": "sim-token-2", "token_type": "Bearer", "expires_in": 60},
    )
    result = await execute(casepush, connector_id, "getIncident", {"externalId": "sys1"})
    assert failed(result) == (
        "[Action][ServiceNow]: Unable to get incident with id sys1. Error: Request failed with status code"
        " 401 Reason: User Not Authenticated: Required to provide Auth information [status=401] [method=get]"
        " [endpoint=table]"
    )


async def test_an_expired_token_is_replaced(casepush: Api, sn: FakeServiceNow, private_key):
    sn.token_lifetime = 0
    connector_id = await create_connector(casepush, ".servicenow", oauth(sn, private_key, usesTableApi=True))
    await push(casepush, connector_id, {})
    assert len(sn.tokens) == 2  # the create and its read-back


async def test_a_refused_token_request_is_worded_as_kibana(casepush: Api, sn: FakeServiceNow, private_key):
    body = oauth(sn, private_key)
    body["secrets"]["clientSecret"] = "wrong-secret"
    connector_id = await create_connector(
        casepush, ".servicenow", {**body, "config": {**body["config"], "usesTableApi": True}}
    )
    assert failed(await push(casepush, connector_id, {})) == (
        "[Action][ServiceNow]: Unable to create incident. Error: invalid_client Reason: Client not found"
        " [status=none] [method=post] [endpoint=table]"
    )
    connector_id = await create_connector(casepush, ".servicenow", body)
    assert failed(await push(casepush, connector_id, {})) == (
        "[Action][ServiceNow]: Unable to create incident. Error: [Action][ServiceNow]: Unable to get"
        " application version. Error: invalid_client Reason: Client not found [status=none] [method=get]"
        " [endpoint=health] [status=none] [method=post] [endpoint=import_set]"
    )


async def test_a_wrong_key_password_is_reported(casepush: Api, sn: FakeServiceNow, private_key):
    body = oauth(sn, private_key, usesTableApi=True)
    body["secrets"]["privateKeyPassword"] = "not-the-password"
    connector_id = await create_connector(casepush, ".servicenow", body)
    message = failed(await push(casepush, connector_id, {}))
    assert message.startswith(
        "[Action][ServiceNow]: Unable to create incident. Error: Unable to generate JWT token."
    )
    assert message.endswith("[status=none] [method=post] [endpoint=table]")
    assert sn.requests == []


async def test_a_jwt_signed_by_another_key_is_refused(casepush: Api, sn: FakeServiceNow):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    connector_id = await create_connector(casepush, ".servicenow", oauth(sn, other, usesTableApi=True))
    assert failed(await push(casepush, connector_id, {})) == (
        "[Action][ServiceNow]: Unable to create incident. Error: invalid_grant Reason: Signature verification"
        " failed [status=none] [method=post] [endpoint=table]"
    )


# --- other sub-actions ---------------------------------------------------------------------------------


async def test_sub_actions(casepush: Api, sn: FakeServiceNow):
    connector_id = await create_connector(casepush, ".servicenow", basic(sn))
    fields = await execute(casepush, connector_id, "getFields", {})
    assert [f["element"] for f in fields["data"]] == ["close_notes", "description"]
    assert sn.requests[-1].path.startswith(
        "/api/now/table/sys_dictionary?sysparm_query=name%3Dtask%5EORname%3Dincident"
    )
    choices = await execute(casepush, connector_id, "getChoices", {"fields": ["priority", "urgency"]})
    assert choices["data"][0]["label"] == "1 - Critical"
    assert "element%3Dpriority%5EORelement%3Durgency%5Elanguage%3Den" in sn.requests[-1].path
    assert (await execute(casepush, connector_id, "handshake", {}))["status"] == "ok"
    await push(casepush, connector_id, {"correlation_id": "rule:alert"})
    incident = await execute(casepush, connector_id, "getIncident", {"externalId": "sys1"})
    assert incident["data"]["number"] == "INC0000001"
    assert failed(await execute(casepush, connector_id, "getIncident", {"externalId": " "})) == (
        "[Action][ServiceNow]: Unable to get incident with id  . Error: Incident id is empty. [status=none]"
        " [method=get] [endpoint=table]"
    )


async def test_close_incident(casepush: Api, sn: FakeServiceNow):
    # Kibana's close code, "Closed/Resolved by Caller", is one of older instances' (kept on upgrade).
    sn.close_codes["incident"] = list(LEGACY_CLOSE_CODES)
    connector_id = await create_connector(casepush, ".servicenow", basic(sn, usesTableApi=True))
    await push(casepush, connector_id, {"correlation_id": "rule:alert"})
    closed = await execute(
        casepush, connector_id, "closeIncident", {"incident": {"correlation_id": "rule:alert"}}
    )
    assert closed["data"]["id"] == "sys1"
    assert sn.calls("PATCH")[-1].json() == {
        "state": "7",
        "close_code": "Closed/Resolved by Caller",
        "close_notes": "Closed by Caller",
    }
    again = await execute(casepush, connector_id, "closeIncident", {"incident": {"externalId": "sys1"}})
    assert again["data"]["id"] == "sys1" and len(sn.calls("PATCH")) == 1
    missing = await execute(casepush, connector_id, "closeIncident", {"incident": {"externalId": "nope"}})
    assert missing["status"] == "ok" and missing.get("data") is None
    sir_id = await create_connector(casepush, ".servicenow-sir", basic(sn))
    status, answer = await casepush.post(
        f"/api/actions/connector/{sir_id}/_execute",
        {"params": {"subAction": "closeIncident", "subActionParams": {"incident": {}}}},
    )
    assert status == 200 and answer["status"] == "error"
    assert answer["message"].startswith("error validating action params")


# --- cases ---------------------------------------------------------------------------------------------


async def test_a_case_push_creates_then_updates(casepush: Api, sn: FakeServiceNow):
    connector_id = await create_connector(casepush, ".servicenow", basic(sn))
    fields = {"impact": "1", "severity": "2", "urgency": "3", "category": "software", "subcategory": None}
    connector = {
        "id": connector_id,
        "name": "SN",
        "type": ".servicenow",
        "fields": {**fields, "additionalFields": '{"u_team": "soc"}'},
    }
    case = await casepush.create_case(connector=connector)
    path = f"/api/cases/{case['id']}/connector/{connector_id}/_push"
    status, pushed = await casepush.post(path, {})
    assert status == 200, pushed
    assert pushed["external_service"]["external_id"] == "sys1"
    assert pushed["external_service"]["external_url"] == f"{sn.url}/nav_to.do?uri=incident.do?sys_id=sys1"
    body = sn.calls("POST", "/api/now/import/")[0].json()
    assert body["u_team"] == "soc"
    assert body["u_correlation_id"] == case["id"] and body["u_correlation_display"] == "Elastic Case"
    assert body["u_impact"] == "1" and body["u_category"] == "software"
    assert body["u_description"].startswith("Several failed logins followed by a success.\n\nAdded by ")
    status, _ = await casepush.post(
        f"/api/cases/{case['id']}/comments", {"type": "user", "comment": "Looked at it", "owner": "cases"}
    )
    assert status == 200
    status, again = await casepush.post(path, {})
    assert status == 200, again
    assert again["external_service"]["external_id"] == "sys1" and len(sn.incidents) == 1
    assert sn.work_notes["sys1"][0].startswith("Looked at it\n\nAdded by ")
    sn.break_all()
    status, answer = await casepush.post(path, {})
    assert status == 424
    assert "Unable to update incident with id sys1" in answer["message"]


async def test_a_sir_case_push_sends_its_fields(casepush: Api, sn: FakeServiceNow):
    connector_id = await create_connector(casepush, ".servicenow-sir", basic(sn, usesTableApi=True))
    fields = {
        "category": "c",
        "subcategory": "s",
        "priority": "1",
        "destIp": True,
        "sourceIp": False,
        "malwareHash": None,
        "malwareUrl": True,
    }
    case = await casepush.create_case(
        connector={"id": connector_id, "name": "SN", "type": ".servicenow-sir", "fields": fields}
    )
    status, pushed = await casepush.post(f"/api/cases/{case['id']}/connector/{connector_id}/_push", {})
    assert status == 200, pushed
    body = sn.calls("POST", "/api/now/v2/table/sn_si_incident")[0].json()
    assert body["correlation_id"] == case["id"] and body["priority"] == "1"
    assert (body["dest_ip"], body["malware_url"], body["category"]) == ("", "", "c")


async def test_an_interrupted_create_is_found_by_correlation_id(casepush: Api, sn: FakeServiceNow):
    connector_id = await create_connector(casepush, ".servicenow", basic(sn, usesTableApi=True))
    case = await casepush.create_case(
        connector={"id": connector_id, "name": "SN", "type": ".servicenow", "fields": None}
    )
    path = f"/api/cases/{case['id']}/connector/{connector_id}/_push"
    sn.answer("GET", "/api/now/v2/table/incident/sys1", 500, ERROR, times=1)
    status, answer = await casepush.post(path, {})
    assert status == 424, answer
    status, pushed = await casepush.post(path, {})
    assert status == 200, pushed
    assert pushed["external_service"]["external_id"] == "sys1" and len(sn.incidents) == 1
    lookup = sn.calls("GET", "/api/now/v2/table/incident?")
    assert len(lookup) == 1 and f"correlation_id%3D{case['id']}" in lookup[0].path


# --- the contract --------------------------------------------------------------------------------------


class _Contract(ConnectorContract):
    @pytest.fixture
    def contract_connector(self, sn: FakeServiceNow) -> dict:
        # Whom the contract's case is assigned to.
        sn.users.append(
            {
                "sys_id": "usr-contract",
                "user_name": "contract",
                "name": "Contract Assignee",
                "email": "assignee@example.com",
            }
        )
        return basic(sn)

    @pytest.fixture
    def contract_push_params(self) -> Callable:
        def params(external_id: str | None, comments: list[tuple[str, str]]) -> dict:
            return {
                "incident": {"short_description": "Contract", "externalId": external_id},
                "comments": [{"commentId": c, "comment": text} for c, text in comments],
            }

        return params

    @pytest.fixture
    def contract_break(self, sn: FakeServiceNow) -> Callable[[], None]:
        return sn.break_all

    @pytest.fixture
    def contract_external_comment(self, sn: FakeServiceNow) -> Callable[[str, str], Any]:
        async def comment(sys_id: str, text: str) -> None:
            sn.now = datetime.now(UTC).strftime(TIME_FORMAT)  # polls count from casepush's time
            await sn.act(sys_id, "jane.doe", comments=text)

        return comment

    @pytest.fixture
    def contract_inbound_call(
        self, sn: FakeServiceNow, fake_service: Callable[[], FakeService], contract_external_comment: Callable
    ) -> Callable[[str, str, str], Any]:
        async def call(sys_id: str, text: str, secret: str) -> tuple[bytes, dict[str, str]]:
            receiver = fake_service()

            @receiver.route("POST", "/inbound")
            async def taken(request: web.Request) -> web.Response:
                return web.Response(status=204)

            sn.install_business_rules(f"{await receiver.start()}/inbound", secret)
            await contract_external_comment(sys_id, text)
            (sent,) = [r for r in receiver.requests if r.path == "/inbound"]
            return sent.body, {
                "Authorization": sent.headers["Authorization"],
                "Content-Type": "application/json",
            }

        return call


class TestServiceNowContract(_Contract):
    @pytest.fixture
    def contract_type_id(self) -> str:
        return ".servicenow"


class TestServiceNowSirContract(_Contract):
    @pytest.fixture
    def contract_type_id(self) -> str:
        return ".servicenow-sir"
