"""Kibana's field limits and their messages (``common/schema`` and ``common/constants`` in Cases)."""

from collections.abc import Sequence

from casepush.errors import bad_request

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
    """Kibana refuses pages past the 10,000th document and pages larger than 100."""
    if per_page > MAX_PER_PAGE:
        raise bad_request(
            f"The provided perPage value is too high. The maximum allowed perPage value is {MAX_PER_PAGE}."
        )
    if max(page, page * per_page) > MAX_DOCS_PER_PAGE:
        raise bad_request(
            "The number of documents is too high. "
            f"Paginating through more than {MAX_DOCS_PER_PAGE} documents is not possible."
        )
