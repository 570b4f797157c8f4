"""What operators watch: ``/metrics``, the request log (text in-process, JSON lines from a real
``casepush serve``) and the status page's database check and plugins."""

import json
import logging
import re
from datetime import UTC, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

import casepush
from casepush.config import KIBANA_VERSION
from casepush.testing.client import basic_auth
from casepush.web.state import STORE
from tests.helpers import TOKEN, Api, case_body, connector_body
from tests.processes import call, free_port, start_with_plugins, stop
from tests.raw_http import exchange, request_head

REQUEST_FIELDS = {"request_id", "user", "space", "method", "route", "status", "duration_ms"}


async def scrape(api: Api) -> str:
    """``/metrics`` as a scraper reads it: without credentials."""
    anonymous = Api(api.client, auth=None)
    status, text = await anonymous.get("/metrics")
    assert (status, anonymous.last_headers["Content-Type"].split(";")[0]) == (200, "text/plain"), text
    return text


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition (0 when absent: a counter not yet incremented)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return 0.0


async def push(api: Api, case_id: str, connector_id: str) -> int:
    status, _ = await api.post(f"/api/cases/{case_id}/connector/{connector_id}/_push", {})
    return status


# --- metrics ---------------------------------------------------------------------------------------------


async def test_metrics_count_pushes_and_the_connector_calls_they_make(api, echo):
    _, connector = await api.post("/api/actions/connector", connector_body(echo.url))
    case = await api.create_case()

    assert await push(api, case["id"], connector["id"]) == 200
    echo.break_all()
    assert await push(api, case["id"], connector["id"]) == 424
    text = await scrape(api)

    echo_pushes = {"connector_type": ".echo"}
    assert sample(text, "casepush_pushes_total", **echo_pushes, outcome="success") == 1
    assert sample(text, "casepush_pushes_total", **echo_pushes, outcome="failure") == 1
    assert sample(text, "casepush_push_duration_seconds_count", **echo_pushes) == 2
    assert sample(text, "casepush_push_duration_seconds_sum", **echo_pushes) > 0
    # The create answered, then the update of the broken service did not.
    assert sample(text, "casepush_external_requests_total", **echo_pushes, status="200") == 1
    assert sample(text, "casepush_external_requests_total", **echo_pushes, status="503") == 1


async def test_a_connector_call_without_an_answer_is_counted_as_an_error(api):
    closed_port = free_port()
    _, connector = await api.post("/api/actions/connector", connector_body(f"http://127.0.0.1:{closed_port}"))
    params = {"subAction": "getIncident", "subActionParams": {"externalId": "1"}}

    status, result = await api.post(f"/api/actions/connector/{connector['id']}/_execute", {"params": params})

    assert (status, result["status"]) == (200, "error")
    text = await scrape(api)
    assert sample(text, "casepush_external_requests_total", connector_type=".echo", status="error") == 1


async def test_requests_are_counted_by_route_template_never_by_path(api):
    case = await api.create_case()
    for _ in range(2):
        await api.get(f"/api/cases/{case['id']}")
    await api.get("/no/such/path")
    await api.request("PROPFIND", "/api/cases")

    text = await scrape(api)

    route = {"route": "/api/cases/{case_id}"}
    assert sample(text, "casepush_http_requests_total", method="GET", **route, status="200") == 2
    assert sample(text, "casepush_http_request_duration_seconds_count", method="GET", **route) == 2
    assert sample(text, "casepush_http_requests_total", method="GET", route="unmatched", status="404") == 1
    # Any method may be sent: those that are not HTTP's own share one label.
    assert sample(text, "casepush_http_requests_total", method="other", route="unmatched", status="404") == 1
    assert case["id"] not in text
    assert "/no/such/path" not in text


async def test_metrics_report_the_database_connections(api):
    text = await scrape(api)

    most = sample(text, "casepush_db_connections_max")
    assert most >= 2
    assert 1 <= sample(text, "casepush_db_connections_open") <= most
    assert 0 <= sample(text, "casepush_db_connections_in_use") <= most


async def test_each_app_counts_its_own_requests(api_with):
    first, second = await api_with(), await api_with()

    await first.get("/api/cases/_find")

    find = {"method": "GET", "route": "/api/cases/_find", "status": "200"}
    assert sample(await scrape(first), "casepush_http_requests_total", **find) == 1
    assert sample(await scrape(second), "casepush_http_requests_total", **find) == 0


# --- request log ------------------------------------------------------------------------------------------


async def test_each_request_is_logged_once_with_its_route_template_and_caller(api, caplog):
    await api.create_space("team")
    case = await api.create_case()
    with caplog.at_level(logging.INFO, logger="casepush.requests"):
        await api.get(f"/api/cases/{case['id']}?includeComments=false")
        request_id = api.last_headers["X-Request-Id"]
        await api.get("/s/team/api/cases/_find?search=needle")
        await Api(api.client, auth=None).get("/api/status")

    case_line, find_line, status_line = [r for r in caplog.records if r.name == "casepush.requests"]
    assert case_line.getMessage().startswith(
        f"request_id={request_id} user=elastic space=default method=GET route=/api/cases/{{case_id}}"
        " status=200 duration_ms="
    )
    assert (find_line.space, find_line.route) == ("team", "/s/{space_id}/api/cases/_find")
    assert (status_line.user, status_line.space, status_line.status) == ("-", "-", 200)
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert case["id"] not in logged
    assert "needle" not in logged


async def test_json_request_logs_of_a_whole_session_hold_the_fields_and_no_secret(
    installed_echo, settings, echo
):
    process, url = await start_with_plugins(installed_echo, settings, CASEPUSH_LOG_FORMAT="json")
    try:
        secrets = await whole_session(url, echo.url)
    finally:
        output = await stop(process)

    entries = [json.loads(line) for line in output.splitlines()]
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    requests = [entry for entry in entries if entry["logger"] == "casepush.requests"]
    assert all(entry.keys() >= REQUEST_FIELDS for entry in requests)
    pushes = [entry for entry in requests if entry["route"].endswith("/_push")]
    assert [(p["method"], p["status"], p["user"], p["space"]) for p in pushes] == [
        ("POST", 200, "elastic", "default")
    ]
    assert {entry["user"] for entry in requests} >= {"elastic", "alice", "-"}
    for secret in secrets:
        assert secret not in output


async def whole_session(url: str, echo_url: str) -> list[str]:
    """Users, an API key, a connector with secrets, a push and a search against a server whose
    ``elastic`` password is ``changeme``; the secrets (and search term) it sent."""
    elastic, password, wrong = basic_auth("elastic", "changeme"), "alice-pass-Xy7!q", "guessed-pass-Zk2"
    await call(url, "PUT", "/_security/user/alice", {"password": password, "roles": ["superuser"]})
    alice = basic_auth("alice", password)
    _, key = await call(url, "POST", "/_security/api_key", {"name": "script"}, auth=alice)
    assert (await call(url, "GET", "/api/cases/_find", auth=f"ApiKey {key['encoded']}"))[0] == 200
    assert (await call(url, "GET", "/api/cases/_find", auth=basic_auth("alice", wrong)))[0] == 401
    _, connector = await call(url, "POST", "/api/actions/connector", connector_body(echo_url))
    _, case = await call(url, "POST", "/api/cases", case_body())
    status, _ = await call(url, "POST", f"/api/cases/{case['id']}/connector/{connector['id']}/_push", {})
    assert status == 200
    assert (await call(url, "GET", "/api/cases/_find?search=needle-term"))[0] == 200
    # A request aiohttp cannot parse: its answer and log line would quote the start of the header.
    oversized = basic_auth("alice", password + "-" * 9000).split()[1]
    head = request_head("GET", "/api/cases/_find", f"Authorization: Basic {oversized}")
    assert (await exchange(url, head))[0] == 431
    return [
        oversized[:40],
        "changeme",
        elastic.split()[1],
        password,
        alice.split()[1],
        wrong,
        key["api_key"],
        key["encoded"],
        TOKEN,
        "needle-term",
    ]


# --- status -----------------------------------------------------------------------------------------------


async def test_status_reports_the_database_check_and_the_plugins(api):
    status, body = await Api(api.client, auth=None).get("/api/status")

    assert status == 200
    assert body["name"] == "casepush"
    assert body["version"]["number"] == KIBANA_VERSION
    assert body["casepush"] == {"version": casepush.__version__}
    assert body["status"]["overall"] == {
        "level": "available",
        "summary": "All services and plugins are available",
    }
    database = body["status"]["core"]["database"]
    assert (database["level"], database["summary"]) == ("available", "The database answers")
    assert database["meta"]["latency_ms"] >= 0
    assert body["status"]["plugins"] == {
        "casepush_echo": {
            "level": "available",
            "summary": "Loaded",
            "meta": {"version": None, "connector_types": [".echo"]},
        }
    }


async def test_status_is_503_unavailable_when_the_database_does_not_answer(api):
    await api.client.app[STORE].close()

    status, body = await Api(api.client, auth=None).get("/api/status")

    assert status == 503
    assert body["status"]["overall"] == {"level": "unavailable", "summary": "The database is unavailable"}
    assert body["status"]["core"]["database"]["level"] == "unavailable"
    assert body["version"]["number"] == KIBANA_VERSION


async def test_status_version_is_kibanas_with_the_fields_of_kibanas_newest_status_api(api):
    body = await ok_status(api)
    version = body["version"]

    assert list(version) == [
        "number",
        "build_hash",
        "build_number",
        "build_snapshot",
        "build_flavor",
        "build_date",
    ]
    # What Kibana says for a build that is not one of its distributables: casepush is none.
    assert version["number"] == "9.2.0"
    assert (version["build_hash"], version["build_number"]) == ("X" * 40, 2**53 - 1)
    assert (version["build_snapshot"], version["build_flavor"]) == (False, "traditional")
    assert datetime.fromisoformat(version["build_date"]) <= datetime.now(UTC)
    # JavaScript's ``toISOString``, as Kibana writes it.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", version["build_date"])


@pytest.mark.parametrize(
    "configured, number, snapshot",
    [("8.19.6", "8.19.6", False), ("9.3.0-SNAPSHOT", "9.3.0", True), ("9.0.0-beta1", "9.0.0-beta1", False)],
)
async def test_status_reports_the_configured_kibana_version(api_with, configured, number, snapshot):
    api = await api_with(kibana_version=configured)

    version = (await ok_status(api))["version"]

    assert (version["number"], version["build_snapshot"]) == (number, snapshot)


@pytest.mark.parametrize("query", ["", "?v8format=true", "?v7format=false"])
async def test_status_answers_the_8x_format_by_default_and_when_asked(api, query):
    body = await ok_status(api, query)

    assert set(body["status"]) == {"overall", "core", "plugins"}


@pytest.mark.parametrize("query", ["?v7format=true", "?v8format=false"])
async def test_status_answers_kibanas_7x_format_when_asked(api, query):
    body = await ok_status(api, query)

    since = body["status"]["overall"].pop("since")
    assert body["status"]["overall"] == {
        "state": "green",
        "title": "Green",
        "nickname": "Looking good",
        "icon": "success",
        "uiColor": "success",
    }
    assert body["status"]["statuses"] == [
        {
            "id": "core:database@9.2.0",
            "message": "The database answers",
            "since": since,
            "state": "green",
            "icon": "success",
            "uiColor": "success",
        },
        {
            "id": "plugin:casepush_echo@9.2.0",
            "message": "Loaded",
            "since": since,
            "state": "green",
            "icon": "success",
            "uiColor": "success",
        },
    ]
    assert (body["name"], body["version"]["number"]) == ("casepush", "9.2.0")


async def test_status_in_the_7x_format_is_red_and_503_without_the_database(api):
    await api.client.app[STORE].close()

    status, body = await Api(api.client, auth=None).get("/api/status?v7format=true")

    assert status == 503
    assert (body["status"]["overall"]["state"], body["status"]["statuses"][0]["state"]) == ("red", "red")
    assert body["status"]["overall"]["nickname"] == "Danger Will Robinson! Danger!"


@pytest.mark.parametrize(
    "query, message",
    [
        (
            "v7format=true&v8format=true",
            "[request query]: provide only one format option: v7format or v8format",
        ),
        (
            "v7format=false&v8format=true",
            "[request query]: provide only one format option: v7format or v8format",
        ),
        ("v7format=yes", "[request query.v7format]: expected value of type [boolean] but got [string]"),
        ("v9format=true", "[request query.v9format]: definition for this key is missing"),
    ],
)
async def test_status_refuses_the_queries_kibana_refuses(api, query, message):
    status, body = await Api(api.client, auth=None).get(f"/api/status?{query}")

    assert (status, body) == (400, {"statusCode": 400, "error": "Bad Request", "message": message})


async def ok_status(api: Api, query: str = "") -> dict:
    status, body = await Api(api.client, auth=None).get(f"/api/status{query}")
    assert status == 200, body
    return body
