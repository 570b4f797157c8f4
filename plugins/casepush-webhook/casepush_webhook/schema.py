"""The structs of both types: Kibana's ``.cases-webhook`` (``CS/cases_webhook/schemas/v1.ts`` and the
shared auth schema) and casepush's own ``.webhook``."""

from typing import Any, Literal

import msgspec

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
    comments as the API returns them."""

    case: dict[str, Any]
    external_id: str | None = None
    comments: list[dict[str, Any]] = []
    alerts_count: int = 0
