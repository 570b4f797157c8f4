"""A fake Swimlane REST API on a real socket, for the Swimlane connector's tests.

It answers as Swimlane does to the calls Kibana's connector (and casepush's crash recovery) makes:

- every call needs the header ``Private-Token: TOKEN``, else a 401 with no body;
- one application (``APP_ID``, acronym ``SEC``) with the fields of ``FIELDS``; records are stored with
  Swimlane's ids (17 letters and digits) and tracking ids as names (``SEC-1``, ``SEC-2``...), their
  ``values`` by field id, and their dates (``createdDate``, ``modifiedDate``) from ``now``, which tests may
  move;
- ``POST /api/app/{appId}/record`` creates a record, ``PATCH /api/app/{appId}/record/{id}`` changes the
  values it is sent, ``GET /api/app/{appId}/record/{id}`` reads one; each answers the whole record;
- ``POST /api/app/{appId}/record/{id}/{fieldId}/comment`` adds a comment to a comments field and
  answers nothing (an empty 200);
- ``POST /api/search`` finds an application's records by ``equals`` filters on field ids, answering
  ``{"results": {appId: [records]}, "count": {appId: n}}`` as the Swimlane Python driver reads it;
- refusals are Swimlane's 400 ``{"ErrorCode": ..., "Argument": ..., "Description": ...}`` with the codes
  of its driver's table (2003 ApplicationNotFound, 3002 RecordNotFound, 3003 FieldNotFound, 4001 BadFilter,
  5010 RequiredFieldMissing, 5013 WrongType). The codes and statuses are Swimlane's; which call gives
  which and the wording of ``Argument`` are plausible, not checked against a live Swimlane.

``fail_next`` answers the next matching calls with something else (``swimlane_error``, ``server_error``,
``answer``, ``Canned``); ``break_all`` fails every call.
"""

import itertools
import random
import string
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from aiohttp import web

from casepush.testing import FakeService

TOKEN = "swimlane-private-t0ken"
APP_ID = "aVu5BnTQGhWvD7zV0"
ACRONYM = "SEC"
#: Swimlane's clock: ``2021-06-01T17:29:51.092Z`` at first.
START = datetime(2021, 6, 1, 17, 29, 51, 92000, tzinfo=UTC)
START_ISO = "2021-06-01T17:29:51.092Z"


def swimlane_field(field_id: str, key: str, name: str, field_type: str, required: bool = False) -> dict:
    """A field of the application, as ``GET /api/app/{id}`` lists it (and Kibana's mapping names it)."""
    return {"id": field_id, "key": key, "name": name, "fieldType": field_type, "required": required}


FIELDS = [
    swimlane_field("a6fst", "case-name", "Case Name", "text", required=True),
    swimlane_field("a6sst", "case-id", "Case Id", "text"),
    swimlane_field("a6dsc", "description", "Description", "text"),
    swimlane_field("a6cmt", "comments", "Comments", "comments"),
    swimlane_field("adnlas", "severity", "Severity", "numeric"),
    swimlane_field("adnfls", "rule-name", "Rule Name", "text"),
    swimlane_field("ednjls", "alert-id", "Alert Id", "text"),
]


def mapping(field_id: str) -> dict[str, str]:
    """Kibana's mapping of an application field: ``{id, key, name, fieldType}``."""
    found = next(f for f in FIELDS if f["id"] == field_id)
    return {name: found[name] for name in ("id", "key", "name", "fieldType")}


#: The mappings of a connector of type ``all``, every value to its field.
MAPPINGS = {
    "ruleNameConfig": mapping("adnfls"),
    "alertIdConfig": mapping("ednjls"),
    "caseIdConfig": mapping("a6sst"),
    "caseNameConfig": mapping("a6fst"),
    "commentsConfig": mapping("a6cmt"),
    "severityConfig": mapping("adnlas"),
    "descriptionConfig": mapping("a6dsc"),
}


@dataclass(frozen=True)
class Canned:
    """An answer given instead of Swimlane's own (``content_type=None``: no Content-Type header)."""

    status: int
    body: bytes = b""
    content_type: str | None = "application/json; charset=utf-8"

    def response(self) -> web.Response:
        headers = {"Content-Type": self.content_type} if self.content_type else {}
        return web.Response(status=self.status, body=self.body, headers=headers)


def answer(status: int = 200, body: Any = None, content_type: str | None = "application/json") -> Canned:
    return Canned(status, msgspec.json.encode(body), content_type)


def swimlane_error(code: int, argument: Any, status: int = 400) -> Canned:
    return answer(status, {"ErrorCode": code, "Argument": argument, "Description": "Bad request"})


def server_error(status: int = 500) -> Canned:
    """What a proxy in front of Swimlane answers: an HTML page."""
    return Canned(status, b"<html><body>Service Unavailable</body></html>", "text/html")


class Refused(Exception):
    def __init__(self, canned: Canned):
        self.canned = canned


@dataclass
class Scripted:
    canned: Canned
    method: str | None
    path: str | None
    times: float

    def takes(self, request: web.Request) -> bool:
        method_matches = self.method in (None, request.method)
        return method_matches and (self.path is None or self.path in request.path)


Handler = Callable[[web.Request], Coroutine[Any, Any, web.StreamResponse]]


@dataclass
class FakeSwimlane:
    service: FakeService
    now: datetime = START
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    comments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    scripted: list[Scripted] = field(default_factory=list)
    numbers: itertools.count = field(default_factory=lambda: itertools.count(1))
    ids: random.Random = field(default_factory=lambda: random.Random(22))

    @property
    def url(self) -> str:
        return self.service.url

    @property
    def requests(self) -> list[Any]:
        return self.service.requests

    async def start(self) -> "FakeSwimlane":
        routes: list[tuple[str, str, Handler]] = [
            ("POST", "/api/app/{app}/record", self._create),
            ("GET", "/api/app/{app}/record/{record}", self._read),
            ("PATCH", "/api/app/{app}/record/{record}", self._update),
            ("POST", "/api/app/{app}/record/{record}/{field}/comment", self._comment),
            ("POST", "/api/search", self._search),
        ]
        for method, path, handler in routes:
            self.service.app.router.add_route(method, path, self._guarded(handler))
        await self.service.start()
        return self

    # --- what tests use

    def fail_next(self, canned: Canned, method: str | None = None, path: str | None = None, times: float = 1):
        self.scripted.append(Scripted(canned, method, path, times))

    def break_all(self) -> None:
        self.fail_next(server_error(502), times=float("inf"))

    def calls(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]

    def sent(self, method: str, path: str) -> list[Any]:
        """The JSON bodies of the calls of ``method path``."""
        return [r.json() for r in self.requests if (r.method, r.path) == (method, path)]

    def seed(self, **values: Any) -> dict[str, Any]:
        """A record made in Swimlane without a call (values by field id)."""
        return self._store(values)

    # --- the API

    def _guarded(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if request.headers.get("Private-Token") != TOKEN:
                return web.Response(status=401)
            for script in self.scripted:
                if script.takes(request):
                    script.times -= 1
                    if script.times <= 0:
                        self.scripted.remove(script)
                    return script.canned.response()
            try:
                return await handler(request)
            except Refused as refused:
                return refused.canned.response()

        return guarded

    async def _create(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        values = self._checked_values(body.get("values"))
        missing = [f["name"] for f in FIELDS if f["required"] and not values.get(f["id"])]
        if missing:
            raise Refused(swimlane_error(5010, missing[0]))
        return web.json_response(self._store(values))

    async def _read(self, request: web.Request) -> web.Response:
        self._app(request)
        return web.json_response(self._record(request.match_info["record"]))

    async def _update(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        record = self._record(request.match_info["record"])
        if body.get("id") != record["id"]:
            raise Refused(swimlane_error(3002, body.get("id")))
        record["values"].update(self._checked_values(body.get("values")))
        record["modifiedDate"] = self._clock()
        return web.json_response(record)

    async def _comment(self, request: web.Request) -> web.Response:
        self._app(request)
        record = self._record(request.match_info["record"])
        body = msgspec.json.decode(await request.read())
        field_id = request.match_info["field"]
        if self._field(field_id)["fieldType"] != "comments" or body.get("fieldId") != field_id:
            raise Refused(swimlane_error(3003, field_id))
        self.comments.setdefault(record["id"], []).append(body)
        return web.Response(status=200)

    async def _search(self, request: web.Request) -> web.Response:
        body = msgspec.json.decode(await request.read())
        if body.get("applicationIds") != [APP_ID]:
            raise Refused(swimlane_error(2003, body.get("applicationIds")))
        found = [
            r for r in self.records.values() if all(self._matches(r, f) for f in body.get("filters", []))
        ]
        page = found[body.get("offset", 0) :][: body.get("pageSize", 10)]
        return web.json_response({"results": {APP_ID: page}, "count": {APP_ID: len(found)}})

    # --- Swimlane's rules

    def _app(self, request: web.Request) -> None:
        if request.match_info["app"] != APP_ID:
            raise Refused(swimlane_error(2003, request.match_info["app"]))

    async def _body(self, request: web.Request) -> dict[str, Any]:
        self._app(request)
        body = msgspec.json.decode(await request.read())
        if body.get("applicationId") != APP_ID:
            raise Refused(swimlane_error(2003, body.get("applicationId")))
        return body

    def _field(self, field_id: str) -> dict[str, Any]:
        found = next((f for f in FIELDS if f["id"] == field_id), None)
        if found is None:
            raise Refused(swimlane_error(3003, field_id))
        return found

    def _checked_values(self, values: Any) -> dict[str, Any]:
        for field_id, value in (values or {}).items():
            numeric = self._field(field_id)["fieldType"] == "numeric"
            if numeric != (isinstance(value, int | float) and not isinstance(value, bool)):
                raise Refused(swimlane_error(5013, field_id))
        return dict(values or {})

    def _matches(self, record: dict[str, Any], search_filter: dict[str, Any]) -> bool:
        if search_filter.get("filterType") != "equals":
            raise Refused(swimlane_error(4001, search_filter.get("filterType")))
        return record["values"].get(self._field(search_filter.get("fieldId", ""))["id"]) == search_filter.get(
            "value"
        )

    def _record(self, record_id: str) -> dict[str, Any]:
        if record_id not in self.records:
            raise Refused(swimlane_error(3002, record_id))
        return self.records[record_id]

    def _clock(self) -> str:
        return self.now.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _store(self, values: dict[str, Any]) -> dict[str, Any]:
        record_id = "".join(self.ids.choices(string.ascii_letters + string.digits, k=17))
        now = self._clock()
        record = {
            "$type": "Core.Models.Record.Record, Core",
            "id": record_id,
            "name": f"{ACRONYM}-{next(self.numbers)}",
            "applicationId": APP_ID,
            "values": values,
            "createdDate": now,
            "modifiedDate": now,
        }
        self.records[record_id] = record
        return record


async def start_swimlane(service: FakeService) -> FakeSwimlane:
    return await FakeSwimlane(service).start()


def later(minutes: int) -> datetime:
    return START + timedelta(minutes=minutes)
