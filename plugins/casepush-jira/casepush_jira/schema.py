"""Kibana's Jira connector structs: config, secrets, case connector fields, sub-action params; and the
options of pushing a case's status and assignees (casepush's own)."""

from typing import Annotated

import msgspec

from casepush.connectors import CommentParam

#: Kibana's ``MAX_OTHER_FIELDS_LENGTH``.
MAX_OTHER_FIELDS = 20


class JiraConfig(msgspec.Struct, forbid_unknown_fields=True):
    apiUrl: str
    projectKey: str


class JiraSecrets(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    apiToken: str


class JiraFields(msgspec.Struct, forbid_unknown_fields=True):
    """The ``connector.fields`` of a case pushed to Jira (``otherFields`` is a JSON object as a string)."""

    issueType: str | None = None
    priority: str | None = None
    parent: str | None = None
    otherFields: str | None = None


class Incident(msgspec.Struct, forbid_unknown_fields=True):
    summary: str
    description: str | None = None
    externalId: str | None = None
    issueType: str | None = None
    priority: str | None = None
    labels: list[str] | None = None
    parent: str | None = None
    #: Cases sends a JSON string; ``_execute`` callers may send the object.
    otherFields: dict[str, object] | str | None = None

    def __post_init__(self) -> None:
        for label in self.labels or []:
            if any(character.isspace() for character in label):
                raise ValueError(f"The label {label} cannot contain spaces")
        if isinstance(self.otherFields, str):
            try:
                self.otherFields = msgspec.json.decode(self.otherFields)
            except msgspec.DecodeError:
                raise ValueError("otherFields must be a JSON object") from None
            if not isinstance(self.otherFields, dict):
                raise ValueError("otherFields must be a JSON object")
        if self.otherFields is not None:
            if len(self.otherFields) > MAX_OTHER_FIELDS:
                raise ValueError(
                    f"A maximum of {MAX_OTHER_FIELDS} fields in otherFields can be defined at a time."
                )
            clashing = [key for key in self.otherFields if key in self.__struct_fields__]
            if clashing:
                raise ValueError(
                    f"The following properties cannot be defined inside otherFields: {', '.join(clashing)}."
                )


class PushToService(msgspec.Struct, forbid_unknown_fields=True):
    incident: Incident
    comments: list[CommentParam] | None = None


class GetIncident(msgspec.Struct, forbid_unknown_fields=True):
    externalId: str


class Nothing(msgspec.Struct, forbid_unknown_fields=True):
    """Sub-actions that take no params (``handshake``, ``issueTypes``)."""


class FieldsByIssueType(msgspec.Struct, forbid_unknown_fields=True):
    id: str


class Issues(msgspec.Struct, forbid_unknown_fields=True):
    title: str


class Issue(msgspec.Struct, forbid_unknown_fields=True):
    id: str


#: A Jira status name, as the issue shows it (``Done``); matched without regard to case or surrounding spaces.
JiraStatusName = Annotated[str, msgspec.Meta(min_length=1)]
#: The status, or the statuses, that stand for a case status in Jira: the issue is left alone while in any
#: of them, and otherwise moved to the first of them that a transition leads to.
JiraStatuses = JiraStatusName | Annotated[list[JiraStatusName], msgspec.Meta(min_length=1)] | None


class JiraStateOptions(msgspec.Struct, forbid_unknown_fields=True):
    """The Jira status an issue is moved to for each case status, when a connector pushes the status.

    The values name the statuses to reach (a transition's ``to.name``), not the transitions; the
    defaults are the statuses of Jira's default workflow. A list names several statuses that all stand
    for the case status (the first reachable one is taken); ``None`` leaves the issue's status alone
    while the case has that status.
    """

    open: JiraStatuses = "To Do"
    in_progress: JiraStatuses = msgspec.field(default="In Progress", name="in-progress")
    closed: JiraStatuses = "Done"

    def targets(self, case_status: str) -> list[str]:
        """The Jira statuses for a case status (``open``, ``in-progress``, ``closed``), in order of
        preference; none when the status is not to be pushed."""
        statuses = {"open": self.open, "in-progress": self.in_progress, "closed": self.closed}[case_status]
        return [statuses] if isinstance(statuses, str) else list(statuses or [])
