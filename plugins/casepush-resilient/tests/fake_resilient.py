"""A fake IBM Resilient (QRadar SOAR) REST API on a real local socket: one organization's incidents,
their comments and the incident field definitions, behind API-key Basic auth.

It answers as Resilient does: incidents with epoch-millisecond dates, text areas as ``{format, content}``
(``text_content_output_format=objects_convert``), a ``PATCH`` of ``changes`` refused (``success: false``)
when an old value is not the incident's, values of choice fields checked, and errors as
``{success: false, title, message, hints}``. Tests script failures with ``fail`` and read what was sent
with ``sent`` and ``calls``.
"""

import base64
import json
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web

from casepush.testing import FakeService

ORG = "201"
KEY_ID = "4d2b6c8e-key-id"
KEY_SECRET = "s3cr3t-api-key-secret-value"
#: The fake's clock (epoch ms), as Kibana's simulator dates its incidents: 2020-05-13T17:44:34.472Z.
START = 1589391874472
ORG_PATH = f"/rest/orgs/{ORG}"

INCIDENT_TYPES = {17: "Communication error (fax; email)", 19: "Malware", 21: "Phishing"}
SEVERITIES = {4: "Low", 5: "Medium", 6: "High"}


def _values(labels: dict[Any, str]) -> list[dict[str, Any]]:
    return [
        {
            "value": value,
            "label": label,
            "enabled": True,
            "hidden": False,
            "default": False,
            "uuid": f"u-{value}",
        }
        for value, label in labels.items()
    ]


def _field(
    name: str, input_type: str, prefix: str | None = None, values: dict[Any, str] | None = None
) -> dict:
    return {
        "id": abs(hash(name)) % 1000,
        "name": name,
        "text": name.replace("_", " ").title(),
        "input_type": input_type,
        "read_only": name in ("id", "create_date", "inc_last_modified_date"),
        "required": "always" if name == "name" else None,
        "prefix": prefix,
        "values": _values(values or {}),
        "internal": prefix is None,
    }


#: The org's incident fields: Resilient's own, and custom ones (``properties``).
FIELDS = [
    _field("name", "text"),
    _field("description", "textarea"),
    _field("discovered_date", "datetimepicker"),
    _field("incident_type_ids", "multiselect", values=INCIDENT_TYPES),
    _field("severity_code", "select", values=SEVERITIES),
    _field("resolution_summary", "textarea"),
    _field("create_date", "datetimepicker"),
    _field("ticket_ref", "text", "properties"),
    _field("escalated", "boolean", "properties"),
    _field("impact_score", "number", "properties"),
    _field("region", "select", "properties", {100: "EU", 110: "US"}),
    _field("noticed_on", "datepicker", "properties"),
]


@dataclass
class Canned:
    """An answer given instead of Resilient's own, ``times`` times."""

    status: int
    body: Any = None
    text: str | None = None
    times: int = 1

    def response(self) -> web.Response:
        if self.text is not None:
            return web.Response(status=self.status, text=self.text, content_type="text/html")
        return web.json_response(self.body, status=self.status)


def resilient_error(status: int, message: str) -> Canned:
    return Canned(status, {"success": False, "title": None, "message": message, "hints": []})


@dataclass
class FakeResilient:
    service: FakeService
    now: int = START
    fields: list[dict[str, Any]] = field(default_factory=lambda: [dict(f) for f in FIELDS])
    incidents: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    #: Scripted answers by ``"METHOD part-of-the-path"``.
    canned: dict[str, Canned] = field(default_factory=dict)
    broken: bool = False
    next_id: int = 2095

    @property
    def url(self) -> str:
        return self.service.url

    @property
    def requests(self) -> list:
        return self.service.requests

    def fail(self, on: str, answer: Canned) -> None:
        """Answer the next calls ``on`` (``METHOD part-of-the-path``) with ``answer`` (``times`` times)."""
        self.canned[on] = replace(answer)

    def calls(self) -> list[str]:
        """``METHOD path`` of every call, the path after the org's and without its query."""
        return [f"{r.method} {r.path.split('?')[0].removeprefix(ORG_PATH)}" for r in self.requests]

    def sent(self, method: str, path: str) -> list[Any]:
        return [
            r.json()
            for r in self.requests
            if f"{r.method} {r.path.split('?')[0]}" == f"{method} {ORG_PATH}{path}"
        ]

    def seed(self, name: str = "Suspicious login", **values: Any) -> dict[str, Any]:
        """An incident already in Resilient."""
        return self._store(
            {"name": name, "description": {"format": "html", "content": "Seen twice."}, **values}
        )

    def _blank_properties(self) -> dict[str, Any]:
        return {f["name"]: None for f in self.fields if f["prefix"] == "properties"}

    def _store(self, values: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        incident = {
            "id": self.next_id,
            "name": values.pop("name"),
            "description": None,
            "discovered_date": self.now,
            "create_date": self.now,
            "inc_last_modified_date": self.now,
            "incident_type_ids": [],
            "severity_code": None,
            "plan_status": "A",
            "properties": self._blank_properties(),
        }
        incident.update(values)
        self.incidents[incident["id"]] = incident
        self.comments[incident["id"]] = []
        return incident

    # --- the API ------------------------------------------------------------------------------------------

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.broken:
            return resilient_error(500, "An unexpected error occurred.").response()
        for on, answer in list(self.canned.items()):
            method, _, part = on.partition(" ")
            if request.method == method and part in request.path and answer.times > 0:
                answer.times -= 1
                return answer.response()
        expected = base64.b64encode(f"{KEY_ID}:{KEY_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return resilient_error(401, "The credentials you supplied are not valid.").response()
        if request.match_info.get("org") != ORG:
            return resilient_error(404, f"Organization {request.match_info.get('org')} not found").response()
        return await handler(request)

    def _incident(self, request: web.Request) -> dict[str, Any]:
        incident_id = request.match_info["id"]
        found = self.incidents.get(int(incident_id)) if incident_id.isdigit() else None
        if found is None:
            raise _refusal(404, f"Incident not found: {incident_id}")
        return found

    async def create(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not body.get("name"):
            raise _refusal(400, "Missing required field: Name")
        unknown = [key for key in body if not self._definition(key) and key != "properties"]
        if unknown:
            raise _refusal(400, f"Unrecognized field: {unknown[0]}")
        for key, value in (body.get("properties") or {}).items():
            self._check_custom(key, value)
        values = {**body, "incident_type_ids": [item["id"] for item in body.get("incident_type_ids") or []]}
        values["severity_code"] = (body.get("severity_code") or {}).get("id")
        values["properties"] = {**self._blank_properties(), **(body.get("properties") or {})}
        self._check_choices("incident_type_ids", values["incident_type_ids"])
        self._check_choices(
            "severity_code", [] if values["severity_code"] is None else [values["severity_code"]]
        )
        return web.json_response(self._store(values))

    async def get(self, request: web.Request) -> web.Response:
        return web.json_response(self._incident(request))

    async def patch(self, request: web.Request) -> web.Response:
        incident = self._incident(request)
        changes = (await request.json()).get("changes") or []
        for change in changes:
            name = change["field"]["name"]
            definition = self._definition(name)
            if definition is None:
                raise _refusal(400, f"Unrecognized field: {name}")
            current = _where(incident, definition).get(name)
            if _plain(change["old_value"]) != current:
                return web.json_response(
                    {
                        "success": False,
                        "title": None,
                        "message": f"The {name} field was changed by someone else.",
                        "hints": [],
                        "field_failures": [{"field": name, "reason": "conflict"}],
                    }
                )
        for change in changes:
            definition = self._definition(change["field"]["name"])
            value = _plain(change["new_value"])
            if definition["input_type"] in ("select", "multiselect"):
                self._check_choices(definition["name"], value if isinstance(value, list) else [value])
            _where(incident, definition)[definition["name"]] = value
        incident["inc_last_modified_date"] = self.now
        return web.json_response({"success": True, "title": None, "message": None, "hints": []})

    async def comment(self, request: web.Request) -> web.Response:
        incident = self._incident(request)
        text = (await request.json()).get("text")
        if not isinstance(text, dict) or "content" not in text:
            raise _refusal(400, "Missing required field: text")
        made = {
            "id": 100 + sum(len(c) for c in self.comments.values()),
            "inc_id": incident["id"],
            "text": text["content"],
            "create_date": self.now,
            "user_name": "Kibana API key",
        }
        self.comments[incident["id"]].append(made)
        return web.json_response(made)

    async def list_fields(self, request: web.Request) -> web.Response:
        return web.json_response(self.fields)

    async def one_field(self, request: web.Request) -> web.Response:
        definition = self._definition(request.match_info["name"])
        if definition is None:
            raise _refusal(404, f"Field not found: {request.match_info['name']}")
        return web.json_response(definition)

    def _definition(self, name: str) -> dict[str, Any] | None:
        return next((f for f in self.fields if f["name"] == name), None)

    def _check_custom(self, key: str, value: Any) -> None:
        definition = self._definition(key)
        if definition is None or definition["prefix"] != "properties":
            raise _refusal(400, f"Unrecognized property: {key}")
        if definition["input_type"] == "select" and value is not None:
            self._check_choices(key, [value])

    def _check_choices(self, name: str, chosen: list[Any]) -> None:
        offered = [value["value"] for value in (self._definition(name) or {}).get("values") or []]
        wrong = [value for value in chosen if value not in offered]
        if wrong:
            raise _refusal(400, f"Invalid value for field {name}: {wrong[0]}")


def _refusal(status: int, message: str) -> web.HTTPException:
    body = {"success": False, "title": None, "message": message, "hints": []}
    error = {400: web.HTTPBadRequest, 404: web.HTTPNotFound}[status]
    return error(text=json.dumps(body), content_type="application/json")


def _where(incident: dict[str, Any], definition: dict[str, Any]) -> dict[str, Any]:
    """The object a field's value is in: the incident, or its ``properties``."""
    return incident["properties"] if definition["prefix"] == "properties" else incident


#: The keys of a change's value, by input type.
_SHAPES = frozenset({"text", "textarea", "ids", "id", "date", "boolean", "object"})


def _plain(shaped: Any) -> Any:
    """The value a change's ``{text: ...}``, ``{ids: [...]}``... stands for (``{}``: none)."""
    if not shaped:
        return None
    ((key, value),) = shaped.items()
    assert key in _SHAPES, f"not a Resilient value: {shaped}"
    return value


async def start_resilient(service: FakeService) -> FakeResilient:
    fake = FakeResilient(service)
    service.app.middlewares.append(fake._gate)
    org = "/rest/orgs/{org}"
    service.route("POST", f"{org}/incidents")(fake.create)
    service.route("GET", f"{org}/incidents/{{id}}")(fake.get)
    service.route("PATCH", f"{org}/incidents/{{id}}")(fake.patch)
    service.route("POST", f"{org}/incidents/{{id}}/comments")(fake.comment)
    service.route("GET", f"{org}/types/incident/fields")(fake.list_fields)
    service.route("GET", f"{org}/types/incident/fields/{{name}}")(fake.one_field)
    await service.start()
    return fake
