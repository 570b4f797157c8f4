"""Kibana's ServiceNow connector structs: config, secrets, case connector fields, sub-action params."""

from typing import Any

import msgspec

from casepush.connectors import CommentParam

#: Kibana's ``MAX_ADDITIONAL_FIELDS_LENGTH``.
MAX_ADDITIONAL_FIELDS = 20
#: Kibana's ``DEFAULT_ALERTS_GROUPING_KEY``: the correlation id of a push that names none.
DEFAULT_CORRELATION_ID = "{{rule.id}}:{{alert.id}}"


class ServiceNowConfig(msgspec.Struct, forbid_unknown_fields=True):
    """``usesTableApi`` defaults to false (Kibana's UI default for new connectors; its schema says true
    and calls such connectors deprecated)."""

    apiUrl: str
    usesTableApi: bool = False
    isOAuth: bool = False
    userIdentifierValue: str | None = None
    clientId: str | None = None
    jwtKeyId: str | None = None


class ServiceNowSecrets(msgspec.Struct, forbid_unknown_fields=True):
    username: str | None = None
    password: str | None = None
    clientSecret: str | None = None
    privateKey: str | None = None
    privateKeyPassword: str | None = None


class ItsmFields(msgspec.Struct, forbid_unknown_fields=True):
    """The ``connector.fields`` of a case pushed to ServiceNow ITSM (``additionalFields``: a JSON object
    as a string)."""

    impact: str | None = None
    severity: str | None = None
    urgency: str | None = None
    category: str | None = None
    subcategory: str | None = None
    additionalFields: str | None = None


class SirFields(msgspec.Struct, forbid_unknown_fields=True):
    """The ``connector.fields`` of a case pushed to ServiceNow SecOps: the booleans choose which alert
    fields become observables."""

    category: str | None = None
    subcategory: str | None = None
    priority: str | None = None
    destIp: bool | None = None
    sourceIp: bool | None = None
    malwareHash: bool | None = None
    malwareUrl: bool | None = None
    additionalFields: str | None = None


class Incident(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Kibana's ``CommonAttributes``; ``additional_fields`` may be a JSON string (Kibana's ``Coerced``)."""

    short_description: str
    description: str | None = None
    externalId: str | None = None
    category: str | None = None
    subcategory: str | None = None
    correlation_id: str | None = DEFAULT_CORRELATION_ID
    correlation_display: str | None = None
    additional_fields: dict[str, Any] | str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.additional_fields, str):
            try:
                self.additional_fields = msgspec.json.decode(self.additional_fields)
            except msgspec.DecodeError:
                raise ValueError("additional_fields must be a JSON object") from None
            if not isinstance(self.additional_fields, dict):
                raise ValueError("additional_fields must be a JSON object")
        if self.additional_fields is None:
            return
        if len(self.additional_fields) > MAX_ADDITIONAL_FIELDS:
            raise ValueError(
                f"A maximum of {MAX_ADDITIONAL_FIELDS} fields in additional_fields can be defined at a time."
            )
        clashing = [key for key in self.additional_fields if key in Incident.__struct_fields__]
        if clashing:
            raise ValueError(
                f"The following properties cannot be defined inside additional_fields: {', '.join(clashing)}."
            )


class ItsmIncident(Incident, kw_only=True):
    severity: str | None = None
    urgency: str | None = None
    impact: str | None = None


#: SIR observables: one string (separated by spaces, commas, pipes, tabs or newlines) or a list.
Observables = str | list[str] | None


class SirIncident(Incident, kw_only=True):
    dest_ip: Observables = None
    source_ip: Observables = None
    malware_hash: Observables = None
    malware_url: Observables = None
    priority: str | None = None


class ItsmPush(msgspec.Struct, forbid_unknown_fields=True):
    incident: ItsmIncident
    comments: list[CommentParam] | None = None


class SirPush(msgspec.Struct, forbid_unknown_fields=True):
    incident: SirIncident
    comments: list[CommentParam] | None = None


class GetIncident(msgspec.Struct, forbid_unknown_fields=True):
    externalId: str


class GetChoices(msgspec.Struct, forbid_unknown_fields=True):
    fields: list[str]


class CloseTarget(msgspec.Struct, forbid_unknown_fields=True):
    externalId: str | None = None
    correlation_id: str | None = DEFAULT_CORRELATION_ID


class CloseIncident(msgspec.Struct, forbid_unknown_fields=True):
    incident: CloseTarget


class Nothing(msgspec.Struct, forbid_unknown_fields=True):
    """``handshake`` takes no params."""


class Anything(msgspec.Struct):
    """``getFields`` takes any object and ignores it, as Kibana's ``z.record(z.string(), z.unknown())``."""
