"""Kibana's Cases Webhook (``.cases-webhook``): the calls its templates describe, with its checks,
authentication and messages (``SC/cases_webhook/{service,utils,validators}.ts``)."""

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import msgspec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, pkcs12
from msgspec import UNSET, UnsetType

from casepush.connectors import (
    ConnectorError,
    InvalidConnector,
    PushedComment,
    PushedIncident,
    ValidationContext,
)
from casepush.http import (
    IDEMPOTENT,
    RATE_LIMITED,
    OutboundClient,
    OutboundError,
    OutboundResponse,
    Retry,
    TlsOptions,
)
from casepush_webhook.common import (
    Failure,
    JsonObject,
    checked_answer,
    checked_json,
    checked_url,
    js_string,
    json_text,
    lookup,
    merged_headers,
    now_iso,
    parses,
    render,
)
from casepush_webhook.schema import (
    Assignee,
    CasesWebhookConfig,
    CasesWebhookPush,
    CasesWebhookSecrets,
    Incident,
    PushedState,
)

NAME = "Webhook - Case Management"
BASIC, SSL, OAUTH2 = (
    "webhook-authentication-basic",
    "webhook-authentication-ssl",
    "webhook-oauth2-client-credentials",
)
WRONG_CONFIGURATION = f"[Action]{NAME}: Wrong configuration."
#: The secrets that may be given together (``secretHeaders`` go with any of them).
_CREDENTIALS = ("user", "password", "crt", "key", "pfx", "clientSecret")
_ALLOWED_CREDENTIALS = [
    set(),
    {"user", "password"},
    {"crt", "key"},
    {"crt", "key", "password"},
    {"pfx"},
    {"pfx", "password"},
    {"clientSecret"},
]
SECRETS_MESSAGE = (
    "must specify one of the following schemas: user and password; crt and key (with optional password);"
    " pfx (with optional password); or clientSecret (for OAuth2)"
)


def validate(config: CasesWebhookConfig, secrets: CasesWebhookSecrets, context: ValidationContext) -> None:
    """Kibana's config validator, its secrets schema's combinations, then its connector validator."""
    if config.authType == OAUTH2:
        raise InvalidConnector("OAuth2 authentication is not supported for cases webhook connector")
    for url in (
        config.createIncidentUrl,
        config.createCommentUrl,
        config.viewIncidentUrl,
        config.getIncidentUrl,
        config.updateIncidentUrl,
    ):
        if not url:
            continue
        if not parses(url):
            raise InvalidConnector(
                f"error configuring cases webhook action: unable to parse {url}: TypeError: Invalid URL"
            )
        context.ensure_allowed(url, "error configuring cases webhook action")
    given = {name for name in _CREDENTIALS if getattr(secrets, name) is not None}
    if given not in _ALLOWED_CREDENTIALS:
        raise InvalidConnector(SECRETS_MESSAGE, "secrets")
    if config.hasAuth and not given and not secrets.secretHeaders:
        raise InvalidConnector("must specify a secrets configuration", "connector")


def _decoded(value: str) -> bytes:
    """Certificates and keys are given in base64, as Kibana's ``Buffer.from(value, 'base64')``."""
    return base64.b64decode(value)


def _client_certificate(secrets: CasesWebhookSecrets) -> dict[str, Any]:
    """The ``TlsOptions`` of SSL authentication: ``crt`` and ``key`` (``password`` their passphrase), or a
    PKCS#12 ``pfx`` (``password`` its password) turned into PEM, which is what ``ssl`` loads."""
    if secrets.pfx:
        password = secrets.password.encode() if secrets.password else None
        key, certificate, chain = pkcs12.load_key_and_certificates(_decoded(secrets.pfx), password)
        if key is None or certificate is None:
            raise ValueError("the pfx holds no certificate and key")
        pem = b"".join(c.public_bytes(Encoding.PEM) for c in [certificate, *chain])
        key_pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        return {"certificate": pem.decode(), "key": key_pem.decode()}
    if secrets.crt and secrets.key:
        return {
            "certificate": _decoded(secrets.crt).decode(),
            "key": _decoded(secrets.key).decode(),
            "passphrase": secrets.password,
        }
    return {}


def _authentication(
    config: CasesWebhookConfig, secrets: CasesWebhookSecrets
) -> tuple[dict[str, str], TlsOptions]:
    """Kibana's ``buildConnectorAuth`` and ``validateConnectorAuthConfiguration``: Basic auth when
    ``hasAuth`` and the type is basic (or unset, for connectors older than ``authType``); a client
    certificate for SSL; ``ca`` and ``verificationMode`` whatever the type."""
    headers: dict[str, str] = {}
    certificate: dict[str, Any] = {}
    if config.hasAuth and config.authType in (BASIC, None):
        if not (secrets.user and secrets.password):
            raise ConnectorError(WRONG_CONFIGURATION)
        credentials = base64.b64encode(f"{secrets.user}:{secrets.password}".encode()).decode()
        headers["Authorization"] = f"Basic {credentials}"
    elif config.hasAuth and config.authType == SSL:
        try:
            certificate = _client_certificate(secrets)
        except ValueError as exc:
            raise ConnectorError(f"[Action][{NAME}]: invalid client certificate: {exc}") from None
    if config.authType == SSL and not (certificate or config.ca or config.verificationMode):
        raise ConnectorError(WRONG_CONFIGURATION)
    ca = _decoded(config.ca).decode() if config.ca else None
    tls = TlsOptions(verification_mode=config.verificationMode, ca=ca, **certificate)
    return headers, tls


def uri_component(value: str) -> str:
    """JavaScript's ``encodeURIComponent``."""
    return quote(value, safe="-_.!~*'()")


def _system(external_id: str, title: str | None = None) -> dict[str, Any]:
    """The ``external.system`` variables of a template (already encoded for where they go)."""
    system = {"id": external_id} if title is None else {"id": external_id, "title": title}
    return {"external": {"system": system}}


def _case_variables(incident: Incident, state: PushedState | UnsetType = UNSET) -> dict[str, Any]:
    """Kibana's ``stringifyObjValues``: each value JSON-encoded, so templates add no quotes of their own;
    then the state's variables, when it is pushed (a pushed status replaces the incident's, which a
    case push sets to the same case's status)."""
    values = {
        "description": incident.description or "",
        "id": incident.id or "",
        "severity": incident.severity or "",
        "status": incident.status or "",
        "tags": incident.tags or [],
        "title": incident.title,
    }
    variables = {name: json_text(value) for name, value in values.items()}
    return {"case": {**variables, **_state_variables(state)}}


def _state_variables(state: PushedState | UnsetType) -> dict[str, Any]:
    """casepush's variables of the pushed state, each JSON-encoded: ``status``; ``assignees``, an array
    of ``{uid, email, full_name}``; and ``assignee``, the first of them (``{{{case.assignee}}}`` and
    ``{{{case.assignee.email}}}``..., ``null`` when there is none). Not pushed, they are left out, and
    render empty as every unknown variable does in Kibana (which has ``status`` only in incident
    bodies, and no assignees)."""
    if state is UNSET:
        return {}
    variables: dict[str, Any] = {}
    if state.status is not UNSET:
        variables["status"] = json_text(state.status)
    if state.assignees is not UNSET:
        assignees = msgspec.to_builtins(state.assignees)
        first = assignees[0] if assignees else None
        variables["assignees"] = json_text(assignees)
        variables["assignee"] = JsonObject(first, first or dict.fromkeys(Assignee.__struct_fields__))
    return variables


@contextmanager
def _failing_as(what: str) -> Iterator[None]:
    """Word a failed step as Kibana: ``[Action][Webhook - Case Management]: <what>. Error: ...``."""
    try:
        yield
    except Failure as failure:
        raise failure.wrapped(NAME, what) from None


class CasesWebhookService:
    """One connector's calls, as its templates describe them."""

    def __init__(self, http: OutboundClient, config: CasesWebhookConfig, secrets: CasesWebhookSecrets):
        auth_headers, self.tls = _authentication(config, secrets)
        self.http = http
        self.config = config
        # Kibana's order: the JSON content type, Basic auth, then the config's headers and the secret ones.
        self.headers = merged_headers(
            {"Content-Type": "application/json"}, auth_headers, config.headers, secrets.secretHeaders
        )

    def _url(self, template: str, variables: dict[str, Any], what: str) -> str:
        return checked_url(render(template, variables), self.http.allowed_hosts, what)

    async def _call(self, method: str, url: str, body: str | None, retry: Retry) -> OutboundResponse:
        try:
            return await self.http.request(
                method, url, data=body, headers=self.headers, tls=self.tls, retry=retry
            )
        except OutboundError as exc:
            raise Failure(exc.message) from None

    async def title_of(self, external_id: str) -> str:
        """The incident's title (Kibana's ``getIncident``). Even by POST it is a read, so it is retried
        as one."""
        config, key = self.config, self.config.getIncidentResponseExternalTitleKey
        with _failing_as(f"Unable to get case with id {external_id}"):
            url = self._url(config.getIncidentUrl, _system(uri_component(external_id)), "Get case URL")
            body = None
            if config.getIncidentMethod == "post" and config.getIncidentJson:
                rendered = render(config.getIncidentJson, _system(json_text(external_id)))
                body = checked_json(rendered, "Get case JSON body")
            response = await self._call(config.getIncidentMethod, url, body, IDEMPOTENT)
            return js_string(lookup(checked_answer(response, (key,)), key))

    async def _pushed(self, external_id: str) -> PushedIncident:
        """What a create or update made: the incident's title read back, and its rendered view URL."""
        title = await self.title_of(external_id)
        variables = _system(uri_component(external_id), uri_component(title))
        url = self._url(self.config.viewIncidentUrl, variables, "View case URL")
        return PushedIncident(external_id, title, url, now_iso())

    async def create(self, incident: Incident, state: PushedState | UnsetType = UNSET) -> PushedIncident:
        config, key = self.config, self.config.createIncidentResponseKey
        with _failing_as("Unable to create case"):
            url = checked_url(config.createIncidentUrl, self.http.allowed_hosts, "Create case URL")
            body = checked_json(
                render(config.createIncidentJson, _case_variables(incident, state)), "Create case JSON body"
            )
            response = await self._call(config.createIncidentMethod, url, body, RATE_LIMITED)
            external_id = js_string(lookup(checked_answer(response, (key,)), key))
            return await self._pushed(external_id)

    async def update(
        self, external_id: str, incident: Incident, state: PushedState | UnsetType = UNSET
    ) -> PushedIncident:
        """A PUT sets the same fields again if repeated, so it is retried; a POST or PATCH may not."""
        config = self.config
        retry = IDEMPOTENT if config.updateIncidentMethod == "put" else RATE_LIMITED
        with _failing_as(f"Unable to update case with id {external_id}"):
            url = self._url(config.updateIncidentUrl, _system(uri_component(external_id)), "Update case URL")
            variables = {**_case_variables(incident, state), **_system(json_text(external_id))}
            body = checked_json(render(config.updateIncidentJson, variables), "Update case JSON body")
            checked_answer(await self._call(config.updateIncidentMethod, url, body, retry))
            return await self._pushed(external_id)

    async def comment(self, external_id: str, text: str, state: PushedState | UnsetType = UNSET) -> None:
        """Add a comment; without a comment URL, JSON and method, comments are skipped, as in Kibana.
        Kibana gives its body only ``case.comment``; casepush adds the state pushed, if any."""
        config = self.config
        if not (config.createCommentUrl and config.createCommentJson and config.createCommentMethod):
            return
        with _failing_as(f"Unable to create comment at case with id {external_id}"):
            url = self._url(
                config.createCommentUrl, _system(uri_component(external_id)), "Create comment URL"
            )
            case = {**_state_variables(state), "comment": json_text(text)}
            variables = {"case": case, **_system(json_text(external_id))}
            body = checked_json(render(config.createCommentJson, variables), "Create comment JSON body")
            checked_answer(await self._call(config.createCommentMethod, url, body, RATE_LIMITED))


async def push(
    service: CasesWebhookService, params: CasesWebhookPush, state: PushedState | UnsetType = UNSET
) -> PushedIncident:
    """Kibana's ``pushToServiceHandler``: create or update, then each non-empty comment, reported pushed
    at the incident's date (even when the connector has no comment URL); with casepush's ``state``
    (the status and assignees pushed) in the templates' variables too."""
    incident = params.incident
    try:
        if incident.externalId is not None:
            pushed = await service.update(incident.externalId, incident, state)
        else:
            pushed = await service.create(incident, state)
        for comment in params.comments or []:
            if comment.comment:
                await service.comment(pushed.id, comment.comment, state)
                pushed.comments.append(PushedComment(comment.commentId, pushed.pushed_date))
    except Failure as failure:
        raise failure.connector_error() from None
    return pushed
