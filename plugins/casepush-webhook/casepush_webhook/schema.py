"""The structs of both types: Kibana's ``.cases-webhook`` (``CS/cases_webhook/schemas/v1.ts`` and the
shared auth schema) and casepush's own ``.webhook``, what both push of a case's state beyond Kibana
(its status and assignees), and the document ``.webhook`` takes back (two-way sync)."""

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from casepush.connectors import CommentParam

AuthType = Literal[
    "webhook-authentication-basic",
    "webhook-authentication-ssl",
    "webhook-oauth2-client-credentials",
    "http-authentication-query-param",
]


class CasesWebhookConfig(msgspec.Struct, forbid_unknown_fields=True):
    createIncidentUrl: str
    createIncidentJson: str
    createIncidentResponseKey: str
    getIncidentUrl: str
    getIncidentResponseExternalTitleKey: str
    viewIncidentUrl: str
    updateIncidentUrl: str
    updateIncidentJson: str
    createIncidentMethod: Literal["post", "put"] = "post"
    getIncidentMethod: Literal["get", "post"] = "get"
    getIncidentJson: str | None = None
    updateIncidentMethod: Literal["post", "patch", "put"] = "put"
    createCommentUrl: str | None = None
    createCommentMethod: Literal["post", "put", "patch"] | None = "put"
    createCommentJson: str | None = None
    headers: dict[str, str] | None = None
    hasAuth: bool = True
    authType: AuthType | None = "webhook-authentication-basic"
    certType: Literal["ssl-crt-key", "ssl-pfx"] | None = None
    #: Base64 of PEM CA certificates.
    ca: str | None = None
    verificationMode: Literal["none", "certificate", "full"] | None = None
    accessTokenUrl: str | None = None
    clientId: str | None = None
    scope: str | None = None
    additionalFields: str | None = None


class CasesWebhookSecrets(msgspec.Struct, forbid_unknown_fields=True):
    user: str | None = None
    password: str | None = None
    #: Base64 of a PEM certificate and its PEM key, or of a PKCS#12 bundle (``pfx``).
    crt: str | None = None
    key: str | None = None
    pfx: str | None = None
    clientSecret: str | None = None
    secretHeaders: dict[str, str] | None = None


#: A case's status, as the Cases API words it.
Status = Literal["open", "in-progress", "closed"]


class StateOptions(msgspec.Struct, forbid_unknown_fields=True):
    """The options of pushing the state (the types' ``state_options``): none, as both types send the
    status and the assignees as they are, for the receiver or the templates to map."""


class Assignee(msgspec.Struct, forbid_unknown_fields=True):
    """A pushed assignee: their casepush user name, and their email and full name when known."""

    uid: str
    email: str | None = None
    full_name: str | None = None


class PushedState(msgspec.Struct, forbid_unknown_fields=True):
    """What ``.cases-webhook``'s templates get beyond Kibana's variables: the status and the assignees,
    each present only when the connector's case sync settings push it."""

    status: Status | UnsetType = UNSET
    assignees: list[Assignee] | UnsetType = UNSET


class Incident(msgspec.Struct, forbid_unknown_fields=True):
    title: str
    description: str | None = None
    id: str | None = None
    severity: str | None = None
    status: str | None = None
    externalId: str | None = None
    tags: list[str] | None = None


class CasesWebhookPush(msgspec.Struct, forbid_unknown_fields=True):
    incident: Incident
    comments: list[CommentParam] | None = None


class WebhookConfig(msgspec.Struct, forbid_unknown_fields=True):
    url: str
    method: Literal["post", "put"] = "post"
    headers: dict[str, str] | None = None
    #: A mustache template of the body sent instead of the JSON document.
    body: str | None = None
    #: Dotted paths to the external id, title and URL in a JSON answer.
    responseIdKey: str = "id"
    responseTitleKey: str = "title"
    responseUrlKey: str = "url"


class WebhookSecrets(msgspec.Struct, forbid_unknown_fields=True):
    user: str | None = None
    password: str | None = None
    secretHeaders: dict[str, str] | None = None
    #: Key of the ``X-Casepush-Signature`` HMAC.
    signingSecret: str | None = None


class WebhookPush(msgspec.Struct, forbid_unknown_fields=True):
    """The document a push sends (``action`` follows from ``external_id``): the case and its user
    comments as the API returns them, and the status and assignees when they are pushed (absent, not
    null, when they are not)."""

    case: dict[str, Any]
    external_id: str | None = None
    comments: list[dict[str, Any]] = []
    alerts_count: int = 0
    status: Status | UnsetType = UNSET
    assignees: list[Assignee] | UnsetType = UNSET


# --- .webhook's inbound document (two-way sync) ----------------------------------------------------------

#: Kibana's limits of a case's title, description and comment (``MAX_TITLE_LENGTH``...), which what comes
#: back to a case must fit.
MAX_TITLE_LENGTH = 160
MAX_TEXT_LENGTH = 30000
#: The most events one inbound document may carry.
MAX_EVENTS = 100

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
#: RFC 3339 with its offset (``2026-01-02T03:04:05Z``, ``...+02:00``): a time without one is refused.
Time = Annotated[datetime, msgspec.Meta(tz=True)]
Title = Annotated[str, msgspec.Meta(max_length=MAX_TITLE_LENGTH)]
Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT_LENGTH)]


class InboundComment(msgspec.Struct, forbid_unknown_fields=True):
    """A comment of the external incident, created or edited (``updated_at``)."""

    id: Id
    body: Text
    author: Name
    created_at: Time
    updated_at: Time | None = None


class InboundEvent(msgspec.Struct, forbid_unknown_fields=True):
    """One change of the external incident: its stable ``id``, when (``at``) and by whom (``author``) it
    was made, ``origin: "casepush"`` when it echoes a push of casepush's, and exactly one of ``status``
    (a case status, ``external_status`` the sender's own name of it), ``title``, ``description`` and
    ``comment``. Those are UNSET when absent: ``null`` is refused."""

    id: Id
    at: Time
    author: Name | None = None
    #: ``"casepush"`` or nothing: checked apart, for a clearer message than msgspec's.
    origin: str | None = None
    status: str | UnsetType = UNSET
    external_status: Name | UnsetType = UNSET
    title: Title | UnsetType = UNSET
    description: Text | UnsetType = UNSET
    comment: InboundComment | UnsetType = UNSET


class InboundDocument(msgspec.Struct, forbid_unknown_fields=True):
    """What an external system POSTs to a ``.webhook`` connector's inbound webhook: the changes of one
    incident (``external_id``, the id casepush recorded when it pushed), oldest first, and when the
    document was sent."""

    external_id: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    events: Annotated[list[InboundEvent], msgspec.Meta(max_length=MAX_EVENTS)]
    sent_at: Time | None = None
