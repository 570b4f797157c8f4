"""A case's custom fields checked against its owner's configuration, as Kibana's ``validateCustomFields``."""

from collections import Counter

from casepush.errors import bad_request
from casepush.types import CaseCustomField, CustomFieldConfig

_VALUE_TYPES = {"text": str, "toggle": bool}


def _labels(fields: list[CustomFieldConfig]) -> str:
    return ", ".join(f'"{f.label}"' for f in fields)


def duplicated_keys(keys: list[str], what: str) -> None:
    duplicates = [key for key, count in Counter(keys).items() if count > 1]
    if duplicates:
        raise bad_request(f"Invalid duplicated {what} keys in request: {','.join(duplicates)}")


def validate_custom_fields(
    requested: list[CaseCustomField] | None, configured: list[CustomFieldConfig] | None
) -> None:
    requested = requested or []
    duplicated_keys([f.key for f in requested], "customFields")
    if requested and configured is None:
        raise bad_request("No custom fields configured.")
    configured = configured or []
    by_key = {f.key: f for f in configured}
    unknown = [f.key for f in requested if f.key not in by_key]
    if unknown:
        raise bad_request(f"Invalid custom field keys: {','.join(unknown)}")
    values = {f.key: f for f in requested}
    missing = [f for f in configured if f.required and f.key not in values and _default(f) is None]
    if missing:
        raise bad_request(
            f"Missing required custom fields without default value configured: {_labels(missing)}"
        )
    nulls = [f for f in configured if f.required and f.key in values and values[f.key].value is None]
    if nulls:
        raise bad_request(
            f'Invalid value "null" supplied for the following required custom fields: {_labels(nulls)}'
        )
    wrong = [
        by_key[f.key]
        for f in requested
        if f.type != by_key[f.key].type
        or (f.value is not None and not isinstance(f.value, _VALUE_TYPES[by_key[f.key].type]))
    ]
    if wrong:
        raise bad_request(f"The following custom fields have the wrong type in the request: {_labels(wrong)}")


def _default(field: CustomFieldConfig) -> str | bool | None:
    """The field's default value; None when it has none."""
    return field.defaultValue if isinstance(field.defaultValue, str | bool) else None


def fill_missing(
    requested: list[CaseCustomField], configured: list[CustomFieldConfig] | None
) -> list[CaseCustomField]:
    """Append configured fields the request left out: their default, or null when optional."""
    present = {f.key for f in requested}
    filled = list(requested)
    for field in configured or []:
        if field.key in present:
            continue
        if (default := _default(field)) is not None:
            filled.append(CaseCustomField(key=field.key, type=field.type, value=default))
        elif not field.required:
            filled.append(CaseCustomField(key=field.key, type=field.type, value=None))
    return filled
