"""Two-way sync (casepush's own) against the fake ServiceNow, through the plugin host and the real outbound
client: the business rules' notifications (``parse_inbound``), polling (``fetch_changes``), their change
ids, casepush's own changes, the status mapping read backwards, refusals, and the README's rules."""

import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import casepush_servicenow
import msgspec
import pytest
from casepush_servicenow import sync
from casepush_servicenow.state import ItsmStateOptions, SirStateOptions
from cryptography.hazmat.primitives.asymmetric import rsa
from fake_servicenow import (
    OAUTH_USER,
    USER_ID,
    USERNAME,
    FakeServiceNow,
    basic,
    casepush_plugins,
    oauth,
    private_key,
    sn,
)

from casepush.connectors import (
    COMMENTS,
    DESCRIPTION,
    PUSH_TO_SERVICE,
    STATUS,
    TITLE,
    CaseState,
    Changes,
    Connector,
    ConnectorError,
    ExternalChange,
    ExternalComment,
    Inbound,
    InboundCall,
    InboundRefused,
)
from casepush.http import OutboundClient, create_session
from casepush.plugins import PluginHost, load_plugins
from casepush.testing import FakeService

ITSM, SIR = ".servicenow", ".servicenow-sir"
SECRET = "inbound-s3cret"
T0 = "2024-05-01 10:00:00"
README = Path(__file__).parent.parent / "README.md"


@pytest.fixture
async def host() -> PluginHost:
    return await load_plugins(allowed=[], extra=[casepush_servicenow])


@pytest.fixture
async def http() -> AsyncIterator[OutboundClient]:
    async with create_session() as session:
        yield OutboundClient(session, ["*"], timeout=10, max_response_bytes=1 << 20)


@pytest.fixture
async def receiver(fake_service: Callable[[], FakeService]) -> FakeService:
    """Stands in for casepush's inbound URL: records what the business rules post."""
    service = fake_service()

    @service.route("POST", "/api/casepush/connectors/{id}/inbound")
    async def inbound(request: Any) -> Any:
        from aiohttp import web

        return web.json_response({"applied": 0})

    await service.start()
    return service


class Sync:
    """One connector of a type, as casepush's two-way sync calls it."""

    def __init__(self, host: PluginHost, http: OutboundClient, type_id: str, body: dict):
        connector_type = host.types[type_id]
        self.host, self.http = host, http
        self.table = "sn_si_incident" if type_id == SIR else "incident"
        self.connector = Connector(
            f"connector-{type_id}",
            "SN",
            connector_type,
            msgspec.convert(body["config"], connector_type.config),
            msgspec.convert(body["secrets"], connector_type.secrets),
        )

    def options(self, **options: Any) -> Any:
        return msgspec.convert(options, self.connector.type.state_options)

    async def push(self, external_id: str | None = None, comments: list[str] = (), **incident: Any) -> str:
        params = msgspec.convert(
            {
                "incident": {"short_description": "Suspicious login", "externalId": external_id, **incident},
                "comments": [{"comment": c, "commentId": f"c{i}"} for i, c in enumerate(comments)],
            },
            self.connector.type.sub_actions[PUSH_TO_SERVICE],
        )
        return (await self.host.push_to_service(self.connector, params, self.http)).id

    async def parse(self, body: bytes | dict, options: Any = None) -> Inbound:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        call = InboundCall({"Authorization": f"Bearer {SECRET}"}, raw)
        return await self.host.parse_inbound(self.connector, call, options, self.http)

    async def poll(
        self,
        ids: list[str],
        cursor: str | None = None,
        since: str = "2024-05-01T09:00:00Z",
        options: Any = None,
    ) -> Changes:
        return await self.host.fetch_changes(self.connector, ids, cursor, since, options, self.http)


def syncer(
    host: PluginHost, http: OutboundClient, sn: FakeServiceNow, type_id: str = ITSM, **config: Any
) -> Sync:
    return Sync(host, http, type_id, basic(sn, usesTableApi=True, **config))


def listening(sn: FakeServiceNow, receiver: FakeService, type_id: str = ITSM) -> None:
    sn.install_business_rules(f"{receiver.url}/api/casepush/connectors/connector-{type_id}/inbound", SECRET)


def ids(changes: list[ExternalChange], by_integration: bool | None = None) -> list[str]:
    return [c.change_id for c in changes if by_integration is None or c.by_integration == by_integration]


def query(path: str, name: str = "sysparm_query") -> str:
    """A parameter of a recorded call, decoded as ServiceNow reads it."""
    return parse_qs(urlsplit(path).query)[name][0]


def people(changes: list[ExternalChange]) -> list[ExternalChange]:
    return [c for c in changes if not c.by_integration]


# --- what the types declare --------------------------------------------------------------------------------


def test_both_types_bring_back_status_comments_title_and_description(host: PluginHost):
    for type_id in (ITSM, SIR):
        connector_type = host.types[type_id]
        assert connector_type.pulls == frozenset({STATUS, COMMENTS, TITLE, DESCRIPTION})
        assert connector_type.inbound_auth == "bearer"
        assert host.implements(connector_type, "parse_inbound")
        assert host.implements(connector_type, "fetch_changes")


@pytest.mark.parametrize(
    ("options", "state", "status"),
    [
        ({}, "1", "open"),
        ({}, "2", "in-progress"),
        ({}, "3", "in-progress"),
        ({}, "6", "closed"),
        ({}, "7", "closed"),
        ({}, "8", "closed"),
        ({}, "99", None),
        ({"open": ["1", "2"], "in-progress": "2"}, "2", "in-progress"),  # the status that sets it
        ({"open": ["1", "3"], "in-progress": ["2", "3"]}, "3", "open"),  # else the first that counts it
        ({"closed": "7"}, "6", None),
    ],
)
def test_a_state_counts_as_the_status_whose_mapping_lists_it(options: dict, state: str, status: str | None):
    assert msgspec.convert(options, ItsmStateOptions).status_of(state) == status


def test_secops_states_count_as_statuses():
    options = SirStateOptions()
    found = {
        state: options.status_of(state) for state in ("10", "16", "18", "19", "20", "100", "3", "7", "1")
    }
    assert found == {
        "10": "open",
        "16": "in-progress",  # Analysis sets in-progress; an open case counts it too
        "18": "in-progress",
        "19": "in-progress",
        "20": "in-progress",
        "100": "in-progress",
        "3": "closed",
        "7": "closed",
        "1": None,
    }


def test_the_journal_fields_brought_back_are_an_option():
    assert msgspec.convert({"pull_journal": ["work_notes"]}, ItsmStateOptions).pull_journal == ("work_notes",)
    assert msgspec.convert({"pull_journal": []}, SirStateOptions).pull_journal == ()
    with pytest.raises(msgspec.ValidationError) as raised:
        msgspec.convert({"pull_journal": ["notes"]}, ItsmStateOptions)
    assert str(raised.value) == "Invalid enum value 'notes' - at `$.pull_journal[0]`"


# --- the business rules' notifications ----------------------------------------------------------------------


async def test_a_person_changing_the_state_is_a_status_change(host, http, sn: FakeServiceNow, receiver):
    snow = syncer(host, http, sn)
    listening(sn, receiver)
    sys_id = await snow.push()
    assert sn.notifications == []  # a create runs no update rule
    sn.now = T0
    await sn.act(sys_id, "alice", state="3")

    [call] = receiver.requests
    assert call.headers["Authorization"] == f"Bearer {SECRET}"
    assert call.headers["Content-Type"] == "application/json"
    assert call.json() == {
        "table": "incident",
        "sys_id": sys_id,
        "number": "INC0000001",
        "sys_mod_count": "1",
        "sys_updated_on": T0,
        "sys_updated_by": "alice",
        "updated_by_name": "Alice Analyst",
        "sent_at": T0,
        "journal": [],
        "state": "3",
        "state_display_value": "On Hold",
    }
    parsed = await snow.parse(call.body)
    assert parsed == Inbound(
        [
            ExternalChange(
                incident_id=sys_id,
                change_id=f"state:{sys_id}:1",
                at="2024-05-01T10:00:00.000Z",
                author="Alice Analyst",
                status="in-progress",
                external_status="On Hold",
            )
        ],
        sent_at="2024-05-01T10:00:00.000Z",
    )


async def test_title_and_description_changes(host, http, sn: FakeServiceNow, receiver):
    snow = syncer(host, http, sn)
    sys_id = await snow.push(description="It began\n\nAdded by Elastic.")
    listening(sn, receiver)
    sn.now = T0
    described = "It began at 9\n\nAdded by Elastic.\nFor more details, view this case in Kibana.\nCase URL: https://k/c/1"
    await sn.act(sys_id, "bob", short_description="Login from Mars", description=described, urgency="1")
    parsed = await snow.parse(sn.notifications[0])
    assert [(c.change_id, c.title, c.description, c.status) for c in parsed.changes] == [
        (f"short_description:{sys_id}:1", "Login from Mars", None, None),
        (f"description:{sys_id}:1", None, "It began at 9", None),  # casepush's suffix taken off
    ]
    assert {c.author for c in parsed.changes} == {"Bob Builder"}

    await sn.act(sys_id, "bob", urgency="2")  # no synced field: the rule posts nothing
    await sn.act(sys_id, "bob", short_description="")
    await sn.act(sys_id, "bob", description="\n\nAdded by Elastic.")
    assert len(sn.notifications) == 3
    # A case needs a title and a description; an empty comment says nothing.
    assert (await snow.parse(sn.notifications[1])).changes == []
    assert (await snow.parse(sn.notifications[2])).changes == []
    entry = {
        "sys_id": "j1",
        "element": "comments",
        "value": " ",
        "sys_created_on": T0,
        "sys_created_by": "bob",
    }
    assert (await snow.parse({"table": "incident", "sys_id": sys_id, "journal": [entry]})).changes == []


async def test_comments_and_work_notes_come_back_as_comments(host, http, sn: FakeServiceNow, receiver):
    snow = syncer(host, http, sn)
    sys_id = await snow.push()
    listening(sn, receiver)
    sn.now = T0
    await sn.act(sys_id, "alice", comments="Called the user", work_notes="Blocked the IP")
    assert len(sn.journal) == 2
    [comment, note] = sn.journal
    assert sn.notification(0)["journal"] == [
        {
            "sys_id": comment["sys_id"],
            "element": "comments",
            "value": "Called the user",
            "sys_created_on": T0,
            "sys_created_by": "alice",
            "created_by_name": "Alice Analyst",
        }
    ]
    first, second = [await snow.parse(n) for n in sn.notifications]
    at = "2024-05-01T10:00:00.000Z"
    assert first.changes == [
        ExternalChange(
            incident_id=sys_id,
            change_id=f"journal:{comment['sys_id']}",
            at=at,
            author="Alice Analyst",
            comment=ExternalComment(comment["sys_id"], "Called the user", "Alice Analyst", at),
        )
    ]
    assert second.changes[0].comment == ExternalComment(note["sys_id"], "Blocked the IP", "Alice Analyst", at)
    assert first.sent_at == at

    only_notes = snow.options(pull_journal=["work_notes"])
    assert (await snow.parse(sn.notifications[0], only_notes)).changes == []
    assert len((await snow.parse(sn.notifications[1], only_notes)).changes) == 1


async def test_a_notification_delivered_again_reports_the_same_changes(
    host, http, sn: FakeServiceNow, receiver
):
    snow = syncer(host, http, sn)
    sys_id = await snow.push()
    listening(sn, receiver)
    sn.now = T0
    await sn.act(sys_id, "alice", state="2", work_notes="On it")
    assert await sn.deliver(0) == 200
    assert await sn.deliver(1) == 200
    bodies = [r.body for r in receiver.requests]
    assert bodies == [sn.notifications[0], sn.notifications[1], sn.notifications[0], sn.notifications[1]]
    assert [await snow.parse(b) for b in bodies[:2]] == [await snow.parse(b) for b in bodies[2:]]


async def test_casepush_own_changes_are_the_integration_s(host, http, sn: FakeServiceNow, receiver):
    """Its pushed comments (work notes) and states come back marked, and are never applied; the push
    cannot know the journal entry it made, so it reports no external id."""
    snow = syncer(host, http, sn)
    sys_id = await snow.push()
    listening(sn, receiver)
    sn.now = T0
    pushed = await snow.host.push_to_service(
        snow.connector,
        msgspec.convert(
            {
                "incident": {"short_description": "Suspicious login", "externalId": sys_id},
                "comments": [{"comment": "Looked at it\n\nAdded by Elastic.", "commentId": "c1"}],
            },
            snow.connector.type.sub_actions[PUSH_TO_SERVICE],
        ),
        http,
    )
    assert [c.external_id for c in pushed.comments] == [None]
    state = CaseState("closed", None, snow.options())
    await snow.host.push_case_state(snow.connector, sys_id, state, http)
    parsed = [await snow.parse(n) for n in sn.notifications]
    changes = [c for p in parsed for c in p.changes]
    assert changes and all(c.by_integration for c in changes)
    assert {c.change_id.partition(":")[0] for c in changes} == {"journal", "state"}
    assert {c.author for c in changes} == {USERNAME}


async def test_under_oauth_the_connector_s_user_is_found_once(
    host, http, sn: FakeServiceNow, receiver, private_key: rsa.RSAPrivateKey
):
    snow = Sync(host, http, ITSM, oauth(sn, private_key, usesTableApi=True))
    snow.connector = Connector(  # a connector of its own: the user found is kept per connector
        "connector-oauth", "SN", snow.connector.type, snow.connector.config, snow.connector.secrets
    )
    sys_id = await snow.push()
    listening(sn, receiver)
    await snow.push(sys_id, comments=["From the case"])
    await sn.act(sys_id, "alice", work_notes="From ServiceNow")
    [ours, theirs] = [await snow.parse(n) for n in sn.notifications]
    assert sn.journal[0]["sys_created_by"] == OAUTH_USER
    assert ours.changes[0].by_integration
    assert not theirs.changes[0].by_integration
    [lookup] = sn.calls("GET", "/api/now/table/sys_user")
    assert query(lookup.path) == f"user_name={USER_ID}^ORemail={USER_ID}^ORsys_id={USER_ID}"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "Not a notification of casepush's ServiceNow business rules: JSON is malformed"),
        (b"[]", "Not a notification of casepush's ServiceNow business rules: Expected `object`, got `array`"),
        ({"table": "incident"}, "Object missing required field `sys_id`"),
        ({"table": "incident", "sys_id": ""}, "Expected `str` of length >= 1 - at `$.sys_id`"),
        (
            {"table": "problem", "sys_id": "x"},
            "about a record of problem; this connector's incidents are in incident",
        ),
        ({"table": "sn_si_incident", "sys_id": "x"}, "about a record of sn_si_incident"),
        ({"table": "incident", "sys_id": "x", "state": ["2"]}, "Expected `int | str | null`, got `array`"),
        (
            {"table": "incident", "sys_id": "x", "state": "2"},
            "A notification of changed fields needs sys_mod_count, sys_updated_on, sys_updated_by.",
        ),
        (
            {
                "table": "incident",
                "sys_id": "x",
                "state": "2",
                "sys_mod_count": "two",
                "sys_updated_on": T0,
                "sys_updated_by": "bob",
            },
            "sys_mod_count 'two' is not a count of updates",
        ),
        (
            {
                "table": "incident",
                "sys_id": "x",
                "description": "",
                "sys_mod_count": 2,
                "sys_updated_on": "yesterday",
                "sys_updated_by": "bob",
            },
            "'yesterday' is not a time (yyyy-MM-dd HH:mm:ss, UTC)",
        ),
        (
            {"table": "incident", "sys_id": "x", "journal": {}},
            "Expected `array`, got `object` - at `$.journal`",
        ),
        (
            {"table": "incident", "sys_id": "x", "journal": [{"element": "comments", "value": "hi"}]},
            "Object missing required field `sys_id` - at `$.journal[0]`",
        ),
        (
            {
                "table": "incident",
                "sys_id": "x",
                "journal": [
                    {
                        "sys_id": "j",
                        "element": "comments",
                        "value": "hi",
                        "sys_created_on": "01/05/2024 10:00",
                        "sys_created_by": "bob",
                    }
                ],
            },
            "'01/05/2024 10:00' is not a time",
        ),
        (
            {"table": "incident", "sys_id": "x", "sent_at": 12},
            "Expected `str | null`, got `int` - at `$.sent_at`",
        ),
    ],
)
async def test_what_the_rules_never_send_is_refused(
    host, http, sn: FakeServiceNow, private_key: rsa.RSAPrivateKey, body: Any, message: str
):
    snow = Sync(host, http, ITSM, oauth(sn, private_key))
    with pytest.raises(InboundRefused) as raised:
        await snow.parse(body)
    assert message in raised.value.message
    assert sn.requests == []  # refused before any call to ServiceNow


async def test_times_are_utc(host, http, sn: FakeServiceNow):
    snow = syncer(host, http, sn)
    common = {"table": "incident", "sys_id": "x", "sys_mod_count": "4", "sys_updated_by": "bob"}
    naive = await snow.parse({**common, "state": "2", "sys_updated_on": "2024-05-01 23:59:59"})
    assert (naive.changes[0].at, naive.sent_at) == ("2024-05-01T23:59:59.000Z", "2024-05-01T23:59:59.000Z")
    offset = await snow.parse(
        {
            **common,
            "state": 2,
            "sys_updated_on": "2024-05-02T01:00:00+02:00",
            "sent_at": "2024-05-01 23:00:01",
        }
    )
    assert (offset.changes[0].at, offset.sent_at) == ("2024-05-01T23:00:00.000Z", "2024-05-01T23:00:01.000Z")
    assert offset.changes[0].external_status == "2"  # no label given: the value
    unmapped = await snow.parse({**common, "state": "42", "sys_updated_on": T0})
    assert (unmapped.changes[0].status, unmapped.changes[0].external_status) == (None, "42")
    nothing = await snow.parse({"table": "incident", "sys_id": "x", "number": "INC1", "extra": {"any": 1}})
    assert nothing == Inbound([], None)


# --- polling --------------------------------------------------------------------------------------------


async def test_a_poll_reports_what_people_changed_with_the_webhook_s_ids(
    host, http, sn: FakeServiceNow, receiver
):
    snow = syncer(host, http, sn)
    sn.now = T0
    sys_id = await snow.push(description="Found by a rule")
    first = await snow.poll([sys_id], since="2024-05-01T09:59:00Z")
    # New to polling and updated since: its fields as they are, here casepush's own (the create).
    assert ids(first.changes, by_integration=True) == [
        f"state:{sys_id}:0",
        f"short_description:{sys_id}:0",
        f"description:{sys_id}:0",
    ]
    assert people(first.changes) == []

    listening(sn, receiver)
    sn.tick(120)
    await sn.act(sys_id, "alice", state="2", comments="Seen")
    webhook = [c for n in sn.notifications for c in (await snow.parse(n)).changes]
    second = await snow.poll([sys_id], first.cursor)
    assert ids(second.changes) == ids(webhook) == [f"state:{sys_id}:1", f"journal:{sn.journal[0]['sys_id']}"]
    [state, comment] = second.changes
    assert (state.status, state.external_status, state.author, state.at) == (
        "in-progress",
        "In Progress",
        "Alice Analyst",
        "2024-05-01T10:02:00.000Z",
    )
    at = "2024-05-01T10:02:00.000Z"
    assert comment.comment == ExternalComment(sn.journal[0]["sys_id"], "Seen", "Alice Analyst", at)
    assert [c.author for c in webhook] == ["Alice Analyst", "Alice Analyst"]

    sn.tick(120)
    third = await snow.poll([sys_id], second.cursor)
    assert third.changes == []

    # A poll sees the incident as it is: a change followed by another update before the poll is reported
    # as of the latest update (the business rule reported it as of its own).
    sn.tick(120)
    await sn.act(sys_id, "alice", state="3")
    sn.tick(120)
    await sn.act(sys_id, "bob", work_notes="Waiting for the vendor")
    webhook = [c for n in sn.notifications[2:] for c in (await snow.parse(n)).changes]
    fourth = await snow.poll([sys_id], third.cursor)
    note = f"journal:{sn.journal[1]['sys_id']}"
    assert ids(webhook) == [f"state:{sys_id}:2", note]
    assert ids(fourth.changes) == [f"state:{sys_id}:3", note]
    assert [(c.status, c.author) for c in fourth.changes] == [
        ("in-progress", "Bob Builder"),
        (None, "Bob Builder"),
    ]


async def test_a_poll_reports_only_the_fields_that_changed(host, http, sn: FakeServiceNow):
    snow = syncer(host, http, sn)
    sn.now = T0
    sys_id = await snow.push(description="Found by rule X")
    cursor = (await snow.poll([sys_id])).cursor
    sn.tick(120)
    await sn.act(sys_id, "alice", urgency="1")  # not synced
    polled = await snow.poll([sys_id], cursor)
    assert polled.changes == []
    sn.tick(120)
    await sn.act(sys_id, "alice", description="Found by rule Y")
    polled = await snow.poll([sys_id], polled.cursor)
    assert [(c.change_id, c.description) for c in polled.changes] == [
        (f"description:{sys_id}:2", "Found by rule Y")
    ]
    # casepush's own push of the same title: no change; its push of another title: casepush's.
    sn.tick(120)
    await snow.push(sys_id, short_description="Suspicious login", description="Found by rule Y")
    polled = await snow.poll([sys_id], polled.cursor)
    assert polled.changes == []
    sn.tick(120)
    await snow.push(sys_id, short_description="Suspicious logins", description="Found by rule Y")
    polled = await snow.poll([sys_id], polled.cursor)
    assert [(c.title, c.by_integration, c.author) for c in polled.changes] == [
        ("Suspicious logins", True, USERNAME)
    ]


async def test_polling_counts_from_since_then_from_the_cursor(host, http, sn: FakeServiceNow):
    snow = syncer(host, http, sn)
    sn.now = T0
    old = await sn.insert_incident(comments="Before sync")
    sn.tick(3600)  # 11:00
    recent = await sn.insert_incident()
    sn.tick(1)
    await sn.act(recent, "alice", comments="After sync")
    first = await snow.poll([old, recent], since="2024-05-01T10:30:00Z")
    assert [(c.incident_id, c.change_id.partition(":")[0]) for c in people(first.changes)] == [
        (recent, "state"),  # new to polling and updated since: as it is
        (recent, "short_description"),
        (recent, "description"),
        (recent, "journal"),
    ]
    assert [c.comment.body for c in first.changes if c.comment] == ["After sync"]
    journal_query = query(sn.calls("GET", "/api/now/table/sys_journal_field")[-1].path)
    assert journal_query == (
        f"name=incident^element_idIN{old},{recent}^elementINcomments,work_notes"
        "^sys_created_on>=2024-05-01 10:30:00^ORDERBYsys_created_on^ORDERBYsys_id"
    )
    assert json.loads(first.cursor)["at"] == "2024-05-01 11:00:01"

    sn.requests.clear()
    sn.tick(600)
    await sn.act(old, "bob", state="6", close_code="Solution provided", close_notes="Done")
    second = await snow.poll([old, recent], first.cursor)
    assert [(c.incident_id, c.status, c.external_status) for c in second.changes] == [
        (old, "closed", "Resolved")
    ]
    [records] = sn.calls("GET", "/api/now/v2/table/incident")
    # 60 seconds before the latest time seen: an update is stamped before it is committed.
    assert (
        query(records.path)
        == f"sys_idIN{old},{recent}^sys_updated_on>=2024-05-01 10:59:01^ORDERBYsys_updated_on"
    )
    assert query(records.path, "sysparm_display_value") == "false"
    assert query(records.path, "sysparm_fields") == (
        "sys_id,number,state,short_description,description,sys_mod_count,sys_updated_on,sys_updated_by"
    )
    assert json.loads(second.cursor)["at"] == "2024-05-01 11:10:01"

    # What the overlap reads again has the same ids; a cursor that cannot be read starts over from since.
    again = await snow.poll([old, recent], first.cursor)
    assert ids(again.changes) == ids(second.changes)
    restart = await snow.poll([old, recent], "garbage", since="2024-05-01T11:05:00Z")
    assert ids(people(restart.changes)) == [
        f"state:{old}:1",
        f"short_description:{old}:1",
        f"description:{old}:1",
    ]


async def test_polls_read_incidents_and_journal_in_batches_and_pages(
    host, http, sn: FakeServiceNow, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(sync, "BATCH", 2)
    monkeypatch.setattr(sync, "JOURNAL_PAGE", 2)
    snow = syncer(host, http, sn)
    sn.now = T0
    incidents = [await sn.insert_incident() for _ in range(5)]
    first = await snow.poll(incidents, since="2024-05-01T10:00:01Z")
    assert first.changes == []
    sn.tick(120)
    for sys_id in incidents:
        await sn.act(sys_id, "alice", comments=f"Note on {sys_id}")
    await sn.act(incidents[0], "alice", comments="Another", work_notes="And a note")
    polled = await snow.poll([*incidents, incidents[0]], first.cursor)
    assert sorted(c.comment.body for c in polled.changes) == sorted(
        [f"Note on {sys_id}" for sys_id in incidents] + ["Another", "And a note"]
    )
    records = [r.path for r in sn.calls("GET", "/api/now/v2/table/incident")]
    journal = [r.path for r in sn.calls("GET", "/api/now/table/sys_journal_field")]
    batches = [re.search(r"sys_idIN([^%&]*)", path).group(1) for path in records[3:]]
    assert batches == [",".join(incidents[0:2]), ",".join(incidents[2:4]), incidents[4]]
    assert len(journal) == 3 + 6  # first poll: one page a batch; then 4, 2 and 1 entries a batch
    assert [re.search(r"sysparm_offset=(\d+)", path).group(1) for path in journal[3:]] == [
        "0",
        "2",
        "4",
        "0",
        "2",
        "0",
    ]
    assert len(json.loads(polled.cursor)["seen"]) == 5


async def test_a_poll_of_no_incidents_calls_nothing(host, http, sn: FakeServiceNow):
    polled = await syncer(host, http, sn).poll([], since="2024-05-01T09:00:00.000Z")
    assert polled.changes == [] and sn.requests == []
    assert json.loads(polled.cursor) == {"v": 1, "at": "2024-05-01 09:00:00", "seen": {}, "recent": []}


async def test_a_poll_forgets_incidents_it_is_no_longer_asked_about(host, http, sn: FakeServiceNow):
    snow = syncer(host, http, sn)
    sn.now = T0
    one, two = await sn.insert_incident(), await sn.insert_incident()
    cursor = (await snow.poll([one, two])).cursor
    assert set(json.loads(cursor)["seen"]) == {one, two}
    cursor = (await snow.poll([two], cursor)).cursor
    assert set(json.loads(cursor)["seen"]) == {two}


async def test_secops_incidents_sync_too(host, http, sn: FakeServiceNow, receiver):
    snow = syncer(host, http, sn, SIR)
    sn.now = T0
    sys_id = await snow.push()
    listening(sn, receiver, SIR)
    cursor = (await snow.poll([sys_id])).cursor
    sn.tick(120)
    await sn.act(sys_id, "alice", state="18", work_notes="Isolated the host")
    webhook = [c for n in sn.notifications for c in (await snow.parse(n)).changes]
    assert sn.notification(0)["table"] == "sn_si_incident"
    assert [(c.status, c.external_status) for c in webhook if c.change_id.startswith("state")] == [
        ("in-progress", "Contain")
    ]
    polled = await snow.poll([sys_id], cursor)
    assert ids(polled.changes) == ids(webhook)
    assert sn.calls("GET", "/api/now/v2/table/sn_si_incident")
    assert query(sn.calls("GET", "/api/now/table/sys_journal_field")[0].path).startswith(
        "name=sn_si_incident^"
    )
    # An ITSM notification is not this connector's.
    with pytest.raises(InboundRefused):
        await snow.parse({"table": "incident", "sys_id": sys_id})


async def test_a_poll_without_names_or_labels_shows_user_names_and_values(host, http, sn: FakeServiceNow):
    snow = syncer(host, http, sn)
    sn.now = T0
    sys_id = await sn.insert_incident()
    cursor = (await snow.poll([sys_id])).cursor
    sn.tick(120)
    await sn.act(sys_id, "dave", state="2", comments="Who am I")  # no such sys_user
    sn.answer("GET", "/api/now/table/sys_choice", 403, {"error": {"message": "Forbidden"}})
    polled = await snow.poll([sys_id], cursor)
    assert [(c.author, c.external_status) for c in polled.changes] == [("dave", "2"), ("dave", None)]


async def test_a_failed_poll_is_a_connector_error(host, http, sn: FakeServiceNow):
    snow = syncer(host, http, sn)
    sys_id = await sn.insert_incident()
    sn.break_all()
    with pytest.raises(ConnectorError) as raised:
        await snow.poll([sys_id])
    assert raised.value.status == 500 and raised.value.may_pass
    assert raised.value.message.startswith("[Action][ServiceNow]: Unable to get the changes of incidents.")


# --- the README's business rules ---------------------------------------------------------------------

_HARNESS = r"""
const vm = require('vm');
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const sent = [];
function element(record, name) {
  return {
    changes: () => (record.changed || []).includes(name),
    nil: () => [undefined, null, ''].includes(record.values[name]),
    getDisplayValue: () => (record.display || {})[name] ?? record.values[name],
    toString: () => String(record.values[name] ?? ''),
  };
}
function glideRecord(table, record) {
  const gr = {
    getTableName: () => table,
    getUniqueValue: () => gr.record.values.sys_id,
    getValue: (name) => {
      const value = gr.record.values[name];
      return [undefined, null, ''].includes(value) ? null : String(value);
    },
    get: (sysId) => {
      const found = (input.records[table] || {})[sysId];
      if (!found) return false;
      load({values: found});
      return true;
    },
  };
  function load(loaded) {
    gr.record = loaded;
    const names = ['state', 'short_description', 'description', 'correlation_id'];
    for (const name of new Set([...Object.keys(loaded.values), ...names])) gr[name] = element(loaded, name);
  }
  if (record) load(record);
  return gr;
}
const context = {
  current: glideRecord(input.table, input.current),
  previous: null,
  gs: {getUserDisplayName: () => input.user_display_name, getUserName: () => input.user_name},
  GlideRecord: function (table) { return glideRecord(table, null); },
  GlideDateTime: function () { this.getValue = () => input.now; },
  sn_ws: {RESTMessageV2: function (name, method) {
    const message = {name, method};
    this.setRequestBody = (body) => { message.body = JSON.parse(body); };
    this.executeAsync = () => { sent.push(message); };
  }},
};
vm.runInNewContext(input.script, context);
process.stdout.write(JSON.stringify(sent));
"""


def readme_rules() -> dict[str, str]:
    """The README's business rule scripts, by their first line."""
    blocks = re.findall(r"```js\n(.*?)```", README.read_text(), re.DOTALL)
    scripts = {}
    for block in blocks:
        script = "\n".join(line.removeprefix("   ") for line in block.splitlines())
        scripts[script.splitlines()[0]] = script
    return scripts


def run_rule(script: str, **context: Any) -> list[dict]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the README's business rules cannot be run")
    done = subprocess.run(
        [node, "-e", _HARNESS],
        input=json.dumps({"script": script, **context}),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_readme_rules_are_es5():
    scripts = readme_rules()
    assert set(scripts) == {
        "// casepush: after update on incident (SecOps: sn_si_incident)",
        "// casepush: after insert on sys_journal_field",
    }
    for script in scripts.values():
        # The global scope's ES5: no arrow functions, let/const, template strings, classes.
        assert not re.search(r"=>|\blet\b|\bconst\b|`|\bclass\b", script), script


async def test_the_readme_rules_post_what_the_fake_s_rules_post(host, http, sn: FakeServiceNow, receiver):
    """The README's scripts, run against stand-ins of GlideRecord, gs, GlideDateTime and RESTMessageV2 as
    ServiceNow would run them after a person's update, post the notifications the fake posts (and
    parse_inbound reads)."""
    scripts = readme_rules()
    snow = syncer(host, http, sn)
    sys_id = await snow.push(description="Was")
    before = dict(sn.incidents[sys_id])
    listening(sn, receiver)
    sn.now = T0
    await sn.act(sys_id, "alice", state="3", description="", comments="Called", urgency="2")
    incident = sn.incidents[sys_id]
    changed = [
        f
        for f in ("state", "short_description", "description", "urgency")
        if before.get(f) != incident.get(f)
    ]
    common = {"user_display_name": "Alice Analyst", "user_name": "alice", "now": T0}
    values = {k: v for k, v in incident.items() if k != "table"}
    posted = run_rule(
        scripts["// casepush: after update on incident (SecOps: sn_si_incident)"],
        table="incident",
        current={"values": values, "changed": changed, "display": {"state": "On Hold"}},
        records={},
        **common,
    )
    assert [(p["name"], p["method"]) for p in posted] == [("casepush", "inbound")]
    assert posted[0]["body"] == sn.notification(0)
    [entry] = sn.journal
    posted = run_rule(
        scripts["// casepush: after insert on sys_journal_field"],
        table="sys_journal_field",
        current={"values": entry},
        records={"incident": {sys_id: values}},
        **common,
    )
    assert posted[0]["body"] == sn.notification(1)
    parsed = [await snow.parse(json.dumps(p["body"]).encode()) for p in posted]
    assert parsed[0].changes[0].comment.body == "Called"

    # Nothing for an update of other fields, a journal entry of another table or of an incident of no case.
    assert (
        run_rule(
            scripts["// casepush: after update on incident (SecOps: sn_si_incident)"],
            table="incident",
            current={"values": values, "changed": ["urgency"]},
            records={},
            **common,
        )
        == []
    )
    for row, records in (
        ({**entry, "name": "problem"}, {"incident": {sys_id: values}}),
        (entry, {"incident": {sys_id: {**values, "correlation_id": ""}}}),
        ({**entry, "element": "close_notes"}, {"incident": {sys_id: values}}),
    ):
        assert (
            run_rule(
                scripts["// casepush: after insert on sys_journal_field"],
                table="sys_journal_field",
                current={"values": row},
                records=records,
                **common,
            )
            == []
        )
