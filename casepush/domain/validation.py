"""Kibana's field limits and their messages (``common/schema`` and ``common/constants`` in Cases)."""

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from casepush.errors import KibanaError, bad_request

MAX_TITLE_LENGTH = 160
MAX_DESCRIPTION_LENGTH = 30000
MAX_COMMENT_LENGTH = 30000
MAX_TAGS_PER_CASE = 200
MAX_LENGTH_PER_TAG = 256
MAX_CATEGORY_LENGTH = 50
MAX_ASSIGNEES_PER_CASE = 10
MAX_CUSTOM_FIELDS_PER_CASE = 10
MAX_CUSTOM_FIELD_TEXT_VALUE_LENGTH = 160
MAX_BULK_UPDATE_CASES = 100
MAX_ALERTS_PER_CASE = 1000
MAX_PER_PAGE = 100
MAX_DOCS_PER_PAGE = 10000


#: A missing value, which io-ts shows as ``undefined``.
UNDEFINED = object()


def js_string(value: Any) -> str:
    """What a JavaScript template literal shows for a JSON value."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return msgspec.json.encode(value).decode()
    return str(value)


def invalid_value(value: Any, field: str) -> str:
    """io-ts ``formatErrors`` for a value of the wrong type or shape; ``field`` is comma-joined keys."""
    return f'Invalid value "{js_string(value)}" supplied to "{field}"'


def limited_or_other(check: Callable[[], None], value: Any, field: str) -> None:
    """A field of an io-ts union ``limited | other``: when the limit fails, the other branch failed too,
    and Kibana reports both."""
    try:
        check()
    except KibanaError as exc:
        raise bad_request(f"{exc.message},{invalid_value(value, field)}") from None


def js_length(value: str) -> int:
    """JavaScript's ``length``: UTF-16 code units, so a character beyond the BMP counts twice."""
    return len(value.encode("utf-16-le")) // 2


def limited_string(value: str, field: str, max_length: int, allow_empty: bool = False) -> None:
    """Kibana's ``limitedStringSchema``: not blank (after trimming) and not too long."""
    if not allow_empty and not value.strip():
        raise bad_request(f"The {field} field cannot be an empty string.")
    if js_length(value.strip()) > max_length:  # Kibana measures the trimmed text
        raise bad_request(f"The length of the {field} is too long. The maximum length is {max_length}.")


def limited_array(values: Sequence[object], field: str, max_items: int, min_items: int = 0) -> None:
    """Kibana's ``limitedArraySchema``."""
    if len(values) > max_items:
        raise bad_request(
            f"The length of the field {field} is too long. Array must be of length <= {max_items}."
        )
    if len(values) < min_items:
        raise bad_request(
            f"The length of the field {field} is too short. Array must be of length >= {min_items}."
        )


def tags(values: Sequence[str]) -> None:
    limited_array(values, "tags", MAX_TAGS_PER_CASE)
    for tag in values:
        limited_string(tag, "tag", MAX_LENGTH_PER_TAG)


def paging(page: int, per_page: int) -> None:
    """Kibana refuses pages past the 10,000th document and pages larger than 100; Elasticsearch, a
    negative page size or start (PostgreSQL would fail on them, SQLite ignore them)."""
    if per_page < 0:
        raise bad_request(f"[size] parameter cannot be negative, found [{per_page}]")
    if (start := (page - 1) * per_page) < 0:
        raise bad_request(f"[from] parameter cannot be negative, found [{start}]")
    if per_page > MAX_PER_PAGE:
        raise bad_request(
            f"The provided perPage value is too high. The maximum allowed perPage value is {MAX_PER_PAGE}."
        )
    if max(page, page * per_page) > MAX_DOCS_PER_PAGE:
        raise bad_request(
            "The number of documents is too high. "
            f"Paginating through more than {MAX_DOCS_PER_PAGE} documents is not possible."
        )
