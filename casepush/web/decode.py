"""Request bodies and query strings into msgspec structs, with Kibana's 400 messages (phrased by
``casepush.domain.phrasing``; io-ts's words unless a handler asks for others)."""

from types import UnionType
from typing import Any, TypeVar, overload

import msgspec
from aiohttp import web

from casepush.domain.phrasing import Phrasing, config_schema_message, elasticsearch_message, kibana_message
from casepush.errors import bad_request

__all__ = ["body", "config_schema_message", "convert", "elasticsearch_message", "query"]

T = TypeVar("T")

#: Elasticsearch's exception types for a body that is not JSON, and for one that is, but not of the
#: expected shape (named on its paths only).
UNREADABLE, MALFORMED = "x_content_parse_exception", "parse_exception"

_json_decoder = msgspec.json.Decoder()


@overload
async def body(request: web.Request, type_: type[T], phrasing: Phrasing | None = None) -> T: ...
@overload
async def body(request: web.Request, type_: UnionType, phrasing: Phrasing | None = None) -> Any: ...
async def body(request: web.Request, type_: Any, phrasing: Phrasing | None = None) -> Any:
    """The JSON body as ``type_``: bad JSON and wrong fields become Kibana's 400s."""
    raw = await request.read()
    try:
        document = _json_decoder.decode(raw)
    except msgspec.DecodeError:
        raise bad_request("Invalid request payload JSON format", UNREADABLE) from None
    if b"\\u0000" in raw and _holds_nul(document):
        raise bad_request(NUL_MESSAGE)
    return convert(document, type_, phrasing=phrasing or kibana_message)


#: PostgreSQL cannot store the NUL character; casepush refuses it on every backend alike.
NUL_MESSAGE = "Request may not contain the NUL character (\\u0000)"


def _holds_nul(document: Any) -> bool:
    if isinstance(document, str):
        return "\x00" in document
    if isinstance(document, dict):
        return any(_holds_nul(key) or _holds_nul(value) for key, value in document.items())
    if isinstance(document, list):
        return any(_holds_nul(value) for value in document)
    return False


def query(request: web.Request, type_: type[T], phrasing: Phrasing | None = None) -> T:
    """Query parameters as ``type_``: repeated keys make lists, numbers are parsed from text."""
    raw: dict[str, Any] = {}
    for key in request.query:
        values = request.query.getall(key)
        raw[key] = values if len(values) > 1 else values[0]
    return convert(raw, type_, strict=False, phrasing=phrasing)


def convert(document: Any, type_: type[T], strict: bool = True, phrasing: Phrasing | None = None) -> T:
    try:
        return msgspec.convert(document, type_, strict=strict)
    except msgspec.ValidationError as exc:
        raise bad_request((phrasing or kibana_message)(str(exc), document, type_), MALFORMED) from None
