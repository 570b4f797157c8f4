"""Pushes while the external system fails: each fault is a 424 in Kibana's format saying what went wrong
(or, where the call is safe to repeat, a retry that succeeds), the case is left as it was, and the next
push once the fault is gone makes exactly one incident.

Real local fakes (the plugins' fake Jira and fake webhook target) misbehave through ``faults.Saboteur``;
the HTTP client's own rules (retries, limits, redirects) are tested call by call in ``test_outbound.py``.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import casepush_jira
import casepush_webhook
import msgspec
import pytest
from fake_jira import API, API_TOKEN, EMAIL, PROJECT, TASK, FakeJira
from fake_target import PASSWORD as TARGET_PASSWORD
from fake_target import USER, FakeTarget
from test_webhook import cases_config

from casepush.app import create_app
from casepush.config import Settings
from casepush.plugins import load_plugins
from casepush.testing import Api, FakeService
from tests.faults import (
    DISALLOWED_HOST,
    Sabotage,
    Saboteur,
    answer,
    hang,
    huge,
    not_json,
    rate_limited,
    redirect_away,
    reset,
    server_error,
    wrong_content_type,
)
from tests.processes import free_port

#: Seconds a connector call may take here (``CASEPUSH_RESPONSE_TIMEOUT``): a hung call fails after it.
TIMEOUT = 1.0
#: The default ``CASEPUSH_MAX_RESPONSE_BYTES``, which a 10 MB answer passes.
MAX_RESPONSE_BYTES = Settings().max_response_bytes
#: Where the fakes keep their issues.
ISSUE, ISSUES = rf"{API}/issue", r"/api/issues"


# --- the external systems -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """``sabotage`` of a push's ``step`` (``times`` calls in a row); ``None``: nothing listens (the
    connector is pointed at a closed port). ``says`` is in the 424's message."""

    step: str
    sabotage: Sabotage | None
    says: str
    times: int = 1


@dataclass
class External:
    """A fake external system, its saboteur, and what a push to it calls and says when it fails."""

    fake: FakeJira | FakeTarget
    saboteur: Saboteur
    type_id: str
    #: ``(method, path pattern)`` of each step of a push: create, read (back), update, comment.
    calls: dict[str, tuple[str, str]]
    #: Each step's failure, as the 424's message starts.
    failures: dict[str, str]
    #: Whether the type looks up the incident of an interrupted create (``find_incident``).
    recovers: bool

    def connector_body(self, base_url: str) -> dict:
        if self.type_id == ".jira":
            config = {"apiUrl": base_url, "projectKey": PROJECT}
            secrets = {"email": EMAIL, "apiToken": API_TOKEN}
        else:
            config, secrets = cases_config(base_url), {"user": USER, "password": TARGET_PASSWORD}
        return {"name": "External", "connector_type_id": self.type_id, "config": config, "secrets": secrets}

    def case_connector(self, connector_id: str) -> dict:
        fields = {"issueType": TASK, "priority": None, "parent": None} if self.type_id == ".jira" else None
        return {"id": connector_id, "name": "External", "type": self.type_id, "fields": fields}

    def incidents(self) -> list[str]:
        return list(self.fake.issues)

    def comments(self, incident_id: str) -> list[str]:
        """The comments an incident received, their first lines (without Kibana's "Added by")."""
        if isinstance(self.fake, FakeJira):
            texts = [comment["body"] for comment in self.fake.comments.get(incident_id, [])]
        else:
            texts = [body["text"] for on, body in self.fake.comments if on == incident_id]
        return [text.partition("\n")[0] for text in texts]

    def sent(self, step: str) -> int:
        method, path = self.calls[step]
        return sum(r.method == method and _matches(path, r.path) for r in self.fake.requests)

    def aim(self, fault: Fault) -> tuple[str, Sabotage | None]:
        """Where the fault strikes. A type that cannot recover an interrupted create makes a second
        incident after a create whose answer was lost (as Kibana; its README says so): for it, faults
        strike before the call is acted on, and those of the read-back strike the create instead."""
        if self.recovers or fault.sabotage is None:
            return fault.step, fault.sabotage
        step = "create" if fault.step == "read" else fault.step
        return step, replace(fault.sabotage, acted=False)


def _matches(pattern: str, path: str) -> bool:
    return re.fullmatch(pattern, path.partition("?")[0]) is not None


def steps(create: Any, read: Any, update: Any, comment: Any) -> dict[str, Any]:
    return {"create": create, "read": read, "update": update, "comment": comment}


async def start_jira(service: FakeService, saboteur: Saboteur) -> External:
    fake = FakeJira(service)
    saboteur.install(service.app)
    await fake.start()
    calls = steps(
        ("POST", ISSUE), ("GET", rf"{ISSUE}/\d+"), ("PUT", rf"{ISSUE}/\d+"), ("POST", rf"{ISSUE}/\d+/comment")
    )
    failures = steps(
        "[Action][Jira]: Unable to create incident. Error: ",
        "[Action][Jira]: Unable to create incident. Error: [Action][Jira]: Unable to get incident with id ",
        "[Action][Jira]: Unable to update incident with id ",
        "[Action][Jira]: Unable to create comment at incident with id ",
    )
    return External(fake, saboteur, ".jira", calls, failures, recovers=True)


async def start_cases_webhook(service: FakeService, saboteur: Saboteur) -> External:
    fake = FakeTarget(service, credentials=(USER, TARGET_PASSWORD))
    saboteur.install(service.app)
    await fake.start()
    calls = steps(
        ("POST", ISSUES),
        ("GET", rf"{ISSUES}/\d+"),
        ("PUT", rf"{ISSUES}/\d+"),
        ("POST", rf"{ISSUES}/\d+/comments"),
    )
    name = "[Action][Webhook - Case Management]"
    failures = steps(
        f"{name}: Unable to create case. Error: ",
        f"{name}: Unable to create case. Error: {name}: Unable to get case with id ",
        f"{name}: Unable to update case with id ",
        f"{name}: Unable to create comment at case with id ",
    )
    return External(fake, saboteur, ".cases-webhook", calls, failures, recovers=False)


@pytest.fixture(params=[start_jira, start_cases_webhook], ids=["jira", "cases-webhook"])
async def external(request: pytest.FixtureRequest, fake_service: Callable[[], FakeService]) -> External:
    started = await request.param(fake_service(), Saboteur())
    yield started
    started.saboteur.calm()


@pytest.fixture
async def api(aiohttp_client: Any, settings: Settings) -> Api:
    """casepush with the Jira and webhook plugins, allowed to call 127.0.0.1 only, calls timing out soon."""
    changed = msgspec.structs.replace(settings, allowed_hosts=["127.0.0.1"], response_timeout=TIMEOUT)
    plugins = await load_plugins(allowed=[], extra=[casepush_jira, casepush_webhook])
    return Api(await aiohttp_client(create_app(changed, announce=lambda line: None, plugins=plugins)))


# --- helpers --------------------------------------------------------------------------------------------


@dataclass
class Pushing:
    """A case (with a comment) and the connector it is pushed to."""

    api: Api
    external: External
    connector: dict
    case_id: str

    @property
    def path(self) -> str:
        return f"/api/cases/{self.case_id}/connector/{self.connector['id']}/_push"

    async def push(self) -> tuple[int, Any]:
        return await self.api.post(self.path, {})

    async def pushed(self) -> dict:
        status, case = await self.push()
        assert status == 200, case
        return case

    async def comment(self, text: str) -> None:
        body = {"type": "user", "comment": text, "owner": "cases"}
        status, answer_ = await self.api.post(f"/api/cases/{self.case_id}/comments", body)
        assert status == 200, answer_

    async def state(self) -> tuple[dict, list[dict]]:
        """The case with its comments, and its user actions."""
        _, case = await self.api.get(f"/api/cases/{self.case_id}")
        _, actions = await self.api.get(f"/api/cases/{self.case_id}/user_actions/_find?perPage=100")
        return case, actions["userActions"]

    async def point_at(self, base_url: str) -> None:
        body = self.external.connector_body(base_url)
        update = {key: body[key] for key in ("name", "config", "secrets")}
        status, answer_ = await self.api.put(f"/api/actions/connector/{self.connector['id']}", update)
        assert status == 200, answer_

    async def failed_push(self, fault: Fault) -> tuple[str, str]:
        """Push under the fault, then take the fault away: the 424's message and the step it struck."""
        step, sabotage = self.external.aim(fault)
        if sabotage is None:
            await self.point_at(f"http://127.0.0.1:{free_port()}")
        else:
            self.external.saboteur.arm(sabotage, *self.external.calls[step], times=fault.times)
        status, body = await self.push()
        self.external.saboteur.calm()
        await self.point_at(self.external.fake.url)
        assert (status, body["statusCode"], body["error"]) == (424, 424, "Failed Dependency"), body
        assert set(body) == {"statusCode", "error", "message"}
        return body["message"], step


@pytest.fixture
async def pushing(api: Api, external: External) -> Pushing:
    status, connector = await api.post("/api/actions/connector", external.connector_body(external.fake.url))
    assert status == 200, connector
    case = await api.create_case(connector=external.case_connector(connector["id"]))
    made = Pushing(api, external, connector, case["id"])
    await made.comment("Seen on web-01.")
    return made


# --- faults of a first push (the create) ----------------------------------------------------------------

NOT_ALLOWED = (
    f'target hostname "{DISALLOWED_HOST}" is not added to the Kibana config xpack.actions.allowedHosts'
)
FIRST_PUSH_FAULTS = [
    pytest.param(Fault("create", None, "connect ECONNREFUSED 127.0.0.1:"), id="connection-refused"),
    pytest.param(Fault("create", reset(acted=True), "Connection reset by peer"), id="reset-mid-response"),
    pytest.param(
        Fault("create", hang(acted=True), f"timeout of {TIMEOUT * 1000:.0f}ms exceeded"), id="timeout"
    ),
    pytest.param(
        Fault("create", rate_limited(), "Request failed with status code 429", times=3),
        id="429-every-attempt",
    ),
    pytest.param(Fault("create", server_error(502), "Request failed with status code 502"), id="502"),
    pytest.param(Fault("read", not_json(), "Response is not a valid JSON"), id="invalid-json"),
    pytest.param(
        Fault(
            "create", wrong_content_type(acted=True), "Unsupported content type: text/html in post http://"
        ),
        id="wrong-content-type",
    ),
    pytest.param(
        Fault("create", answer("missing-fields", 201, {"self": "x"}, acted=True), "Response is missing "),
        id="missing-fields",
    ),
    pytest.param(Fault("read", huge(), f"maxContentLength size of {MAX_RESPONSE_BYTES} exceeded"), id="10mb"),
    pytest.param(Fault("create", redirect_away(), NOT_ALLOWED), id="redirect-to-a-disallowed-host"),
]


async def fails_and_changes_nothing(pushing, fault) -> None:
    """The push is a 424 in the connector's words naming the fault, and the case is as it was."""
    before = await pushing.state()
    message, step = await pushing.failed_push(fault)
    assert message.startswith(pushing.external.failures[step]), message
    assert fault.says in message, message
    assert await pushing.state() == before


@pytest.mark.parametrize("fault", FIRST_PUSH_FAULTS)
async def test_a_failed_first_push_is_a_424_and_the_next_push_makes_one_incident(pushing, fault):
    await fails_and_changes_nothing(pushing, fault)

    result = await pushing.pushed()
    (incident,) = pushing.external.incidents()
    assert result["external_service"]["external_id"] == incident
    assert pushing.external.comments(incident) == ["Seen on web-01."]
    assert all(comment["pushed_at"] for comment in result["comments"])


@pytest.mark.parametrize(
    ("step", "sabotage"),
    [
        pytest.param("create", rate_limited(), id="429-on-the-create"),
        pytest.param("read", server_error(503), id="503-on-a-read"),
    ],
)
async def test_a_refusal_worth_retrying_is_retried_and_the_push_succeeds(pushing, step, sabotage):
    pushing.external.saboteur.arm(sabotage, *pushing.external.calls[step])

    result = await pushing.pushed()

    (incident,) = pushing.external.incidents()
    assert result["external_service"]["external_id"] == incident
    assert pushing.external.saboteur.made == {sabotage.name: 1}
    assert pushing.external.sent(step) == 2


# --- faults of a later push (the update and its comments) -----------------------------------------------

LATER_PUSH_FAULTS = [
    pytest.param(
        Fault("update", server_error(502), "Request failed with status code 502", times=3), id="502"
    ),
    pytest.param(Fault("update", reset(acted=True), "Connection reset by peer", times=3), id="reset-update"),
    pytest.param(Fault("comment", reset(), "Connection reset by peer"), id="reset-comment"),
]


@pytest.mark.parametrize("fault", LATER_PUSH_FAULTS)
async def test_a_failed_later_push_is_a_424_and_the_next_push_updates_the_same_incident(pushing, fault):
    first = await pushing.pushed()
    await pushing.comment("Escalated.")

    await fails_and_changes_nothing(pushing, fault)

    result = await pushing.pushed()
    incident = first["external_service"]["external_id"]
    assert pushing.external.incidents() == [incident]
    assert result["external_service"]["external_id"] == incident
    assert pushing.external.comments(incident) == ["Seen on web-01.", "Escalated."]
