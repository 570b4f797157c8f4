"""Kibana's IBM Resilient connector structs: config, secrets, case connector fields, sub-action params."""

from typing import Any

import msgspec

from casepush.connectors import CommentParam
from casepush_resilient.js import js_number

#: Kibana's ``MAX_ADDITIONAL_FIELDS_LENGTH``.
MAX_ADDITIONAL_FIELDS = 50
#: What Kibana's ``z.coerce.number()`` takes: a number, or a string that reads as one.
Coercible = int | float | str


class ResilientConfig(msgspec.Struct, forbid_unknown_fields=True):
    apiUrl: str
    orgId: str


class ResilientSecrets(msgspec.Struct, forbid_unknown_fields=True):
    apiKeyId: str
    apiKeySecret: str


class ResilientFields(msgspec.Struct, forbid_unknown_fields=True):
    """The ``connector.fields`` of a case pushed to IBM Resilient, as Kibana's ``ResilientFieldsSchema``:
    ``incidentTypes`` and ``severityCode`` are required (each may be null), ids as strings;
    ``additionalFields`` (a JSON object as a string) may be left out."""

    incidentTypes: list[str] | None
    severityCode: str | None
    additionalFields: str | None = None


class Incident(msgspec.Struct, forbid_unknown_fields=True):
    """Kibana's ``pushToService`` incident: ids coerced to numbers (the case sends them as strings) and
    ``additionalFields`` parsed when it is a JSON string (Kibana's ``Coerced``)."""

    name: str
    description: str | None = None
    externalId: str | None = None
    incidentTypes: list[Coercible] | None = None
    severityCode: Coercible | None = None
    additionalFields: dict[str, Any] | str | None = None

    def __post_init__(self) -> None:
        if self.incidentTypes is not None:
            self.incidentTypes = [_number(value, "incidentTypes") for value in self.incidentTypes]
        if self.severityCode is not None:
            self.severityCode = _number(self.severityCode, "severityCode")
        if isinstance(self.additionalFields, str):
            self.additionalFields = _json_object(self.additionalFields)
        if self.additionalFields is not None:
            _check_additional_fields(self.additionalFields)


def _number(value: Coercible, name: str) -> int | float:
    number = js_number(value)
    if number is None:
        raise ValueError(f"[{name}]: expected value of type [number] but got [string]")
    return number


def _json_object(text: str) -> dict[str, Any]:
    try:
        parsed = msgspec.json.decode(text)
    except msgspec.DecodeError:
        raise ValueError("[additionalFields]: could not parse record value from json input") from None
    if not isinstance(parsed, dict):
        raise ValueError("[additionalFields]: could not parse record value from json input")
    return parsed


def _check_additional_fields(fields: dict[str, Any]) -> None:
    """Kibana's checks of ``additionalFields``: none of the incident's own names, at most 50 keys."""
    clashing = [key for key in fields if key in Incident.__struct_fields__]
    if clashing:
        raise ValueError(
            f"The following properties cannot be defined inside additionalFields: {', '.join(clashing)}."
        )
    if len(fields) > MAX_ADDITIONAL_FIELDS:
        raise ValueError(
            f"A maximum of {MAX_ADDITIONAL_FIELDS} fields in additionalFields can be defined at a time."
        )


class PushToService(msgspec.Struct, forbid_unknown_fields=True):
    incident: Incident
    comments: list[CommentParam] | None = None


class Nothing(msgspec.Struct, forbid_unknown_fields=True):
    """The sub-actions that take no params: ``getFields``, ``incidentTypes``, ``severity``."""
