"""A fake Jira REST API v2 on a real socket, for the Jira connector's tests.

It answers as Jira Cloud (or, with ``data_center=True``, Jira Data Center) does:

- every request needs Basic auth with ``EMAIL:API_TOKEN``, else a 401;
- issue bodies are checked field by field against the issue type's create screen (``FIELDS``) and
  refused with Jira's ``{"errorMessages": [...], "errors": {...}}``;
- issues are stored (ids ``10000``, ``10001``..., keys ``CK-1``, ``CK-2``...) with their comments and
  Jira's dates, written in the server's zone (``now``, which tests may move);
- searches understand the JQL the connector sends (``project = "..."``, ``labels = "..."``,
  ``summary ~ "..."`` joined by ``and``), JQL's string escapes included.

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

    def __init__(self, service: FakeService, data_center: bool = False):
        self.service = service
        self.data_center = data_center
        self.now = START
        self.issues: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, list[dict[str, Any]]] = {}
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
        issue = self._issue(request.match_info["key"])
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

    # --- Jira's rules

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
            "fields": {**self._expanded(fields), "created": stamp, "updated": stamp},
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
