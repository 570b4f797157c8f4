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

Every write is made as a user (the Basic user, the OAuth user, or a person through ``act``): it counts
the record's updates (``sys_mod_count``), stamps ``sys_updated_on``/``sys_updated_by`` (at ``now``, when
a test sets it), and writes each non-empty ``comments`` and ``work_notes`` as a ``sys_journal_field`` row.
With ``install_business_rules``, it then runs casepush's business rules of the README, as ServiceNow
would: each notification is posted to the registered URL with the bearer secret, and kept in
``notifications`` (``deliver`` posts one again). The Table API reads incidents, ``sys_journal_field``
and ``sys_user`` by encoded queries (``=``, ``!=``, ``IN``, ``>=``, ``>``, ``<=``, ``<``, ``^OR``,
``ORDERBY``/``ORDERBYDESC``; strings compared without case, as ServiceNow does), with ``sysparm_fields``,
``sysparm_limit`` and ``sysparm_offset``.
"""

import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import aiohttp
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
#: The ``user_name`` of the OAuth connector's user (its email is ``USER_ID``).
OAUTH_USER = "integration.user"
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
    {"sys_id": "usr-integration", "user_name": OAUTH_USER, "name": "Elastic Integration", "email": USER_ID},
]
#: The fields of an incident update that casepush's business rule reports.
SYNCED_FIELDS = ("state", "short_description", "description")
JOURNAL_FIELDS = ("comments", "work_notes")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: Who a call is authenticated as (a ``user_name``).
USER = web.RequestKey("user", str)


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


@dataclass
class Rules:
    """casepush's business rules, installed: where they post, with which bearer secret."""

    url: str
    secret: str
    #: Whether the rules check the incident's correlation id (as the README's conditions do).
    correlated_only: bool = True


class FakeServiceNow:
    def __init__(self, service: FakeService, public_key: Any = None):
        self.service = service
        self.public_key = public_key
        self.incidents: dict[str, dict[str, Any]] = {}
        self.work_notes: dict[str, list[str]] = {}
        self.journal: list[dict[str, Any]] = []
        self.observables: dict[str, list[dict[str, str]]] = {}
        self.tokens: list[str] = []
        self.revoked: set[str] = set()
        self.assertions: list[tuple[dict, dict]] = []
        self.token_lifetime = 3600
        self.app_installed = True
        self.users = [dict(user) for user in USERS]
        self.close_codes = {"incident": list(CLOSE_CODES), "sn_si_incident": list(SIR_CLOSE_CODES)}
        self.canned: list[Canned] = []
        #: The time of the next writes (``yyyy-MM-dd HH:mm:ss``, UTC); None: the fixed CREATED_ON and
        #: UPDATED_ON of the older tests.
        self.now: str | None = None
        self.rules: Rules | None = None
        self.notifications: list[bytes] = []
        self.deliveries: list[tuple[int, int]] = []
        self._ids = itertools.count(1)
        self._journal_ids = itertools.count(1)
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

    # --- acting as a person, and casepush's business rules -----------------------------------------------

    def tick(self, seconds: float = 1) -> str:
        """Move the clock on (from 2024-05-01 10:00:00 when it was not set); the new time."""
        start = datetime.strptime(self.now or "2024-05-01 10:00:00", TIME_FORMAT)
        self.now = (start + timedelta(seconds=seconds)).strftime(TIME_FORMAT)
        return self.now

    async def act(self, sys_id: str, user: str, **fields: Any) -> dict[str, Any]:
        """A person's update of an incident in ServiceNow's UI (as ``user``, a ``user_name``): its fields,
        ``comments`` and ``work_notes``, under the same rules as the API's writes; then the business rules."""
        updated = await self._update(sys_id, fields, user)
        assert not isinstance(updated, str), updated
        return updated

    async def insert_incident(self, table: str = "incident", user: str = USERNAME, **fields: Any) -> str:
        """An incident made as ``user`` (with a correlation id, as a case push makes it); its sys_id."""
        fields = {
            "short_description": "Suspicious login",
            "description": "Found by a rule",
            "correlation_id": "case-1",
            **fields,
        }
        record = await self._insert(table, fields, user)
        return record["sys_id"]

    def install_business_rules(self, url: str, secret: str, correlated_only: bool = True) -> None:
        """Run casepush's business rules from now on, posting to ``url`` with ``Bearer <secret>``."""
        self.rules = Rules(url, secret, correlated_only)

    async def deliver(self, index: int) -> int:
        """Post notification ``index`` (again); the answer's status."""
        assert self.rules is not None
        headers = {"Authorization": f"Bearer {self.rules.secret}", "Content-Type": "application/json"}
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.rules.url, data=self.notifications[index], headers=headers) as response,
        ):
            await response.read()
        self.deliveries.append((index, response.status))
        return response.status

    def notification(self, index: int) -> dict[str, Any]:
        return json.loads(self.notifications[index])

    async def _run_rules(
        self, sys_id: str, before: dict[str, Any], user: str, entries: list[dict[str, Any]]
    ) -> None:
        """The README's two business rules: after an update of the synced fields (those that changed),
        and after the insert of each journal entry (of a comment or work note)."""
        incident = self.incidents[sys_id]
        if self.rules is None or (self.rules.correlated_only and not incident.get("correlation_id")):
            return
        changed = {f: incident.get(f) or "" for f in SYNCED_FIELDS if before.get(f) != incident.get(f)}
        if before and changed:
            body = {
                "table": incident["table"],
                "sys_id": sys_id,
                "number": incident["number"],
                "sys_mod_count": str(incident["sys_mod_count"]),
                "sys_updated_on": incident["sys_updated_on"],
                "sys_updated_by": incident["sys_updated_by"],
                "updated_by_name": self._name(user),
                "sent_at": self.now or UPDATED_ON,
                "journal": [],
                **changed,
            }
            if "state" in changed:
                body["state_display_value"] = STATES[incident["table"]].get(str(incident["state"]), "")
            await self._notify(body)
        for entry in entries:
            body = {
                "table": incident["table"],
                "sys_id": sys_id,
                "number": incident["number"],
                "sent_at": self.now or UPDATED_ON,
                "journal": [
                    {
                        "sys_id": entry["sys_id"],
                        "element": entry["element"],
                        "value": entry["value"],
                        "sys_created_on": entry["sys_created_on"],
                        "sys_created_by": entry["sys_created_by"],
                        "created_by_name": self._name(user),
                    }
                ],
            }
            await self._notify(body)

    async def _notify(self, body: dict[str, Any]) -> None:
        self.notifications.append(json.dumps(body).encode())
        await self.deliver(len(self.notifications) - 1)

    def _name(self, user_name: str) -> str:
        """``gs.getUserDisplayName()`` of a user: their name, else their user name."""
        return next((u["name"] for u in self.users if u.get("user_name") == user_name), user_name)

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
        router.add_get("/api/now/table/sys_journal_field", self.sys_journal_field)

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
        if given == basic_auth(USERNAME, PASSWORD):
            request[USER] = USERNAME
        elif given in {f"Bearer {t}" for t in self.tokens if t not in self.revoked}:
            request[USER] = OAUTH_USER
        else:
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

    async def _insert(self, table: str, fields: dict[str, Any], user: str) -> dict[str, Any]:
        sys_id = f"sys{next(self._ids)}"
        number = f"{'SIR' if table == 'sn_si_incident' else 'INC'}{len(self.incidents) + 1:07d}"
        now = self.now or CREATED_ON
        record = {
            "sys_id": sys_id,
            "number": number,
            "sys_created_on": now,
            "sys_created_by": user,
            "sys_updated_on": now,
            "sys_updated_by": user,
            "sys_mod_count": 0,
        }
        self.incidents[sys_id] = {**fields, **record, "table": table, "state": INITIAL_STATE[table]}
        self.work_notes[sys_id] = []
        fields = dict(fields)
        entries = self._journal(sys_id, fields, user)
        incident = self._record(sys_id, fields)
        await self._run_rules(sys_id, {}, user, entries)
        return incident

    def _record(self, sys_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        incident = self.incidents[sys_id]
        note = fields.pop("work_notes", None)
        if note is not None:
            self.work_notes[sys_id].append(note)
        fields.pop("comments", None)
        incident.update(fields)
        return incident

    def _journal(self, sys_id: str, fields: dict[str, Any], user: str) -> list[dict[str, Any]]:
        """The ``sys_journal_field`` rows of a write's comments and work notes (none for an empty one)."""
        incident = self.incidents[sys_id]
        entries = [
            {
                "sys_id": f"jrn{next(self._journal_ids)}",
                "name": incident["table"],
                "element": element,
                "element_id": sys_id,
                "value": str(fields[element]),
                "sys_created_on": incident["sys_updated_on"],
                "sys_created_by": user,
            }
            for element in JOURNAL_FIELDS
            if fields.get(element)
        ]
        self.journal += entries
        return entries

    async def _update(self, sys_id: str, fields: dict[str, Any], user: str) -> dict[str, Any] | str:
        """The incident updated as ``user``, or the data policy's refusal (its detail), leaving it as it
        was; then the business rules."""
        applied = self._apply(self.incidents[sys_id], fields)
        if isinstance(applied, str):
            return applied
        incident = self.incidents[sys_id]
        before = dict(incident)
        incident["sys_updated_on"] = self.now or UPDATED_ON
        incident["sys_updated_by"] = user
        incident["sys_mod_count"] += 1
        entries = self._journal(sys_id, applied, user)
        updated = self._record(sys_id, applied)
        await self._run_rules(sys_id, before, user, entries)
        return updated

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
        user = request[USER]
        record = await self._update(existing, fields, user) if existing in self.incidents else None
        if existing is not None and existing not in self.incidents:
            row = {"status": "error", "error_message": f"Incident {existing} not found", "sys_id": ""}
        elif isinstance(record, str):
            row = {"status": "error", "error_message": record, "sys_id": existing}
        else:
            record = record or await self._insert(table, fields, user)
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
        record = await self._insert(request.match_info["table"], await request.json(), request[USER])
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
        updated = await self._update(incident["sys_id"], await request.json(), request[USER])
        if isinstance(updated, str):
            refusal = {"error": {"message": "Operation Failed", "detail": updated}, "status": "failure"}
            return web.json_response(refusal, status=403)
        return web.json_response({"result": self._render(updated)})

    async def query(self, request: web.Request) -> web.Response:
        table = request.match_info["table"]
        found = [self._render(i) for i in self.incidents.values() if i["table"] == table]
        return self._rows(request, found)

    async def sys_journal_field(self, request: web.Request) -> web.Response:
        return self._rows(request, self.journal)

    def _rows(self, request: web.Request, rows: list[dict[str, Any]]) -> web.Response:
        """The rows an encoded query selects, in its order, with ``sysparm_fields``, ``sysparm_offset`` and
        ``sysparm_limit``; raw values only (``sysparm_display_value`` false or absent)."""
        assert request.query.get("sysparm_display_value", "false") == "false"
        conditions, order = parse_query(request.query.get("sysparm_query", ""))
        found = [row for row in rows if matches(row, conditions)]
        for name, descending in reversed(order):
            found.sort(key=lambda row: _sortable(row.get(name)), reverse=descending)
        fields = request.query.get("sysparm_fields")
        if fields:
            found = [{name: row.get(name, "") for name in fields.split(",")} for row in found]
        offset = int(request.query.get("sysparm_offset", 0))
        limit = int(request.query.get("sysparm_limit", len(found)))
        return web.json_response({"result": found[offset : offset + limit]})

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
        """Users by an encoded query (``active`` is ``true`` unless a user says otherwise)."""
        return self._rows(request, [{"active": "true", **user} for user in self.users])


_CONDITION = re.compile(r"([a-z_.]+?)(IN|>=|<=|!=|=|>|<)(.*)", re.DOTALL)


def parse_query(query: str) -> tuple[list[list[tuple[str, str, str]]], list[tuple[str, bool]]]:
    """An encoded query's conditions (each a list of alternatives joined by ``^OR``) and its order."""
    conditions: list[list[tuple[str, str, str]]] = []
    order: list[tuple[str, bool]] = []
    for term in filter(None, query.split("^")):
        if term.startswith("ORDERBYDESC"):
            order.append((term.removeprefix("ORDERBYDESC"), True))
        elif term.startswith("ORDERBY"):
            order.append((term.removeprefix("ORDERBY"), False))
        elif term.startswith("OR") and conditions:
            conditions[-1].append(_condition(term.removeprefix("OR")))
        else:
            conditions.append([_condition(term)])
    return conditions, order


def _condition(term: str) -> tuple[str, str, str]:
    found = _CONDITION.fullmatch(term)
    assert found, f"the fake cannot read the condition {term!r}"
    name, operator, value = found.groups()
    return name, operator, value


def matches(row: dict[str, Any], conditions: list[list[tuple[str, str, str]]]) -> bool:
    return all(any(_holds(row, *alternative) for alternative in group) for group in conditions)


def _holds(row: dict[str, Any], name: str, operator: str, value: str) -> bool:
    actual = str(row.get(name) if row.get(name) is not None else "").casefold()
    value = value.casefold()
    if operator == "=":
        return actual == value
    if operator == "!=":
        return actual != value
    if operator == "IN":
        return actual in value.split(",")
    compared = (_sortable(actual), _sortable(value))
    return {
        ">=": compared[0] >= compared[1],
        ">": compared[0] > compared[1],
        "<=": compared[0] <= compared[1],
        "<": compared[0] < compared[1],
    }[operator]


def _sortable(value: Any) -> tuple[int, Any]:
    """Numbers by number, the rest (times ``yyyy-MM-dd HH:mm:ss`` included) as text."""
    text = "" if value is None else str(value)
    return (0, int(text)) if text.isdigit() else (1, text)


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
