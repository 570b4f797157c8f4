"""A fake TheHive 5 API (``/api/v1``) on a real socket, for the TheHive connector's tests.

It answers as TheHive 5 does, as far as Kibana's connector and casepush's sync see it:

- every request needs ``Authorization: Bearer API_KEY`` (else TheHive's 401 ``AuthenticationError``); an
  ``X-Organisation`` header must name one of ``organisations`` (else a 403 ``AuthorizationError``);
- cases (``POST /case``, ``GET`` and ``PATCH /case/{id}``) get TheHive's ids (``~4096``, ``~8192``...), a
  ``number``, and the fields of Kibana's simulator answer (``severityLabel``, ``tlpLabel``, ``pap``...);
  bad input is refused with ``{"type": "BadRequest", "message": ...}``, an unknown case with a 404
  ``NotFoundError``; a ``PATCH`` answers 204 as TheHive's does;
- comments (``POST /case/{id}/comment``) and alerts (``POST /alert``) are stored and answered whole;
- ``status`` is one of TheHive 5's (``New``, ``InProgress`` and the closing ones), its ``stage`` follows
  it; ``assignee`` must be a user's login (``GET /user/{login}``); ``GET /user/current`` is the API key's
  user (``ME``);
- every change is written in an audit (``audits``): ``_id``, ``_createdAt``, ``_createdBy``,
  ``action``, ``objectType`` (``Case``, ``Comment``), ``objectId``, ``rootId`` (the case), ``requestId``
  and the changed ``details``; ``POST /query`` answers ``listAudit`` (and ``listCase``, ``getCase``,
  ``comments``) with ``filter`` (``_and``, ``_in``, ``_eq``, ``_gt``, ``_gte``), ``sort`` and ``page``;
  ``notification(audit)`` is what a webhook endpoint (version 0) is sent about an audit: ``operation``,
  ``objectType``, ``objectId``, ``rootId``, ``requestId``, ``startDate``, ``details`` and the ``object``
  after the change.

The wording of TheHive's refusals (other than Kibana's simulator's ``Invalid json``) and the shape of
audits and notifications are plausible, from TheHive's documentation, not checked against a live
TheHive. ``fail_next`` answers the next calls with something else; ``break_all`` fails every call.
"""

import itertools
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

from casepush.testing import FakeService, Recorded

API = "/api/v1"
API_KEY = "thehive-api-k3y-value"
ME = "casepush@thehive.local"
#: A person working in TheHive.
ANALYST = "analyst@thehive.local"
ORGANISATION = "SOC"
#: When the fake's clock starts (Unix milliseconds): ``2024-04-03T07:09:13.041Z``, Kibana's test value.
START = 1712128153041
START_ISO = "2024-04-03T07:09:13.041Z"
OPEN_STATUSES = {"New": "New", "InProgress": "InProgress"}
CLOSING_STATUSES = ("TruePositive", "FalsePositive", "Indeterminate", "Other", "Duplicated")
SEVERITY_LABELS = {1: "LOW", 2: "MEDIUM", 3: "HIGH", 4: "CRITICAL"}
TLP_LABELS = {0: "CLEAR", 1: "GREEN", 2: "AMBER", 3: "AMBER+STRICT", 4: "RED"}


def error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response({"type": kind, "message": message}, status=status)


def stage_of(status: str) -> str:
    return OPEN_STATUSES.get(status, "Closed")


@dataclass
class FakeTheHive:
    service: FakeService
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    comments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    organisations: set[str] = field(default_factory=lambda: {ORGANISATION})
    now: int = START
    failures: list[web.Response] = field(default_factory=list)
    broken: web.Response | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        return self.service.url

    @property
    def requests(self) -> list[Recorded]:
        return self.service.requests

    def calls(self) -> list[str]:
        return [f"{r.method} {r.path.removeprefix(API)}" for r in self.requests]

    def sent(self, method: str, path: str) -> list[Any]:
        return [r.json() for r in self.requests if (r.method, r.path) == (method, API + path)]

    def fail_next(self, *answers: web.Response) -> None:
        self.failures.extend(answers)

    def break_all(self) -> None:
        self.broken = error(500, "InternalError", "Database unavailable")

    def add_user(self, login: str, name: str) -> dict[str, Any]:
        user = {"_id": f"~{len(self.users) + 1}", "_type": "User", "login": login, "name": name}
        self.users[login] = user
        return user

    def tick(self) -> int:
        self.now += 1000
        return self.now

    def new_id(self) -> str:
        return f"~{4096 * next(self._ids)}"

    # --- what people do in TheHive ----------------------------------------------------------------------

    def seed(self, title: str = "Suspicious login", by: str = ME) -> dict[str, Any]:
        return self.create_case({"title": title, "description": "Seen in the SIEM."}, by)

    def comment_as(self, login: str, case_id: str, message: str) -> dict[str, Any]:
        return self.add_comment(case_id, message, login)

    def update_as(self, login: str, case_id: str, **changes: Any) -> dict[str, Any]:
        return self.update_case(case_id, changes, login)

    def edit_comment_as(self, login: str, comment_id: str, message: str) -> dict[str, Any]:
        comment = next(c for comments in self.comments.values() for c in comments if c["_id"] == comment_id)
        at = self.tick()
        comment.update(message=message, isEdited=True, updatedAt=at, updatedBy=login)
        self.audit(login, "update", "Comment", comment_id, self.root_of(comment_id), {"message": message})
        return comment

    def root_of(self, comment_id: str) -> str:
        return next(
            case_id for case_id, cs in self.comments.items() if any(c["_id"] == comment_id for c in cs)
        )

    # --- the model ------------------------------------------------------------------------------------------

    def create_case(self, body: dict[str, Any], login: str) -> dict[str, Any]:
        at, case_id = self.tick(), self.new_id()
        severity, tlp = body.get("severity") or 2, body.get("tlp")
        tlp = 2 if tlp is None else tlp
        case = {
            "_id": case_id,
            "_type": "Case",
            "_createdBy": login,
            "_createdAt": at,
            "number": len(self.cases) + 1,
            "title": body["title"],
            "description": body["description"],
            "severity": severity,
            "severityLabel": SEVERITY_LABELS[severity],
            "startDate": at,
            "tags": body.get("tags") or [],
            "flag": False,
            "tlp": tlp,
            "tlpLabel": TLP_LABELS[tlp],
            "pap": 2,
            "papLabel": "AMBER",
            "status": "New",
            "stage": "New",
            "assignee": login,
            "customFields": [],
            "userPermissions": ["manageCase/create", "manageCase/update", "manageComment"],
            "extraData": {},
            "newDate": at,
            "timeToDetect": 0,
        }
        self.cases[case_id] = case
        self.comments[case_id] = []
        self.audit(login, "create", "Case", case_id, case_id, {k: case[k] for k in ("title", "description")})
        return case

    def update_case(self, case_id: str, changes: dict[str, Any], login: str) -> dict[str, Any]:
        case = self.cases[case_id]
        if "status" in changes:
            changes = {**changes, "stage": stage_of(changes["status"])}
        if "severity" in changes and changes["severity"] is not None:
            changes["severityLabel"] = SEVERITY_LABELS[changes["severity"]]
        if "tlp" in changes and changes["tlp"] is not None:
            changes["tlpLabel"] = TLP_LABELS[changes["tlp"]]
        changes = {key: value for key, value in changes.items() if value is not None or key == "assignee"}
        at = self.tick()
        case.update(changes, _updatedBy=login, _updatedAt=at)
        self.audit(login, "update", "Case", case_id, case_id, changes)
        return case

    def add_comment(self, case_id: str, message: str, login: str) -> dict[str, Any]:
        at = self.tick()
        comment = {
            "_id": self.new_id(),
            "_type": "Comment",
            "createdBy": login,
            "createdAt": at,
            "message": message,
            "isEdited": False,
            "extraData": {},
        }
        self.comments[case_id].append(comment)
        self.audit(login, "create", "Comment", comment["_id"], case_id, {"message": message})
        return comment

    def audit(self, login: str, action: str, kind: str, object_id: str, root_id: str, details: dict) -> None:
        self.audits.append(
            {
                "_id": self.new_id(),
                "_type": "Audit",
                "_createdBy": login,
                "_createdAt": self.now,
                "action": action,
                "mainAction": True,
                "requestId": f"req-{len(self.audits) + 1}",
                "objectId": object_id,
                "objectType": kind,
                "rootId": root_id,
                "details": details,
            }
        )

    def notification(self, audit: dict[str, Any]) -> dict[str, Any]:
        """What a webhook endpoint is sent about an audit (TheHive's version 0 message)."""
        kind = audit["objectType"]
        objects = self.cases.values() if kind == "Case" else itertools.chain(*self.comments.values())
        return {
            "operation": audit["action"],
            "objectType": kind,
            "objectId": audit["objectId"],
            "rootId": audit["rootId"],
            "requestId": audit["requestId"],
            "startDate": audit["_createdAt"],
            "base": True,
            "details": audit["details"],
            "object": next(o for o in objects if o["_id"] == audit["objectId"]),
            "organisation": ORGANISATION,
        }


# --- the HTTP side ------------------------------------------------------------------------------------------


def _bad(message: str) -> web.Response:
    return error(400, "BadRequest", message)


def _case_refusal(body: Any, creating: bool) -> str | None:
    if not isinstance(body, dict):
        return "Invalid json"
    for name in ("title", "description"):
        if creating and not isinstance(body.get(name), str):
            return f"Invalid json: {name} is missing"
    if body.get("severity") not in (None, *SEVERITY_LABELS):
        return f"Invalid severity {body['severity']}"
    if body.get("tlp") not in (None, *TLP_LABELS):
        return f"Invalid tlp {body['tlp']}"
    status = body.get("status")
    if status is not None and status not in (*OPEN_STATUSES, *CLOSING_STATUSES):
        return f"Invalid status {status}"
    return None


async def _json(request: web.Request) -> Any:
    try:
        return msgspec.json.decode(await request.read())
    except msgspec.DecodeError:
        return None


def _guarded(fake: FakeTheHive) -> Any:
    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if fake.broken is not None:
            return fake.broken
        if fake.failures:
            return fake.failures.pop(0)
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return error(401, "AuthenticationError", "Authentication failure")
        organisation = request.headers.get("X-Organisation")
        if organisation is not None and organisation not in fake.organisations:
            return error(403, "AuthorizationError", f"Organisation {organisation} not found")
        return await handler(request)

    return guard


def _routes(fake: FakeTheHive) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    def found_case(request: web.Request) -> dict[str, Any] | None:
        return fake.cases.get(request.match_info["case_id"])

    def missing(request: web.Request) -> web.Response:
        return error(404, "NotFoundError", f"Case {request.match_info['case_id']} not found")

    @routes.post(f"{API}/case")
    async def create_case(request: web.Request) -> web.Response:
        body = await _json(request)
        if problem := _case_refusal(body, creating=True):
            return _bad(problem)
        return web.json_response(fake.create_case(body, ME), status=201)

    @routes.get(API + "/case/{case_id}")
    async def get_case(request: web.Request) -> web.Response:
        case = found_case(request)
        return web.json_response(case) if case else missing(request)

    @routes.patch(API + "/case/{case_id}")
    async def update_case(request: web.Request) -> web.Response:
        case, body = found_case(request), await _json(request)
        if case is None:
            return missing(request)
        if problem := _case_refusal(body, creating=False):
            return _bad(problem)
        assignee = body.get("assignee")
        if assignee is not None and assignee not in fake.users:
            return error(404, "NotFoundError", f"User {assignee} not found")
        fake.update_case(case["_id"], body, ME)
        return web.Response(status=204)

    @routes.post(API + "/case/{case_id}/comment")
    async def comment(request: web.Request) -> web.Response:
        case, body = found_case(request), await _json(request)
        if case is None:
            return missing(request)
        if not isinstance(body, dict) or not isinstance(body.get("message"), str) or not body["message"]:
            return _bad("Invalid json: message is missing")
        return web.json_response(fake.add_comment(case["_id"], body["message"], ME), status=201)

    @routes.post(f"{API}/alert")
    async def alert(request: web.Request) -> web.Response:
        body = await _json(request)
        required = ("type", "source", "sourceRef", "title", "description")
        if not isinstance(body, dict) or any(not isinstance(body.get(k), str) for k in required):
            return _bad("Invalid json")
        at = fake.tick()
        created = {
            **body,
            "_id": fake.new_id(),
            "_type": "Alert",
            "_createdBy": ME,
            "_createdAt": at,
            "severity": body.get("severity") or 2,
            "severityLabel": SEVERITY_LABELS[body.get("severity") or 2],
            "date": at,
            "tlp": 2 if body.get("tlp") is None else body["tlp"],
            "tlpLabel": TLP_LABELS[2 if body.get("tlp") is None else body["tlp"]],
            "pap": 2,
            "papLabel": "AMBER",
            "observableCount": len(body.get("observables") or []),
            "status": "New",
            "stage": "New",
            "extraData": {},
            "newDate": at,
            "timeToDetect": 0,
        }
        fake.alerts.append(created)
        return web.json_response(created, status=201)

    @routes.get(f"{API}/user/current")
    async def current_user(request: web.Request) -> web.Response:
        return web.json_response({"_id": "~1", "_type": "User", "login": ME, "name": "casepush"})

    @routes.get(API + "/user/{login}")
    async def user(request: web.Request) -> web.Response:
        found = fake.users.get(request.match_info["login"])
        if found is None:
            return error(404, "NotFoundError", f"User {request.match_info['login']} not found")
        return web.json_response(found)

    @routes.post(f"{API}/query")
    async def query(request: web.Request) -> web.Response:
        body = await _json(request)
        try:
            return web.json_response(_run_query(fake, body["query"]))
        except (KeyError, TypeError, ValueError) as exc:
            return _bad(f"Invalid query: {exc}")

    return routes


def _run_query(fake: FakeTheHive, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for step in steps:
        name = step["_name"]
        if name == "listAudit":
            found = list(fake.audits)
        elif name == "listCase":
            found = list(fake.cases.values())
        elif name == "getCase":
            found = [fake.cases[step["idOrName"]]]
        elif name == "comments":
            found = [c for case in found for c in fake.comments[case["_id"]]]
        elif name == "filter":
            found = [item for item in found if _matches(item, step)]
        elif name == "sort":
            for rule in reversed(step["_fields"]):
                ((key, order),) = rule.items()
                found.sort(key=lambda item, key=key: item.get(key) or 0, reverse=order == "desc")
        elif name == "page":
            found = found[step["from"] : step["to"]]
        else:
            raise ValueError(f"unknown operation {name}")
    return found


def _matches(item: dict[str, Any], condition: dict[str, Any]) -> bool:
    if "_and" in condition:
        return all(_matches(item, part) for part in condition["_and"])
    if "_or" in condition:
        return any(_matches(item, part) for part in condition["_or"])
    ((operator, operand),) = ((k, v) for k, v in condition.items() if k != "_name")
    value = item.get(operand["_field"])
    if operator == "_in":
        return value in operand["_values"]
    if operator == "_eq":
        return value == operand["_value"] or (isinstance(value, list) and operand["_value"] in value)
    if operator in ("_gt", "_gte"):
        return value is not None and (
            value > operand["_value"] or (operator == "_gte" and value == operand["_value"])
        )
    raise ValueError(f"unknown filter {operator}")


async def start_thehive(service: FakeService) -> FakeTheHive:
    fake = FakeTheHive(service)
    fake.add_user("assignee@example.com", "Contract Assignee")
    fake.add_user(ANALYST, "Ann Analyst")
    service.app.middlewares.append(_guarded(fake))
    service.app.add_routes(_routes(fake))
    await service.start()
    return fake


def answer(status: int, body: Any = None, text: str | None = None) -> web.Response:
    """An answer for ``fail_next``: JSON (``body``) or plain text."""
    if text is not None:
        return web.Response(status=status, text=text)
    return web.json_response(body, status=status)
