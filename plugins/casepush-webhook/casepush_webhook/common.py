"""What both webhook types share: Kibana's mustache rendering, lodash-style paths into answers, URL
checks, header merging, and Kibana's ``addServiceMessageToError`` wording of failures."""

import re
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import msgspec
import pystache
from multidict import CIMultiDict
from pystache.parser import ParsingError
from yarl import URL

from casepush.connectors import ConnectorError
from casepush.http import HostNotAllowed, OutboundResponse, ensure_url_allowed

#: mustache.js' ``escapeHtml`` (what ``{{x}}`` does in Kibana); ``{{{x}}}`` is not escaped.
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "/": "&#x2F;"}
_ENTITIES |= {"`": "&#x60;", "=": "&#x3D;"}
#: No partials: ``{{> name}}`` must not read template files from disk (mustache.js renders nothing).
_RENDERER = pystache.Renderer(
    escape=lambda text: "".join(_ENTITIES.get(c, c) for c in text), missing_tags="ignore", partials={}
)
_MISSING = object()
_PATH_PART = re.compile(r"[^.\[\]]+")


def render(template: str, context: dict[str, Any]) -> str:
    """Kibana's ``renderMustacheStringNoEscape``: a template it cannot parse renders as an error text
    (which then fails the JSON or URL check that follows)."""
    try:
        return _RENDERER.render(template, context)
    except ParsingError as exc:
        return f'error rendering mustache template "{template}": {exc}'


def now_iso() -> str:
    """A push's date, as JavaScript's ``new Date().toISOString()``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_text(value: Any) -> str:
    """``JSON.stringify``: what the templates get, so that ``{{{case.title}}}`` is a JSON string."""
    return msgspec.json.encode(value).decode()


def lookup(data: Any, path: str) -> Any:
    """lodash's ``get``: a key as is, else a path of ``.`` and ``[i]`` parts; ``MISSING`` when absent."""
    if isinstance(data, dict) and path in data:
        return data[path]
    for part in _PATH_PART.findall(path):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return _MISSING
    return data


def found(value: Any) -> bool:
    """Whether ``lookup`` found the path (``null`` counts, as Kibana checks only for ``undefined``)."""
    return value is not _MISSING


def present(value: Any) -> bool:
    """Whether ``lookup`` found a value other than ``null``."""
    return found(value) and value is not None


def js_string(value: Any) -> str:
    """JavaScript's `` `${value}` ``, how Kibana turns the id and title it read into strings."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ",".join("" if item is None else js_string(item) for item in value)
    return "[object Object]" if isinstance(value, dict) else str(value)


def parses(url: str) -> bool:
    """Whether ``new URL(url)`` accepts it: an absolute URL (templates included)."""
    try:
        return bool(URL(url).scheme)
    except ValueError:
        return False


def _url_problem(url: str, allowed_hosts: tuple[str, ...]) -> str | None:
    """Kibana's ``assertURL`` then ``ensureUriAllowed``, as the text after ``Error: ``."""
    if not parses(url):
        return "Invalid URL"
    parsed = URL(url)
    if not parsed.host:
        return "URL must contain hostname"
    if parsed.scheme not in ("http", "https"):
        return "Invalid protocol"
    try:
        ensure_url_allowed(url, allowed_hosts)
    except HostNotAllowed as exc:
        return f"error configuring connector action: {exc.message}"
    return None


def checked_url(url: str, allowed_hosts: tuple[str, ...], what: str) -> str:
    """Kibana's ``validateAndNormalizeUrl``: a rendered URL must be http(s) and allowed; then one trailing
    ``/`` is dropped and ``//`` collapsed (not after ``:``)."""
    problem = _url_problem(url, allowed_hosts)
    if problem:
        raise Failure(f"Invalid {what}: Error: {problem}")
    return re.sub(r"([^:]/)/+", r"\1", url[:-1] if url.endswith("/") else url)


def checked_json(text: str, what: str) -> str:
    """Kibana's ``validateJson``: a rendered body must parse, though it is sent as rendered."""
    try:
        msgspec.json.decode(text)
    except msgspec.DecodeError:
        raise Failure(f"JSON Error: {what} must be valid JSON") from None
    return text


def merged_headers(*layers: dict[str, str] | None) -> CIMultiDict[str]:
    """Headers of several sources, a later one replacing an earlier one's header whatever its case (so
    secret headers win over config headers)."""
    merged: CIMultiDict[str] = CIMultiDict()
    for layer in layers:
        for name, value in (layer or {}).items():
            merged[name] = value
    return merged


class Failure(Exception):
    """A failed step on its way to Kibana's message; keeps the answer, which each wrapping quotes.

    ``status`` and ``retry_after`` are those of the external answer the step failed on, when there was
    one (also a 2xx answer the step could not use, which ``response`` leaves unquoted, as Kibana does):
    the ``ConnectorError`` carries them, for automatic pushes to tell a failure that may pass from one
    that cannot.
    """

    def __init__(
        self, message: str, response: OutboundResponse | None = None, answer: OutboundResponse | None = None
    ):
        super().__init__(message)
        self.message = message
        self.response = response
        answer = answer or response
        self.status = answer.status if answer else None
        self.retry_after = answer.retry_after if answer else None

    def wrapped(self, connector_name: str, what: str) -> "Failure":
        """Kibana's ``addServiceMessageToError``, which rewrites the error's message in place, so that an
        error wrapped twice (a failed read-back inside a create) quotes the answer twice."""
        data = _axios_data(self.response) if self.response else ""
        quoted = json_text(data) if data else ""
        reason = f"Reason: {_status_text(self.response.status)}" if self.response else ""
        self.message = f"[Action][{connector_name}]: {what}. Error: {self.message}. {quoted} {reason}"
        return self

    def connector_error(self) -> ConnectorError:
        return ConnectorError(self.message, status=self.status, retry_after=self.retry_after)


def http_failure(response: OutboundResponse) -> Failure:
    """axios' error for a status outside 2xx."""
    return Failure(f"Request failed with status code {response.status}", response)


def _axios_data(response: OutboundResponse) -> Any:
    """What axios makes of a body: its JSON, else its text."""
    try:
        return response.json()
    except ValueError:
        return response.text()


def _empty(data: Any) -> bool:
    """lodash's ``isEmpty``: numbers, booleans and null are empty, as are ``""``, ``[]`` and ``{}``."""
    return not data if isinstance(data, str | list | dict) else True


def _status_text(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def checked_answer(response: OutboundResponse, required: tuple[str, ...] = ()) -> Any:
    """Kibana's ``throwDescriptiveErrorIfResponseIsNotValid``: a 2xx answer must be JSON (unless an empty
    204 is all that is needed) holding the ``required`` paths. Returns the parsed answer."""
    if not 200 <= response.status < 300:
        raise http_failure(response)
    data = _axios_data(response) if response.body else ""
    if response.status == 204 and _empty(data) and not required:
        return {}
    where = f"{response.method.lower()} {response.url}"
    content_type = response.headers.get("Content-Type")
    if content_type is None:
        raise Failure(
            f"Missing content type header in {where}. Supported content types: application/json",
            answer=response,
        )
    if "application/json" not in content_type:
        raise Failure(
            f"Unsupported content type: {content_type} in {where}. Supported content types: application/json",
            answer=response,
        )
    if not _empty(data) and isinstance(data, str):
        raise Failure("Response is not a valid JSON", answer=response)
    missing = [path for path in required if not found(lookup(data, path))]
    if missing:
        noun = "fields" if len(missing) > 1 else "field"
        raise Failure(f"Response is missing the expected {noun}: {', '.join(missing)}", answer=response)
    return data


class JsonObject(dict):
    """A JSON object in a template: ``{{{case}}}`` is the whole object's JSON and ``{{{case.title}}}`` its
    member's, so values land in the body as valid JSON (``null`` renders an object that is None)."""

    def __init__(self, value: dict[str, Any] | None, members: dict[str, Any] | None = None):
        members = members if members is not None else (value or {})
        super().__init__({name: template_value(item) for name, item in members.items()})
        self.text = json_text(value)

    def __str__(self) -> str:
        return self.text


def template_value(value: Any) -> Any:
    """A value as templates get it: JSON-encoded, objects also member by member."""
    return JsonObject(value) if isinstance(value, dict) else json_text(value)
