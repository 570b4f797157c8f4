"""casepush's own push of a case's status and assignee (the ``push_case_state`` hook) against the fake
ServiceNow, through the plugin host and the real outbound client; and the statuses every error carries."""

from collections.abc import AsyncIterator
from typing import Any

import casepush_servicenow
import msgspec
import pytest
from casepush_servicenow.state import ItsmStateOptions, SirStateOptions
from cryptography.hazmat.primitives.asymmetric import rsa
from fake_servicenow import (
    LEGACY_CLOSE_CODES,
    FakeServiceNow,
    basic,
    casepush_plugins,
    oauth,
    private_key,
    sn,
)

from casepush.connectors import (
    ASSIGNEES,
    PUSH_TO_SERVICE,
    STATUS,
    CaseAssignee,
    CaseState,
    Connector,
    ConnectorError,
)
from casepush.http import OutboundClient, create_session
from casepush.plugins import PluginHost, load_plugins

ITSM, SIR = ".servicenow", ".servicenow-sir"
ALICE = CaseAssignee("alice", "alice@acme.example", "Alice Analyst")
BOB = CaseAssignee("bob", "bob@acme.example")
NO_EMAIL = CaseAssignee("dave")


@pytest.fixture
async def host() -> PluginHost:
    return await load_plugins(allowed=[], extra=[casepush_servicenow])


@pytest.fixture
async def http() -> AsyncIterator[OutboundClient]:
    async with create_session() as session:
        yield OutboundClient(session, ["*"], timeout=10, max_response_bytes=1 << 20)


class Pusher:
    """One connector of a type, pushing through the plugin host as casepush does."""

    def __init__(self, host: PluginHost, http: OutboundClient, type_id: str, body: dict):
        connector_type = host.types[type_id]
        self.host, self.http = host, http
        self.connector = Connector(
            f"connector-{type_id}",
            "SN",
            connector_type,
            msgspec.convert(body["config"], connector_type.config),
            msgspec.convert(body["secrets"], connector_type.secrets),
        )

    async def create(self) -> str:
        params = msgspec.convert(
            {"incident": {"short_description": "Suspicious login"}},
            self.connector.type.sub_actions[PUSH_TO_SERVICE],
        )
        return (await self.host.push_to_service(self.connector, params, self.http)).id

    async def state(
        self,
        sys_id: str,
        status: str | None = None,
        assignees: list[CaseAssignee] | None = None,
        **options: Any,
    ) -> None:
        settings = msgspec.convert(options, self.connector.type.state_options) if options else None
        state = CaseState(status, assignees, settings)
        await self.host.push_case_state(self.connector, sys_id, state, self.http)

    async def refused(self, sys_id: str, *args: Any, **options: Any) -> ConnectorError:
        with pytest.raises(ConnectorError) as raised:
            await self.state(sys_id, *args, **options)
        return raised.value


def pusher(host: PluginHost, http: OutboundClient, sn: FakeServiceNow, type_id: str, **config: Any) -> Pusher:
    return Pusher(host, http, type_id, basic(sn, **config))


def written(sn: FakeServiceNow) -> list[dict]:
    """The bodies of the incident writes after the create (Table API PATCHes, Import Set POSTs)."""
    table = [r.json() for r in sn.calls("PATCH", "/api/now/v2/table/")]
    imports = [r.json() for r in sn.calls("POST", "/api/now/import/") if "elastic_incident_id" in r.json()]
    return table or imports


# --- the options -----------------------------------------------------------------------------------


def test_both_types_push_status_and_assignees(host: PluginHost):
    for type_id, options in ((ITSM, ItsmStateOptions), (SIR, SirStateOptions)):
        assert host.types[type_id].pushes_state == frozenset({STATUS, ASSIGNEES})
        assert host.types[type_id].state_options is options
        assert host.implements(host.types[type_id], "push_case_state")


def test_options_defaults():
    assert msgspec.json.decode(msgspec.json.encode(ItsmStateOptions())) == {
        "open": ["1"],
        "in-progress": ["2", "3"],
        "closed": ["6", "7", "8"],
        "close_code": "Solution provided",
        "close_notes": "Closed by casepush",
        "pull_journal": ["comments", "work_notes"],
    }
    assert msgspec.json.decode(msgspec.json.encode(SirStateOptions())) == {
        "open": ["10", "16"],
        "in-progress": ["16", "18", "19", "20", "100"],
        "closed": ["3", "7"],
        "close_code": "Investigation completed",
        "close_notes": "Closed by casepush",
        "pull_journal": ["comments", "work_notes"],
    }
    assert msgspec.convert({}, ItsmStateOptions) == ItsmStateOptions()


def test_options_take_one_state_or_several():
    options = msgspec.convert(
        {"closed": "7", "in-progress": ["3", "2"], "close_notes": None}, ItsmStateOptions
    )
    assert (options.states("closed"), options.states("in-progress"), options.states("open")) == (
        ("7",),
        ("3", "2"),
        ("1",),
    )
    assert options.close_fields() == {"close_code": "Solution provided"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"resolved": "6"}, "Object contains unknown field `resolved`"),
        ({"in_progress": "2"}, "Object contains unknown field `in_progress`"),
        ({"closed": []}, "Expected `array` of length >= 1 - at `$.closed`"),
        ({"open": ""}, "Expected `str` of length >= 1 - at `$.open`"),
        ({"open": 1}, "Expected `str | array`, got `int` - at `$.open`"),
        ({"close_code": ""}, "Expected `str` of length >= 1 - at `$.close_code`"),
    ],
)
def test_options_are_checked(options: dict, message: str):
    for struct in (ItsmStateOptions, SirStateOptions):
        with pytest.raises(msgspec.ValidationError) as raised:
            msgspec.convert(options, struct)
        assert str(raised.value) == message


# --- the status --------------------------------------------------------------------------------------


@pytest.mark.parametrize("table_api", [True, False])
async def test_itsm_statuses_resolve_and_reopen(host, http, sn: FakeServiceNow, table_api: bool):
    snow = pusher(host, http, sn, ITSM, usesTableApi=table_api)
    sys_id = await snow.create()
    assert sn.incidents[sys_id]["state"] == "1"
    await snow.state(sys_id, "in-progress")
    assert sn.incidents[sys_id]["state"] == "2"
    await snow.state(sys_id, "closed")
    incident = sn.incidents[sys_id]
    assert (incident["state"], incident["close_code"], incident["close_notes"]) == (
        "6",
        "Solution provided",
        "Closed by casepush",
    )
    await snow.state(sys_id, "open")  # a resolved incident is reopened
    assert sn.incidents[sys_id]["state"] == "1"
    await snow.state(sys_id, "closed")
    await snow.state(sys_id, "in-progress")
    assert sn.incidents[sys_id]["state"] == "2"
    if table_api:
        assert written(sn) == [
            {"state": "2"},
            {"state": "6", "close_code": "Solution provided", "close_notes": "Closed by casepush"},
            {"state": "1"},
            {"state": "6", "close_code": "Solution provided", "close_notes": "Closed by casepush"},
            {"state": "2"},
        ]
    else:
        assert written(sn)[:2] == [
            {"u_state": "2", "elastic_incident_id": sys_id},
            {
                "u_state": "6",
                "u_close_code": "Solution provided",
                "u_close_notes": "Closed by casepush",
                "elastic_incident_id": sys_id,
            },
        ]
        assert not sn.calls("PATCH")


@pytest.mark.parametrize("table_api", [True, False])
async def test_sir_statuses_close_and_reopen(host, http, sn: FakeServiceNow, table_api: bool):
    snow = pusher(host, http, sn, SIR, usesTableApi=table_api)
    sys_id = await snow.create()
    assert sn.incidents[sys_id]["state"] == "10"
    await snow.state(sys_id, "in-progress")
    assert sn.incidents[sys_id]["state"] == "16"
    await snow.state(sys_id, "closed")
    incident = sn.incidents[sys_id]
    assert (incident["state"], incident["close_code"], incident["close_notes"]) == (
        "3",
        "Investigation completed",
        "Closed by casepush",
    )
    await snow.state(sys_id, "open")
    assert sn.incidents[sys_id]["state"] == "10"
    key = "state" if table_api else "u_state"
    assert [body[key] for body in written(sn)] == ["16", "3", "10"]


async def test_the_mapped_states_are_the_options(host, http, sn: FakeServiceNow):
    snow = pusher(host, http, sn, ITSM, usesTableApi=True)
    sys_id = await snow.create()
    await snow.state(sys_id, "in-progress", **{"in-progress": "3"})
    assert sn.incidents[sys_id]["state"] == "3"
    await snow.state(sys_id, "closed", closed="8", close_code=None, close_notes=None)
    assert sn.incidents[sys_id]["state"] == "8"
    assert written(sn)[-1] == {"state": "8"}  # nothing else when the options send no close fields


async def test_a_push_leaves_an_incident_already_in_its_status(host, http, sn: FakeServiceNow):
    snow = pusher(host, http, sn, ITSM, usesTableApi=True)
    sys_id = await snow.create()
    sn.incidents[sys_id]["state"] = "3"  # On Hold in ServiceNow: still in progress
    await snow.state(sys_id, "in-progress")
    sn.incidents[sys_id].update(state="6", close_code="Known error", close_notes="Fixed by the SOC")
    await snow.state(sys_id, "closed")  # already resolved: its close notes stay
    sn.incidents[sys_id]["state"] = "7"
    await snow.state(sys_id, "closed")
    assert written(sn) == []
    assert sn.incidents[sys_id]["close_notes"] == "Fixed by the SOC"
    sir = pusher(host, http, sn, SIR, usesTableApi=True)
    sir_id = await sir.create()
    sn.incidents[sir_id]["state"] = "18"  # Contain
    await sir.state(sir_id, "in-progress")
    assert written(sn) == [] and sn.incidents[sir_id]["state"] == "18"
    await sir.state(sir_id)  # nothing pushed: not even a read
    assert len(sn.calls("GET", f"/api/now/v2/table/sn_si_incident/{sir_id}")) == 2


async def test_resolving_needs_a_close_code_of_the_instance(host, http, sn: FakeServiceNow):
    sn.close_codes["incident"] = list(LEGACY_CLOSE_CODES)  # an instance older than the current codes
    snow = pusher(host, http, sn, ITSM, usesTableApi=True)
    sys_id = await snow.create()
    error = await snow.refused(sys_id, "closed")
    assert error.message == (
        f"[Action][ServiceNow]: Unable to set incident with id {sys_id} to state 6 (case status closed, close"
        ' code "Solution provided"). Error: Request failed with status code 403 Reason: Operation Failed:'
        " Data Policy Exception: \n\tThe following fields are mandatory: Resolution code\n [status=403]"
        " [method=patch] [endpoint=table]"
    )
    assert (error.status, error.retry_after) == (403, None)
    assert sn.incidents[sys_id]["state"] == "1"
    error = await snow.refused(sys_id, "closed", close_code=None, close_notes=None)
    assert "mandatory: Resolution code, Resolution notes" in error.message
    await snow.state(sys_id, "closed", close_code="Solved (Permanently)")
    assert (sn.incidents[sys_id]["state"], sn.incidents[sys_id]["close_code"]) == (
        "6",
        "Solved (Permanently)",
    )


async def test_a_refused_resolution_through_the_import_set_api(host, http, sn: FakeServiceNow):
    sn.close_codes["incident"] = list(LEGACY_CLOSE_CODES)
    snow = pusher(host, http, sn, ITSM)
    sys_id = await snow.create()
    error = await snow.refused(sys_id, "closed")
    assert error.message == (
        f"[Action][ServiceNow]: Unable to set incident with id {sys_id} to state 6 (case status closed, close"
        ' code "Solution provided"). Error: Data Policy Exception: \n\tThe following fields are mandatory:'
        " Resolution code\n [status=201] [method=post] [endpoint=import_set]"
    )
    assert error.status == 201


async def test_closing_a_sir_incident_needs_its_close_code(host, http, sn: FakeServiceNow):
    snow = pusher(host, http, sn, SIR, usesTableApi=True)
    sys_id = await snow.create()
    error = await snow.refused(sys_id, "closed", close_code="Solution provided")
    assert "Data Policy Exception: \n\tThe following fields are mandatory: Close code\n" in error.message
    assert error.status == 403 and sn.incidents[sys_id]["state"] == "10"


async def test_a_closed_itsm_incident_is_not_reopened(host, http, sn: FakeServiceNow):
    snow = pusher(host, http, sn, ITSM, usesTableApi=True)
    sys_id = await snow.create()
    await snow.state(sys_id, "closed", closed="7")
    assert sn.incidents[sys_id]["state"] == "7"
    error = await snow.refused(sys_id, "open")
    assert error.message == (
        f"[Action][ServiceNow]: Unable to set incident with id {sys_id} to state 1 (case status open). Error:"
        " ServiceNow answered without error but left the incident in state 7 instead of 1; the states of"
        " incident are 1 (New), 2 (In Progress), 3 (On Hold), 6 (Resolved), 7 (Closed), 8 (Canceled)."
        " [status=200] [method=patch] [endpoint=table]"
    )
    assert error.status == 200  # not retried: ServiceNow will not take it later either


async def test_a_mapping_to_a_state_servicenow_lacks_is_an_error(host, http, sn: FakeServiceNow):
    snow = pusher(host, http, sn, SIR)
    sys_id = await snow.create()
    error = await snow.refused(sys_id, "in-progress", **{"in-progress": "2"})
    assert error.message == (
        f"[Action][ServiceNow]: Unable to set incident with id {sys_id} to state 2 (case status in-progress)."
        " Error: ServiceNow answered without error but left the incident in state 10 instead of 2; the"
        " states of sn_si_incident are 10 (Draft), 16 (Analysis), 18 (Contain), 19 (Eradicate), 20 (Recover),"
        " 100 (Review), 3 (Closed), 7 (Cancelled). [status=201] [method=post] [endpoint=import_set]"
    )
    assert sn.incidents[sys_id]["state"] == "10"
    state_choices = sn.calls("GET", "/api/now/table/sys_choice")[-1]
    assert "name%3Dsn_si_incident%5Eelement%3Dstate%5Einactive%3Dfalse" in state_choices.path


# --- the assignee ------------------------------------------------------------------------------------


@pytest.mark.parametrize("table_api", [True, False])
async def test_the_first_assignee_with_an_email_is_assigned(host, http, sn: FakeServiceNow, table_api: bool):
    snow = pusher(host, http, sn, ITSM, usesTableApi=table_api)
    sys_id = await snow.create()
    await snow.state(sys_id, assignees=[NO_EMAIL, ALICE, BOB])
    assert sn.incidents[sys_id]["assigned_to"] == "usr-alice"  # her ServiceNow email is Alice@Acme.example
    lookup = sn.calls("GET", "/api/now/table/sys_user")
    assert [r.path for r in lookup] == [
        "/api/now/table/sys_user?sysparm_query=active%3Dtrue%5Eemail%3Dalice@acme.example"
        "&sysparm_fields=sys_id,user_name,name,email&sysparm_limit=1"
    ]
    assert written(sn) == (
        [{"assigned_to": "usr-alice"}]
        if table_api
        else [{"u_assigned_to": "usr-alice", "elastic_incident_id": sys_id}]
    )
    await snow.state(sys_id, assignees=[ALICE])  # already hers
    await snow.state(sys_id, assignees=[])
    assert sn.incidents[sys_id]["assigned_to"] == ""
    await snow.state(sys_id, assignees=[])
    key = "assigned_to" if table_api else "u_assigned_to"
    assert [body[key] for body in written(sn)] == ["usr-alice", ""]


async def test_status_and_assignee_are_one_write(host, http, sn: FakeServiceNow):
    snow = pusher(host, http, sn, ITSM, usesTableApi=True)
    sys_id = await snow.create()
    await snow.state(sys_id, "closed", [BOB])
    assert written(sn) == [
        {
            "state": "6",
            "close_code": "Solution provided",
            "close_notes": "Closed by casepush",
            "assigned_to": "usr-bob",
        }
    ]
    await snow.state(sys_id, "closed", [BOB])
    assert len(written(sn)) == 1


async def test_assigning_a_draft_sir_incident_starts_its_analysis(host, http, sn: FakeServiceNow):
    snow = pusher(host, http, sn, SIR, usesTableApi=True)
    sys_id = await snow.create()
    sn.incidents[sys_id]["state"] = "18"
    await snow.state(sys_id, "open", [ALICE])  # set Draft and assigned: SecOps moves it to Analysis
    assert written(sn) == [{"state": "10", "assigned_to": "usr-alice"}]
    assert sn.incidents[sys_id]["state"] == "16"
    await snow.state(sys_id, "open", [ALICE])  # Analysis counts as open: nothing to write
    assert len(written(sn)) == 1


@pytest.mark.parametrize("email", ["nobody@acme.example", "carol@acme.example"])
async def test_an_email_of_no_active_user_is_refused(host, http, sn: FakeServiceNow, email: str):
    snow = pusher(host, http, sn, ITSM, usesTableApi=True)
    sys_id = await snow.create()
    error = await snow.refused(sys_id, "in-progress", [CaseAssignee("someone", email)])
    assert error.message == (
        f"[Action][ServiceNow]: Unable to get user with email {email}. Error: No active ServiceNow user has"
        f" the email {email}. [status=200] [method=get] [endpoint=table]"
    )
    assert error.status == 200
    assert written(sn) == [] and sn.incidents[sys_id]["state"] == "1"


async def test_a_user_found_by_another_email_is_not_taken(host, http, sn: FakeServiceNow):
    snow = pusher(host, http, sn, ITSM, usesTableApi=True)
    sys_id = await snow.create()
    # A query ServiceNow cannot read loses its condition and lists every user.
    sn.answer(
        "GET",
        "/api/now/table/sys_user",
        200,
        {"result": [{"sys_id": "usr-bob", "email": "bob@acme.example"}]},
    )
    error = await snow.refused(sys_id, assignees=[ALICE])
    assert "No active ServiceNow user has the email alice@acme.example." in error.message
    assert written(sn) == []


async def test_assignees_without_an_email_are_refused(host, http, sn: FakeServiceNow):
    snow = pusher(host, http, sn, ITSM, usesTableApi=True)
    sys_id = await snow.create()
    error = await snow.refused(sys_id, "closed", [NO_EMAIL, CaseAssignee("erin")])
    assert error.message == (
        f"[Action][ServiceNow]: Unable to assign incident with id {sys_id}. Error: None of the case's"
        " assignees (dave, erin) has an email, by which casepush finds their ServiceNow user. [status=none]"
        " [method=get] [endpoint=table]"
    )
    assert error.status is None and written(sn) == []


async def test_an_assignee_servicenow_does_not_take_is_an_error(host, http, sn: FakeServiceNow):
    snow = pusher(host, http, sn, ITSM, usesTableApi=True)
    sys_id = await snow.create()
    sn.users.append({"sys_id": "usr-new", "name": "New Hire", "email": "new@acme.example"})
    sn.answer(
        "GET",
        "/api/now/table/sys_user",
        200,
        {"result": [{"sys_id": "usr-deleted", "email": "new@acme.example"}]},
    )
    error = await snow.refused(sys_id, assignees=[CaseAssignee("new", "new@acme.example")])
    assert error.message == (
        f"[Action][ServiceNow]: Unable to assign incident with id {sys_id} to new@acme.example. Error:"
        " ServiceNow answered without error but left assigned_to empty instead of usr-deleted."
        " [status=200] [method=patch] [endpoint=table]"
    )


async def test_oauth_pushes_the_state_too(host, http, sn: FakeServiceNow, private_key: rsa.RSAPrivateKey):
    snow = Pusher(host, http, SIR, oauth(sn, private_key, usesTableApi=True))
    sys_id = await snow.create()
    await snow.state(sys_id, "in-progress", [BOB])
    assert (sn.incidents[sys_id]["state"], sn.incidents[sys_id]["assigned_to"]) == ("16", "usr-bob")
    assert {r.headers["Authorization"] for r in sn.requests if r.path != "/oauth_token.do"} == {
        "Bearer sim-token-1"
    }


# --- statuses of the errors ----------------------------------------------------------------------------


async def test_errors_carry_the_answer_status_and_retry_after(host, http, sn: FakeServiceNow):
    snow = pusher(host, http, sn, ITSM, usesTableApi=True)
    sys_id = await snow.create()
    failure = {"error": {"message": "Instance down", "detail": "maintenance"}, "status": "failure"}
    sn.answer("GET", "/api/now/v2/table/incident/", 500, failure, times=1, **{"Retry-After": "120"})
    error = await snow.refused(sys_id, "closed")
    assert (error.status, error.retry_after) == (500, 120.0)
    assert error.message.endswith(
        "Reason: Instance down: maintenance [status=500] [method=get] [endpoint=table]"
    )
    sn.answer("PATCH", "/api/now/v2/table/incident/", 429, failure, times=3, **{"Retry-After": "0"})
    error = await snow.refused(sys_id, "closed")  # after the client's three attempts
    assert (error.status, error.retry_after) == (429, 0.0)
    sn.answer(
        "GET", "/api/now/table/sys_user", 401, {"error": {"message": "User Not Authenticated"}}, times=1
    )
    error = await snow.refused(sys_id, assignees=[BOB])
    assert (error.status, error.retry_after) == (401, None)
    unreachable = Pusher(
        host, http, ITSM, basic(sn, usesTableApi=True) | {"config": {"apiUrl": "http://127.0.0.1:9"}}
    )
    error = await unreachable.refused(sys_id, "closed")
    assert error.status is None and "[status=ECONNREFUSED]" in error.message


async def test_every_push_error_carries_its_status(host, http, sn: FakeServiceNow, private_key):
    def push_params(snow: Pusher, incident: dict) -> Any:
        params = {"incident": {"short_description": "Suspicious login", **incident}}
        return msgspec.convert(params, snow.connector.type.sub_actions[PUSH_TO_SERVICE])

    async def failure(snow: Pusher, incident: dict | None = None) -> ConnectorError:
        with pytest.raises(ConnectorError) as raised:
            await host.push_to_service(snow.connector, push_params(snow, incident or {}), http)
        return raised.value

    table = pusher(host, http, sn, ITSM, usesTableApi=True)
    sn.answer("POST", "/api/now/v2/table/incident", 200, "<html>hibernating</html>", times=1)
    error = await failure(table)
    assert (error.status, "[status=none]" in error.message) == (200, True)
    error = await failure(table, {"additional_fields": {"u_team": "soc"}})
    assert (error.status, "[status=400]" in error.message) == (400, True)
    sn.answer("POST", "/api/now/v2/table/incident", 400, {"error": {"message": "Invalid field"}}, times=1)
    assert (await failure(table)).status == 400
    imports = pusher(host, http, sn, ITSM)
    sn.answer(
        "POST", "/api/now/import/", 201, {"result": [{"status": "error", "error_message": "No"}]}, times=1
    )
    assert (await failure(imports)).status == 201
    sn.app_installed = False
    error = await failure(imports)
    assert (error.status, "Unable to get application version" in error.message) == (400, True)
    refused = oauth(sn, private_key, usesTableApi=True)
    refused["secrets"]["clientSecret"] = "wrong-secret"
    error = await failure(Pusher(host, http, SIR, refused))
    assert (error.status, "invalid_client Reason: Client not found [status=none]" in error.message) == (
        401,
        True,
    )
    sn.answer("POST", "/oauth_token.do", 503, "busy", times=3, **{"Retry-After": "0"})
    error = await failure(Pusher(host, http, ITSM, oauth(sn, private_key, usesTableApi=True)))
    assert (error.status, error.retry_after) == (503, 0.0)
