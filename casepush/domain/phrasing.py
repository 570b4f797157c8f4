"""msgspec's validation errors in Kibana's words.

Kibana validates the Cases API with io-ts and its other APIs (spaces, roles, connectors) with
``@kbn/config-schema``, and Elasticsearch's security API has its own parsers; each phrases a bad
field its own way, so each has a formatter here.
"""

import re
import types
import typing
from collections.abc import Callable
from typing import Any

import msgspec

from casepush.domain.validation import UNDEFINED, invalid_value

_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<key>[^`]*)`")
_TYPE_ERROR = re.compile(r"^(Expected `|Invalid enum value)")
_MISSING = re.compile(r"^Object missing required field `(?P<key>[^`]*)`")
_PATH_PART = re.compile(r"\.(?P<key>[A-Za-z_$][\w$-]*)|\[(?P<index>\d+)\]|\[(?P<quoted>'[^']*'|\"[^\"]*\")\]")


#: ``(msgspec error, document, target type) -> Kibana message``
Phrasing = Callable[[str, Any, Any], str]


def _located(error: str) -> tuple[str, list[str | int]]:
    """The error without its `` - at `$...` `` suffix, and the path it names (with a missing key)."""
    at = _AT.search(error)
    path = _parse_path(at.group("path")) if at else []
    detail = error[: at.start()] if at else error
    if missing := _MISSING.match(detail):
        path.append(missing.group("key"))
    return detail, path


def kibana_message(error: str, document: Any, type_: Any = None) -> str:
    """Rephrase a msgspec error as io-ts ``formatErrors`` would: the value and its field names."""
    detail, path = _located(error)
    if unknown := _UNKNOWN.match(detail):
        return f'invalid keys "{unknown.group("key")}"'
    keys = ",".join(str(p) for p in path if isinstance(p, str))
    return invalid_value(_lookup(document, path), keys)


def config_schema_message(where: str) -> Phrasing:
    """Rephrase a msgspec error as ``@kbn/config-schema`` does, prefixed ``[request body.<field>]``."""

    def phrase(error: str, document: Any, type_: Any) -> str:
        detail, path = _located(error)
        if unknown := _UNKNOWN.match(detail):
            path.append(unknown.group("key"))
            return f"[{_dotted(where, path)}]: definition for this key is missing"
        if not _TYPE_ERROR.match(detail) and not _MISSING.match(detail):
            # A struct's own check (its ``__post_init__``) words its message itself.
            return f"[{_dotted(where, path)}]: {detail}"
        expected = _type_at(type_, path)
        if typing.get_origin(expected) is typing.Literal:
            return f"[{_dotted(where, path)}]: types that failed validation:\n" + "\n".join(
                f"- [{_dotted(where, [*path, i])}]: expected value to equal [{value}]"
                for i, value in enumerate(typing.get_args(expected))
            )
        actual = js_type(_lookup(document, path))
        return (
            f"[{_dotted(where, path)}]: expected value of type [{_schema_type(expected)}] but got [{actual}]"
        )

    return phrase


def elasticsearch_message(request_name: str) -> Phrasing:
    """Rephrase a msgspec error as Elasticsearch's request parsers do (its ``parse_exception`` reason)."""

    def phrase(error: str, document: Any, type_: Any) -> str:
        detail, path = _located(error)
        if unknown := _UNKNOWN.match(detail):
            return f"failed to parse {request_name}. unexpected field [{unknown.group('key')}]"
        expected = _schema_type(_type_at(type_, path))
        field = ".".join(map(str, path))
        return f"failed to parse {request_name}. expected field [{field}] to be of type {expected}"

    return phrase


def _dotted(where: str, path: list[str | int]) -> str:
    return ".".join([where, *map(str, path)] if where else map(str, path))


def _type_at(hint: Any, path: list[str | int]) -> Any:
    """The declared type of the field a path names (Literal values keep their declared order)."""
    for part in path:
        hint = _without_none(hint)
        if isinstance(hint, type) and issubclass(hint, msgspec.Struct):
            names = {f.encode_name: f.name for f in msgspec.structs.fields(hint)}
            hint = typing.get_type_hints(hint).get(names.get(str(part), ""))
        elif typing.get_origin(hint) in (list, dict):
            hint = typing.get_args(hint)[-1]
    return _without_none(hint)


def _without_none(hint: Any) -> Any:
    """``X | None`` and ``X | UnsetType`` as ``X``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        kept = [a for a in typing.get_args(hint) if a not in (type(None), msgspec.UnsetType)]
        return kept[0] if len(kept) == 1 else hint
    return hint


_SCHEMA_TYPES = {str: "string", int: "number", float: "number", bool: "boolean", list: "array"}


def _schema_type(hint: Any) -> str:
    return _SCHEMA_TYPES.get(typing.get_origin(hint) or hint, "object")


def js_type(value: Any) -> str:
    """``typeDetect`` as config-schema reports the type it got."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    for python_type, name in ((bool, "boolean"), (str, "string"), (int | float, "number"), (list, "Array")):
        if isinstance(value, python_type):
            return name
    return "Object"


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
