"""A fake ServiceNow instance on a real socket: the Table API, the Elastic application's Import Set API,
health check and observables, ``sys_dictionary``/``sys_choice``, ``sys_user``, and ``oauth_token.do``
verifying the JWT assertion with the connector's public key. It checks every call's credentials and
records what it gets.

Writes to an incident follow ServiceNow's rules for its state and assignee (see ``_apply``):

- a choice field takes only one of its choices: any other ``state`` or ``close_code`` is left as it was
  (an unknown close code then counts as none);
- an ITSM incident Closed (7) or Canceled (8) keeps its state: closing is final, only a Resolved one is
  reopened;
- the data policies refuse a resolved or closed ITSM incident (6, 7) without resolution code and notes,
  and a closed SecOps one (3) without close code: a 403 ``Operation Failed`` / ``Data Policy Exception``
  from the Table API, an ``error`` row from the Import Set API, and nothing is written;
- ``assigned_to`` takes a ``sys_user``'s sys_id (or its display name, which ServiceNow resolves); any
  other value is left as it was. Reads give it as ``{"link", "value"}``, as the Table API does;
- a SecOps incident in Draft (10) moves to Analysis (16) once it is assigned.
"""

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import casepush_servicenow
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from casepush.testing import FakeService, basic_auth

USERNAME = "elastic-bot"
PASSWORD = "sn-p4ssw0rd-secret"
CLIENT_ID = "client-1234"
CLIENT_SECRET = "client-s3cret-value"
USER_ID = "integration.user@acme"
KEY_ID = "key-id-42"
KEY_PASSWORD = "pr1vate-key-pass"
CREATED_ON = "2020-03-10 12:24:20"
UPDATED_ON = "2020-03-11 08:00:05"
TABLES = {"incident": "x_elas2_inc_int", "sn_si_incident": "x_elas2_sir_int"}
IMPORT_SETS = {
    "x_elas2_inc_int_elastic_incident": "incident",
    "x_elas2_sir_int_elastic_si_incident": "sn_si_incident",
}
NOT_AUTHENTICATED = {
    "error": {"message": "User Not Authenticated", "detail": "Required to provide Auth information"}
}
#: The ``state`` choices of each table, as a new instance has them.
STATES = {
    "incident": {
        "1": "New",
        "2": "In Progress",
        "3": "On Hold",
        "6": "Resolved",
        "7": "Closed",
        "8": "Canceled",
    },
    "sn_si_incident": {
        "10": "Draft",
        "16": "Analysis",
        "18": "Contain",
        "19": "Eradicate",
        "20": "Recover",
        "100": "Review",
        "3": "Closed",
        "7": "Cancelled",
    },
}
INITIAL_STATE = {"incident": "1", "sn_si_incident": "10"}
#: ITSM resolution codes: those of current releases, and those of older instances (and Kibana's
#: ``closeIncident``), which upgraded instances keep.
CLOSE_CODES = [
    "Duplicate",
    "Known error",
    "No resolution provided",
    "Resolved by caller",
    "Resolved by change",
    "Resolved by problem",
    "Resolved by request",
    "Solution provided",
    "Workaround provided",
    "User error",
]
LEGACY_CLOSE_CODES = [
    "Solved (Work Around)",
    "Solved (Permanently)",
    "Solved Remotely (Work Around)",
    "Solved Remotely (Permanently)",
    "Not Solved (Not Reproducible)",
    "Not Solved (Too Costly)",
    "Closed/Resolved by Caller",
]
SIR_CLOSE_CODES = [
    "Investigation completed",
    "Threat mitigated",
    "Patched vulnerability",
    "Invalid vulnerability",
    "Not resolved",
    "False positive",
]
#: What each table's data policy makes mandatory in which states (field, label).
CLOSING_POLICIES = {
    "incident": ({"6", "7"}, [("close_code", "Resolution code"), ("close_notes", "Resolution notes")]),
    "sn_si_incident": ({"3"}, [("close_code", "Close code")]),
}
USERS = [
    {"sys_id": "usr-alice", "user_name": "alice", "name": "Alice Analyst", "email": "Alice@Acme.example"},
    {"sys_id": "usr-bob", "user_name": "bob", "name": "Bob Builder", "email": "bob@acme.example"},
    {
        "sys_id": "usr-gone",
        "user_name": "carol",
        "name": "Carol Gone",
        "email": "carol@acme.example",
        "active": "false",
    },
]


def pem(key: rsa.RSAPrivateKey, password: str | None = None) -> str:
    encryption = (
        serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


def basic(sn: "FakeServiceNow", **config: Any) -> dict:
    """A connector's ``config`` and ``secrets`` reaching the fake with Basic auth."""
    return {"config": {"apiUrl": sn.url, **config}, "secrets": {"username": USERNAME, "password": PASSWORD}}


def oauth(
    sn: "FakeServiceNow", key: rsa.RSAPrivateKey, password: str | None = KEY_PASSWORD, **config: Any
) -> dict:
    """A connector's ``config`` and ``secrets`` reaching the fake with OAuth, signing with ``key``."""
    secrets = {"clientSecret": CLIENT_SECRET, "privateKey": pem(key, password)}
    if password:
        secrets["privateKeyPassword"] = password
    oauth_config = {
        "isOAuth": True,
        "clientId": CLIENT_ID,
        "userIdentifierValue": USER_ID,
        "jwtKeyId": KEY_ID,
    }
    return {"config": {"apiUrl": sn.url, **oauth_config, **config}, "secrets": secrets}


@dataclass
class Canned:
    """An answer given instead of the real one to calls matching ``method`` and ``path`` (a prefix)."""

    method: str
    path: str
    status: int
    body: Any
    times: int
    headers: dict[str, str] = field(default_factory=dict)


class FakeServiceNow:
    def __init__(self, service: FakeService, public_key: Any = None):
        self.service = service
        self.public_key = public_key
        self.incidents: dict[str, dict[str, Any]] = {}
        self.work_notes: dict[str, list[str]] = {}
        self.observables: dict[str, list[dict[str, str]]] = {}
        self.tokens: list[str] = []
        self.revoked: set[str] = set()
        self.assertions: list[tuple[dict, dict]] = []
        self.token_lifetime = 3600
        self.app_installed = True
        self.users = [dict(user) for user in USERS]
        self.close_codes = {"incident": list(CLOSE_CODES), "sn_si_incident": list(SIR_CLOSE_CODES)}
        self.canned: list[Canned] = []
        self._ids = itertools.count(1)
        self._setup()

    @property
    def requests(self) -> list:
        return self.service.requests

    @property
    def url(self) -> str:
        return self.service.url

    def calls(self, method: str | None = None, path: str = "") -> list:
        return [
            r for r in self.requests if (method is None or r.method == method) and r.path.startswith(path)
        ]

    def answer(
        self, method: str, path: str, status: int, body: Any = None, times: int = 1000, **headers: str
    ):
        self.canned.append(Canned(method, path, status, body, times, headers))

    def break_all(self) -> None:
        self.answer("*", "/", 500, {"error": {"message": "Instance down", "detail": "maintenance"}})

    # --- the app --------------------------------------------------------------------------------------

    def _setup(self) -> None:
        app = self.service.app
        app.middlewares.extend([self._canned, self._authenticated])
        router = app.router
        router.add_post("/oauth_token.do", self.token)
        router.add_get("/api/{scope}/elastic_api/health", self.health)
        router.add_post("/api/{scope}/elastic_api/incident/{id}/observables/bulk", self.add_observables)
        router.add_post("/api/now/import/{import_set}", self.import_set)
        router.add_post("/api/now/v2/table/{table}", self.create)
        router.add_get("/api/now/v2/table/{table}", self.query)
        router.add_get("/api/now/v2/table/{table}/{id}", self.get)
        router.add_patch("/api/now/v2/table/{table}/{id}", self.patch)
        router.add_get("/api/now/table/sys_dictionary", self.dictionary)
        router.add_get("/api/now/table/sys_choice", self.choices)
        router.add_get("/api/now/table/sys_user", self.sys_user)

    @web.middleware
    async def _canned(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        for canned in self.canned:
            matches = canned.method in ("*", request.method) and request.path.startswith(canned.path)
            if matches and canned.times > 0:
                canned.times -= 1
                if isinstance(canned.body, str):
                    return web.Response(text=canned.body, status=canned.status, headers=canned.headers)
                return web.json_response(canned.body, status=canned.status, headers=canned.headers)
        return await handler(request)

    @web.middleware
    async def _authenticated(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        if request.path == "/oauth_token.do":
            return await handler(request)
        given = request.headers.get("Authorization", "")
        valid = {basic_auth(USERNAME, PASSWORD)} | {
            f"Bearer {t}" for t in self.tokens if t not in self.revoked
        }
        if given not in valid:
            return web.json_response({**NOT_AUTHENTICATED, "status": "failure"}, status=401)
        return await handler(request)

    async def token(self, request: web.Request) -> web.Response:
        assert request.content_type == "application/x-www-form-urlencoded"
        form = {key: values[0] for key, values in parse_qs(await request.text()).items()}
        assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return web.json_response(
                {"error": "invalid_client", "error_description": "Client not found"}, status=401
            )
        try:
            claims = jwt.decode(form["assertion"], self.public_key, algorithms=["RS256"], audience=CLIENT_ID)
        except jwt.PyJWTError as exc:
            return web.json_response({"error": "invalid_grant", "error_description": str(exc)}, status=400)
        header = jwt.get_unverified_header(form["assertion"])
        self.assertions.append((header, claims))
        if header.get("kid") != KEY_ID or claims["iss"] != CLIENT_ID or claims["sub"] != USER_ID:
            return web.json_response(
                {"error": "invalid_grant", "error_description": "User not found"}, status=400
            )
        token = f"sim-token-{len(self.tokens) + 1}"
        self.tokens.append(token)
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime}
        )

    async def health(self, request: web.Request) -> web.Response:
        if not self.app_installed:
            return web.json_response(
                {"error": {"message": "Requested URI does not represent any resource"}}, status=400
            )
        scope = request.match_info["scope"]
        return web.json_response({"result": {"name": "Elastic", "scope": scope, "version": "1.0.0"}})

    def _insert(self, table: str, fields: dict[str, Any]) -> dict[str, Any]:
        sys_id = f"sys{next(self._ids)}"
        number = f"{'SIR' if table == 'sn_si_incident' else 'INC'}{len(self.incidents) + 1:07d}"
        record = {
            "sys_id": sys_id,
            "number": number,
            "sys_created_on": CREATED_ON,
            "sys_updated_on": CREATED_ON,
        }
        self.incidents[sys_id] = {**fields, **record, "table": table, "state": INITIAL_STATE[table]}
        self.work_notes[sys_id] = []
        return self._record(sys_id, fields)

    def _record(self, sys_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        incident = self.incidents[sys_id]
        note = fields.pop("work_notes", None)
        if note is not None:
            self.work_notes[sys_id].append(note)
        incident.update(fields)
        return incident

    def _update(self, sys_id: str, fields: dict[str, Any]) -> dict[str, Any] | str:
        """The incident updated, or the data policy's refusal (its detail), leaving it as it was."""
        applied = self._apply(self.incidents[sys_id], fields)
        if isinstance(applied, str):
            return applied
        self.incidents[sys_id]["sys_updated_on"] = UPDATED_ON
        return self._record(sys_id, applied)

    def _apply(self, incident: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any] | str:
        """The fields as ServiceNow writes them to this incident, or a data policy's refusal."""
        table, fields = incident["table"], dict(fields)
        state = fields.get("state")
        if state is not None and (
            str(state) not in STATES[table]
            or (table == "incident" and incident["state"] in ("7", "8") and str(state) != incident["state"])
        ):
            del fields["state"]
        if "close_code" in fields and fields["close_code"] not in (*self.close_codes[table], "", None):
            fields["close_code"] = ""
        if "assigned_to" in fields:
            assignee = self._user_id(fields["assigned_to"])
            if assignee is None:
                del fields["assigned_to"]
            else:
                fields["assigned_to"] = assignee
        result = {**incident, **fields}
        if table == "sn_si_incident" and result["state"] == "10" and result.get("assigned_to"):
            fields["state"] = "16"
        states, mandatory = CLOSING_POLICIES[table]
        missing = [label for name, label in mandatory if not result.get(name)]
        if str(fields.get("state", result["state"])) in states and missing:
            return f"Data Policy Exception: \n\tThe following fields are mandatory: {', '.join(missing)}\n"
        return fields

    def _user_id(self, value: Any) -> str | None:
        """The sys_id a reference to ``sys_user`` takes from this value: "" clears it."""
        if value in ("", None):
            return ""
        for user in self.users:
            if value in (user["sys_id"], user["name"]):
                return user["sys_id"]
        return None

    def _render(self, incident: dict[str, Any]) -> dict[str, Any]:
        """An incident as the Table API answers: references as ``{"link", "value"}``."""
        assigned = incident.get("assigned_to")
        if not assigned:
            return {**incident, "assigned_to": ""}
        link = f"{self.url}/api/now/v2/table/sys_user/{assigned}"
        return {**incident, "assigned_to": {"link": link, "value": assigned}}

    async def import_set(self, request: web.Request) -> web.Response:
        table = IMPORT_SETS[request.match_info["import_set"]]
        body = await request.json()
        fields = {
            key.removeprefix("u_"): value for key, value in body.items() if key != "elastic_incident_id"
        }
        existing = body.get("elastic_incident_id")
        record = self._update(existing, fields) if existing in self.incidents else None
        if existing is not None and existing not in self.incidents:
            row = {"status": "error", "error_message": f"Incident {existing} not found", "sys_id": ""}
        elif isinstance(record, str):
            row = {"status": "error", "error_message": record, "sys_id": existing}
        else:
            record = record or self._insert(table, fields)
            row = {
                "transform_map": "Elastic Incident",
                "table": table,
                "display_name": "number",
                "display_value": record["number"],
                "record_link": f"/api/now/table/{table}/{record['sys_id']}",
                "status": "updated" if existing else "inserted",
                "sys_id": record["sys_id"],
            }
        return web.json_response(
            {"import_set": "ISET01", "staging_table": "staging", "result": [row]}, status=201
        )

    async def create(self, request: web.Request) -> web.Response:
        record = self._insert(request.match_info["table"], await request.json())
        return web.json_response({"result": self._render(record)}, status=201)

    def _find(self, request: web.Request) -> dict[str, Any] | None:
        incident = self.incidents.get(request.match_info["id"])
        return incident if incident and incident["table"] == request.match_info["table"] else None

    async def get(self, request: web.Request) -> web.Response:
        incident = self._find(request)
        if incident is None:
            return web.json_response(
                {"error": {"message": "No Record found", "detail": "Record doesn't exist"}}, status=404
            )
        return web.json_response({"result": self._render(incident)})

    async def patch(self, request: web.Request) -> web.Response:
        incident = self._find(request)
        if incident is None:
            return web.json_response({"error": {"message": "No Record found"}}, status=404)
        updated = self._update(incident["sys_id"], await request.json())
        if isinstance(updated, str):
            refusal = {"error": {"message": "Operation Failed", "detail": updated}, "status": "failure"}
            return web.json_response(refusal, status=403)
        return web.json_response({"result": self._render(updated)})

    async def query(self, request: web.Request) -> web.Response:
        order, _, condition = request.query["sysparm_query"].partition("^")
        assert order == "ORDERBYDESCsys_created_on"
        key, _, value = condition.partition("=")
        table = request.match_info["table"]
        found = [i for i in self.incidents.values() if i["table"] == table and i.get(key) == value]
        return web.json_response({"result": [self._render(incident) for incident in found[::-1]]})

    async def add_observables(self, request: web.Request) -> web.Response:
        observables = await request.json()
        self.observables.setdefault(request.match_info["id"], []).extend(observables)
        return web.json_response(
            {
                "result": [
                    {"value": o["value"], "observable_sys_id": str(i)} for i, o in enumerate(observables)
                ]
            }
        )

    async def dictionary(self, request: web.Request) -> web.Response:
        rows = [
            {
                "column_label": "Close notes",
                "mandatory": "false",
                "max_length": "4000",
                "element": "close_notes",
            },
            {
                "column_label": "Description",
                "mandatory": "false",
                "max_length": "4000",
                "element": "description",
            },
        ]
        return web.json_response({"result": rows})

    async def choices(self, request: web.Request) -> web.Response:
        conditions = request.query["sysparm_query"].split("^")
        if "element=state" in conditions:
            tables = [c.removeprefix("name=") for c in conditions if c.startswith("name=")]
            rows = [
                {"label": label, "value": value}
                for table in tables
                for value, label in STATES.get(table, {}).items()
            ]
            return web.json_response({"result": rows})
        rows = [
            {"dependent_value": "", "label": f"{value} - {label}", "value": str(value), "element": "priority"}
            for value, label in ((1, "Critical"), (2, "High"), (3, "Moderate"), (4, "Low"), (5, "Planning"))
        ]
        return web.json_response({"result": rows})

    async def sys_user(self, request: web.Request) -> web.Response:
        """Users by an encoded query of ``active=true`` and ``email=...`` (compared without case, as
        ServiceNow does), with ``sysparm_fields`` and ``sysparm_limit``."""
        conditions = dict(c.partition("=")[::2] for c in request.query.get("sysparm_query", "").split("^"))
        found = [
            user
            for user in self.users
            if ("active" not in conditions or user.get("active", "true") == conditions["active"])
            and ("email" not in conditions or user["email"].casefold() == conditions["email"].casefold())
        ]
        fields = request.query.get("sysparm_fields")
        if fields:
            found = [{name: user.get(name, "") for name in fields.split(",")} for user in found]
        limit = int(request.query.get("sysparm_limit", len(found)))
        return web.json_response({"result": found[:limit]})


# --- fixtures (imported by the test modules: a conftest.py here would clash with casepush's own) --------


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def casepush_plugins() -> list[object]:
    return [casepush_servicenow]


@pytest.fixture
async def sn(fake_service: Callable[[], FakeService], private_key: rsa.RSAPrivateKey) -> FakeServiceNow:
    fake = FakeServiceNow(fake_service(), private_key.public_key())
    await fake.service.start()
    return fake
