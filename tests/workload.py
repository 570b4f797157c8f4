"""Many concurrent clients of a running ``casepush serve``, what they were answered, and the checks that
follow: every acknowledged write is stored exactly once (through the API and in the database), each
pushed case has exactly one incident in the fake Jira and names it. Shared by the load and crash tests.

Every write carries a unique marker (a case's description, a comment's text, a patched title), so that
what is stored can be matched with what was acknowledged. A write that got no answer (the server was
killed) is "in doubt": it may be stored, but at most once.
"""

import asyncio
import json
import os
import random
import time
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec
from casepush_jira.service import case_label
from fake_jira import API_TOKEN, EMAIL, PROJECT, TASK, FakeJira

from casepush.config import Settings
from casepush.testing.client import PASSWORD, basic_auth, case_body
from casepush.testing.database import StoredData
from casepush.testing.fake import FakeService
from tests.faults import Saboteur

HEADERS = {"Authorization": basic_auth("elastic", PASSWORD), "kbn-xsrf": "true"}
#: Kibana's answer to a PATCH with a stale version (``These cases <ids> has been updated...``).
STALE = "has been updated. Please refresh before saving additional updates."
#: Where the figures of a run go (one JSON object per line), when set: ``make stress`` sets it.
REPORT_ENV = "STRESS_REPORT"


def backend(settings: Settings) -> str:
    return "postgresql" if settings.database_url else "sqlite"


async def start_jira(service: FakeService, saboteur: Saboteur) -> FakeJira:
    """The Jira plugin's fake Jira, failing as ``saboteur`` says."""
    fake = FakeJira(service)
    saboteur.install(service.app)
    return await fake.start()


def jira_connector_body(jira_url: str) -> dict:
    return {
        "name": "Jira",
        "connector_type_id": ".jira",
        "config": {"apiUrl": jira_url, "projectKey": PROJECT},
        "secrets": {"email": EMAIL, "apiToken": API_TOKEN},
    }


def jira_case_connector(connector: dict) -> dict:
    """A case's ``connector``: this Jira connector, with an issue type (so a create is one call)."""
    fields = {"issueType": TASK, "priority": None, "parent": None}
    return {"id": connector["id"], "name": "Jira", "type": ".jira", "fields": fields}


@dataclass
class Tally:
    """What the clients sent and were answered."""

    sent: Counter = field(default_factory=Counter)
    #: ``(kind, status)`` of every answer.
    answers: Counter = field(default_factory=Counter)
    #: ``(kind, exception)`` of the requests that got no answer (``ClientConnectorError``: not sent).
    unanswered: Counter = field(default_factory=Counter)
    #: Acknowledged writes by marker: case description -> case id, comment text -> case id,
    #: patched title -> case id.
    cases: dict[str, str] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    #: Markers of the writes that got no answer (comments and titles: -> case id).
    doubtful_cases: set[str] = field(default_factory=set)
    doubtful_comments: dict[str, str] = field(default_factory=dict)
    doubtful_titles: dict[str, str] = field(default_factory=dict)
    #: Cases a push was sent for, whatever its outcome.
    pushed: set[str] = field(default_factory=set)
    #: Messages of the 409s.
    conflicts: Counter = field(default_factory=Counter)
    #: The longest wait for an answer, in seconds, by kind (a figure for reports, never checked).
    slowest: dict[str, float] = field(default_factory=dict)

    def statuses(self, kind: str) -> set[int]:
        return {status for (k, status), _ in self.answers.items() if k == kind}

    def server_errors(self) -> int:
        return sum(n for (_, status), n in self.answers.items() if status >= 500)


@dataclass
class Workload:
    """Clients of the server at ``url`` writing cases and comments, patching titles and pushing to the
    Jira connector (``use_jira`` first).

    ``mix`` weighs the kinds of requests: ``create``, ``get``, ``find``, ``user_actions``, ``patch``,
    ``comment``, ``push``.
    """

    url: str
    session: aiohttp.ClientSession
    mix: dict[str, int]
    rng: random.Random
    tally: Tally = field(default_factory=Tally)
    connector: dict = field(default_factory=dict)
    case_connector: dict = field(default_factory=dict)
    case_ids: list[str] = field(default_factory=list)
    stopped: bool = False
    _next: int = 0

    async def use_jira(self, jira_url: str) -> None:
        """Create the Jira connector the cases name and are pushed to."""
        status, self.connector = await self.call(
            "setup", "POST", "/api/actions/connector", jira_connector_body(jira_url)
        )
        assert status == 200, self.connector
        self.case_connector = jira_case_connector(self.connector)

    def _marker(self, what: str) -> str:
        self._next += 1
        return f"{what} {os.getpid()}-{self._next}-{self.rng.getrandbits(32):08x}"

    async def call(self, kind: str, method: str, path: str, body: Any = None) -> tuple[int | None, Any]:
        """One request: ``(status, json)``; ``(None, None)`` when no answer came, ``(0, None)`` when
        the request could not even be sent (nothing listens)."""
        self.tally.sent[kind] += 1
        started = time.monotonic()
        try:
            async with self.session.request(method, self.url + path, json=body, headers=HEADERS) as response:
                answer = await response.json(content_type=None) if await response.read() else None
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.tally.unanswered[kind, type(exc).__name__] += 1
            return (0 if isinstance(exc, aiohttp.ClientConnectorError) else None), None
        self.tally.answers[kind, response.status] += 1
        waited = time.monotonic() - started
        self.tally.slowest[kind] = round(max(self.tally.slowest.get(kind, 0.0), waited), 3)
        if response.status == 409:
            self.tally.conflicts[kind, _conflict(answer)] += 1
        return response.status, answer

    async def run(self, clients: int, seconds: float, first_cases: int = 20) -> None:
        """``clients`` concurrent clients, each sending one request after another for ``seconds``, once
        there are ``first_cases`` cases to work on (else all would work on the first one)."""
        while len(self.case_ids) < first_cases:
            await self.create()
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(self._client(deadline) for _ in range(clients)))

    async def _client(self, deadline: float) -> None:
        kinds, weights = list(self.mix), list(self.mix.values())
        operations: dict[str, Callable[[], Awaitable[Any]]] = {
            "create": self.create,
            "get": lambda: self.call("get", "GET", f"/api/cases/{self._case()}"),
            "find": lambda: self.call(
                "find", "GET", f"/api/cases/_find?perPage=20&page={self.rng.randint(1, 5)}"
            ),
            "user_actions": lambda: self.call(
                "user_actions", "GET", f"/api/cases/{self._case()}/user_actions/_find"
            ),
            "patch": self.patch,
            "comment": self.comment,
            "push": self.push,
        }
        while time.monotonic() < deadline and not self.stopped:
            await operations[self.rng.choices(kinds, weights)[0]]()

    def _case(self) -> str:
        return self.rng.choice(self.case_ids)

    async def create(self) -> None:
        marker = self._marker("load case")
        body = case_body(description=marker, connector=self.case_connector)
        status, case = await self.call("create", "POST", "/api/cases", body)
        if status == 200:
            self.tally.cases[marker] = case["id"]
            self.case_ids.append(case["id"])
        elif status is None:
            self.tally.doubtful_cases.add(marker)

    async def comment(self) -> None:
        case_id, text = self._case(), self._marker("load comment")
        body = {"type": "user", "comment": text, "owner": "cases"}
        status, _ = await self.call("comment", "POST", f"/api/cases/{case_id}/comments", body)
        if status == 200:
            self.tally.comments[text] = case_id
        elif status is None:
            self.tally.doubtful_comments[text] = case_id

    async def patch(self) -> None:
        """Read the case's version, then change its title: another client may have changed it meanwhile."""
        case_id = self._case()
        status, case = await self.call("get", "GET", f"/api/cases/{case_id}?includeComments=false")
        if status != 200:
            return
        title = self._marker("load title")
        body = {"cases": [{"id": case_id, "version": case["version"], "title": title}]}
        status, _ = await self.call("patch", "PATCH", "/api/cases", body)
        if status == 200:
            self.tally.titles[title] = case_id
        elif status is None:
            self.tally.doubtful_titles[title] = case_id

    async def push(self, case_id: str | None = None) -> int | None:
        case_id = case_id or self._case()
        self.tally.pushed.add(case_id)
        path = f"/api/cases/{case_id}/connector/{self.connector['id']}/_push"
        status, _ = await self.call("push", "POST", path, {})
        return status


def _conflict(answer: Any) -> str:
    message = answer.get("message", "") if isinstance(answer, dict) else ""
    return "stale version" if STALE in message else message


async def gathered(calls: Iterable[Awaitable[Any]], at_once: int = 50) -> list[Any]:
    """Run calls concurrently, ``at_once`` at a time."""
    gate = asyncio.Semaphore(at_once)

    async def gated(call: Awaitable[Any]) -> Any:
        async with gate:
            return await call

    return await asyncio.gather(*(gated(call) for call in calls))


# --- the checks -----------------------------------------------------------------------------------------


def exactly_once(acknowledged: dict[str, str], doubtful: dict[str, str], stored: Counter) -> None:
    """Every acknowledged marker is stored once with its case, a doubtful one at most once, nothing else."""
    lost = {m: c for m, c in acknowledged.items() if stored[m, c] != 1}
    assert not lost, f"acknowledged writes not stored exactly once: {dict(list(lost.items())[:5])}"
    extra = {
        key: n
        for key, n in stored.items()
        if key[0] not in acknowledged and (n > 1 or key[0] not in doubtful)
    }
    assert not extra, (
        f"stored writes nobody was answered for, or stored twice: {dict(list(extra.items())[:5])}"
    )


async def stored_writes(stored: StoredData) -> tuple[Counter, Counter]:
    """From the database: (description, case id) of every case, (text, case id) of every user comment."""
    cases = await stored.rows("SELECT description, id FROM cases")
    attachments = await stored.rows("SELECT data, case_id FROM attachments WHERE type = 'user'")
    comments = Counter((msgspec.json.decode(data)["comment"], case_id) for data, case_id in attachments)
    return Counter(cases), comments


async def check_writes(workload: Workload, stored: StoredData) -> dict[str, int]:
    """Every acknowledged case, comment and title change is stored exactly once, in the database and
    through the API; answers the counts found."""
    tally = workload.tally
    in_db_cases, in_db_comments = await stored_writes(stored)
    stored_ids = {marker: case_id for marker, case_id in in_db_cases}
    # The id of a case in doubt is known only if it was stored.
    exactly_once(tally.cases, {m: stored_ids.get(m, "") for m in tally.doubtful_cases}, in_db_cases)
    exactly_once(tally.comments, tally.doubtful_comments, in_db_comments)

    through_api = await _through_api(workload, sorted(set(stored_ids.values())))
    assert through_api["cases"] == in_db_cases
    assert through_api["comments"] == in_db_comments
    exactly_once(tally.titles, tally.doubtful_titles, through_api["titles"])
    return {
        "cases acknowledged": len(tally.cases),
        "cases in doubt": len(tally.doubtful_cases),
        "cases found": sum(in_db_cases.values()),
        "comments acknowledged": len(tally.comments),
        "comments in doubt": len(tally.doubtful_comments),
        "comments found": sum(in_db_comments.values()),
        "title changes acknowledged": len(tally.titles),
        "title changes found": sum(through_api["titles"].values()),
    }


async def _through_api(workload: Workload, case_ids: list[str]) -> dict[str, Counter]:
    """What the API shows of every case: (description, id), (comment, case id), (patched title, case id)."""
    status, found = await workload.call("check", "GET", "/api/cases/_find?perPage=1")
    assert status == 200, found
    assert found["total"] == len(case_ids)
    cases = await gathered(workload.call("check", "GET", f"/api/cases/{case_id}") for case_id in case_ids)
    titles = await gathered(_title_changes(workload, case_id) for case_id in case_ids)
    seen: dict[str, Counter] = defaultdict(Counter)
    for case_id, (status, case), changes in zip(case_ids, cases, titles, strict=True):
        assert status == 200, case
        seen["cases"][case["description"], case_id] += 1
        seen["comments"].update((c["comment"], case_id) for c in case["comments"] if c["type"] == "user")
        seen["titles"].update((title, case_id) for title in changes)
    return seen


async def _title_changes(workload: Workload, case_id: str) -> list[str]:
    """The titles of a case's ``title`` user actions, page after page."""
    titles: list[str] = []
    for page in range(1, 100):
        path = f"/api/cases/{case_id}/user_actions/_find?types=title&perPage=100&page={page}"
        status, found = await workload.call("check", "GET", path)
        assert status == 200, found
        titles += [action["payload"]["title"] for action in found["userActions"]]
        if len(titles) >= found["total"]:
            return titles
    raise AssertionError(f"too many title changes of {case_id}")


async def settle_pushes(workload: Workload, case_ids: Iterable[str]) -> None:
    """Push each case once more, the external system healthy: every push must succeed."""
    statuses = await gathered(workload.push(case_id) for case_id in case_ids)
    assert set(statuses) <= {200}, Counter(statuses)


async def check_incidents(workload: Workload, issues: dict[str, dict]) -> dict[str, int]:
    """Each pushed case has exactly one issue in the fake Jira, which its ``external_service`` names; no
    other issue exists."""
    by_label = defaultdict(list)
    for issue in issues.values():
        for label in issue["fields"].get("labels", []):
            by_label[label].append(issue["id"])
    pushed = sorted(workload.tally.pushed)
    cases = await gathered(
        workload.call("check", "GET", f"/api/cases/{case_id}?includeComments=false") for case_id in pushed
    )
    for case_id, (status, case) in zip(pushed, cases, strict=True):
        assert status == 200, case
        assert by_label[case_label(case_id)] == [case["external_service"]["external_id"]], case_id
    assert len(issues) == len(pushed)
    return {"cases pushed": len(pushed), "incidents": len(issues)}


def report(name: str, figures: dict[str, Any]) -> None:
    """Print the figures of a run and, when ``STRESS_REPORT`` names a file, append them there."""
    line = json.dumps({"test": name, **_plain(figures)}, sort_keys=True)
    print(line)
    if os.environ.get(REPORT_ENV):
        with open(os.environ[REPORT_ENV], "a") as out:
            out.write(line + "\n")


def _plain(value: Any) -> Any:
    """JSON's shape of the figures: tuple keys (of counters) joined by spaces."""
    if isinstance(value, dict):
        return {
            " ".join(map(str, k)) if isinstance(k, tuple) else str(k): _plain(v) for k, v in value.items()
        }
    return value


def figures_of(tally: Tally) -> dict[str, Any]:
    """The requests sent and answers got so far (copies: the checks that follow send more)."""
    return {
        "requests": Counter(tally.sent),
        "answers": Counter(tally.answers),
        "unanswered": Counter(tally.unanswered),
        "conflicts": Counter(tally.conflicts),
        "slowest answer (s)": dict(tally.slowest),
        "5xx": tally.server_errors(),
    }


# --- the server process ---------------------------------------------------------------------------------


def drain(process: asyncio.subprocess.Process) -> asyncio.Task:
    """Read what the server prints as it comes (a pipe nobody reads fills up and stops the server),
    keeping the last lines other than the log line of each request: errors and their tracebacks."""
    kept: deque[bytes] = deque(maxlen=500)

    async def read() -> bytes:
        async for line in process.stdout:
            if b" casepush.requests: " not in line:
                kept.append(line)
        return b"".join(kept)

    return asyncio.create_task(read())


async def stopped(process: asyncio.subprocess.Process, output: asyncio.Task) -> str:
    """Stop the server (SIGTERM, unless it is dead already) and return its last lines."""
    if process.returncode is None:
        process.terminate()
    await process.wait()
    return (await output).decode(errors="replace")
