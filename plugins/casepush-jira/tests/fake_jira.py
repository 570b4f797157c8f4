"""A fake Jira REST API v2 on a real socket, for the Jira connector's tests.

It answers as Jira Cloud (or, with ``data_center=True``, Jira Data Center) does:

- every request needs Basic auth with ``EMAIL:API_TOKEN``, else a 401;
- issue bodies are checked field by field against the issue type's create screen (``FIELDS``) and
  refused with Jira's ``{"errorMessages": [...], "errors": {...}}``;
- issues are stored (ids ``10000``, ``10001``..., keys ``CK-1``, ``CK-2``...) with their comments and
  Jira's dates, written in the server's zone (``now``, which tests may move);
- searches understand the JQL the connector sends (``project = "..."``, ``labels = "..."``,
  ``summary ~ "..."`` joined by ``and``), JQL's string escapes included;
- issues have a ``status`` (new ones start in the workflow's first, ``To Do``) that only the transitions
  of a workflow (``workflow``: ``DEFAULT_WORKFLOW``, ``REVIEW_WORKFLOW``, stricter, or Jira's
  ``CLASSIC_WORKFLOW``) change: ``GET .../transitions``
  lists those available from the issue's status, ``POST .../transitions`` refuses any other with Jira's
  400;
- users (``add_user``) are found by ``GET /user/search`` (``query`` on Cloud, ``username`` on Data
  Center, matching prefixes of names and emails) and assigned by ``PUT /issue/{key}/assignee``
  (``accountId`` on Cloud, ``name`` on Data Center, null to unassign); ``GET /serverInfo`` tells the
  edition (``deploymentType``). The refusals of a transition not valid from the issue's status and of
  a user who "cannot be assigned issues" are worded as in Jira's own functional tests; the wording of
  the refusals of wrong user parameters and of Cloud's 404 for an unknown account id is plausible,
  not checked against a live Jira (the statuses are Jira's as documented and reported).

``fail_next`` makes the next matching calls answer something else (``jira_error``, ``server_error``,
``rate_limited``, ``wrong_content_type``, ``not_json``, ``answer``); ``break_all`` fails every call.
"""

import base64
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn

import msgspec
from aiohttp import web

from casepush.testing import FakeService, Recorded

API = "/rest/api/2"
EMAIL = "soc@example.com"
API_TOKEN = "jira-api-t0ken-value"
PROJECT = "CK"
#: The fake server's clock runs two hours east of UTC, as Jira writes its dates in its own zone.
ZONE = timezone(timedelta(hours=2))
#: When the fake's clock starts: ``2020-04-27T12:59:46.202+0200``, i.e. ``2020-04-27T10:59:46.202Z``.
START = datetime(2020, 4, 27, 12, 59, 46, 202000, tzinfo=ZONE)

TASK, SUB_TASK = "10006", "10007"
ISSUE_TYPES = [
    {"id": TASK, "name": "Task", "subtask": False},
    {"id": SUB_TASK, "name": "Sub-task", "subtask": True},
]
PRIORITIES = [{"id": str(i), "name": name} for i, name in enumerate(["Highest", "High", "Medium", "Low"], 1)]


def _field(field_id: str, name: str, kind: str, required: bool = False, **extra: Any) -> dict[str, Any]:
    """One field of an issue type's create screen, as createmeta lists it."""
    return {
        "fieldId": field_id,
        "key": field_id,
        "name": name,
        "required": required,
        "schema": {"type": kind, "system": field_id},
        "operations": ["set"],
        "hasDefaultValue": "defaultValue" in extra,
        **extra,
    }


_COMMON = [
    _field("summary", "Summary", "string", required=True),
    _field("issuetype", "Issue Type", "issuetype", required=True),
    _field("project", "Project", "project", required=True),
    _field("description", "Description", "string"),
    _field("labels", "Labels", "array"),
    _field("priority", "Priority", "priority", allowedValues=PRIORITIES, defaultValue=PRIORITIES[2]),
    _field("customfield_1", "Impact", "string"),
]
#: Each issue type's create screen: the fields an issue of that type may (or must) be given.
FIELDS = {TASK: _COMMON, SUB_TASK: [*_COMMON, _field("parent", "Parent", "issuelink", required=True)]}


def jira_time(moment: datetime) -> str:
    """Jira's ``2020-04-27T12:59:46.202+0200``."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}{moment:%z}"


def basic(email: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{email}:{token}".encode()).decode()


# --- workflows ----------------------------------------------------------------------------------------

#: The statuses a workflow may use: name -> (id, status category key).
STATUSES = {
    "To Do": ("10000", "new"),
    "In Progress": ("3", "indeterminate"),
    "In Review": ("10001", "indeterminate"),
    "Done": ("10002", "done"),
    # Jira's classic workflow
    "Open": ("1", "new"),
    "Reopened": ("4", "new"),
    "Resolved": ("5", "done"),
    "Closed": ("6", "done"),
}
#: Jira's three status categories, by key.
CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}


@dataclass(frozen=True)
class Transition:
    """A workflow transition: its id and name, the statuses it may be taken from, the status it leads to."""

    id: str
    name: str
    sources: tuple[str, ...]
    target: str


@dataclass(frozen=True)
class Workflow:
    """The status new issues start in, and the transitions between statuses."""

    initial: str
    transitions: tuple[Transition, ...]


#: A workflow in the manner of Jira Software's: To Do -> In Progress -> Done, back from In Progress to To
#: Do, and Done reopened to To Do. Transition names are not status names.
DEFAULT_WORKFLOW = Workflow(
    "To Do",
    (
        Transition("11", "Start Progress", ("To Do",), "In Progress"),
        Transition("21", "Stop Progress", ("In Progress",), "To Do"),
        Transition("31", "Done", ("In Progress",), "Done"),
        Transition("41", "Reopen", ("Done",), "To Do"),
    ),
)
#: A stricter workflow: a review before Done, which is final, and a transition named "Done" that leads to
#: "In Review" (a team's "I am done coding"), so that only its target says where it goes.
REVIEW_WORKFLOW = Workflow(
    "To Do",
    (
        Transition("11", "Start Progress", ("To Do",), "In Progress"),
        Transition("21", "Done", ("In Progress",), "In Review"),
        Transition("31", "Approve", ("In Review",), "Done"),
        Transition("41", "Reject", ("In Review",), "In Progress"),
    ),
)
#: Jira's classic workflow (Data Center's default ``jira`` workflow), with its transition ids: a reopened
#: issue is "Reopened", not "Open" again.
CLASSIC_WORKFLOW = Workflow(
    "Open",
    (
        Transition("4", "Start Progress", ("Open", "Reopened"), "In Progress"),
        Transition("301", "Stop Progress", ("In Progress",), "Open"),
        Transition("5", "Resolve Issue", ("Open", "In Progress", "Reopened"), "Resolved"),
        Transition("2", "Close Issue", ("Open", "In Progress", "Reopened", "Resolved"), "Closed"),
        Transition("3", "Reopen Issue", ("Resolved", "Closed"), "Reopened"),
    ),
)


# --- canned answers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Canned:
    """An answer to give instead of Jira's own (``content_type=None``: no Content-Type header)."""

    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    def response(self) -> web.Response:
        response = web.Response(status=self.status, body=self.body, headers=dict(self.headers))
        if self.content_type:
            response.headers["Content-Type"] = self.content_type
        return response


def answer(
    status: int = 200, body: Any = None, content_type: str = "application/json", **headers: str
) -> Canned:
    """A JSON answer (``body`` encoded as is, ``None`` as JSON ``null``)."""
    return Canned(status, msgspec.json.encode(body), content_type, tuple(headers.items()))


def jira_error(status: int, *messages: str, **errors: str) -> Canned:
    """Jira's error body: ``{"errorMessages": [...], "errors": {"field": "message"}}``."""
    return answer(status, {"errorMessages": list(messages), "errors": errors})


def server_error(status: int = 500, **headers: str) -> Canned:
    """What a proxy in front of Jira answers: an HTML page."""
    page = f"<html><body><h1>{status}</h1>Something went wrong.</body></html>".encode()
    return Canned(status, page, "text/html;charset=UTF-8", tuple(headers.items()))


def rate_limited(retry_after: str = "0") -> Canned:
    return Canned(
        429,
        msgspec.json.encode({"errorMessages": ["Rate limit exceeded."], "errors": {}}),
        headers=(("Retry-After", retry_after),),
    )


def wrong_content_type() -> Canned:
    return Canned(200, b"<html><body>Log in to Jira</body></html>", "text/html;charset=UTF-8")


def not_json() -> Canned:
    return Canned(200, b"<html><body>Log in to Jira</body></html>")


class Refused(Exception):
    """Raised by a route to answer ``canned`` (Jira refusing the request)."""

    def __init__(self, canned: Canned):
        self.canned = canned


def refuse(status: int, *messages: str, **errors: str) -> NoReturn:
    raise Refused(jira_error(status, *messages, **errors))


@dataclass
class _Failure:
    canned: Canned
    method: str | None
    path: str | None
    times: float

    def matches(self, request: web.Request) -> bool:
        return (self.method in (None, request.method)) and (self.path is None or self.path in request.path)


# --- JQL ------------------------------------------------------------------------------------------------

_STRING = r'"(?:[^"\\]|\\.)*"'
_CLAUSE = rf"\s*(\w+)\s*(=|~)\s*({_STRING})\s*"
_QUERY = re.compile(rf"{_CLAUSE}(?:and{_CLAUSE})*", re.IGNORECASE)
_JQL_ESCAPES = {'"': '"', "'": "'", "\\": "\\", " ": " ", "t": "\t", "n": "\n", "r": "\r"}


def _jql_error(message: str) -> NoReturn:
    refuse(400, f"Error in the JQL Query: {message}")


def _jql_string(literal: str) -> str:
    """The value of a JQL ``"..."`` literal; Jira refuses escapes it does not know."""

    def unescape(match: re.Match[str]) -> str:
        if match[1] not in _JQL_ESCAPES:
            _jql_error(f"'\\{match[1]}' is an illegal JQL escape sequence.")
        return _JQL_ESCAPES[match[1]]

    return re.sub(r"\\(.)", unescape, literal[1:-1])


def parse_jql(jql: str) -> list[tuple[str, str, str]]:
    """``field op "value"`` clauses joined by ``and``, as ``(field, op, value)``."""
    if not _QUERY.fullmatch(jql):
        _jql_error(f"The query '{jql}' is not valid.")
    clauses = re.findall(_CLAUSE, jql)
    return [(field.lower(), op, _jql_string(value)) for field, op, value in clauses]


def _text_matches(text: str, query: str) -> bool:
    """Jira's ``~``: the query is Lucene's (``\\x`` is ``x``); every term must be in the text."""
    terms = re.sub(r"\\(.)", r"\1", query).lower().split()
    return all(term in text.lower() for term in terms)


# --- the fake -------------------------------------------------------------------------------------------


class FakeJira:
    """Jira's REST API v2 on a ``FakeService`` (whose ``requests`` lists every call received)."""

    def __init__(
        self,
        service: FakeService,
        data_center: bool = False,
        workflow: Workflow = DEFAULT_WORKFLOW,
    ):
        self.service = service
        self.data_center = data_center
        self.workflow = workflow
        self.now = START
        self.issues: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self.users: list[dict[str, Any]] = []
        self._failures: list[_Failure] = []
        service.app.middlewares.extend([self._authenticate, self._fail, self._refusals])
        for method, path, handler in [
            ("GET", "/issue/createmeta/{project}/issuetypes", self._issue_types),
            ("GET", "/issue/createmeta/{project}/issuetypes/{type_id}", self._fields),
            ("POST", "/issue", self._create),
            ("GET", "/issue/{key}", self._get),
            ("PUT", "/issue/{key}", self._edit),
            ("POST", "/issue/{key}/comment", self._comment),
            ("GET", "/search/jql", self._search),
            ("GET", "/serverInfo", self._server_info),
            ("GET", "/issue/{key}/transitions", self._transitions),
            ("POST", "/issue/{key}/transitions", self._transition),
            ("PUT", "/issue/{key}/assignee", self._assign),
            ("GET", "/user/search", self._user_search),
        ]:
            service.app.router.add_route(method, API + path, handler)

    async def start(self) -> "FakeJira":
        await self.service.start()
        return self

    @property
    def url(self) -> str:
        return self.service.url

    @property
    def requests(self) -> list[Recorded]:
        return self.service.requests

    # --- for tests

    def fail_next(
        self, canned: Canned, *, method: str | None = None, path: str | None = None, times: float = 1
    ) -> None:
        """Answer ``canned`` to the next ``times`` calls of this method (and path part) instead."""
        self._failures.append(_Failure(canned, method, path, times))

    def break_all(self, canned: Canned | None = None) -> None:
        self.fail_next(canned or server_error(), times=float("inf"))

    def calls(self) -> list[str]:
        """``METHOD /path`` of every call received, the path under ``/rest/api/2`` and without its query."""
        return [f"{r.method} {r.path.partition('?')[0].removeprefix(API)}" for r in self.requests]

    def sent(self, method: str, path: str) -> list[Any]:
        """The JSON bodies of the calls to ``method /rest/api/2<path>``."""
        return [r.json() for r in self.requests if r.method == method and r.path == API + path]

    def seed(self, summary: str = "Suspicious login", **fields: Any) -> dict[str, Any]:
        """An issue made without a call, as if someone had created it in Jira."""
        fields = {"project": {"key": PROJECT}, "issuetype": {"id": TASK}, "summary": summary, **fields}
        return self._store(fields)

    def add_user(
        self, display_name: str, email: str, *, hidden_email: bool = False, active: bool = True
    ) -> dict[str, Any]:
        """A Jira user, as the edition shows users: Cloud by ``accountId`` (its email hidden when the user's
        privacy settings say so), Data Center by ``name`` (and ``key``)."""
        number = len(self.users)
        user = {
            "display_name": display_name,
            "email": email,
            "hidden_email": hidden_email,
            "active": active,
            "account_id": f"5b10ac8d82e05b22cc7d4e{number:02d}",
            "name": email.partition("@")[0],
            "key": f"JIRAUSER{10100 + number}",
        }
        self.users.append(user)
        return self._user_json(user)

    def status_of(self, issue_id: str) -> str:
        return self.issues[issue_id]["fields"]["status"]["name"]

    def move(self, issue_id: str, status: str) -> None:
        """Put an issue in a status without a transition, as an admin's bulk edit may."""
        self.issues[issue_id]["fields"]["status"] = self.status_json(status)

    def status_json(self, name: str) -> dict[str, Any]:
        """A status as issues and transitions show it."""
        status_id, category = STATUSES[name]
        return {
            "self": f"{self.url}{API}/status/{status_id}",
            "description": "",
            "iconUrl": f"{self.url}/images/icons/statuses/generic.png",
            "name": name,
            "id": status_id,
            "statusCategory": {
                "self": f"{self.url}{API}/statuscategory/{CATEGORIES[category]['id']}",
                **CATEGORIES[category],
            },
        }

    # --- middlewares

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("Authorization") != basic(EMAIL, API_TOKEN):
            return web.Response(
                status=401,
                text="Client must be authenticated to access this resource.",
                headers={"WWW-Authenticate": 'Basic realm="protected-area"'},
            )
        return await handler(request)

    @web.middleware
    async def _fail(self, request: web.Request, handler: Any) -> web.StreamResponse:
        for failure in self._failures:
            if failure.matches(request):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return failure.canned.response()
        return await handler(request)

    @web.middleware
    async def _refusals(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except Refused as refused:
            return refused.canned.response()

    # --- routes

    async def _issue_types(self, request: web.Request) -> web.Response:
        self._project(request.match_info["project"])
        return self._page("issueTypes", ISSUE_TYPES)

    async def _fields(self, request: web.Request) -> web.Response:
        self._project(request.match_info["project"])
        type_id = request.match_info["type_id"]
        if type_id not in FIELDS:
            refuse(404, f"The issue type with id '{type_id}' does not exist.")
        return self._page("fields", FIELDS[type_id])

    async def _create(self, request: web.Request) -> web.Response:
        fields = await _fields_of(request)
        errors = self._field_errors(fields, creating=True)
        if errors:
            refuse(400, **errors)
        issue = self._store(fields)
        return web.json_response({"id": issue["id"], "key": issue["key"], "self": issue["self"]}, status=201)

    async def _get(self, request: web.Request) -> web.Response:
        """The issue; with ``fields=a,b``, only those of its fields (``*all`` or none: all of them)."""
        issue = self._issue(request.match_info["key"])
        wanted = request.query.get("fields", "*all").split(",")
        if "*all" not in wanted:
            issue = {**issue, "fields": {k: v for k, v in issue["fields"].items() if k in wanted}}
        return web.json_response(issue)

    async def _edit(self, request: web.Request) -> web.Response:
        issue = self._issue(request.match_info["key"])
        fields = await _fields_of(request)
        type_id = (fields.get("issuetype") or issue["fields"]["issuetype"]).get("id")
        errors = self._field_errors({"issuetype": {"id": type_id}, **fields}, creating=False)
        if errors:
            refuse(400, **errors)
        issue["fields"].update(self._expanded(fields), updated=jira_time(self.now))
        return web.Response(status=204)

    async def _comment(self, request: web.Request) -> web.Response:
        issue = self._issue(request.match_info["key"])
        body = (await _json_of(request)).get("body")
        if not isinstance(body, str) or not body.strip():
            refuse(400, comment="Comment body can not be empty!")
        stamp = jira_time(self.now)
        comment_id = str(10100 + sum(map(len, self.comments.values())))
        comment = {"id": comment_id, "body": body, "created": stamp, "updated": stamp}
        self.comments[issue["id"]].append(comment)
        issue["fields"]["updated"] = stamp
        return web.json_response(
            {"self": f"{issue['self']}/comment/{comment_id}", **comment, "author": {"emailAddress": EMAIL}},
            status=201,
        )

    async def _search(self, request: web.Request) -> web.Response:
        clauses = parse_jql(request.query.get("jql", ""))
        wanted = request.query.get("fields", "").split(",")
        found = [issue for issue in self.issues.values() if all(self._holds(issue, *c) for c in clauses)]
        issues = [
            {**issue, "fields": {k: v for k, v in issue["fields"].items() if k in wanted}} for issue in found
        ]
        return web.json_response({"issues": issues, "isLast": True})

    async def _server_info(self, request: web.Request) -> web.Response:
        """Data Center calls itself ``Server`` (Jira's ``deploymentType`` has only the two values)."""
        version = [9, 12, 0] if self.data_center else [1001, 0, 0]
        info = {
            "baseUrl": self.url,
            "version": ".".join(map(str, version)) + ("" if self.data_center else "-SNAPSHOT"),
            "versionNumbers": version,
            "deploymentType": "Server" if self.data_center else "Cloud",
            "buildNumber": 912000 if self.data_center else 100288,
            "serverTime": jira_time(self.now),
            "scmInfo": "9a2e3b0c5d1f4e6a8b7c9d0e1f2a3b4c5d6e7f80",
            "serverTitle": "Jira",
        }
        return web.json_response(info)

    async def _transitions(self, request: web.Request) -> web.Response:
        """The transitions available from the issue's status, as Cloud (with its ``is...`` flags) or Data
        Center (with ``opsbarSequence``) lists them."""
        issue = self._issue(request.match_info["key"])
        current = issue["fields"]["status"]["name"]
        listed = []
        for sequence, transition in enumerate(self.workflow.transitions, 1):
            if current not in transition.sources:
                continue
            entry = {"id": transition.id, "name": transition.name, "to": self.status_json(transition.target)}
            if self.data_center:
                entry["opsbarSequence"] = sequence * 10
            else:
                flags = ("isGlobal", "isInitial", "isConditional", "isLooped")
                entry.update({"hasScreen": False, **dict.fromkeys(flags, False), "isAvailable": True})
            listed.append(entry)
        return web.json_response({"expand": "transitions", "transitions": listed})

    async def _transition(self, request: web.Request) -> web.Response:
        issue = self._issue(request.match_info["key"])
        transition_id = ((await _json_of(request)).get("transition") or {}).get("id")
        if transition_id is None:
            refuse(400, "Missing 'transition' identifier")
        transition = next((t for t in self.workflow.transitions if t.id == str(transition_id)), None)
        if transition is None:
            refuse(400, f"Transition id '{transition_id}' is not valid for this issue.")
        if issue["fields"]["status"]["name"] not in transition.sources:
            refuse(
                400,
                f"It seems that you have tried to perform a workflow operation ({transition.name}) that is"
                f" not valid for the current state of this issue ({issue['key']}). The likely cause is that"
                " somebody has changed the issue recently, please look at the issue history for details.",
            )
        issue["fields"].update(status=self.status_json(transition.target), updated=jira_time(self.now))
        return web.Response(status=204)

    async def _assign(self, request: web.Request) -> web.Response:
        """Cloud takes ``accountId`` only (GDPR strict mode), Data Center ``name``; null unassigns. An
        unknown account id is Cloud's 404; an unknown or inactive name Data Center's 400."""
        issue = self._issue(request.match_info["key"])
        body = await _json_of(request)
        key = "name" if self.data_center else "accountId"
        if not self.data_center and ("name" in body or "key" in body):
            refuse(400, "'accountId' must be the only user identifying query parameter in GDPR strict mode.")
        if key not in body:
            if self.data_center:
                refuse(400, assignee="expected Object containing a 'name' property")
            refuse(404, "The 'accountId' query parameter needs to be provided")
        wanted = body[key]
        if wanted is None:
            user = None
        else:
            user = next(
                (u for u in self.users if u["account_id" if key == "accountId" else key] == wanted), None
            )
            if user is None and not self.data_center:
                refuse(404, f"The user with account id '{wanted}' does not exist.")
            if user is None or not user["active"]:
                refuse(400, assignee=f"User '{wanted}' cannot be assigned issues.")
        issue["fields"].update(
            assignee=user and self._user_json(user, public=True), updated=jira_time(self.now)
        )
        return web.Response(status=204)

    async def _user_search(self, request: web.Request) -> web.Response:
        """Active users whose name, display name (or a word of it) or email starts with the search
        string, case aside; Cloud searches hidden emails too but does not show them."""
        if self.data_center:
            wanted = request.query.get("username")
            if wanted is None:
                refuse(400, "The username query parameter was not provided")
        else:
            if "username" in request.query or "key" in request.query:
                refuse(
                    400, "'accountId' must be the only user identifying query parameter in GDPR strict mode."
                )
            wanted = request.query.get("query")
            if wanted is None:
                refuse(400, "One of 'accountId', 'query' or 'property' query parameters must be provided.")
        wanted = wanted.casefold()
        found = []
        for user in self.users:
            words = [user["email"], user["display_name"], *user["display_name"].split()]
            if self.data_center:
                words.append(user["name"])
            if user["active"] and any(word.casefold().startswith(wanted) for word in words):
                found.append(self._user_json(user))
        return web.json_response(found)

    # --- Jira's rules

    def _user_json(self, user: dict[str, Any], public: bool = False) -> dict[str, Any]:
        """A user as the edition shows one (``public``: as an issue's ``assignee``, without locale)."""
        if self.data_center:
            shown: dict[str, Any] = {
                "self": f"{self.url}{API}/user?username={user['name']}",
                "key": user["key"],
                "name": user["name"],
                "emailAddress": user["email"],
            }
        else:
            shown = {
                "self": f"{self.url}{API}/user?accountId={user['account_id']}",
                "accountId": user["account_id"],
                "accountType": "atlassian",
            }
            if not user["hidden_email"]:
                shown["emailAddress"] = user["email"]
        shown.update(displayName=user["display_name"], active=user["active"], timeZone="Europe/Paris")
        if self.data_center:
            shown["deleted"] = False
        if not public:
            shown["locale"] = "en_US"
        return shown

    def _page(self, cloud_name: str, values: list[dict[str, Any]]) -> web.Response:
        """Cloud names the list (``issueTypes``, ``fields``); Data Center calls it ``values``."""
        name = "values" if self.data_center else cloud_name
        return web.json_response({name: values, "maxResults": 50, "startAt": 0, "total": len(values)})

    def _project(self, key: str) -> None:
        if key != PROJECT:
            refuse(404, f"No project could be found with key '{key}'.")

    def _issue(self, id_or_key: str) -> dict[str, Any]:
        for issue in self.issues.values():
            if id_or_key in (issue["id"], issue["key"]):
                return issue
        refuse(404, "Issue does not exist or you do not have permission to see it.")

    def _field_errors(self, fields: dict[str, Any], creating: bool) -> dict[str, str]:
        project = fields.get("project")
        if (creating or project is not None) and (project or {}).get("key") != PROJECT:
            return {"project": "valid project is required"}
        type_id = (fields.get("issuetype") or {}).get("id")
        if type_id not in FIELDS:
            return {"issuetype": "Specify a valid issue type" if type_id else "Specify an issue type"}
        screen = {field["fieldId"]: field for field in FIELDS[type_id]}
        errors = {
            name: f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
            for name in fields
            if name not in screen
        }
        if creating:
            errors.update(
                {
                    name: f"{field['name']} is required."
                    for name, field in screen.items()
                    if field["required"] and name not in fields
                }
            )
        for name, value in fields.items():
            check = getattr(self, f"_{name}_error", None)
            if name in screen and check and (message := check(value)):
                errors[name] = message
        return errors

    def _summary_error(self, summary: Any) -> str | None:
        if not isinstance(summary, str) or not summary.strip():
            return "You must specify a summary of the issue."
        if "\n" in summary or "\r" in summary:
            return "The summary is invalid because it contains newline characters."
        return "Summary must be less than 255 characters." if len(summary) > 255 else None

    def _priority_error(self, priority: Any) -> str | None:
        name = priority.get("name") if isinstance(priority, dict) else None
        known = [p["name"] for p in PRIORITIES]
        return None if name in known else f"Priority name '{name}' is not valid"

    def _labels_error(self, labels: Any) -> str | None:
        for label in labels if isinstance(labels, list) else [labels]:
            if not isinstance(label, str) or re.search(r"\s", label):
                return f"The label '{label}' contains spaces which is invalid."
        return None

    def _parent_error(self, parent: Any) -> str | None:
        key = parent.get("key") if isinstance(parent, dict) else None
        known = any(key in (issue["id"], issue["key"]) for issue in self.issues.values())
        return None if known else "Could not find issue by id or key."

    def _holds(self, issue: dict[str, Any], field: str, op: str, value: str) -> bool:
        fields = issue["fields"]
        if (field, op) == ("project", "="):
            if value != PROJECT:
                _jql_error(f"The value '{value}' does not exist for the field 'project'.")
            return True
        if (field, op) == ("labels", "="):
            return value in fields.get("labels", [])
        if (field, op) == ("summary", "~"):
            return _text_matches(fields["summary"], value)
        if field in ("project", "labels", "summary"):
            _jql_error(f"The operator '{op}' is not supported by the '{field}' field.")
        _jql_error(f"Field '{field}' does not exist or you do not have permission to view it.")

    def _expanded(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Fields as Jira answers them: references to issue types, priorities and parents filled in."""
        by_id = {t["id"]: t for t in ISSUE_TYPES}
        by_name = {p["name"]: p for p in PRIORITIES}
        expanded = dict(fields)
        if "issuetype" in fields:
            expanded["issuetype"] = dict(by_id[fields["issuetype"]["id"]])
        if "priority" in fields:
            expanded["priority"] = dict(by_name[fields["priority"]["name"]])
        if "parent" in fields:
            parent = self._issue(fields["parent"]["key"])
            expanded["parent"] = {"id": parent["id"], "key": parent["key"]}
        return expanded

    def _store(self, fields: dict[str, Any]) -> dict[str, Any]:
        issue_id, stamp = str(10000 + len(self.issues)), jira_time(self.now)
        issue = {
            "id": issue_id,
            "key": f"{PROJECT}-{len(self.issues) + 1}",
            "self": f"{self.url}{API}/issue/{issue_id}",
            "fields": {
                "status": self.status_json(self.workflow.initial),
                "assignee": None,
                **self._expanded(fields),
                "created": stamp,
                "updated": stamp,
            },
        }
        self.issues[issue_id] = issue
        self.comments[issue_id] = []
        return issue


async def _json_of(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise Refused(Canned(415, b"Unsupported Media Type", "text/plain"))
    try:
        body = msgspec.json.decode(await request.read())
    except msgspec.DecodeError:
        refuse(400, "Unexpected character in the request body.")
    if not isinstance(body, dict):
        refuse(400, "Can not deserialize the request body.")
    return body


async def _fields_of(request: web.Request) -> dict[str, Any]:
    fields = (await _json_of(request)).get("fields")
    if not isinstance(fields, dict):
        refuse(400, "Can not deserialize the request body: 'fields' is required.")
    return fields


async def start_jira(service: FakeService, **options: Any) -> FakeJira:
    return await FakeJira(service, **options).start()
