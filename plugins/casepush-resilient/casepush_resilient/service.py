"""IBM Resilient's REST API as Kibana's connector calls it: requests, answer checks and error messages."""

import base64
import http
import math
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import msgspec

from casepush.connectors import ConnectorError, PushedComment, PushedIncident
from casepush.http import IDEMPOTENT, RATE_LIMITED, HostNotAllowed, OutboundClient, OutboundError, Retry
from casepush_resilient.answers import (
    CHOICES,
    CREATED,
    FIELD,
    INCIDENT,
    PATCHED,
    array_problem,
    object_problem,
)
from casepush_resilient.fields import RefusedValue, creation_fields, update_changes
from casepush_resilient.js import UNDEFINED, is_number, js_str, truthy
from casepush_resilient.schema import Incident, ResilientConfig, ResilientSecrets

NAME = "IBM Resilient"
#: What Kibana reads back of the incidents: text fields as ``{format, content}`` objects.
OBJECTS = {"text_content_output_format": "objects_convert"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DOUBLE_SLASHES = re.compile(r"([^:]/)/+")

#: A check of an answer: what it lacks, or None when it fits.
Check = Callable[[Any], str | None]


class ResilientError(ConnectorError):
    """A failure worded as Kibana's ``getErrorMessage``:
    ``[Action][IBM Resilient]: <what>. Error: <error>.``"""

    def __init__(self, what: str, error: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(f"[Action][{NAME}]: {what}. Error: {error}.", status, retry_after)


def normalized(url: str) -> str:
    """Kibana's ``normalizeURL``: no trailing slash, no doubled slash past the scheme's."""
    return _DOUBLE_SLASHES.sub(r"\1", url[:-1] if url.endswith("/") else url)


def iso_of_ms(value: Any) -> str:
    """``new Date(value).toISOString()`` for epoch milliseconds; ``Invalid time value`` for the rest."""
    try:
        if not is_number(value):
            raise ValueError
        moment = _EPOCH + timedelta(milliseconds=math.trunc(value))
    except (ValueError, OverflowError):
        raise RefusedValue("Invalid time value") from None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _status_text(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _body(raw: bytes) -> Any:
    """What axios makes of an answer: its JSON, else its text."""
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return raw.decode("utf-8", errors="replace")


def api_error(status: int, body: Any) -> str:
    """Kibana's ``getResponseErrorMessage`` for Resilient: 401's own words, else Resilient's
    ``message``, else the HTTP status text."""
    if status == 401:
        return "Unauthorized API Error"
    if isinstance(body, dict) and "message" in body:
        return f"API Error: {js_str(body['message'])}"
    return f"API Error: {_status_text(status)}"


class ResilientService:
    """One connector's calls to Resilient."""

    def __init__(self, client: OutboundClient, config: ResilientConfig, secrets: ResilientSecrets):
        self.client = client
        self.api_url = config.apiUrl
        self.org_url = f"{config.apiUrl}/rest/orgs/{config.orgId}"
        # Kibana's ``getBasicAuthHeader``: the UTF-8 bytes of ``apiKeyId:apiKeySecret``, in base64.
        credentials = base64.b64encode(f"{secrets.apiKeyId}:{secrets.apiKeySecret}".encode()).decode()
        self.headers = {"Content-Type": "application/json", "Authorization": f"Basic {credentials}"}

    def view_url(self, incident_id: str) -> str:
        base = self.api_url[:-1] if self.api_url.endswith("/") else self.api_url
        return f"{base}/#incidents/{incident_id}"

    async def _call(
        self,
        what: str,
        method: str,
        url: str,
        retry: Retry,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        check: Check | None = None,
    ) -> Any:
        """A call of Kibana's ``SubActionConnector.request``: ``{}`` as the body when there is none (axios
        sends it even with a GET), the answer checked; a failure is ``<what>. Error: Status code: ...``."""
        try:
            response = await self.client.request(
                method, normalized(url), json=body or {}, headers=self.headers, params=params, retry=retry
            )
        except HostNotAllowed as exc:
            raise ResilientError(what, f"error configuring connector action: {exc.message}") from None
        except OutboundError:
            raise ResilientError(what, "Status code: undefined. Message: Unknown API Error") from None
        answer = _body(response.body)
        if response.status >= 300:
            error = f"Status code: {response.status}. Message: {api_error(response.status, answer)}"
            raise ResilientError(what, error, response.status, response.retry_after)
        if check is not None:
            problem = check(answer)
            if problem:
                raise ResilientError(what, f"Response validation failed (Error: {problem})", response.status)
        return answer

    async def get_incident(self, incident_id: str) -> dict[str, Any]:
        return await self._call(
            f"Unable to get incident with id {incident_id}",
            "GET",
            f"{self.org_url}/incidents/{incident_id}",
            IDEMPOTENT,
            params=OBJECTS,
            check=partial(object_problem, keys=INCIDENT),
        )

    async def fields(self) -> list[dict[str, Any]]:
        """The org's incident field definitions, with the keys Kibana keeps of each."""
        answer = await self._call(
            "Unable to get fields",
            "GET",
            f"{self.org_url}/types/incident/fields",
            IDEMPOTENT,
            check=partial(array_problem, keys=FIELD),
        )
        kept = ("name", "input_type", "read_only", "required", "text", "prefix", "values")
        return [{key: field[key] for key in kept if key in field} for field in answer]

    async def choices(self, field_name: str, what: str) -> list[dict[str, str]]:
        """The values of a choice field (``incident_type_ids``, ``severity_code``) as ``{id, name}``."""
        answer = await self._call(
            what,
            "GET",
            f"{self.org_url}/types/incident/fields/{field_name}",
            IDEMPOTENT,
            check=partial(object_problem, keys=CHOICES),
        )
        return [{"id": js_str(value["value"]), "name": value["label"]} for value in answer["values"]]

    async def create(self, incident: Incident) -> PushedIncident:
        what = "Unable to create incident"
        try:
            data = await self._creation(incident)
        except ConnectorError as exc:
            raise ResilientError(what, exc.message, exc.status, exc.retry_after) from None
        except RefusedValue as exc:
            raise ResilientError(what, str(exc)) from None
        created = await self._call(
            what,
            "POST",
            f"{self.org_url}/incidents?text_content_output_format=objects_convert",
            RATE_LIMITED,
            data,
            check=partial(object_problem, keys=CREATED),
        )
        return self._pushed(what, created, created["create_date"])

    async def _creation(self, incident: Incident) -> dict[str, Any]:
        """Kibana's create body: the values set, and the additional fields where the org puts them."""
        data: dict[str, Any] = {"name": incident.name, "discovered_date": int(time.time() * 1000)}
        if incident.description:
            data["description"] = {"format": "html", "content": incident.description}
        if incident.incidentTypes is not None:
            data["incident_type_ids"] = [{"id": type_id} for type_id in incident.incidentTypes]
        if incident.severityCode:
            data["severity_code"] = {"id": incident.severityCode}
        if isinstance(incident.additionalFields, dict):
            placed = creation_fields(await self.fields(), incident.additionalFields)
            properties = placed.pop("properties", UNDEFINED)
            data.update(placed)
            if truthy(properties):
                data["properties"] = properties
        return data

    async def update(self, incident_id: str, incident: Incident) -> PushedIncident:
        """The incident and the org's fields read, then the changes from the one to the new values
        (Kibana's ``formatUpdateRequest``), then the incident read again for its modification date."""
        what = f"Unable to update incident with id {incident_id}"
        try:
            current = await self.get_incident(incident_id)
            changes = update_changes(current, _given(incident), await self.fields())
            url = f"{self.org_url}/incidents/{incident_id}"
            patched = await self._call(
                what, "PATCH", url, RATE_LIMITED, changes, check=partial(object_problem, keys=PATCHED)
            )
            if not patched["success"]:
                message = js_str(patched.get("message", UNDEFINED))
                raise RefusedValue(f"Error while updating incident: {message}")
            updated = await self.get_incident(incident_id)
        except ConnectorError as exc:
            if exc.message.startswith(f"[Action][{NAME}]: {what}."):
                raise
            raise ResilientError(what, exc.message, exc.status, exc.retry_after) from None
        except RefusedValue as exc:
            raise ResilientError(what, str(exc)) from None
        return self._pushed(what, updated, updated["inc_last_modified_date"])

    def _pushed(self, what: str, incident: dict[str, Any], date: Any) -> PushedIncident:
        incident_id = js_str(incident["id"])
        try:
            pushed_date = iso_of_ms(date)
        except RefusedValue as exc:
            raise ResilientError(what, str(exc)) from None
        return PushedIncident(incident_id, incident_id, self.view_url(incident_id), pushed_date)

    async def comment(self, incident_id: str, comment_id: str, text: str, pushed_date: str) -> PushedComment:
        """A comment as plain text; Kibana dates it with the incident's push."""
        answer = await self._call(
            f"Unable to create comment at incident with id {incident_id}",
            "POST",
            f"{self.org_url}/incidents/{incident_id}/comments",
            RATE_LIMITED,
            {"text": {"format": "text", "content": text}},
            check=partial(object_problem, keys=()),
        )
        external_id = answer.get("id")
        return PushedComment(comment_id, pushed_date, None if external_id is None else js_str(external_id))


def _given(incident: Incident) -> dict[str, Any]:
    """The incident's values that are set (Kibana's ``omitBy(isNil)``: a null would empty the field)."""
    values = msgspec.structs.asdict(incident)
    return {key: value for key, value in values.items() if value is not None and key != "externalId"}
