"""The example plugin's own tests, as a plugin's author writes them with casepush's test kit: a fake
echo service, a push, a failure, the connector contract and crash recovery.

They are the plugin guide's "Testing your plugin" (docs/writing-a-connector.md shows their regions).
casepush's suite runs them (asyncio auto mode), and tests/test_testing_kit.py runs them as a project of
their own would, in pytest-asyncio's strict mode, against the distribution pip builds.
"""

# region test-imports
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime

import aiohttp
import casepush_echo
import pytest
import pytest_asyncio
from aiohttp import web

from casepush.testing import Api, FakeService, KilledAfterCreate, ok
from casepush.testing.contract import ConnectorContract

# pytest-asyncio's strict mode (its default) runs only the async tests marked so; auto mode needs no mark.
pytestmark = pytest.mark.asyncio
# endregion


# region fake-echo
TOKEN = "echo-api-token"


def now() -> str:
    """Now, as the echo service writes times: ISO 8601 in UTC, with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeEcho:
    """The echo service, in memory, on a ``FakeService``: incidents with their comments and state, a
    journal of their changes (which polls read and webhooks send), and a switch that breaks it."""

    def __init__(self, service: FakeService):
        self.service = service
        self.incidents: dict[str, dict] = {}
        self.events: list[dict] = []
        self.broken = False
        service.app.middlewares.append(self.checked)
        service.route("POST", "/incidents")(self.create)
        service.route("GET", "/incidents")(self.search)
        service.route("GET", "/incidents/{id}")(self.get)
        service.route("PUT", "/incidents/{id}")(self.update)
        service.route("PUT", "/incidents/{id}/state")(self.set_state)
        service.route("POST", "/incidents/{id}/comments")(self.comment)
        service.route("GET", "/changes")(self.changes)

    @property
    def url(self) -> str:
        return self.service.url

    def break_down(self) -> None:
        self.broken = True

    @web.middleware
    async def checked(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        if self.broken:
            return web.json_response({"error": "down"}, status=503)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "unauthorized"}, status=401)
        incident_id = request.match_info.get("id")
        if incident_id is not None and incident_id not in self.incidents:
            return web.json_response({"error": "no such incident"}, status=404)
        return await handler(request)

    def found(self, incident_id: str) -> dict:
        url = f"{self.url}/browse/{incident_id}"
        return {"id": incident_id, "url": url, "updated": now(), **self.incidents[incident_id]}

    def journal(self, incident_id: str, author: str | None = None, **change: object) -> dict:
        """A change of the incident, by a person (``author``) or by the API's caller: casepush."""
        event = {"id": f"ev-{len(self.events) + 1}", "incident": incident_id, "at": now(), **change}
        self.events.append({**event, "author": author or "casepush", "integration": author is None})
        return self.events[-1]

    async def create(self, request: web.Request) -> web.Response:
        incident_id = str(len(self.incidents) + 1)
        self.incidents[incident_id] = {**await request.json(), "comments": []}
        return web.json_response(self.found(incident_id))

    async def search(self, request: web.Request) -> web.Response:
        wanted = request.query["correlationId"]
        matching = [i for i, incident in self.incidents.items() if incident.get("correlationId") == wanted]
        return web.json_response([self.found(incident_id) for incident_id in matching])

    async def get(self, request: web.Request) -> web.Response:
        return web.json_response(self.found(request.match_info["id"]))

    async def update(self, request: web.Request) -> web.Response:
        self.incidents[request.match_info["id"]].update(await request.json())
        return web.json_response(self.found(request.match_info["id"]))

    async def set_state(self, request: web.Request) -> web.Response:
        state = await request.json()
        self.incidents[request.match_info["id"]].update(state)
        if state.get("state"):
            self.journal(request.match_info["id"], state=state["state"])
        return web.json_response(self.found(request.match_info["id"]))

    async def comment(self, request: web.Request) -> web.Response:
        text = (await request.json())["text"]
        event = self.add_comment(request.match_info["id"], text, author=None)
        return web.json_response({"comment_id": event["comment"]["id"]})

    async def changes(self, request: web.Request) -> web.Response:
        """The journal's events of these incidents after the cursor (a position in it), or since a time."""
        wanted = set(request.query["ids"].split(","))
        after, since = int(request.query.get("after", "0")), request.query.get("since", "")
        found = [
            event
            for position, event in enumerate(self.events, 1)
            if position > after and event["incident"] in wanted and event["at"] >= since
        ]
        return web.json_response({"events": found, "cursor": str(len(self.events))})

    def add_comment(self, incident_id: str, text: str, author: str | None) -> dict:
        self.incidents[incident_id]["comments"].append(text)
        comment = {"id": f"c-{len(self.events) + 1}", "text": text, "created": now()}
        return self.journal(incident_id, author, comment=comment)

    def person_comments(self, incident_id: str, text: str) -> dict:
        """A person, not casepush, comments on the incident."""
        return self.add_comment(incident_id, text, author="Jane Doe")

    def webhook_call(self, incident_id: str, text: str, secret: str) -> tuple[bytes, dict]:
        """A person comments, and the service's webhook reports it: the body and headers it sends."""
        body = json.dumps({"events": [self.person_comments(incident_id, text)], "sent_at": now()}).encode()
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return body, {"X-Hub-Signature": f"sha256={signature}", "Content-Type": "application/json"}


@pytest_asyncio.fixture  # an async fixture of your own: pytest-asyncio's, for its strict mode
async def fake_echo(fake_service: Callable[[], FakeService]) -> FakeEcho:
    echo = FakeEcho(fake_service())
    await echo.service.start()
    return echo


# endregion


# region test-push
@pytest.fixture
def casepush_plugins() -> list[object]:
    return [casepush_echo]


def connector_body(url: str) -> dict:
    return {"name": "Echo", "connector_type_id": ".echo", "config": {"url": url}, "secrets": {"token": TOKEN}}


async def test_a_case_is_pushed_as_an_incident_with_its_comment(casepush: Api, fake_echo: FakeEcho):
    connector = await ok(casepush.post("/api/actions/connector", connector_body(fake_echo.url)))
    case = await casepush.create_case(title="Suspicious login")
    comment = {"type": "user", "comment": "Password reset requested.", "owner": "cases"}
    await ok(casepush.post(f"/api/cases/{case['id']}/comments", comment))

    pushed = await ok(casepush.post(f"/api/cases/{case['id']}/connector/{connector['id']}/_push", {}))

    assert pushed["external_service"]["external_id"] == "1"
    incident = await casepush.executed(connector["id"], "getIncident", {"externalId": "1"})
    assert (incident["title"], incident["correlationId"]) == ("Suspicious login", case["id"])
    assert incident["comments"][0].startswith("Password reset requested.")


async def test_a_failing_service_is_the_connectors_error(casepush: Api, fake_echo: FakeEcho):
    connector = await ok(casepush.post("/api/actions/connector", connector_body(fake_echo.url)))
    fake_echo.break_down()

    message = await casepush.execution_failed(connector["id"], "getIncident", {"externalId": "1"})

    assert message == "[Action][Echo]: Unable to GET /incidents/1. Status: 503"


# endregion


# region test-contract
class TestEchoContract(ConnectorContract):
    @pytest.fixture
    def contract_type_id(self) -> str:
        return ".echo"

    @pytest.fixture
    def contract_connector(self, fake_echo: FakeEcho) -> dict:
        return {"config": {"url": fake_echo.url}, "secrets": {"token": TOKEN}}

    @pytest.fixture
    def contract_push_params(self) -> Callable[[str | None, list[tuple[str, str]]], dict]:
        def params(external_id: str | None, comments: list[tuple[str, str]]) -> dict:
            incident = {"title": "Suspicious login", "externalId": external_id}
            return {"incident": incident, "comments": [{"commentId": i, "comment": c} for i, c in comments]}

        return params

    @pytest.fixture
    def contract_break(self, fake_echo: FakeEcho) -> Callable[[], None]:
        return fake_echo.break_down

    @pytest.fixture
    def contract_external_comment(self, fake_echo: FakeEcho) -> Callable[[str, str], object]:
        return fake_echo.person_comments

    @pytest.fixture
    def contract_inbound_call(self, fake_echo: FakeEcho) -> Callable[[str, str, str], tuple]:
        return fake_echo.webhook_call


# endregion


# region test-crash
class TestCrashRecovery:
    @pytest.fixture
    def casepush_plugins(self) -> list[object]:
        return [casepush_echo, KilledAfterCreate()]

    async def test_a_push_killed_after_the_create_finds_the_incident_it_made(
        self, casepush: Api, fake_echo: FakeEcho
    ):
        connector = await ok(casepush.post("/api/actions/connector", connector_body(fake_echo.url)))
        case = await casepush.create_case()
        push = f"/api/cases/{case['id']}/connector/{connector['id']}/_push"
        with pytest.raises(aiohttp.ClientError):  # the app dies after the create, as a killed process would
            await casepush.post(push, {})

        pushed = await ok(casepush.post(push, {}))

        assert pushed["external_service"]["external_id"] == "1"
        assert list(fake_echo.incidents) == ["1"]


# endregion
