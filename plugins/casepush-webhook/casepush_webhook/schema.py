"""The structs of both types: Kibana's ``.cases-webhook`` (``CS/cases_webhook/schemas/v1.ts`` and the
shared auth schema) and casepush's own ``.webhook``, and what both push of a case's state beyond Kibana
(its status and assignees)."""

from typing import Any, Literal

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
