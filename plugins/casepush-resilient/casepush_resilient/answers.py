"""What Kibana's IBM Resilient connector requires of Resilient's answers (its response schemas), and its
``Response validation failed (...)`` message when an answer falls short, worded as ``@kbn/config-schema``
words it: ``[id]: expected value of type [number] but got [undefined]``."""

from dataclasses import dataclass
from typing import Any

from casepush_resilient.js import UNDEFINED, is_number, js_number


@dataclass(frozen=True)
class Key:
    """A key an answer must have: its type (``number`` also takes a string that reads as one, as
    Kibana's ``coerce.number()``), whether it may be null or left out, and, for an array of objects,
    the keys of each."""

    name: str
    kind: str
    optional: bool = False
    items: tuple["Key", ...] = ()


def _type_name(value: Any) -> str:
    if value is UNDEFINED or value is None:
        return "undefined" if value is UNDEFINED else "null"
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    return "Array" if isinstance(value, list) else "Object"


def _fits(kind: str, value: Any) -> bool:
    if kind == "number":
        return not isinstance(value, bool) and js_number(value) is not None
    if kind == "number|string":
        return isinstance(value, str) or _fits("number", value)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    return isinstance(value, list)


def object_problem(value: Any, keys: tuple[Key, ...], path: str = "") -> str | None:
    """What an object answer lacks, or None when it fits."""
    if not isinstance(value, dict):
        where = f"[{path}]: " if path else ""
        return f"{where}expected a plain object value, but found [{_type_name(value)}] instead."
    for key in keys:
        where = f"{path}.{key.name}" if path else key.name
        problem = _key_problem(value.get(key.name, UNDEFINED), key, where)
        if problem:
            return problem
    return None


def array_problem(value: Any, keys: tuple[Key, ...], path: str = "") -> str | None:
    """What an array answer (of objects with ``keys``) lacks, or None when it fits."""
    if not isinstance(value, list):
        where = f"[{path}]: " if path else ""
        return f"{where}expected value of type [array] but got [{_type_name(value)}]"
    for index, item in enumerate(value):
        problem = object_problem(item, keys, f"{path}.{index}" if path else str(index))
        if problem:
            return problem
    return None


def _key_problem(value: Any, key: Key, path: str) -> str | None:
    if key.optional and (value is None or value is UNDEFINED):
        return None
    if key.items:
        return array_problem(value, key.items, path)
    if not _fits(key.kind, value):
        return f"[{path}]: expected value of type [{key.kind.split('|')[0]}] but got [{_type_name(value)}]"
    return None


#: ``POST .../incidents``: the incident made.
CREATED = (Key("id", "number"), Key("create_date", "number"))
#: ``GET .../incidents/{id}``: the incident.
INCIDENT = (Key("id", "number"), Key("inc_last_modified_date", "number"))
#: ``PATCH .../incidents/{id}``: whether the changes were made.
PATCHED = (Key("success", "boolean"), Key("message", "string", optional=True))
#: ``GET .../types/incident/fields/{name}``: a choice field's values.
CHOICES = (Key("values", "array", items=(Key("value", "number"), Key("label", "string"))),)
_VALUE = (
    Key("value", "number|string"),
    Key("label", "string"),
    Key("enabled", "boolean"),
    Key("hidden", "boolean"),
    Key("default", "boolean"),
)
#: ``GET .../types/incident/fields``: each field's definition.
FIELD = (
    Key("input_type", "string"),
    Key("name", "string"),
    Key("read_only", "boolean"),
    Key("required", "string", optional=True),
    Key("text", "string"),
    Key("prefix", "string", optional=True),
    Key("values", "array", optional=True, items=_VALUE),
)
