"""Elasticsearch's conventions on its paths (``/_security/...``), so that its official clients work
unchanged:

- ``X-Elastic-Product: Elasticsearch`` on every answer but a 401 or 403, from which Elasticsearch
  removes it (its ``RestResponse.filterHeaders``); the clients refuse a 2xx answer without it;
- Elasticsearch's error body, ``{"error": {"root_cause": [...], "type", "reason"}, "status"}``, with its
  exception types, and its plain ``{"error": "no handler found ...", "status"}`` for an unknown path
  or method;
- its query parameters: a route's own, and on every route ``pretty``, ``human``, ``error_trace``,
  ``filter_path`` and ``format``; any other is refused in Elasticsearch's words;
- no ``kbn-xsrf``: these paths take only ``Authorization`` header credentials, never the web UI's
  session cookie, so there is no ambient credential a forged cross-site request could use.
"""

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal, TypeVar

import msgspec
from aiohttp import web

from casepush.errors import bad_request
from casepush.types import ElasticsearchCause, ElasticsearchError, ElasticsearchErrorBody
from casepush.web.routing import Handler

T = TypeVar("T", bound=msgspec.Struct)

PREFIX = "/_security"
PRODUCT_HEADER = "X-Elastic-Product"
PRODUCT = "Elasticsearch"

#: The exception type of an error that names none, by status.
KINDS = {
    400: "illegal_argument_exception",
    401: "security_exception",
    403: "security_exception",
    404: "resource_not_found_exception",
    409: "version_conflict_engine_exception",
    429: "security_exception",
}
#: Elasticsearch's type for an error known only by its status (``ElasticsearchStatusException``).
STATUS_KIND = "status_exception"
ILLEGAL_ARGUMENT = KINDS[400]


def is_elasticsearch_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


# --- errors ---------------------------------------------------------------------------------------


def error_body(
    status: int, reason: str, kind: str | None = None, header: dict[str, list[str]] | None = None
) -> ElasticsearchErrorBody:
    """One exception, as Elasticsearch writes it: its own root cause."""
    fields: dict[str, Any] = {"type": kind or KINDS.get(status, STATUS_KIND), "reason": reason}
    if header:
        fields["header"] = {
            name: values[0] if len(values) == 1 else values for name, values in header.items()
        }
    cause = ElasticsearchCause(**fields)
    return ElasticsearchErrorBody(error=ElasticsearchError(root_cause=[cause], **fields), status=status)


def routing_error_body(request: web.BaseRequest, exc: web.HTTPException) -> ElasticsearchErrorBody:
    """What Elasticsearch answers when no handler takes a request: 405 for a known path with another
    method, else 400."""
    where = f"uri [{request.path_qs}] and method [{request.method}]"
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        return ElasticsearchErrorBody(f"Incorrect HTTP method for {where}, allowed: [{allowed}]", 405)
    return ElasticsearchErrorBody(f"no handler found for {where}", 400)


# --- query parameters -----------------------------------------------------------------------------


#: A flag: ``true``, ``false``, or empty (``?pretty``), which Elasticsearch reads as true; decoded, it
#: is always a bool.
Flag = bool | Literal[""]


class ElasticsearchQuery(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The parameters Elasticsearch accepts on every path, which shape the answer."""

    #: Indented JSON.
    pretty: Flag = False
    #: Human-readable duplicates of some fields; none of casepush's answers has such fields.
    human: Flag = False
    #: Elasticsearch adds its stack trace to errors; casepush never shows one.
    error_trace: Flag = False
    #: Comma-separated paths of the fields to keep (``-path``: to drop), as Elasticsearch applies it.
    filter_path: str | None = None
    #: casepush answers JSON only (Elasticsearch also writes YAML, CBOR and Smile).
    format: Literal["json"] = "json"


class RefreshQuery(ElasticsearchQuery):
    """A write's ``refresh``: casepush's writes are visible at once, whatever it says."""

    refresh: Literal["", "true", "false", "wait_for"] = "false"


def query(request: web.Request, type_: type[T]) -> T:
    """The query string as ``type_`` (an ``ElasticsearchQuery``), refusing what Elasticsearch refuses."""
    names = {field.encode_name: field for field in msgspec.structs.fields(type_)}
    if unknown := sorted(set(request.query) - names.keys()):
        candidates = {*names, *request.match_info}
        raise bad_request(unrecognized(request.path, unknown, candidates), ILLEGAL_ARGUMENT)
    # A bare flag (``?pretty``) is true, and the last of repeated values counts, as in Elasticsearch.
    raw: dict[str, Any] = {}
    for name in request.query:
        value = request.query.getall(name)[-1]
        raw[name] = "true" if value == "" and names[name].type == Flag else value
    try:
        return msgspec.convert(raw, type_, strict=False)
    except msgspec.ValidationError as exc:
        found = _FIELD.search(str(exc))
        field = names[found.group(1)] if found else None
        raise bad_request(_bad_value(field, raw), ILLEGAL_ARGUMENT) from None


_FIELD = re.compile(r"at `\$\.(\w+)`")


def _bad_value(field: msgspec.structs.FieldInfo | None, raw: dict[str, Any]) -> str:
    if field is None:
        return "request parameters are malformed"
    value = raw[field.encode_name]
    if field.type == Flag:
        return f"Failed to parse value [{value}] as only [true] or [false] are allowed."
    if field.name == "refresh":
        return f"Unknown value for refresh: [{value}]."
    return f"Failed to parse value [{value}] for parameter [{field.encode_name}]"


def unrecognized(path: str, invalid: Sequence[str], candidates: Iterable[str]) -> str:
    """Elasticsearch's refusal of unknown parameters, with its suggestions of close names."""
    parts = []
    for name in invalid:
        close = sorted(
            (c for c in candidates if _similarity(name, c) > 0.5), key=lambda c: (-_similarity(name, c), c)
        )
        part = f"[{name}]"
        if close:
            part += f" -> did you mean {'any of ' if len(close) > 1 else ''}[{', '.join(close)}]?"
        parts.append(part)
    plural = "s" if len(invalid) > 1 else ""
    return f"request [{path}] contains unrecognized parameter{plural}: {', '.join(parts)}"


def _similarity(a: str, b: str) -> float:
    """1 - the Levenshtein distance over the longer length (Lucene's ``LevenshteinDistance``)."""
    distance = _levenshtein(a, b)
    return 1 - distance / max(len(a), len(b), 1)


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, left in enumerate(a, 1):
        current = [i]
        for j, right in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (left != right)))
        previous = current
    return previous[-1]


# --- answers --------------------------------------------------------------------------------------


#: Set on an error answer: ``filter_path`` leaves errors whole, as Elasticsearch does.
IS_ERROR = web.ResponseKey("elasticsearch_error", bool)


@web.middleware
async def answers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The product header, and ``filter_path`` and ``pretty`` applied to the JSON answer."""
    if not is_elasticsearch_path(request.path):
        return await handler(request)
    response = await handler(request)
    if response.status not in (401, 403):
        response.headers[PRODUCT_HEADER] = PRODUCT
    if (
        isinstance(response, web.Response)
        and response.content_type == "application/json"
        and isinstance(response.body, bytes)
        and response.body
    ):
        filter_path = None if response.get(IS_ERROR) else request.query.get("filter_path")
        pretty = request.query.get("pretty") in ("", "true")
        if filter_path or pretty:
            document = json.loads(response.body)
            if filter_path:
                document = filtered(document, filter_path)
            response.body = _written(document, pretty)
    return response


def _written(document: Any, pretty: bool) -> bytes:
    if not pretty:
        return msgspec.json.encode(document)
    return (json.dumps(document, indent=2, separators=(",", " : "), ensure_ascii=False) + "\n").encode()


# --- filter_path ----------------------------------------------------------------------------------

_NOTHING = object()
Path = tuple[str, ...]


def filtered(document: Any, expression: str) -> Any:
    """The document with only the fields ``expression`` names, as Elasticsearch's ``filter_path``:
    comma-separated dotted paths whose parts may hold ``*`` (any characters) or be ``**`` (any number
    of parts); a path starting with ``-`` drops what it names instead, before the others keep theirs.
    Arrays are looked through; what keeps nothing is left out, and the whole keeping nothing is ``{}``.
    """
    includes: list[Path] = []
    excludes: list[Path] = []
    for raw in expression.split(","):
        raw = raw.strip()
        if raw:
            (excludes if raw.startswith("-") else includes).append(tuple(raw.removeprefix("-").split(".")))
    if excludes:
        document = _pick(document, excludes, keep=False)
    if includes and document is not _NOTHING:
        document = _pick(document, includes, keep=True)
    return {} if document is _NOTHING else document


def _pick(node: Any, paths: list[Path], keep: bool) -> Any:
    """``keep``: only what the paths reach; else all but what they reach."""
    if isinstance(node, list):
        picked = [value for item in node if (value := _pick(item, paths, keep)) is not _NOTHING]
        return picked if picked else _NOTHING
    if not isinstance(node, dict):
        return _NOTHING if keep else node
    result = {}
    for key, value in node.items():
        whole, rest = _step(paths, key)
        if whole:
            if keep:
                result[key] = value
        elif rest:
            if (value := _pick(value, rest, keep)) is not _NOTHING:
                result[key] = value
        elif not keep:
            result[key] = value
    return result if result else _NOTHING


def _step(paths: list[Path], key: str) -> tuple[bool, list[Path]]:
    """Whether a path names ``key`` whole, and the paths that go on below it."""
    whole, rest = False, []
    for path in paths:
        for remaining in _advance(path, key):
            if remaining:
                rest.append(remaining)
            else:
                whole = True
    return whole, rest


def _advance(path: Path, key: str) -> list[Path]:
    head, tail = path[0], path[1:]
    if head == "**":
        # ``**`` takes this key and stays, or takes nothing and lets the next part try the key.
        return [path] + (_advance(tail, key) if tail else [()])
    return [tail] if _matches(head, key) else []


def _matches(pattern: str, key: str) -> bool:
    if "*" not in pattern:
        return pattern == key
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), key, re.DOTALL) is not None
