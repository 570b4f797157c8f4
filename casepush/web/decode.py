"""Request bodies and query strings into msgspec structs, with Kibana's (io-ts) 400 messages."""

import re
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from casepush.domain.validation import UNDEFINED, invalid_value
from casepush.errors import bad_request

T = TypeVar("T")

_json_decoder = msgspec.json.Decoder()
_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<key>[^`]*)`")
_MISSING = re.compile(r"^Object missing required field `(?P<key>[^`]*)`")
_PATH_PART = re.compile(r"\.(?P<key>[A-Za-z_$][\w$-]*)|\[(?P<index>\d+)\]|\[(?P<quoted>'[^']*'|\"[^\"]*\")\]")


async def body(request: web.Request, type_: type[T]) -> T:
    """The JSON body as ``type_``: bad JSON and wrong fields become Kibana's 400s."""
    raw = await request.read()
    try:
        document = _json_decoder.decode(raw)
    except msgspec.DecodeError:
        raise bad_request("Invalid request payload JSON format") from None
    return convert(document, type_)


def query(request: web.Request, type_: type[T]) -> T:
    """Query parameters as ``type_``: repeated keys make lists, numbers are parsed from text."""
    raw: dict[str, Any] = {}
    for key in request.query:
        values = request.query.getall(key)
        raw[key] = values if len(values) > 1 else values[0]
    return convert(raw, type_, strict=False)


def convert(document: Any, type_: type[T], strict: bool = True) -> T:
    try:
        return msgspec.convert(document, type_, strict=strict)
    except msgspec.ValidationError as exc:
        raise bad_request(kibana_message(str(exc), document)) from None


def kibana_message(error: str, document: Any) -> str:
    """Rephrase a msgspec error as io-ts ``formatErrors`` would: the value and its field names."""
    at = _AT.search(error)
    path = _parse_path(at.group("path")) if at else []
    detail = error[: at.start()] if at else error
    if unknown := _UNKNOWN.match(detail):
        return f'invalid keys "{unknown.group("key")}"'
    if missing := _MISSING.match(detail):
        path.append(missing.group("key"))
    value = _lookup(document, path)
    keys = ",".join(str(p) for p in path if isinstance(p, str))
    return invalid_value(value, keys)


def _parse_path(text: str) -> list[str | int]:
    parts: list[str | int] = []
    for match in _PATH_PART.finditer(text):
        if match.group("key") is not None:
            parts.append(match.group("key"))
        elif match.group("index") is not None:
            parts.append(int(match.group("index")))
        else:
            parts.append(match.group("quoted")[1:-1])
    return parts


def _lookup(document: Any, path: list[str | int]) -> Any:
    for part in path:
        try:
            document = document[part]
        except (KeyError, IndexError, TypeError):
            return UNDEFINED
    return document
