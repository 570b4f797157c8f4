"""Cases pushed to Swimlane (``.swimlane``): what the record gets, the case's connector fields, failures,
crash recovery, the web UI's connector form and the contract every connector type passes."""

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import casepush_swimlane
import msgspec
import pytest
from casepush_swimlane.schema import PushToService, SwimlaneConfig, SwimlaneSecrets
from fake_swimlane import (
    APP_ID,
    MAPPINGS,
    TOKEN,
    FakeSwimlane,
    answer,
    later,
    mapping,
    server_error,
    swimlane_error,
)
from swimlane_support import (
    CREATE,
    RECORDS,
    SECRETS,
    UNMAPPED,
    case_connector,
    casepush_plugins,
    connector,
    push_case,
    push_params,
    swimlane,
    swimlane_config,
)

from casepush.connectors import Connector, ConnectorError, PushedIncident
from casepush.http import OutboundClient, create_session
from casepush.testing import PASSWORD, case_body
from casepush.testing.contract import ConnectorContract

# --- pushing a case -------------------------------------------------------------------------------------


async def test_a_case_push_creates_then_updates_the_record_with_new_comments_and_the_alerts(
    casepush, swimlane, connector
):
    case = await casepush.create_case(connector=case_connector(connector))

    status, first = await push_case(casepush, case["id"], connector["id"])

    assert status == 200, first
    (record,) = swimlane.records.values()
    assert swimlane.sent("POST", RECORDS) == [
        {
            "applicationId": APP_ID,
            "values": {
                "a6sst": case["id"],
                "a6fst": "Suspicious login",
                "a6dsc": "Several failed logins followed by a success.\n\nAdded by elastic.",
            },
        }
    ]
    service = first["external_service"]
    assert (service["external_id"], service["external_title"], service["external_url"]) == (
        record["id"],
        "SEC-1",
        f"{swimlane.url}/record/{APP_ID}/{record['id']}",
    )
    comment = {"type": "user", "comment": "Looked at the logs.", "owner": "cases"}
    alert = {"type": "alert", "alertId": ["a1", "a2"], "index": "alerts", "rule": {"id": "r", "name": "R"}}
    for attachment in (comment, {**alert, "owner": "cases"}):
        assert (await casepush.post(f"/api/cases/{case['id']}/comments", attachment))[0] == 200

    status, again = await push_case(casepush, case["id"], connector["id"])

    assert status == 200, again
    assert again["external_service"]["external_id"] == record["id"]
    path = f"{RECORDS}/{record['id']}"
    assert swimlane.calls()[1:] == [
        f"PATCH {path}",
        f"POST {path}/a6cmt/comment",
        f"POST {path}/a6cmt/comment",
    ]
    assert [c["message"] for c in swimlane.comments[record["id"]]] == [
        "Looked at the logs.\n\nAdded by elastic.",
        "Elastic Alerts attached to the case: 2",
    ]
    await push_case(casepush, case["id"], connector["id"])
    assert len(swimlane.comments[record["id"]]) == 2  # nothing new: no comment again


@pytest.mark.parametrize(
    ("fields", "sent"),
    [({"caseId": "SOC-7"}, "SOC-7"), ({"caseId": None}, None), (None, "{case}")],
    ids=["given", "null", "no-fields"],
)
async def test_the_case_id_sent_is_the_fields_one_when_they_name_it(
    casepush, swimlane, connector, fields, sent
):
    case = await casepush.create_case(connector=case_connector(connector, fields))

    assert (await push_case(casepush, case["id"], connector["id"]))[0] == 200

    values = swimlane.sent("POST", RECORDS)[0]["values"]
    assert values.get("a6sst") == (case["id"] if sent == "{case}" else sent)


@pytest.mark.parametrize("fields", [{}, {"caseId": 7}, {"caseId": "x", "severity": "high"}])
async def test_case_fields_not_of_swimlane_are_a_400(casepush, connector, fields):
    status, body = await casepush.post("/api/cases", case_body(connector=case_connector(connector, fields)))

    assert status == 400, body
    assert "connector,fields" in body["message"]


async def test_a_failing_swimlane_makes_the_case_push_a_424_and_leaves_the_case_as_it_was(
    casepush, swimlane, connector
):
    case = await casepush.create_case(connector=case_connector(connector))
    swimlane.fail_next(swimlane_error(5013, "Case Name"), "POST")

    status, body = await push_case(casepush, case["id"], connector["id"])

    assert (status, body) == (
        424,
        {
            "statusCode": 424,
            "error": "Failed Dependency",
            "message": f"{CREATE} Status: 400. Error: Request failed with status code 400."
            " Reason: Case Name (5013)",
        },
    )
    status, after = await casepush.get(f"/api/cases/{case['id']}")
    assert (after["external_service"], after["version"]) == (None, case["version"])


# --- crash recovery -------------------------------------------------------------------------------------


@pytest.mark.parametrize("casepush_plugins", ["interrupted"], indirect=True)
async def test_a_push_killed_after_the_create_finds_the_record_by_the_case_id(casepush, swimlane, connector):
    case = await casepush.create_case(connector=case_connector(connector))
    swimlane.seed(a6fst="Another case", a6sst="another-case")
    with pytest.raises(aiohttp.ClientError):
        await push_case(casepush, case["id"], connector["id"])
    (record,) = [r for r in swimlane.records.values() if r["values"].get("a6sst") == case["id"]]

    status, result = await push_case(casepush, case["id"], connector["id"])

    assert status == 200, result
    assert result["external_service"]["external_id"] == record["id"]
    assert len(swimlane.records) == 2
    assert swimlane.calls()[1:] == [
        "POST /api/search",
        f"GET {RECORDS}/{record['id']}",
        f"PATCH {RECORDS}/{record['id']}",
    ]
    assert swimlane.sent("POST", "/api/search")[0]["filters"] == [
        {"fieldId": "a6sst", "filterType": "equals", "value": case["id"]}
    ]


@pytest.fixture
async def http() -> AsyncIterator[OutboundClient]:
    async with create_session() as session:
        yield OutboundClient(session, ["*"], timeout=10, max_response_bytes=1 << 20)


def direct_connector(api_url: str, mappings: dict[str, Any]) -> Connector:
    """A connector as the hooks get it, called directly (no app)."""
    config = msgspec.convert(swimlane_config(api_url, mappings=mappings), SwimlaneConfig)
    return Connector("sw", "Swimlane", casepush_swimlane.SWIMLANE, config, SwimlaneSecrets(TOKEN))


async def test_find_incident_answers_the_newest_record_of_the_case_or_none(swimlane, http):
    swimlane.seed(a6sst="case-1")
    swimlane.now = later(1)
    newest = swimlane.seed(a6sst="case-1")
    swimlane.seed(a6sst="case-2")
    connector = direct_connector(swimlane.url, MAPPINGS)

    found = await casepush_swimlane.find_incident(connector, "case-1", http)
    missing = await casepush_swimlane.find_incident(connector, "case-3", http)

    url = f"{swimlane.url}/record/{APP_ID}/{newest['id']}"
    assert found == PushedIncident(newest["id"], newest["name"], url, "2021-06-01T17:30:51.092Z")
    assert missing is None


NO_CASE_ID = {"caseNameConfig": mapping("a6fst")}


@pytest.mark.parametrize(
    ("canned", "mappings", "may_pass"),
    [
        (server_error(503), MAPPINGS, True),
        (answer(429, {}), MAPPINGS, True),
        (swimlane_error(5013, "Severity"), MAPPINGS, False),
        (answer(200, {"id": "x", "name": "SEC-9", "createdDate": "soon"}), MAPPINGS, False),
        # Crash recovery could not find a record that the create may have made: no unattended retry.
        (server_error(503), NO_CASE_ID, False),
        (answer(429, {}), NO_CASE_ID, True),
    ],
    ids=[
        "unavailable",
        "rate-limited",
        "refused",
        "bad-date",
        "unavailable-unfindable",
        "rate-limited-unfindable",
    ],
)
async def test_a_failure_tells_automatic_pushes_whether_it_may_pass(
    swimlane, http, canned, mappings, may_pass
):
    swimlane.fail_next(canned, "POST", times=3)
    params = msgspec.convert(push_params(), PushToService)

    with pytest.raises(ConnectorError) as raised:
        await casepush_swimlane.push_to_service(direct_connector(swimlane.url, mappings), params, http)

    assert raised.value.may_pass is may_pass


async def test_find_incident_without_a_case_id_mapping_finds_nothing_and_asks_nothing(swimlane, http):
    connector = direct_connector(swimlane.url, NO_CASE_ID)

    assert await casepush_swimlane.find_incident(connector, "case-1", http) is None
    assert swimlane.requests == []


# --- the contract every connector type passes -----------------------------------------------------------


class TestSwimlaneContract(ConnectorContract):
    @pytest.fixture
    def contract_type_id(self) -> str:
        return ".swimlane"

    @pytest.fixture
    def contract_connector(self, swimlane: FakeSwimlane) -> dict:
        return {"config": swimlane_config(swimlane.url), "secrets": SECRETS}

    @pytest.fixture
    def contract_push_params(self) -> Callable[[str | None, list[tuple[str, str]]], dict]:
        return push_params

    @pytest.fixture
    def contract_break(self, swimlane: FakeSwimlane) -> Callable[[], None]:
        return swimlane.break_all
