"""The TheHive connector type (``.thehive``) through casepush's HTTP API, against a fake TheHive 5
(``fake_thehive``)."""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import casepush_thehive
import msgspec
import pytest
from fake_thehive import ANALYST, API_KEY, ORGANISATION, FakeTheHive, answer, error, start_thehive

from casepush.config import Settings
from casepush.testing import PASSWORD, Api, FakeService
from casepush.testing.client import case_body
from casepush.testing.contract import ConnectorContract
from casepush.testing.database import StoredData

RUN_ERROR = "an error occurred while running the action"


@pytest.fixture
def casepush_plugins() -> list[object]:
    return [casepush_thehive]


@pytest.fixture
async def thehive(fake_service: Callable[[], FakeService]) -> FakeTheHive:
    return await start_thehive(fake_service())


def connector_body(url: str, organisation: str | None = None, api_key: str = API_KEY) -> dict:
    config: dict[str, Any] = {"url": url}
    if organisation is not None:
        config["organisation"] = organisation
    return {
        "name": "TheHive",
        "connector_type_id": ".thehive",
        "config": config,
        "secrets": {"apiKey": api_key},
    }


@pytest.fixture
async def connector(casepush: Api, thehive: FakeTheHive) -> dict:
    status, made = await casepush.post("/api/actions/connector", connector_body(thehive.url + "/"))
    assert status == 200, made
    return made


def push_params(external_id: str | None = None, comments: Any = (), **incident: Any) -> dict:
    return {
        "incident": {"title": "Malware", "description": "A trojan.", "externalId": external_id, **incident},
        "comments": [{"commentId": comment_id, "comment": text} for comment_id, text in comments],
    }


def case_connector(connector: dict, tlp: Any = 3) -> dict:
    return {"id": connector["id"], "name": "TheHive", "type": ".thehive", "fields": {"tlp": tlp}}


async def new_case(api: Api, on: dict, **fields: Any) -> dict:
    body = case_body(connector=case_connector(on), tags=["malware", "laptop 7"], severity="high")
    status, case = await api.post("/api/cases", {**body, **fields})
    assert status == 200, case
    return case


async def push(api: Api, case_id: str, connector_id: str) -> tuple[int, Any]:
    return await api.post(f"/api/cases/{case_id}/connector/{connector_id}/_push", {})


# --- the type and its connectors ---------------------------------------------------------------------------


async def test_the_type_is_listed_as_kibana_lists_it(casepush):
    status, types = await casepush.get("/api/actions/connector_types")

    assert status == 200
    (listed,) = [t for t in types if t["id"] == ".thehive"]
    assert listed["name"] == "TheHive"
    assert listed["minimum_license_required"] == "platinum"
    assert listed["supported_feature_ids"] == ["alerting", "siem", "uptime", "cases"]


async def test_a_connector_keeps_a_null_organisation_and_never_shows_its_key(casepush, connector):
    assert connector["config"] == {"url": connector["config"]["url"], "organisation": None}
    assert "secrets" not in connector and API_KEY not in repr(connector)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"config": {}, "secrets": {"apiKey": "k"}},
            "error validating action type config: [url]: expected value of type [string] but got [undefined]",
        ),
        (
            {"config": {"url": "http://x", "organisation": 3}, "secrets": {"apiKey": "k"}},
            "error validating action type config: [organisation]: expected value of type [string]"
            " but got [number]",
        ),
        (
            {"config": {"url": "http://x", "org": "SOC"}, "secrets": {"apiKey": "k"}},
            "error validating action type config: [org]: definition for this key is missing",
        ),
        (
            {"config": {"url": "http://x"}, "secrets": {}},
            "error validating action type secrets: [apiKey]: expected value of type [string]"
            " but got [undefined]",
        ),
    ],
)
async def test_bad_config_and_secrets_are_refused_in_kibanas_words(casepush, body, message):
    status, answer_ = await casepush.post(
        "/api/actions/connector", {"name": "TheHive", "connector_type_id": ".thehive", **body}
    )

    assert (status, answer_["message"]) == (400, message)


@pytest.mark.parametrize("casepush_settings", [{"allowed_hosts": ("thehive.example",)}], indirect=True)
async def test_a_url_off_the_allowed_hosts_is_refused(casepush):
    status, answer_ = await casepush.post("/api/actions/connector", connector_body("http://127.0.0.1:9/"))

    assert (status, answer_["message"]) == (
        400,
        'error validating action type config: error validating url: target url "http://127.0.0.1:9/" is not'
        " added to the Kibana config xpack.actions.allowedHosts",
    )


@pytest.fixture
def casepush_settings(
    request: pytest.FixtureRequest, tmp_path: Path, casepush_database_url: str | None
) -> Settings:
    extra = getattr(request, "param", {})
    return Settings(
        data_dir=str(tmp_path / "casepush"),
        database_url=casepush_database_url,
        elastic_password=PASSWORD,
        **extra,
    )


async def test_secrets_are_sealed_in_the_database(casepush, casepush_settings, connector):
    assert API_KEY.encode() not in await StoredData(casepush_settings).everything()


# --- pushToService --------------------------------------------------------------------------------------


async def test_create_posts_the_incident_with_kibanas_headers_and_answers_its_url(
    casepush, thehive, connector
):
    params = push_params(severity=3, tlp=1, tags=["a", "b"])

    data = await casepush.executed(connector["id"], "pushToService", params)

    case_id = next(iter(thehive.cases))
    assert data == {
        "id": case_id,
        "title": "Malware",
        "url": f"{thehive.url}/cases/{case_id}/details",
        "pushedDate": "2024-04-03T07:09:14.041Z",
    }
    (sent,) = thehive.requests
    assert (sent.method, sent.path) == ("POST", "/api/v1/case")
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["Content-Type"] == "application/json"
    assert "X-Organisation" not in sent.headers
    assert sent.json() == {
        "title": "Malware",
        "description": "A trojan.",
        "severity": 3,
        "tlp": 1,
        "tags": ["a", "b"],
    }


async def test_unset_fields_are_sent_null_as_kibanas_schema_defaults_them(casepush, thehive, connector):
    await casepush.executed(connector["id"], "pushToService", push_params())

    assert thehive.sent("POST", "/case") == [
        {"title": "Malware", "description": "A trojan.", "severity": None, "tlp": None, "tags": None}
    ]


async def test_the_organisation_header_is_sent_when_set(casepush, thehive):
    status, made = await casepush.post("/api/actions/connector", connector_body(thehive.url, ORGANISATION))
    assert status == 200, made

    await casepush.executed(made["id"], "pushToService", push_params())

    assert thehive.requests[0].headers["X-Organisation"] == ORGANISATION


async def test_update_patches_the_case_and_adds_every_comment(casepush, thehive, connector):
    case = thehive.seed()
    params = push_params(
        case["_id"], [("c-1", "Looked at it."), ("c-2", "Isolated the host.")], title="Malware 2"
    )

    data = await casepush.executed(connector["id"], "pushToService", params)

    assert data["id"] == case["_id"] and data["title"] == "Malware 2"
    assert data["url"] == f"{thehive.url}/cases/{case['_id']}/details"
    assert [c["commentId"] for c in data["comments"]] == ["c-1", "c-2"]
    assert {c["pushedDate"] for c in data["comments"]} == {data["pushedDate"]}
    assert thehive.calls() == [
        f"PATCH /case/{case['_id']}",
        f"POST /case/{case['_id']}/comment",
        f"POST /case/{case['_id']}/comment",
    ]
    assert thehive.sent("PATCH", f"/case/{case['_id']}") == [
        {"title": "Malware 2", "description": "A trojan.", "severity": None, "tlp": None, "tags": None}
    ]
    assert [c["message"] for c in thehive.comments[case["_id"]]] == ["Looked at it.", "Isolated the host."]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        (
            {"incident": {"description": "x"}},
            "[incident.title]: expected value of type [string] but got [undefined]",
        ),
        (
            {"incident": {"title": "x", "description": "y", "tlp": "red"}},
            "[incident.tlp]: expected value of type [number] but got [string]",
        ),
    ],
)
async def test_bad_push_params_fail_the_run_before_any_call(casepush, thehive, connector, params, detail):
    result = await casepush.execute(connector["id"], "pushToService", params)

    assert result == {  # Kibana's sub-action framework checks the params in the run
        "status": "error",
        "message": "an error occurred while running the action",
        "connector_id": connector["id"],
        "retry": True,
        "service_message": f"Request validation failed (Error: {detail})",
    }
    assert thehive.requests == []


async def test_a_sub_action_thehive_does_not_have_fails_the_run_and_a_missing_one_the_params(
    casepush, thehive, connector
):
    unknown = await casepush.execute(connector["id"], "getIncident", {"externalId": "1"})
    _, missing = await casepush.post(f"/api/actions/connector/{connector['id']}/_execute", {"params": {}})

    assert unknown == {
        "status": "error",
        "message": "an error occurred while running the action",
        "connector_id": connector["id"],
        "retry": True,
        "service_message": f'Sub action "getIncident" is not registered. Connector id: {connector["id"]}.'
        " Connector name: TheHive. Connector type: .thehive",
    }
    assert missing == {
        "status": "error",
        "message": "error validating action params: [subAction]: expected value of type [string] but got"
        " [undefined]",
        "connector_id": connector["id"],
        "retry": False,
    }
    assert thehive.requests == []


# --- TheHive failing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (
            lambda: error(400, "BadRequest", "Invalid json"),
            "Status code: 400. Message: API Error: BadRequest - Invalid json",
        ),
        (
            lambda: error(404, "NotFoundError", "Case ~1 not found"),
            "Status code: 404. Message: API Error: NotFoundError - Case ~1 not found",
        ),
        (
            lambda: error(500, "InternalError", "Boom"),
            "Status code: 500. Message: API Error: InternalError - Boom",
        ),
        (
            lambda: answer(502, text="<html>Bad gateway</html>"),
            "Status code: 502. Message: API Error: undefined - undefined",
        ),
        (
            lambda: answer(201, {"_id": "~1"}),
            "Response validation failed (Error: [_type]: expected value of type [string]"
            " but got [undefined])",
        ),
        (
            lambda: answer(201, text="created"),
            "Response validation failed (Error: expected a plain object value, but found [string] instead.)",
        ),
    ],
)
async def test_a_failed_create_answers_kibanas_message(casepush, thehive, connector, failure, message):
    thehive.fail_next(*(failure() for _ in range(3)))

    assert await casepush.execution_failed(connector["id"], "pushToService", push_params()) == message


async def test_a_wrong_api_key_is_theHives_authentication_error(casepush, thehive):
    status, made = await casepush.post("/api/actions/connector", connector_body(thehive.url, api_key="wrong"))
    assert status == 200, made

    message = await casepush.execution_failed(made["id"], "pushToService", push_params())

    assert message == "Status code: 401. Message: API Error: AuthenticationError - Authentication failure"


async def test_no_answer_is_kibanas_unknown_api_error(casepush):
    status, made = await casepush.post("/api/actions/connector", connector_body("http://127.0.0.1:9"))
    assert status == 200, made

    message = await casepush.execution_failed(made["id"], "pushToService", push_params())

    assert message == "Status code: undefined. Message: Unknown API Error"


async def test_a_failed_comment_fails_the_push(casepush, thehive, connector):
    case = thehive.seed()

    message = await casepush.execution_failed(
        connector["id"], "pushToService", push_params("~999", [("c", "x")])
    )

    assert message == "Status code: 404. Message: API Error: NotFoundError - Case ~999 not found"
    assert thehive.comments[case["_id"]] == []


# --- createAlert ------------------------------------------------------------------------------------------

ALERT = {
    "title": "Beacon",
    "description": "C2 traffic.",
    "type": "external",
    "source": "Kibana",
    "sourceRef": "r-1",
}


async def test_create_alert_posts_the_params_with_the_body_spread_over_them(casepush, thehive, connector):
    body = '{"observables": [{"dataType": "url", "data": "http://evil.example"}], "severity": 4}'
    params = {**ALERT, "severity": 1, "tlp": 2, "tags": ["c2"], "isRuleSeverity": True, "body": body}

    data = await casepush.executed(connector["id"], "createAlert", params)

    assert data == {}
    assert thehive.sent("POST", "/alert") == [
        {
            **ALERT,
            "severity": 4,
            "tlp": 2,
            "tags": ["c2"],
            "observables": [{"dataType": "url", "data": "http://evil.example"}],
        }
    ]


async def test_create_alert_defaults_its_optional_params_to_null(casepush, thehive, connector):
    await casepush.executed(connector["id"], "createAlert", ALERT)

    assert thehive.sent("POST", "/alert") == [{**ALERT, "severity": None, "tlp": None, "tags": None}]


@pytest.mark.parametrize(
    ("body", "message"),
    [("{", "Unexpected end of JSON input"), ("nope", "Unexpected token 'n', \"nope\" is not valid JSON")],
)
async def test_create_alert_with_a_body_that_is_not_json_calls_nothing(
    casepush, thehive, connector, body, message
):
    assert await casepush.execution_failed(connector["id"], "createAlert", {**ALERT, "body": body}) == message
    assert thehive.requests == []


async def test_create_alert_refused_by_theHive(casepush, thehive, connector):
    thehive.fail_next(error(400, "BadRequest", "Alert already exists"))

    message = await casepush.execution_failed(connector["id"], "createAlert", ALERT)

    assert message == "Status code: 400. Message: API Error: BadRequest - Alert already exists"


async def test_create_alert_params_are_checked(casepush, thehive, connector):
    result = await casepush.execute(connector["id"], "createAlert", {"title": "x"})

    assert result["status"] == "error"
    assert result["service_message"] == (
        "Request validation failed (Error: [description]: expected value of type [string]"
        " but got [undefined])"
    )


# --- a case pushed ----------------------------------------------------------------------------------------


async def test_a_case_push_sends_kibanas_format_and_records_the_case_url(casepush, thehive, connector):
    case = await new_case(casepush, connector)
    await casepush.post(
        f"/api/cases/{case['id']}/comments", {"type": "user", "comment": "First look.", "owner": "cases"}
    )
    alert = {
        "type": "alert",
        "alertId": ["a1", "a2"],
        "index": ["i", "i"],
        "rule": {"id": "r", "name": "R"},
        "owner": "cases",
    }
    await casepush.post(f"/api/cases/{case['id']}/comments", alert)

    status, pushed = await push(casepush, case["id"], connector["id"])

    assert status == 200, pushed
    (case_id,) = thehive.cases
    service = pushed["external_service"]
    assert (service["external_id"], service["external_title"]) == (case_id, case["title"])
    assert service["external_url"] == f"{thehive.url}/cases/{case_id}/details"
    (sent,) = thehive.sent("POST", "/case")
    assert sent == {
        "title": case["title"],
        "description": sent["description"],
        "severity": 3,
        "tlp": 3,
        "tags": ["malware", "laptop 7", f"casepush-case-{case['id']}"],
    }
    assert sent["description"].startswith(case["description"] + "\n\nAdded by ")
    messages = [c["message"] for c in thehive.comments[case_id]]
    assert messages[0].startswith("First look.\n\nAdded by ")
    assert messages[1] == "Elastic Alerts attached to the case: 2"


async def test_a_second_push_patches_and_sends_only_new_comments(casepush, thehive, connector):
    case = await new_case(casepush, connector)
    await casepush.post(
        f"/api/cases/{case['id']}/comments", {"type": "user", "comment": "One.", "owner": "cases"}
    )
    assert (await push(casepush, case["id"], connector["id"]))[0] == 200
    await casepush.post(
        f"/api/cases/{case['id']}/comments", {"type": "user", "comment": "Two.", "owner": "cases"}
    )

    status, pushed = await push(casepush, case["id"], connector["id"])

    assert status == 200, pushed
    (case_id,) = thehive.cases
    assert [r for r in thehive.calls() if r.startswith("PATCH")] == [f"PATCH /case/{case_id}"]
    assert [c["message"].split("\n")[0] for c in thehive.comments[case_id]] == ["One.", "Two."]


@pytest.mark.parametrize(("severity", "number"), [("low", 1), ("medium", 2), ("critical", 4)])
async def test_the_case_severity_becomes_theHives_number(casepush, thehive, connector, severity, number):
    case = await new_case(casepush, connector, severity=severity)

    assert (await push(casepush, case["id"], connector["id"]))[0] == 200

    assert thehive.sent("POST", "/case")[0]["severity"] == number


async def test_a_case_without_fields_sends_a_null_tlp(casepush, thehive, connector):
    case = await new_case(casepush, connector, connector={**case_connector(connector), "fields": None})

    assert (await push(casepush, case["id"], connector["id"]))[0] == 200

    assert thehive.sent("POST", "/case")[0]["tlp"] is None


@pytest.mark.parametrize("fields", [{}, {"tlp": "red"}, {"tlp": 2, "pap": 1}])
async def test_bad_case_fields_are_refused(casepush, connector, fields):
    body = case_body(connector={**case_connector(connector), "fields": fields})

    status, refused = await casepush.post("/api/cases", body)

    assert status == 400, refused
    assert refused["message"].startswith("Invalid value")


async def test_a_failed_case_push_is_a_424_and_leaves_the_case_unpushed(casepush, thehive, connector):
    case = await new_case(casepush, connector)
    thehive.break_all()

    status, refused = await push(casepush, case["id"], connector["id"])

    assert (status, refused["message"]) == (
        424,
        "Status code: 500. Message: API Error: InternalError - Database unavailable",
    )
    status, current = await casepush.get(f"/api/cases/{case['id']}")
    assert current["external_service"] is None


async def test_status_and_severity_changes_make_the_case_need_a_push(casepush, thehive, connector):
    case = await new_case(casepush, connector)
    assert (await push(casepush, case["id"], connector["id"]))[0] == 200
    _, current = await casepush.get(f"/api/cases/{case['id']}")
    patch = {"cases": [{"id": case["id"], "version": current["version"], "severity": "low"}]}
    assert (await casepush.patch("/api/cases", patch))[0] == 200

    _, connectors = await casepush.get(f"/internal/cases/{case['id']}/_connectors")

    assert connectors[connector["id"]]["push"]["needsToBePushed"] is True


# --- the contract kit --------------------------------------------------------------------------------------


class TestTheHiveContract(ConnectorContract):
    @pytest.fixture
    def contract_type_id(self) -> str:
        return ".thehive"

    @pytest.fixture
    def contract_connector(self, thehive: FakeTheHive) -> dict:
        return {"config": {"url": thehive.url}, "secrets": {"apiKey": API_KEY}}

    @pytest.fixture
    def contract_push_params(self) -> Callable[[str | None, list[tuple[str, str]]], dict]:
        return push_params

    @pytest.fixture
    def contract_break(self, thehive: FakeTheHive) -> Callable[[], None]:
        return thehive.break_all

    @pytest.fixture
    def contract_external_comment(self, thehive: FakeTheHive) -> Callable[[str, str], None]:
        def comment(case_id: str, text: str) -> None:
            thehive.now = int(time.time() * 1000)  # polls count from casepush's time
            thehive.comment_as(ANALYST, case_id, text)

        return comment

    @pytest.fixture
    def contract_inbound_call(
        self, thehive: FakeTheHive, contract_external_comment: Callable[[str, str], None]
    ) -> Callable[[str, str, str], tuple[bytes, dict[str, str]]]:
        def call(case_id: str, text: str, secret: str) -> tuple[bytes, dict[str, str]]:
            contract_external_comment(case_id, text)
            body = msgspec.json.encode(thehive.notification(thehive.audits[-1]))
            return body, {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}

        return call
