"""What Kibana sends of an incident's fields, by the field definitions of the Resilient org
(``GET /rest/orgs/{orgId}/types/incident/fields``): the additional fields of a create, placed at the top
or under their ``prefix`` (``properties`` for custom fields), and the ``changes`` of an update, each
field's old and new value shaped by its ``input_type``. Choices are checked against the field's values."""

import json
from typing import Any

from casepush_resilient.js import UNDEFINED, is_number, js_str, same_value, truthy

#: The incident's own names in Kibana's params, and the Resilient fields they are.
FIELD_NAMES = {"incidentTypes": "incident_type_ids", "severityCode": "severity_code"}
#: The input types whose value is given as it is (a textarea's object included).
PLAIN_INPUTS = frozenset(
    {"multiselect", "select", "datetimepicker", "datepicker", "boolean", "number", "text"}
)

Field = dict[str, Any]


class RefusedValue(Exception):
    """A value the field definitions rule out, in Kibana's words."""


def by_name(fields: list[Field]) -> dict[str, Field]:
    return {field["name"]: field for field in fields}


def check_choices(field: Field, given: list[Any]) -> None:
    """Kibana's ``validateValues``: a choice field takes only the values it offers."""
    options = field.get("values")
    if not isinstance(options, list):
        return
    offered = [option.get("value", UNDEFINED) for option in options]
    if all(any(same_value(value, choice) for value in offered) for choice in given):
        return
    accepted = ",".join(
        f'{js_str(option.get("value"))} (for "{js_str(option.get("label"))}")' for option in options
    )
    raise RefusedValue(
        f"Invalid values provided to {field['name']}: {json.dumps(given, indent=2, ensure_ascii=False)}."
        f" Accepted values: {accepted}"
    )


def value_shape(field: Field, value: Any, old: Any = UNDEFINED) -> Any:
    """How Resilient takes a value of this field in a change (Kibana's ``getValueFieldShape``)."""
    kind = field.get("input_type")
    empty = value is None or value is UNDEFINED
    if kind == "textarea":
        return {"textarea": None} if empty else {"textarea": _text_area(value, old)}
    if kind in ("multiselect", "select"):
        if empty:
            return {}
        choices = value if isinstance(value, list) else [value]
        check_choices(field, choices)
        return {"ids": list(choices)} if kind == "multiselect" else {"id": value}
    if kind in ("datetimepicker", "datepicker"):
        return {"date": value} if is_number(value) else {}
    if kind == "boolean":
        return {"boolean": value} if isinstance(value, bool) else {}
    if kind == "number":
        return {"object": value} if is_number(value) else {}
    if kind == "text":
        return {"text": value} if isinstance(value, str) else {}
    return {}


def _text_area(value: Any, old: Any) -> dict[str, Any]:
    """A text area's ``{format, content}``: as given, or the text in the old value's format (``text``
    when the old value has none)."""
    if isinstance(value, dict) and "format" in value and "content" in value:
        return dict(value)
    old_format = old["format"] if isinstance(old, dict) and "format" in old else "text"
    return {"format": old_format, "content": value}


def _old_value(field: Field, value: Any) -> Any:
    """Kibana's ``getValueFromOldField``: the incident's value, for the input types it knows."""
    kind = field.get("input_type")
    if kind == "textarea":
        return None if value is None or value is UNDEFINED else value
    return value if kind in PLAIN_INPUTS else None


def update_changes(old: dict[str, Any], new: dict[str, Any], fields: list[Field]) -> dict[str, Any]:
    """Kibana's ``formatUpdateRequest``: one change per field given (additional fields first, then the
    incident's own), from the incident's current value to the new one; null values were left out."""
    own = {key: value for key, value in new.items() if key != "additionalFields"}
    updates = {**(new.get("additionalFields") or {}), **own}
    definitions = by_name(fields)
    changes = []
    for key in updates:
        name = FIELD_NAMES.get(key, key)
        field = definitions.get(name)
        if field is None:
            raise RefusedValue(f"No metadata found for field {name}")
        current = _current_value(old, field, name, key)
        value = updates[name] if truthy(updates.get(name, UNDEFINED)) else updates.get(key, UNDEFINED)
        changes.append(
            {
                "field": {"name": name},
                "old_value": value_shape(field, _old_value(field, current)),
                "new_value": value_shape(field, value, current),
            }
        )
    return {"changes": changes}


def _current_value(old: dict[str, Any], field: Field, name: str, key: str) -> Any:
    """The incident's value of a field: at its name (or Kibana's name of it), or under its prefix."""
    prefix = field.get("prefix")
    if truthy(prefix):
        container = old.get(prefix, UNDEFINED)
        if not truthy(container):
            return None
        return container.get(key, UNDEFINED) if isinstance(container, dict) else UNDEFINED
    by_field = old.get(name, UNDEFINED)
    return by_field if truthy(by_field) else old.get(key, UNDEFINED)


def creation_fields(fields: list[Field], additional: dict[str, Any]) -> dict[str, Any]:
    """Kibana's ``prepareAdditionalFieldsForCreation``: the additional fields (those given under
    ``properties`` too) each at the top of the incident or under its field's prefix; choices checked."""
    nested = additional.get("properties", UNDEFINED)
    flattened = {**_spread(nested), **{k: v for k, v in additional.items() if k != "properties"}}
    definitions = by_name(fields)
    data: dict[str, Any] = {}
    for key, value in flattened.items():
        field = definitions.get(key)
        if field is not None and field.get("input_type") in ("select", "multiselect"):
            check_choices(field, value if isinstance(value, list) else [value])
        prefix = field.get("prefix") if field is not None else None
        if truthy(prefix):
            if not isinstance(data.get(prefix), dict):
                data[prefix] = {}
            data[prefix][key] = value
        else:
            data[key] = value
    return data


def _spread(value: Any) -> dict[str, Any]:
    """``{...value}``: an object's keys, a string's or an array's items by index; nothing of the rest."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str | list):
        return {str(index): item for index, item in enumerate(value)}
    return {}
