"""What connector plugins work with: the types they register, the connectors and pushes they receive,
and the errors they raise. Plugins import from here and from ``casepush.http``; nothing else of the
core is their API.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from casepush.http import HostNotAllowed, ensure_url_allowed
from casepush.types import Case, ConnectorMapping, UserComment

#: The sub-action every case connector has: create or update an incident, then add comments.
PUSH_TO_SERVICE = "pushToService"
#: Kibana's feature ids a connector type may support.
CASES_FEATURE = "cases"


@dataclass(frozen=True)
class ConnectorType:
    """A kind of external system, as Kibana's connector types describe it.

    ``config`` and ``secrets`` are msgspec structs that validate a connector's settings; ``fields``
    validates the connector fields a case carries (None: the type takes none). ``sub_actions`` maps
    each sub-action of ``_execute`` to the struct of its params; ``pushToService`` among them is run
    through the push hooks, the others through ``execute_sub_action``.
    """

    id: str
    name: str
    config: type[msgspec.Struct]
    secrets: type[msgspec.Struct]
    fields: type[msgspec.Struct] | None = None
    sub_actions: Mapping[str, type[msgspec.Struct]] = field(default_factory=dict)
    supported_feature_ids: tuple[str, ...] = (CASES_FEATURE,)
    minimum_license_required: str = "basic"
    #: Extra checks of a whole connector (beyond its structs), e.g. one field needed with another or URLs
    #: on the allowed list. Called with the decoded config and secrets and the allowed hosts; raises
    #: ``InvalidConnector``.
    validate: Callable[[Any, Any, "ValidationContext"], None] | None = None
    #: What of a case's state, beyond Kibana's push, the type can push when a connector's case sync
    #: settings ask for it: ``"status"``, ``"assignees"`` (``CaseState``).
    pushes_state: frozenset[str] = frozenset()
    #: The options of pushing that state (a status mapping, close codes...), with their defaults; a
    #: connector's case sync settings give them as ``options``. Needed when ``pushes_state`` is not empty.
    state_options: type[msgspec.Struct] | None = None
    #: What of an external incident the type can bring back to its case (two-way sync): ``"status"``,
    #: ``"comments"``, ``"title"``, ``"description"``; through ``parse_inbound`` (webhooks) and
    #: ``fetch_changes`` (polling), whichever the plugin implements.
    pulls: frozenset[str] = frozenset()
    #: How the external system authenticates its calls of the connector's inbound webhook, which the core
    #: checks against the connector's inbound secret before ``parse_inbound`` sees the call:
    #: ``"hub-signature"`` (``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>``, as Jira signs),
    #: ``"bearer"`` (``Authorization: Bearer <secret>``, as a ServiceNow REST message sends it) or
    #: ``"casepush-signature"`` (``X-Casepush-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
    #: "<t>.<raw body>">``, as ``.webhook`` signs what it sends).
    inbound_auth: Literal["hub-signature", "bearer", "casepush-signature"] | None = None
    #: Kibana's mappings of the type (its cases connector's ``getMapping``), which case configurations
    #: that name a connector of the type show as ``mappings``.
    case_mappings: tuple[ConnectorMapping, ...] = ()
    #: Kibana runs the type through its sub-action framework (TheHive, Resilient): there a sub-action the
    #: type does not have, or params that do not fit it, fail the run (``an error occurred while running
    #: the action``, the service message ``Sub action "x" is not registered. ...`` or ``Request
    #: validation failed (...)``) instead of failing the params' validation.
    sub_action_framework: bool = False


def case_mappings(
    title: str, description: str, comments: str, tags: str | None = None
) -> tuple[ConnectorMapping, ...]:
    """A type's ``case_mappings`` as Kibana's cases connectors write them: the external fields that title,
    description (and tags) overwrite, and the one comments are appended to."""
    overwritten = [("title", title), ("description", description)] + ([("tags", tags)] if tags else [])
    return (
        *(ConnectorMapping(source, target, "overwrite") for source, target in overwritten),
        ConnectorMapping("comments", comments, "append"),
    )


@dataclass(frozen=True)
class ValidationContext:
    """What a type's ``validate`` may consult: the hosts connectors may call."""

    allowed_hosts: tuple[str, ...]

    def ensure_allowed(self, url: str, prefix: str) -> None:
        """Refuse a URL whose host is not allowed, as Kibana's config validators do:
        ``InvalidConnector("<prefix>: target url ... is not added to ... allowedHosts")``."""
        try:
            ensure_url_allowed(url, self.allowed_hosts)
        except HostNotAllowed as exc:
            raise InvalidConnector(f"{prefix}: {exc.message}") from None


@dataclass(frozen=True)
class Connector:
    """A configured connector as plugins see it, secrets decrypted into the type's struct."""

    id: str
    name: str
    type: ConnectorType
    config: Any
    secrets: Any


@dataclass(frozen=True)
class PushComment:
    """A comment to add to the external incident (its text already carries "Added by <user>.")."""

    comment_id: str
    comment: str


class CommentParam(msgspec.Struct, forbid_unknown_fields=True):
    """A comment of Kibana's ``pushToService`` params, the same for every connector type."""

    comment: str
    commentId: str


#: The states a case can push: its status and its assignees.
STATUS, ASSIGNEES = "status", "assignees"


@dataclass(frozen=True)
class CaseAssignee:
    """A case's assignee as casepush knows them: the assignee's ``uid`` is a casepush user name; the
    email and full name are the user's, when the user exists and has them."""

    uid: str
    email: str | None = None
    full_name: str | None = None


@dataclass(frozen=True)
class CaseState:
    """What a push carries beyond Kibana's fields when a connector's case sync settings ask for it:
    the case's ``status`` (``open``, ``in-progress``, ``closed``) and its ``assignees``, each None when
    not to be pushed, and the connector's ``options`` (an instance of the type's ``state_options``).
    """

    status: str | None
    assignees: list[CaseAssignee] | None
    options: Any = None


@dataclass(frozen=True)
class CaseForPush:
    """What ``transform_case`` turns into the external system's fields.

    ``description`` already ends with Kibana's "Added by <user>." (and the case URL when a public
    base URL is set); ``comments`` are those new since the last push, with the alerts summed up in
    one; ``external_id`` is None on the first push to this connector. ``new_comments`` are the same
    user comments as the API returns them, and ``alerts_count`` counts every attached alert, for types
    that send the case as it is (such as ``.webhook``).
    """

    case: Case
    title: str
    description: str
    comments: list[PushComment]
    external_id: str | None
    case_url: str | None = None
    new_comments: list[UserComment] = field(default_factory=list)
    alerts_count: int = 0
    #: The status and assignees to push too (None: only Kibana's fields), for types that send them with
    #: the case (such as ``.webhook``); the others get them through the ``push_case_state`` hook.
    state: CaseState | None = None

    def comment_params(self) -> list[CommentParam]:
        """``comments`` as Kibana's ``pushToService`` params carry them."""
        return [CommentParam(comment=c.comment, commentId=c.comment_id) for c in self.comments]


@dataclass(frozen=True)
class PushedComment:
    comment_id: str
    pushed_date: str
    #: The comment's id in the external system, when known: two-way sync never brings it back.
    external_id: str | None = None


@dataclass(frozen=True)
class PushedIncident:
    """What a push made or changed: Kibana's ``{id, title, url, pushedDate, comments}``."""

    id: str
    title: str
    url: str
    pushed_date: str
    comments: list[PushedComment] = field(default_factory=list)


# --- two-way sync --------------------------------------------------------------------------------------

#: What an external incident can bring back to its case.
COMMENTS, TITLE, DESCRIPTION = "comments", "title", "description"


@dataclass(frozen=True)
class ExternalComment:
    """A comment of the external incident: its external ``id``, its text, who wrote it (their name in
    the external system) and when (ISO 8601 in UTC); ``updated_at`` when it was edited."""

    id: str
    body: str
    author: str
    created_at: str
    updated_at: str | None = None


@dataclass(frozen=True)
class ExternalChange:
    """One change of an external incident, as a webhook reports it or a poll finds it.

    ``incident_id`` is the incident's id as the push recorded it (``external_service.external_id``).
    ``change_id`` identifies the change itself, stably: the same change reported twice (a webhook sent
    again, a poll overlapping a webhook) has the same id, and is applied once. ``at`` is when it was made
    in the external system (ISO 8601 in UTC) and ``author`` who made it (a name), for the case's user
    actions. ``by_integration`` marks a change made with the connector's own credentials (casepush's
    pushes coming back): it is never applied.

    A change carries one of: ``status`` (the case status the external state maps to, by the
    connector's status mapping; ``external_status`` is the external one, shown), ``title``,
    ``description``, or ``comment`` (created or edited).
    """

    incident_id: str
    change_id: str
    at: str
    author: str | None = None
    by_integration: bool = False
    status: str | None = None
    external_status: str | None = None
    title: str | None = None
    description: str | None = None
    comment: ExternalComment | None = None


@dataclass(frozen=True)
class InboundCall:
    """A call of a connector's inbound webhook, its authentication checked: its headers and raw body."""

    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Inbound:
    """What an inbound call reports: its changes, and when the external system sent it (ISO 8601 in UTC,
    None when the call does not say), by which the core refuses a call replayed long after."""

    changes: list[ExternalChange]
    sent_at: str | None = None


@dataclass(frozen=True)
class Changes:
    """What a poll found: the changes, and the cursor the next poll starts from (opaque to the core)."""

    changes: list[ExternalChange]
    cursor: str | None


class InboundRefused(Exception):
    """An inbound call that is not what the external system sends (a 400 with ``message``)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ConnectorError(Exception):
    """A call to the external system failed; ``message`` is shown to the user as is, in Kibana's words
    (``[Action][Jira]: Unable to create incident. Error: ...``).

    ``status`` is the external system's HTTP status, when it answered, and ``retry_after`` the seconds
    it asked to wait (``OutboundResponse.retry_after``). Automatic pushes retry what may pass later
    (``may_pass``: no answer, a 5xx, 408, 409, 425, 429) and stop at once on the other refusals (bad
    credentials, invalid fields), which retrying cannot fix. ``retryable`` says it outright, for failures
    the status does not tell (a setting the plugin finds wrong before any call: ``False``).
    """

    def __init__(
        self,
        message: str,
        status: int | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.retryable = retryable

    @property
    def may_pass(self) -> bool:
        """Whether the same call may pass later."""
        if self.retryable is not None:
            return self.retryable
        return self.status is None or self.status >= 500 or self.status in RETRYABLE_STATUSES


#: External statuses after which the same call may pass later (besides every 5xx).
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})


class InvalidConnector(Exception):
    """A connector's config or secrets are refused; ``message`` says which field and why, ``part``
    which of ``config``, ``secrets`` or ``connector`` (both together) is at fault."""

    def __init__(self, message: str, part: str = "config"):
        super().__init__(message)
        self.message = message
        self.part = part
