"""Kibana's Swimlane connector structs: config (with its field mappings), secrets, the case's connector
fields and the ``pushToService`` params."""

from typing import Literal

import msgspec

from casepush.connectors import CommentParam


class FieldMapping(msgspec.Struct, forbid_unknown_fields=True):
    """A Swimlane application field an incident value goes to: its ``id`` (the key of the record's
    ``values``), ``key``, ``name`` and ``fieldType`` (``text``, ``numeric``, ``comments``...)."""

    id: str
    key: str
    name: str
    fieldType: str


class Mappings(msgspec.Struct, forbid_unknown_fields=True):
    """Which application field takes each incident value; an unmapped value is not sent. The order is
    Kibana's: when two mappings name the same field, the later one's value wins."""

    ruleNameConfig: FieldMapping | None = None
    alertIdConfig: FieldMapping | None = None
    caseIdConfig: FieldMapping | None = None
    caseNameConfig: FieldMapping | None = None
    commentsConfig: FieldMapping | None = None
    severityConfig: FieldMapping | None = None
    descriptionConfig: FieldMapping | None = None


class SwimlaneConfig(msgspec.Struct, forbid_unknown_fields=True):
    apiUrl: str
    appId: str
    connectorType: Literal["all", "alerts", "cases"]
    mappings: Mappings


class SwimlaneSecrets(msgspec.Struct, forbid_unknown_fields=True):
    apiToken: str


class SwimlaneFields(msgspec.Struct, forbid_unknown_fields=True):
    """The ``connector.fields`` of a case pushed to Swimlane: the value sent as the case id (the case's
    own id when the case has no fields; nothing when ``caseId`` is null, as Kibana)."""

    caseId: str | None


class Incident(msgspec.Struct, forbid_unknown_fields=True):
    alertId: str | None = None
    ruleName: str | None = None
    caseId: str | None = None
    caseName: str | None = None
    severity: str | None = None
    description: str | None = None
    externalId: str | None = None


class PushToService(msgspec.Struct, forbid_unknown_fields=True):
    incident: Incident
    comments: list[CommentParam] | None = None


#: Each mapping and the incident value it takes (``commentsConfig`` takes the comments, one call each).
MAPPED_VALUES = {
    "ruleNameConfig": "ruleName",
    "alertIdConfig": "alertId",
    "caseIdConfig": "caseId",
    "caseNameConfig": "caseName",
    "severityConfig": "severity",
    "descriptionConfig": "description",
}
