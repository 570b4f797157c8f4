"""Kibana's TheHive connector structs: config, secrets, case connector fields, sub-action params; TheHive's
answers as Kibana's connector checks them; and the options of pushing a case's status (casepush's own)."""

import msgspec

from casepush.connectors import CommentParam

#: Kibana's ``z.coerce.number()`` fields take any JSON number (``float`` takes integers too; ``whole``
#: gives them back as integers, so that they are sent as JavaScript would send them).
Number = float


def whole(value: float | None) -> float | None:
    return int(value) if isinstance(value, float) and value.is_integer() else value


class TheHiveConfig(msgspec.Struct, forbid_unknown_fields=True):
    url: str
    organisation: str | None = None


class TheHiveSecrets(msgspec.Struct, forbid_unknown_fields=True):
    apiKey: str


class TheHiveFields(msgspec.Struct, forbid_unknown_fields=True):
    """The ``connector.fields`` of a case pushed to TheHive: Kibana's ``{tlp: number | null}``, the key
    required."""

    tlp: Number | None


class Incident(msgspec.Struct, forbid_unknown_fields=True):
    """The case TheHive is sent (``externalId`` aside): Kibana's ``PushToServiceIncidentSchema``."""

    title: str
    description: str
    externalId: str | None = None
    severity: Number | None = None
    tlp: Number | None = None
    tags: list[str] | None = None

    def __post_init__(self) -> None:
        self.severity, self.tlp = whole(self.severity), whole(self.tlp)


class PushToService(msgspec.Struct, forbid_unknown_fields=True):
    incident: Incident
    comments: list[CommentParam] | None = None


class CreateAlert(msgspec.Struct, forbid_unknown_fields=True):
    """Kibana's ``createAlert`` params; ``body`` is a JSON object merged over the others, ``isRuleSeverity``
    only tells Kibana's rule actions to take the rule's severity and is not sent."""

    title: str
    description: str
    type: str
    source: str
    sourceRef: str
    severity: Number | None = None
    isRuleSeverity: bool | None = False
    tlp: Number | None = None
    tags: list[str] | None = None
    body: str | None = None

    def __post_init__(self) -> None:
        self.severity, self.tlp = whole(self.severity), whole(self.tlp)


# --- TheHive's answers, the fields Kibana's response schemas require -------------------------------------


class CaseAnswer(msgspec.Struct):
    """``TheHiveIncidentResponseSchema``: what a created case (or one read) must carry."""

    _id: str
    _type: str
    _createdBy: str
    _createdAt: Number
    number: Number
    title: str
    description: str
    severity: Number
    severityLabel: str
    startDate: Number
    flag: bool
    tlp: Number
    tlpLabel: str
    pap: Number
    papLabel: str
    status: str
    stage: str
    extraData: dict
    newDate: Number
    timeToDetect: Number


class CommentAnswer(msgspec.Struct):
    """``TheHiveAddCommentResponseSchema``."""

    _id: str
    _type: str
    createdBy: str
    createdAt: Number
    message: str
    isEdited: bool
    extraData: dict


class AlertAnswer(msgspec.Struct):
    """``TheHiveCreateAlertResponseSchema``."""

    _id: str
    _type: str
    _createdBy: str
    _createdAt: Number
    type: str
    source: str
    sourceRef: str
    title: str
    description: str
    severity: Number
    severityLabel: str
    date: Number
    tlp: Number
    tlpLabel: str
    pap: Number
    papLabel: str
    observableCount: Number
    status: str
    stage: str
    extraData: dict
    newDate: Number
    timeToDetect: Number


# --- the case's status in TheHive (casepush's own) -------------------------------------------------------


class TheHiveStateOptions(msgspec.Struct, forbid_unknown_fields=True):
    """The TheHive case status a case's status is pushed as (``None``: left alone). TheHive 5's statuses
    are ``New`` and ``InProgress`` (stages of the same names) and the closing ones, of stage ``Closed``:
    ``TruePositive``, ``FalsePositive``, ``Indeterminate``, ``Other``, ``Duplicated``. Coming back, a
    TheHive case counts by its stage: ``New`` open, ``InProgress`` in progress, ``Closed`` closed."""

    open: str | None = "New"
    in_progress: str | None = msgspec.field(default="InProgress", name="in-progress")
    closed: str | None = "Indeterminate"

    def target(self, case_status: str) -> str | None:
        return {"open": self.open, "in-progress": self.in_progress, "closed": self.closed}[case_status]
