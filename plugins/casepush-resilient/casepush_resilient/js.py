"""JavaScript's ways with values, where Kibana's connector relies on them: ``Number()``, `` `${value}` ``,
``===`` and lodash's type tests. JSON values only (``None`` is ``null``; ``UNDEFINED`` an absent key)."""

import math
import re
from typing import Any, Final, TypeGuard, TypeVar


class _Undefined:
    def __repr__(self) -> str:
        return "undefined"


#: A key absent from a JSON object: JavaScript's ``undefined``.
UNDEFINED: Final = _Undefined()

T = TypeVar("T")

_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def is_number(value: Any) -> bool:
    """lodash's ``isNumber``: a number, not a boolean."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def js_number(value: Any) -> int | float | None:
    """``Number(value)`` for a number or a string, as zod's ``coerce.number()`` takes it: None where
    JavaScript gets ``NaN`` or an infinity. An integral number is an ``int`` (JSON writes it so)."""
    if isinstance(value, str):
        text = value.strip()
        if text and not _DECIMAL.fullmatch(text):
            return None
        value = float(text) if text else 0
    if not is_number(value) or not math.isfinite(value):
        return None
    return int(value) if float(value).is_integer() else value


def js_str(value: Any) -> str:
    """`` `${value}` ``: ``null``, ``true``, ``12`` (not ``12.0``), arrays joined by commas."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ",".join("" if item is None else js_str(item) for item in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def same_value(left: Any, right: Any) -> bool:
    """``left === right`` for JSON scalars: a boolean is never a number, nor a number a string."""
    if is_number(left) and is_number(right):
        return bool(left == right)
    return type(left) is type(right) and not isinstance(left, list | dict) and left == right


def truthy(value: T | None) -> TypeGuard[T]:
    """JavaScript's truthiness: ``0``, ``""``, ``false``, ``null`` and ``undefined`` are false; objects
    and arrays (even empty) are true."""
    if value is UNDEFINED or value is None:
        return False
    if isinstance(value, list | dict):
        return True
    return bool(value)
