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

Two-way sync (casepush's own) has what it reads and what it is sent:

- the connector's own account (``me``: ``EMAIL``, Cloud's ``accountId`` / Data Center's ``name`` and
  ``key``, its ``timeZone``) answers ``GET /myself``; what the connector does through the API is written
  by it;
- people act in Jira through ``comment_as``, ``edit_comment_as``, ``transition_as`` and ``edit_as`` (as
  a user of ``add_user``): each writes a changelog history (``histories``; ``changelog`` items with
  ``field``, ``fieldtype``, ``from``/``fromString``, ``to``/``toString``, and Cloud's ``fieldId``) or a
  comment (``author``, ``updateAuthor``, ``created``, ``updated``), and moves the issue's ``updated``;
- webhooks (``register_webhook``: a URL, a secret, the events) are sent what Jira sends for these
  events: ``jira:issue_updated`` (``timestamp`` in milliseconds, ``issue_event_type_name``, ``user``, the
  whole ``issue``, the ``changelog`` ``{id, items}``, and the ``comment`` of a comment's event),
  ``comment_created`` and ``comment_updated`` (the ``comment``; on Cloud the ``issue``'s id, key and a few
  fields; a Data Center delivery carries no issue, only the comment's ``self`` URL naming it), signed
  with the secret as ``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>``. People's actions send
  them before returning; the connector's calls send them in the background (``settle`` waits for them).
  ``deliveries`` records each, and ``redeliver`` sends one again, the same bytes (as Jira retries);
- searches also take ``id in (...)`` and ``updated >= "yyyy/MM/dd HH:mm"`` (read in the searching
  account's time zone, to the minute), by ``POST /search/jql`` on Cloud (``nextPageToken``,
  ``reconcileIssues``) and ``POST /search`` on Data Center (``startAt``), with ``expand=changelog``
  (Cloud shows the latest ``changelog_limit`` histories, most recent first) and the ``comment`` field
  (at most ``comment_limit`` comments; ``GET /issue/{id}/comment`` pages them); Cloud's
  ``GET /issue/{id}/changelog`` pages a changelog (oldest first), Data Center's
  ``GET /issue/{id}?expand=changelog`` gives all of it. An id of no issue is refused as Jira refuses it
  (the wording is plausible, not checked against a live Jira); which fields a Data Center comment event
  carries is not checked either.

``fail_next`` makes the next matching calls answer something else (``jira_error``, ``server_error``,
``rate_limited``, ``wrong_content_type``, ``not_json``, ``answer``); ``break_all`` fails every call.
"""

import asyncio
import base64
import copy
import hashlib
import hmac
import itertools
import re
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import aiohttp
import msgspec
from aiohttp import web

from casepush.connectors import InboundCall
from casepush.testing import FakeService, Recorded

API = "/rest/api/2"
EMAIL = "soc@example.com"
API_TOKEN = "jira-api-t0ken-value"
PROJECT = "CK"
#: The fake server's clock runs two hours east of UTC, as Jira writes its dates in its own zone.
ZONE = timezone(timedelta(hours=2))
#: When the fake's clock starts: ``2020-04-27T12:59:46.202+0200``, i.e. ``2020-04-27T10:59:46.202Z``.
START = datetime(2020, 4, 27, 12, 59, 46, 202000, tzinfo=ZONE)

#: The time zone of the fake's accounts (Paris is two hours east of UTC in April, as ``ZONE``), in which
#: it reads JQL dates.
TIME_ZONE = "Europe/Paris"
#: The events a webhook is registered for unless told otherwise: those two-way sync brings back.
SYNC_EVENTS = ("jira:issue_updated", "comment_created", "comment_updated")

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
_BARE = r"[\w.-]+"
_LIST = rf"\(\s*(?:{_STRING}|{_BARE})(?:\s*,\s*(?:{_STRING}|{_BARE}))*\s*\)"
_CLAUSE = rf"\s*(\w+)\s*(=|~|>=|\bin\b)\s*({_STRING}|{_LIST})\s*"
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


def parse_jql(jql: str) -> list[tuple[str, str, Any]]:
    """``field op "value"`` (or ``field in (a, "b")``) clauses joined by ``and``, as ``(field, op, value)``,
    a list's value a list."""
    if not _QUERY.fullmatch(jql):
        _jql_error(f"The query '{jql}' is not valid.")
    clauses = re.findall(_CLAUSE, jql)
    return [(field.lower(), op.lower(), _jql_value(value)) for field, op, value in clauses]


def _jql_value(literal: str) -> str | list[str]:
    if not literal.startswith("("):
        return _jql_string(literal)
    values = re.findall(rf"{_STRING}|{_BARE}", literal[1:-1])
    return [_jql_string(value) if value.startswith('"') else value for value in values]


#: The date formats JQL takes, as Jira lists them in its refusal.
_JQL_DATES = ("%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d")


def jql_moment(value: str, zone: str) -> datetime:
    """A JQL date, read in the searching account's time zone."""
    for form in _JQL_DATES:
        try:
            return datetime.strptime(value, form).replace(tzinfo=ZoneInfo(zone))
        except ValueError:
            continue
    _jql_error(
        f"Date value '{value}' for field 'updated' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm',"
        " 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
    )


def _text_matches(text: str, query: str) -> bool:
    """Jira's ``~``: the query is Lucene's (``\\x`` is ``x``); every term must be in the text."""
    terms = re.sub(r"\\(.)", r"\1", query).lower().split()
    return all(term in text.lower() for term in terms)


# --- webhooks -------------------------------------------------------------------------------------------


@dataclass
class Webhook:
    """A webhook registered in Jira's administration: where it is sent, its secret, its events."""

    url: str
    secret: str | None
    events: tuple[str, ...]


@dataclass
class Delivery:
    """One event sent to a webhook: its payload, the exact bytes and headers sent (the same on every retry),
    and the HTTP status of each answer (0: no answer)."""

    webhook: Webhook
    event: str
    payload: dict[str, Any]
    body: bytes
    headers: dict[str, str]
    statuses: list[int] = field(default_factory=list)


def signature(secret: str, body: bytes) -> str:
    """Jira's ``X-Hub-Signature``: ``sha256=`` and the hex HMAC-SHA256 of the body, keyed with the secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def milliseconds(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


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
        #: The connector's own account, whose credentials are ``EMAIL`` and ``API_TOKEN``.
        self.me: dict[str, Any] = {
            "display_name": "SOC automation",
            "email": EMAIL,
            "hidden_email": False,
            "active": True,
            "account_id": "5b10ac8d82e05b22cc7d4eff",
            "name": EMAIL.partition("@")[0],
            "key": "JIRAUSER10000",
            "time_zone": TIME_ZONE,
        }
        #: Each issue's changelog, oldest history first.
        self.histories: dict[str, list[dict[str, Any]]] = {}
        self.webhooks: list[Webhook] = []
        self.deliveries: list[Delivery] = []
        #: How many histories (the latest) Cloud's search shows in an issue's changelog (None: all).
        self.changelog_limit: int | None = None if data_center else 100
        #: How many comments a search shows in an issue's ``comment`` field.
        self.comment_limit = 5000
        #: The most issues a page of a search holds, whatever ``maxResults`` asks.
        self.page_size = 100
        self._history_ids = itertools.count(10200)
        self._delivery_ids = itertools.count(1)
        self._sending: set[asyncio.Task[None]] = set()
        self._failures: list[_Failure] = []
        service.app.middlewares.extend([self._authenticate, self._fail, self._refusals])
        for method, path, handler in [
            ("GET", "/issue/createmeta/{project}/issuetypes", self._issue_types),
            ("GET", "/issue/createmeta/{project}/issuetypes/{type_id}", self._fields),
            ("POST", "/issue", self._create),
            ("GET", "/issue/{key}", self._get),
            ("PUT", "/issue/{key}", self._edit),
            ("POST", "/issue/{key}/comment", self._comment),
            ("GET", "/issue/{key}/comment", self._comment_list),
            ("GET", "/issue/{key}/changelog", self._changelog),
            ("GET", "/search/jql", self._search),
            ("POST", "/search/jql", self._search_cloud),
            ("POST", "/search", self._search_data_center),
            ("GET", "/myself", self._myself),
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

    def tick(self, **delta: float) -> datetime:
        """Move the fake's clock on (``tick(minutes=5)``)."""
        self.now += timedelta(**delta)
        return self.now

    # --- people acting in Jira, and the webhooks it sends

    def register_webhook(
        self, url: str, secret: str | None = None, events: Sequence[str] = SYNC_EVENTS
    ) -> Webhook:
        """A webhook, as an administrator registers one (System > WebHooks), with a secret to sign with."""
        webhook = Webhook(url, secret, tuple(events))
        self.webhooks.append(webhook)
        return webhook

    async def comment_as(self, user: dict[str, Any] | None, issue_id: str, body: str) -> dict[str, Any]:
        """A comment written in Jira by ``user`` (as ``add_user`` returned it; None: the connector's account),
        its webhooks sent; the comment as the API shows it."""
        issue = self._issue(issue_id)
        comment = self._add_comment(issue, self._public(user), body)
        await self._comment_events(issue, comment, "comment_created", "issue_commented")
        return self.comment_json(issue["id"], comment)

    async def edit_comment_as(
        self, user: dict[str, Any] | None, issue_id: str, comment_id: str, body: str
    ) -> dict[str, Any]:
        """A comment edited in Jira by ``user``: its body, ``updateAuthor`` and ``updated`` change."""
        issue = self._issue(issue_id)
        comment = next(c for c in self.comments[issue["id"]] if c["id"] == comment_id)
        stamp = jira_time(self.now)
        comment.update(body=body, updateAuthor=self._public(user), updated=stamp)
        issue["fields"]["updated"] = stamp
        await self._comment_events(issue, comment, "comment_updated", "issue_comment_edited")
        return self.comment_json(issue["id"], comment)

    async def transition_as(self, user: dict[str, Any] | None, issue_id: str, status: str) -> dict[str, Any]:
        """``user`` takes the workflow's transition from the issue's status to ``status``; the history."""
        issue = self._issue(issue_id)
        current = issue["fields"]["status"]["name"]
        if not any(current in t.sources and t.target == status for t in self.workflow.transitions):
            raise AssertionError(f"no transition leads from {current} to {status}")
        return await self._change(user, issue, "issue_generic", status=self.status_json(status))

    async def edit_as(self, user: dict[str, Any] | None, issue_id: str, **fields: Any) -> dict[str, Any]:
        """``user`` edits the issue's fields (``summary``, ``description``...) at once; the history."""
        return await self._change(user, self._issue(issue_id), "issue_updated", **fields)

    async def redeliver(self, delivery: Delivery, times: int = 1) -> None:
        """Send a delivery again, the same bytes and signature, as Jira retries one."""
        for _ in range(times):
            await self._send(delivery, retry=len(delivery.statuses))

    async def settle(self) -> None:
        """Wait for the webhooks that the connector's calls made Jira send."""
        while self._sending:
            await asyncio.gather(*self._sending)

    def comment_json(self, issue_id: str, comment: dict[str, Any]) -> dict[str, Any]:
        """A comment as the API and webhooks show it."""
        shown = {
            "self": f"{self.url}{API}/issue/{issue_id}/comment/{comment['id']}",
            "id": comment["id"],
            "author": comment["author"],
            "body": comment["body"],
            "updateAuthor": comment["updateAuthor"],
            "created": comment["created"],
            "updated": comment["updated"],
        }
        if not self.data_center:
            shown["jsdPublic"] = True
        return shown

    def _public(self, user: dict[str, Any] | None) -> dict[str, Any]:
        """A user (as ``add_user`` returned it; None: the connector's account) as issues show one."""
        if user is None:
            return self._user_json(self.me, public=True)
        key, record_key = ("name", "name") if self.data_center else ("accountId", "account_id")
        record = next(u for u in self.users if u[record_key] == user[key])
        return self._user_json(record, public=True)

    def _add_comment(self, issue: dict[str, Any], author: dict[str, Any], body: str) -> dict[str, Any]:
        stamp = jira_time(self.now)
        comment_id = str(10100 + sum(map(len, self.comments.values())))
        comment = {"id": comment_id, "body": body, "created": stamp, "updated": stamp}
        comment.update(author=author, updateAuthor=author)
        self.comments[issue["id"]].append(comment)
        issue["fields"]["updated"] = stamp
        return comment

    async def _change(
        self, user: dict[str, Any] | None, issue: dict[str, Any], type_name: str, **fields: Any
    ) -> dict[str, Any]:
        actor = self._public(user)
        history = self._apply(issue, actor, fields)
        await self._announce([("jira:issue_updated", self._issue_event(issue, actor, type_name, history))])
        return history

    def _apply(self, issue: dict[str, Any], actor: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        """Set the fields, and write what changed as one changelog history by ``actor``."""
        before = copy.deepcopy(issue["fields"])
        issue["fields"].update(fields, updated=jira_time(self.now))
        items = [
            self._item(name, before.get(name), issue["fields"].get(name))
            for name in fields
            if before.get(name) != issue["fields"].get(name)
        ]
        history = {"id": str(next(self._history_ids)), "author": actor, "created": jira_time(self.now)}
        history["items"] = items
        if items:
            self.histories[issue["id"]].append(history)
        return history

    def _item(self, name: str, old: Any, new: Any) -> dict[str, Any]:
        """A changelog item: the values' ids (``from``/``to``) and texts (``fromString``/``toString``)."""

        def shown(value: Any) -> tuple[str | None, str | None]:
            if value is None:
                return None, None
            if isinstance(value, list):
                return None, " ".join(map(str, value))
            if isinstance(value, dict):
                ident = value.get("accountId") or value.get("name") if name == "assignee" else value.get("id")
                return ident, value.get("displayName") if name == "assignee" else value.get("name")
            return None, str(value)

        item: dict[str, Any] = {"field": name, "fieldtype": "jira"}
        if not self.data_center:
            item["fieldId"] = name
        (old_id, old_text), (new_id, new_text) = shown(old), shown(new)
        item.update({"from": old_id, "fromString": old_text, "to": new_id, "toString": new_text})
        return item

    def _issue_event(
        self,
        issue: dict[str, Any],
        actor: dict[str, Any],
        type_name: str,
        history: dict[str, Any] | None = None,
        comment: dict[str, Any] | None = None,
        event: str = "jira:issue_updated",
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "timestamp": milliseconds(self.now),
            "webhookEvent": event,
            "issue_event_type_name": type_name,
            "user": actor,
            "issue": copy.deepcopy(issue),
        }
        if history is not None and history["items"]:
            payload["changelog"] = {"id": history["id"], "items": history["items"]}
        if comment is not None:
            payload["comment"] = self.comment_json(issue["id"], comment)
        return payload

    def _comment_event(self, event: str, issue: dict[str, Any], comment: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "timestamp": milliseconds(self.now),
            "webhookEvent": event,
            "comment": self.comment_json(issue["id"], comment),
        }
        if not self.data_center:
            shown = ("summary", "issuetype", "project", "assignee", "priority", "status")
            fields = {name: copy.deepcopy(issue["fields"].get(name)) for name in shown}
            payload["issue"] = {
                "id": issue["id"],
                "self": issue["self"],
                "key": issue["key"],
                "fields": fields,
            }
        return payload

    def _comment_payloads(
        self, issue: dict[str, Any], comment: dict[str, Any], event: str, type_name: str
    ) -> list[tuple[str, dict[str, Any]]]:
        """A comment's events: its own, and ``jira:issue_updated`` carrying it."""
        actor = comment["updateAuthor"]
        return [
            (event, self._comment_event(event, issue, comment)),
            ("jira:issue_updated", self._issue_event(issue, actor, type_name, comment=comment)),
        ]

    async def _comment_events(
        self, issue: dict[str, Any], comment: dict[str, Any], event: str, type_name: str
    ) -> None:
        await self._announce(self._comment_payloads(issue, comment, event, type_name))

    async def _announce(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Send each event to the webhooks registered for it."""
        for webhook in self.webhooks:
            for event, payload in events:
                if event not in webhook.events:
                    continue
                body = msgspec.json.encode(payload)
                headers = {"Content-Type": "application/json; charset=UTF-8"}
                if not self.data_center:
                    headers["X-Atlassian-Webhook-Identifier"] = str(next(self._delivery_ids))
                if webhook.secret:
                    headers["X-Hub-Signature"] = signature(webhook.secret, body)
                delivery = Delivery(webhook, event, payload, body, headers)
                self.deliveries.append(delivery)
                await self._send(delivery, retry=0)

    def _in_background(self, sending: Coroutine[Any, Any, None]) -> None:
        if not self.webhooks:
            sending.close()
            return
        task = asyncio.get_running_loop().create_task(sending)
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, delivery: Delivery, retry: int) -> None:
        headers = dict(delivery.headers)
        if retry and not self.data_center:
            headers["X-Atlassian-Webhook-Retry"] = str(retry)
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.post(delivery.webhook.url, data=delivery.body, headers=headers) as response,
            ):
                await response.read()
                delivery.statuses.append(response.status)
        except aiohttp.ClientError:
            delivery.statuses.append(0)

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
        created = self._issue_event(issue, self._public(None), "issue_created", event="jira:issue_created")
        self._in_background(self._announce([("jira:issue_created", created)]))
        return web.json_response({"id": issue["id"], "key": issue["key"], "self": issue["self"]}, status=201)

    async def _get(self, request: web.Request) -> web.Response:
        """The issue; with ``fields=a,b``, only those of its fields (``*all`` or none: all of them)."""
        issue = self._issue(request.match_info["key"])
        wanted = request.query.get("fields", "*all").split(",")
        if "*all" not in wanted:
            issue = {**issue, "fields": {k: v for k, v in issue["fields"].items() if k in wanted}}
        if "changelog" in request.query.get("expand", "").split(","):
            histories = self.histories[issue["id"]]
            issue = {**issue, "changelog": _page(histories, 0, len(histories), "histories")}
        return web.json_response(issue)

    async def _edit(self, request: web.Request) -> web.Response:
        issue = self._issue(request.match_info["key"])
        fields = await _fields_of(request)
        type_id = (fields.get("issuetype") or issue["fields"]["issuetype"]).get("id")
        errors = self._field_errors({"issuetype": {"id": type_id}, **fields}, creating=False)
        if errors:
            refuse(400, **errors)
        history = self._apply(issue, self._public(None), self._expanded(fields))
        if history["items"]:
            event = self._issue_event(issue, self._public(None), "issue_updated", history)
            self._in_background(self._announce([("jira:issue_updated", event)]))
        return web.Response(status=204)

    async def _comment(self, request: web.Request) -> web.Response:
        issue = self._issue(request.match_info["key"])
        body = (await _json_of(request)).get("body")
        if not isinstance(body, str) or not body.strip():
            refuse(400, comment="Comment body can not be empty!")
        comment = self._add_comment(issue, self._public(None), body)
        events = self._comment_payloads(issue, comment, "comment_created", "issue_commented")
        self._in_background(self._announce(events))
        return web.json_response(self.comment_json(issue["id"], comment), status=201)

    async def _comment_list(self, request: web.Request) -> web.Response:
        """``GET /issue/{id}/comment``: a page of the issue's comments, oldest first."""
        issue = self._issue(request.match_info["key"])
        start, size = _int_query(request, "startAt", 0), _int_query(request, "maxResults", 50)
        comments = [self.comment_json(issue["id"], c) for c in self.comments[issue["id"]]]
        return web.json_response(_page(comments, start, size, "comments"))

    async def _changelog(self, request: web.Request) -> web.Response:
        """Cloud's ``GET /issue/{id}/changelog``: a page of the issue's histories, oldest first."""
        if self.data_center:
            refuse(404, "null for uri: /rest/api/2/issue/changelog")
        issue = self._issue(request.match_info["key"])
        start, size = _int_query(request, "startAt", 0), _int_query(request, "maxResults", 100)
        histories = self.histories[issue["id"]]
        shown = histories[start : start + size]
        return web.json_response(
            {
                "self": f"{issue['self']}/changelog?maxResults={size}&startAt={start}",
                "maxResults": size,
                "startAt": start,
                "total": len(histories),
                "isLast": start + len(shown) >= len(histories),
                "values": shown,
            }
        )

    async def _myself(self, request: web.Request) -> web.Response:
        """The connector's account, its email shown (one's own always is)."""
        return web.json_response({**self._user_json(self.me), "emailAddress": self.me["email"]})

    async def _search_cloud(self, request: web.Request) -> web.Response:
        """Cloud's enhanced search: ``{jql, fields, expand, maxResults, nextPageToken, reconcileIssues}``."""
        if self.data_center:
            refuse(404, "null for uri: /rest/api/2/search/jql")
        body = await _json_of(request)
        found = self._matching(str(body.get("jql") or ""))
        start = int(body.get("nextPageToken") or 0)
        size = min(int(body.get("maxResults") or 50), self.page_size)
        shown = [self._search_hit(issue, body) for issue in found[start : start + size]]
        more = start + size < len(found)
        return web.json_response(
            {"issues": shown, "isLast": not more, **({"nextPageToken": str(start + size)} if more else {})}
        )

    async def _search_data_center(self, request: web.Request) -> web.Response:
        """Data Center's search: ``{jql, fields, expand, startAt, maxResults}``; Cloud has removed it."""
        if not self.data_center:
            refuse(
                410, "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."
            )
        body = await _json_of(request)
        found = self._matching(str(body.get("jql") or ""))
        start, size = int(body.get("startAt") or 0), min(int(body.get("maxResults") or 50), self.page_size)
        shown = [self._search_hit(issue, body) for issue in found[start : start + size]]
        return web.json_response({"startAt": start, "maxResults": size, "total": len(found), "issues": shown})

    def _matching(self, jql: str) -> list[dict[str, Any]]:
        clauses = parse_jql(jql)
        return [issue for issue in self.issues.values() if all(self._holds(issue, *c) for c in clauses)]

    def _search_hit(self, issue: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """An issue as a search shows it: the ``fields`` asked for (``comment`` a page of them) and, with
        ``expand`` ``changelog``, its changelog (Cloud: the latest ``changelog_limit``, most recent first)."""
        wanted = body.get("fields") or []
        fields = {k: v for k, v in issue["fields"].items() if k in wanted}
        if "comment" in wanted:
            comments = [self.comment_json(issue["id"], c) for c in self.comments[issue["id"]]]
            fields["comment"] = _page(comments, 0, self.comment_limit, "comments")
        hit = {"id": issue["id"], "self": issue["self"], "key": issue["key"], "fields": fields}
        expand = body.get("expand") or []
        if "changelog" in (expand.split(",") if isinstance(expand, str) else expand):
            histories = self.histories[issue["id"]]
            shown = histories if self.data_center else histories[::-1]
            limit = len(shown) if self.changelog_limit is None else self.changelog_limit
            hit["changelog"] = {
                "startAt": 0,
                "maxResults": limit,
                "total": len(histories),
                "histories": shown[:limit],
            }
        return hit

    async def _search(self, request: web.Request) -> web.Response:
        found = self._matching(request.query.get("jql", ""))
        wanted = request.query.get("fields", "").split(",")
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
        history = self._apply(issue, self._public(None), {"status": self.status_json(transition.target)})
        event = self._issue_event(issue, self._public(None), "issue_generic", history)
        self._in_background(self._announce([("jira:issue_updated", event)]))
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
        history = self._apply(
            issue, self._public(None), {"assignee": user and self._user_json(user, public=True)}
        )
        event = self._issue_event(issue, self._public(None), "issue_assigned", history)
        self._in_background(self._announce([("jira:issue_updated", event)]))
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
        shown.update(
            displayName=user["display_name"], active=user["active"], timeZone=user.get("time_zone", TIME_ZONE)
        )
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

    def _holds(self, issue: dict[str, Any], field: str, op: str, value: Any) -> bool:
        fields = issue["fields"]
        if (field, op) == ("project", "="):
            if value != PROJECT:
                _jql_error(f"The value '{value}' does not exist for the field 'project'.")
            return True
        if (field, op) == ("labels", "="):
            return value in fields.get("labels", [])
        if (field, op) == ("summary", "~"):
            return _text_matches(fields["summary"], value)
        if (field, op) == ("id", "in"):
            for wanted in value:
                if not any(wanted in (i["id"], i["key"]) for i in self.issues.values()):
                    _jql_error(f"An issue with key '{wanted}' does not exist for field 'id'.")
            return issue["id"] in value or issue["key"] in value
        if (field, op) == ("updated", ">="):
            since = jql_moment(value, self.me["time_zone"])
            return datetime.fromisoformat(fields["updated"]) >= since
        if field in ("project", "labels", "summary", "id", "updated"):
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
        self.histories[issue_id] = []
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


def _int_query(request: web.Request, name: str, default: int) -> int:
    try:
        return int(request.query.get(name, default))
    except ValueError:
        refuse(400, f"The '{name}' parameter must be a number.")


def _page(values: list[Any], start: int, size: int, name: str) -> dict[str, Any]:
    """Jira's page of a list: ``{startAt, maxResults, total, <name>}``."""
    return {"startAt": start, "maxResults": size, "total": len(values), name: values[start : start + size]}


class Inbox:
    """Where the fake's webhooks go in tests: casepush's inbound path, on a ``FakeService``, recording each
    call (its headers and raw body) and answering 204."""

    def __init__(self, service: FakeService):
        self.service = service
        self.calls: list[InboundCall] = []
        service.app.router.add_post("/api/casepush/connectors/{connector_id}/inbound", self._receive)

    async def start(self) -> "Inbox":
        await self.service.start()
        return self

    def url(self, connector_id: str = "jira") -> str:
        return f"{self.service.url}/api/casepush/connectors/{connector_id}/inbound"

    async def _receive(self, request: web.Request) -> web.Response:
        self.calls.append(InboundCall(dict(request.headers), await request.read()))
        return web.Response(status=204)


async def start_jira(service: FakeService, **options: Any) -> FakeJira:
    return await FakeJira(service, **options).start()
