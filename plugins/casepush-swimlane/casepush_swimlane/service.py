"""Swimlane's REST API as Kibana's connector calls it: the record body, requests, answer checks and error
messages; and, worded the same way, the record search of crash recovery (casepush's own)."""

import email.utils
import math
import re
from datetime import UTC, datetime
from typing import Any

from casepush.connectors import CommentParam, ConnectorError, PushedComment, PushedIncident
from casepush.http import IDEMPOTENT, RATE_LIMITED, OutboundClient, OutboundError, OutboundResponse, Retry
from casepush_swimlane.schema import MAPPED_VALUES, FieldMapping, Incident, Mappings, SwimlaneConfig

NAME = "Swimlane"
NO_COMMENT_FIELD = f"No comment field mapped in {NAME} connector"
#: How many records of the case a crash-recovery search reads (the newest is taken).
SEARCH_PAGE = 10


class _Undefined:
    """JavaScript's ``undefined``: a key the answer does not have."""


UNDEFINED = _Undefined()


class InvalidAnswer(Exception):
    """A 2xx answer Kibana's connector would not accept, with the message Kibana gives."""


def iso(moment: datetime) -> str:
    """JavaScript's ``toISOString``: UTC with milliseconds."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return iso(datetime.now(UTC))


# --- JavaScript's conversions, as Kibana applies them to Swimlane's values ----------------------------

_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_RADIX = {"0x": 16, "0o": 8, "0b": 2}
_INFINITY = re.compile(r"[+-]?Infinity")


def js_number(text: str) -> int | float | None:
    """``isNaN(Number(text)) ? 0 : Number(text)`` as ``JSON.stringify`` writes it: integral numbers
    without a fraction, infinities as null."""
    text = text.strip()
    if not text:
        return 0
    radix = _RADIX.get(text[:2].lower())
    if radix is not None:
        try:
            return int(text[2:], radix)
        except ValueError:
            return 0
    if _INFINITY.fullmatch(text):
        return None
    if not _DECIMAL.fullmatch(text):
        return 0
    number = float(text)
    if math.isinf(number):
        return None
    return int(number) if number.is_integer() and abs(number) < 1e21 else number


#: JavaScript's dates end 8.64e15 milliseconds either side of the epoch.
MAX_DATE_MS = 8.64e15
_ISO = re.compile(
    r"(?P<date>[+-]?\d{4,6}-\d{2}(?:-\d{2})?)"
    r"(?:T(?P<time>\d{2}:\d{2})(?::(?P<seconds>\d{2})(?:\.(?P<fraction>\d+))?)?)?"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})?"
)


def js_date(value: Any) -> str:
    """``new Date(value).toISOString()``: an ISO 8601 (or RFC 2822) string, milliseconds since the epoch,
    or null (the epoch); ``InvalidAnswer("Invalid time value")`` for anything else, as JavaScript throws.
    A time without an offset is read as UTC."""
    moment = _moment(value)
    if moment is None:
        raise InvalidAnswer("Invalid time value")
    return iso(moment)


def _moment(value: Any) -> datetime | None:
    if value is None or isinstance(value, bool | int | float):
        milliseconds = float(value or 0)
        if not abs(milliseconds) <= MAX_DATE_MS:  # NaN and infinities too
            return None
        return datetime.fromtimestamp(milliseconds / 1000, UTC)
    if not isinstance(value, str):
        return None
    match = _ISO.fullmatch(value.strip())
    try:
        if match is None:
            return email.utils.parsedate_to_datetime(value)
        return _iso_moment(match)
    except (TypeError, ValueError, OverflowError):
        return None


def _iso_moment(match: re.Match[str]) -> datetime:
    date = match["date"] if match["date"].count("-") == 2 else f"{match['date']}-01"
    clock = f"{match['time'] or '00:00'}:{match['seconds'] or '00'}.{(match['fraction'] or '0')[:3]:0<3}"
    zone = match["zone"] or "Z"
    return datetime.fromisoformat(f"{date}T{clock}{zone.replace('Z', '+00:00')}")


def js_text(value: Any) -> str:
    """``${value}`` of a JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, list):
        return ",".join("" if item is None else js_text(item) for item in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


# --- answers ------------------------------------------------------------------------------------------


def axios_data(response: OutboundResponse) -> Any:
    """What axios makes of a body: its JSON, or its text when it is not JSON (``""`` when empty)."""
    try:
        return response.json()
    except ValueError:
        return response.text()


def error_reason(data: Any) -> str:
    """Kibana's ``createErrorMessage`` over Swimlane's ``{ErrorCode, Argument}``."""
    if isinstance(data, dict) and data.get("ErrorCode") is not None and data.get("Argument") is not None:
        return f"{js_text(data['Argument'])} ({js_text(data['ErrorCode'])})"
    return "unknown"


def _is_empty(data: Any) -> bool:
    """lodash's ``isEmpty``: numbers, booleans and null are empty, as are ``""``, ``[]`` and ``{}``."""
    return not data if isinstance(data, str | list | dict) else True


def checked(response: OutboundResponse, required: tuple[str, ...]) -> Any:
    """Kibana's ``throwIfResponseIsNotValid`` on a 2xx answer: nothing checked on a 204, else JSON holding
    ``required`` (null values count; the method lower-case, as axios' ``config.method``). Returns the data."""
    data = axios_data(response) if response.body else ""
    if response.status == 204:
        return data
    content_type = response.headers.get("Content-Type", "undefined")
    if "application/json" not in content_type:
        raise InvalidAnswer(
            f"Unsupported content type: {content_type} in {response.method.lower()} {response.url}."
            " Supported content types: application/json"
        )
    if not _is_empty(data) and not isinstance(data, dict | list):
        raise InvalidAnswer("Response is not a valid JSON")
    if data is None and required:
        raise InvalidAnswer(f"Cannot read properties of null (reading '{required[0]}')")
    if isinstance(data, list) or any(_get(data, key) is UNDEFINED for key in required):
        raise InvalidAnswer(f"Response is missing at least one of the expected fields: {','.join(required)}")
    return data


def _get(data: Any, key: str) -> Any:
    return data.get(key, UNDEFINED) if isinstance(data, dict) else UNDEFINED


# --- the record Kibana sends --------------------------------------------------------------------------


def record_body(
    app_id: str, mappings: Mappings, incident: Incident, record_id: str | None = None
) -> dict[str, Any]:
    """Kibana's ``getBodyForEventAction``: each non-empty incident value under the id of the field it is
    mapped to (a number for a ``numeric`` field, 0 when it is none), in the mappings' order."""
    values: dict[str, Any] = {}
    for mapping_name, value_name in MAPPED_VALUES.items():
        mapping: FieldMapping | None = getattr(mappings, mapping_name)
        value = getattr(incident, value_name)
        if mapping is not None and value:
            values[mapping.id] = js_number(value) if mapping.fieldType == "numeric" else value
    return {"applicationId": app_id, **({"id": record_id} if record_id else {}), "values": values}


def failure(
    action: str,
    app_id: str,
    error: str,
    *,
    answer: OutboundResponse | None = None,
    status: int | None = None,
    retryable: bool | None = None,
) -> ConnectorError:
    """Kibana's wording: ``[Action][Swimlane]: Unable to <action> in application with id <appId>. Status:
    <status>. Error: <error>. Reason: <reason>``, where the status and reason are those of Swimlane's error
    answer (500 and ``unknown`` without one). The error carries the status of Swimlane's answer (and its
    ``Retry-After``), or ``status`` and ``retryable`` when the answer was a 2xx Kibana would not take."""
    shown = answer.status if answer is not None else 500
    reason = error_reason(axios_data(answer)) if answer is not None else "unknown"
    message = f"[Action][{NAME}]: Unable to {action} in application with id {app_id}. Status: {shown}."
    message += f" Error: {error}. Reason: {reason}"
    if answer is not None:
        return ConnectorError(message, answer.status, answer.retry_after)
    return ConnectorError(message, status, retryable=retryable)


class SwimlaneService:
    """One connector's calls to Swimlane."""

    def __init__(self, http: OutboundClient, config: SwimlaneConfig, api_token: str):
        self.http = http
        self.app_id = config.appId
        self.mappings = config.mappings
        # Kibana drops one trailing slash, and adds ``/api`` unless the URL ends with ``api`` already.
        self.base = config.apiUrl.removesuffix("/")
        self.api = self.base if self.base.endswith("api") else f"{self.base}/api"
        self.headers = {"Content-Type": "application/json", "Private-Token": api_token}

    def record_url(self, record_id: str) -> str:
        """The record in Swimlane's UI (on the URL as configured, ``/api`` included if it was)."""
        return f"{self.base}/record/{self.app_id}/{record_id}"

    def _records(self, *parts: str) -> str:
        return "/".join([f"{self.api}/app/{self.app_id}/record", *parts])

    async def _call(self, action: str, method: str, url: str, body: Any, retry: Retry) -> OutboundResponse:
        """One call, answered 2xx; its failure worded as Kibana's for ``action``."""
        try:
            response = await self.http.request(method, url, json=body, headers=self.headers, retry=retry)
        except OutboundError as exc:
            raise failure(action, self.app_id, exc.message) from None
        if not 200 <= response.status < 300:
            error = f"Request failed with status code {response.status}"
            raise failure(action, self.app_id, error, answer=response)
        return response

    async def _read(
        self, action: str, method: str, url: str, body: Any, retry: Retry, required: tuple[str, ...]
    ) -> Any:
        """A call whose answer must hold ``required`` (Kibana's checks); returns the answer's data."""
        response = await self._call(action, method, url, body, retry)
        try:
            return checked(response, required)
        except InvalidAnswer as exc:
            raise failure(action, self.app_id, str(exc), status=response.status) from None

    def _pushed(
        self, action: str, data: Any, date_field: str, record_id: str | None = None
    ) -> PushedIncident:
        """Kibana's answer of a create or update: the record's id, its name (tracking id) as title, its URL
        and the date Swimlane gives."""
        try:
            pushed_date = js_date(_get(data, date_field))
        except InvalidAnswer as exc:
            raise failure(action, self.app_id, str(exc), retryable=False) from None
        identifier = record_id if record_id is not None else js_text(_get(data, "id"))
        return PushedIncident(
            id=js_text(_get(data, "id")),
            title=js_text(_get(data, "name")),
            url=self.record_url(identifier),
            pushed_date=pushed_date,
        )

    async def create(self, incident: Incident) -> PushedIncident:
        """Create the record. When it carries no case id to find it by, a failure after which it may exist
        (no answer, a 5xx) is not one to retry unattended: a retry could make a second record."""
        action = "create record"
        body = record_body(self.app_id, self.mappings, incident)
        required = ("id", "name", "createdDate")
        try:
            data = await self._read(action, "POST", self._records(), body, RATE_LIMITED, required)
        except ConnectorError as exc:
            findable = self.mappings.caseIdConfig is not None and bool(incident.caseId)
            if not findable and (exc.status is None or exc.status >= 500):
                exc.retryable = False
            raise
        return self._pushed(action, data, "createdDate")

    async def update(self, record_id: str, incident: Incident) -> PushedIncident:
        action = "update record"
        body = record_body(self.app_id, self.mappings, incident, record_id)
        required = ("id", "name", "modifiedDate")
        data = await self._read(action, "PATCH", self._records(record_id), body, IDEMPOTENT, required)
        return self._pushed(action, data, "modifiedDate", record_id)

    async def comment(self, record_id: str, comment: CommentParam, created_date: str) -> PushedComment:
        """Add the comment to the record's comments field; Swimlane answers no comment id, so none is kept."""
        action = "create comment"
        field = self.mappings.commentsConfig
        if field is None or not field.id:
            raise failure(action, self.app_id, NO_COMMENT_FIELD, retryable=False)
        body = {
            "createdDate": created_date,
            "fieldId": field.id,
            "isRichText": True,
            "message": comment.comment,
        }
        await self._call(action, "POST", self._records(record_id, field.id, "comment"), body, RATE_LIMITED)
        return PushedComment(comment.commentId, created_date)

    # --- crash recovery (casepush's own) ----------------------------------------------------------------

    async def find_case_record(self, case_id: str) -> PushedIncident | None:
        """The newest record whose case id field holds ``case_id`` (Swimlane's record search, ``POST
        /api/search``), read back for its name and date; None when the case id is not mapped or no record
        has it."""
        field = self.mappings.caseIdConfig
        if field is None:
            return None
        action = f"find the record of case {case_id}"
        body = {
            "applicationIds": [self.app_id],
            "filters": [{"fieldId": field.id, "filterType": "equals", "value": case_id}],
            "keywords": "",
            "columns": [],
            "sorts": {},
            "pageSize": SEARCH_PAGE,
            "offset": 0,
        }
        answer = await self._read(action, "POST", f"{self.api}/search", body, IDEMPOTENT, ("results",))
        found = _search_results(answer, self.app_id)
        if not found:
            return None
        newest = max(found, key=_created)
        record_id = js_text(newest["id"])
        required = ("id", "name", "createdDate")
        record = await self._read(action, "GET", self._records(record_id), None, IDEMPOTENT, required)
        return self._pushed(action, record, "createdDate", record_id)


def _search_results(answer: Any, app_id: str) -> list[dict[str, Any]]:
    """The records of the application in a search answer (``{"results": {appId: [records]}}``)."""
    results = answer.get("results") if isinstance(answer, dict) else None
    records = results.get(app_id) if isinstance(results, dict) else None
    return [r for r in records or [] if isinstance(r, dict) and r.get("id") is not None]


def _created(record: dict[str, Any]) -> str:
    try:
        return js_date(record.get("createdDate"))
    except InvalidAnswer:
        return ""
