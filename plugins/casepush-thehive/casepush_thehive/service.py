"""TheHive 5's API (``/api/v1``) as Kibana's connector calls it: requests, answer checks and the messages of
Kibana's sub-action framework when they fail."""

import json
import re
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from casepush.connectors import ConnectorError, PushedComment, PushedIncident
from casepush.http import IDEMPOTENT, RATE_LIMITED, HostNotAllowed, OutboundClient, OutboundError, Retry
from casepush_thehive.schema import (
    AlertAnswer,
    CaseAnswer,
    CommentAnswer,
    CreateAlert,
    Incident,
    TheHiveConfig,
    TheHiveSecrets,
)

Answer = TypeVar("Answer", bound=msgspec.Struct)

#: What Kibana reports of a call that got no answer (``getResponseErrorMessage`` without a status).
UNKNOWN_API_ERROR = "Unknown API Error"


def iso_of_ms(milliseconds: float) -> str:
    """JavaScript's ``new Date(ms).toISOString()``."""
    moment = datetime.fromtimestamp(milliseconds / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def normalized_url(url: str) -> str:
    """The sub-action framework's ``normalizeURL``: no trailing slash, repeated slashes after the host
    made one."""
    return re.sub(r"([^:]/)/+", r"\1", url.removesuffix("/"))


def api_error(status: int, body: Any) -> str:
    """``Status code: <status>. Message: API Error: <type> - <message>``, as Kibana words TheHive's error
    answer ``{type, message}``; what is missing in it shows as JavaScript's ``undefined``."""
    fields = body if isinstance(body, dict) else {}
    kind, message = (_js(fields.get(key, _UNDEFINED)) for key in ("type", "message"))
    return f"Status code: {status}. Message: API Error: {kind} - {message}"


_UNDEFINED = object()


def _js(value: Any) -> str:
    """A JSON value as a JavaScript template literal shows it."""
    if value is _UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "[object Object]"
    if isinstance(value, list):
        return ",".join("" if item is None else _js(item) for item in value)
    return str(value)


def response_error(body: Any, shape: type[msgspec.Struct]) -> str | None:
    """Kibana's ``Response validation failed (...)`` for an answer its schema refuses (``@kbn/config-schema``
    wording), or None when the answer fits."""
    if not isinstance(body, dict):
        found = f"expected a plain object value, but found [{_kind(body)}] instead."
        return f"Response validation failed (Error: {found})"
    types = {field.encode_name: field.type for field in msgspec.structs.fields(shape)}
    for name, expected in types.items():
        value = body.get(name, _UNDEFINED)
        if not _fits(value, expected):
            return f"Response validation failed (Error: [{name}]: {_expected(expected, value)})"
    return None


def _fits(value: Any, expected: Any) -> bool:
    try:
        msgspec.convert(value, expected)
    except msgspec.ValidationError:
        return False
    return value is not _UNDEFINED


def _expected(expected: Any, value: Any) -> str:
    if expected is dict:
        return f"expected a plain object value, but found [{_kind(value)}] instead."
    name = {str: "string", bool: "boolean"}.get(expected, "number")
    return f"expected value of type [{name}] but got [{_kind(value)}]"


def _kind(value: Any) -> str:
    """The type name ``@kbn/config-schema`` reports (``type-detect``)."""
    if value is _UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "Array" if isinstance(value, list) else "Object"


def alert_body(alert: CreateAlert) -> dict[str, Any]:
    """Kibana's ``createAlert`` body: the params but ``body`` and ``isRuleSeverity``, then ``body``'s JSON
    spread over them (``{...rest, ...JSON.parse(body ?? '{}')}``)."""
    params = msgspec.to_builtins(alert)
    text = params.pop("body")
    params.pop("isRuleSeverity")
    return {**params, **_spread(_parsed(text if text is not None else "{}"))}


def _parsed(text: str) -> Any:
    """``JSON.parse``, refusing what it refuses in words like V8's (the position is Python's parser's)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()):
            message = "Unexpected end of JSON input"
        else:
            shown = text if len(text) <= 30 else text[:10] + "..." + text[-10:]
            message = f"Unexpected token '{text[exc.pos]}', \"{shown}\" is not valid JSON"
        raise ConnectorError(message, retryable=False) from None


def _spread(value: Any) -> dict[str, Any]:
    """What JavaScript's object spread makes of a JSON value: an object's keys, an array's or a string's
    indexes, nothing of the others."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list | str):
        return {str(index): item for index, item in enumerate(value)}
    return {}


class TheHiveService:
    """One connector's calls to TheHive."""

    def __init__(self, http: OutboundClient, config: TheHiveConfig, secrets: TheHiveSecrets):
        self.http = http
        self.url = config.url
        self.base = config.url.removesuffix("/")
        # Kibana's ``getAuthHeaders``: axios leaves out the organisation header when it is null.
        self.headers = {"Authorization": f"Bearer {secrets.apiKey}"}
        if config.organisation is not None:
            self.headers["X-Organisation"] = config.organisation

    def case_url(self, case_id: str) -> str:
        return f"{self.base}/cases/{case_id}/details"

    async def call(self, method: str, path: str, retry: Retry, body: Any = None) -> Any:
        """A call as the sub-action framework makes it (``Content-Type: application/json``, an empty body
        sent as ``{}``); TheHive's refusal becomes Kibana's ``Status code: ... Message: ...``."""
        url = normalized_url(f"{self.url}/api/v1{path}")
        headers = {"Content-Type": "application/json", **self.headers}
        try:
            response = await self.http.request(method, url, json=body, headers=headers, retry=retry)
        except HostNotAllowed as exc:
            raise ConnectorError(
                f"error configuring connector action: {exc.message}", retryable=False
            ) from None
        except OutboundError:
            raise ConnectorError(f"Status code: undefined. Message: {UNKNOWN_API_ERROR}") from None
        if not 200 <= response.status < 300:
            raise ConnectorError(
                api_error(response.status, _json_or_text(response)), response.status, response.retry_after
            )
        return _json_or_text(response) if response.body else None

    async def checked(self, method: str, path: str, retry: Retry, body: Any, shape: type[Answer]) -> Answer:
        """A call whose answer must fit one of Kibana's response schemas."""
        answer = await self.call(method, path, retry, body)
        problem = response_error(answer, shape)
        if problem is not None:
            raise ConnectorError(problem, retryable=False)
        return msgspec.convert(answer, shape)

    async def create_case(self, incident: Incident) -> PushedIncident:
        created = await self.checked("POST", "/case", RATE_LIMITED, _case_body(incident), CaseAnswer)
        return PushedIncident(
            id=created._id,
            title=created.title,
            url=self.case_url(created._id),
            pushed_date=iso_of_ms(created._createdAt),
        )

    async def update_case(self, case_id: str, incident: Incident) -> PushedIncident:
        await self.call("PATCH", f"/case/{case_id}", IDEMPOTENT, _case_body(incident))
        return PushedIncident(
            id=case_id, title=incident.title, url=self.case_url(case_id), pushed_date=now_iso()
        )

    async def comment(self, case_id: str, comment_id: str, text: str, pushed_date: str) -> PushedComment:
        path = f"/case/{case_id}/comment"
        added = await self.checked("POST", path, RATE_LIMITED, {"message": text}, CommentAnswer)
        return PushedComment(comment_id, pushed_date, added._id)

    async def create_alert(self, alert: CreateAlert) -> None:
        await self.checked("POST", "/alert", RATE_LIMITED, alert_body(alert), AlertAnswer)


def _case_body(incident: Incident) -> dict[str, Any]:
    """The incident as Kibana sends it: every field of its schema (null when unset) but ``externalId``."""
    body = msgspec.to_builtins(incident)
    body.pop("externalId")
    return body


def _json_or_text(response: Any) -> Any:
    """What axios makes of an answer: its JSON, or its text when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return response.text()
