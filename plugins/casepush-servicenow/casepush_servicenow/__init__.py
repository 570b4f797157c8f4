"""casepush's ServiceNow connector types, ITSM (``.servicenow``) and SecOps (``.servicenow-sir``), with the
requests, fields and messages of Kibana's."""

from typing import Any

import msgspec

from casepush import hookimpl
from casepush.connectors import (
    ASSIGNEES,
    COMMENTS,
    DESCRIPTION,
    PUSH_TO_SERVICE,
    STATUS,
    TITLE,
    CaseForPush,
    CaseState,
    Changes,
    Connector,
    ConnectorType,
    Inbound,
    InboundCall,
    InvalidConnector,
    PushedComment,
    PushedIncident,
    ValidationContext,
    case_mappings,
)
from casepush.http import IDEMPOTENT, RATE_LIMITED, OutboundClient
from casepush_servicenow.products import ITSM, SIR, Itsm
from casepush_servicenow.schema import (
    Anything,
    CloseIncident,
    GetChoices,
    GetIncident,
    ItsmFields,
    ItsmPush,
    Nothing,
    ServiceNowConfig,
    ServiceNowSecrets,
    SirFields,
    SirPush,
)
from casepush_servicenow.service import ServiceNowService, incident_fields
from casepush_servicenow.state import ItsmStateOptions, SirStateOptions, StateOptions, push_state
from casepush_servicenow.sync import decode, fetch, inbound, own_user_name

_OAUTH_FIELDS = "clientId, clientSecret, userIdentifierValue, jwtKeyId and privateKey"


def validate(config: ServiceNowConfig, secrets: ServiceNowSecrets, context: ValidationContext) -> None:
    """Kibana's ServiceNow validators: the config, then the secrets, then both together."""
    context.ensure_allowed(config.apiUrl, "error configuring connector action")
    oauth_config = {name: getattr(config, name) for name in ("userIdentifierValue", "clientId", "jwtKeyId")}
    if config.isOAuth:
        _require(True, oauth_config, "config")
    _validate_secrets(secrets)
    if config.isOAuth:
        _require(True, {"clientSecret": secrets.clientSecret, "privateKey": secrets.privateKey}, "connector")
        if secrets.username or secrets.password:
            raise InvalidConnector(
                "Username and password should not be provided with isOAuth = true", "connector"
            )
        return
    _require(False, {"username": secrets.username, "password": secrets.password}, "connector")
    if any([*oauth_config.values(), secrets.clientSecret, secrets.privateKey]):
        raise InvalidConnector(f"{_OAUTH_FIELDS} should not be provided with isOAuth = false", "connector")


def _require(is_oauth: bool, fields: dict[str, str | None], part: str) -> None:
    for name, value in fields.items():
        if value is None:
            flag = "true" if is_oauth else "false"
            raise InvalidConnector(f"{name} must be provided when isOAuth = {flag}", part)


def _validate_secrets(secrets: ServiceNowSecrets) -> None:
    if not (secrets.username or secrets.password or secrets.clientSecret or secrets.privateKey):
        raise InvalidConnector("Either basic auth or OAuth credentials must be specified", "secrets")
    if (secrets.username or secrets.password) and not (secrets.username and secrets.password):
        raise InvalidConnector("username and password must both be specified", "secrets")
    basic = secrets.username or secrets.password
    if not basic and not (secrets.clientSecret and secrets.privateKey):
        raise InvalidConnector("clientSecret and privateKey must both be specified", "secrets")


#: What an incident's changes bring back to its case (two-way sync), by the README's business rules or by
#: polling: its state, its comments and work notes, its short description and its description.
_PULLS = frozenset({STATUS, COMMENTS, TITLE, DESCRIPTION})

_COMMON_SUB_ACTIONS: dict[str, type[msgspec.Struct]] = {
    "getFields": Anything,
    "getIncident": GetIncident,
    "handshake": Nothing,
    "getChoices": GetChoices,
}

SERVICENOW_ITSM = ConnectorType(
    id=".servicenow",
    name="ServiceNow ITSM",
    config=ServiceNowConfig,
    secrets=ServiceNowSecrets,
    fields=ItsmFields,
    sub_actions={PUSH_TO_SERVICE: ItsmPush, **_COMMON_SUB_ACTIONS, "closeIncident": CloseIncident},
    supported_feature_ids=("alerting", "cases", "siem"),
    minimum_license_required="platinum",
    validate=validate,
    pushes_state=frozenset({STATUS, ASSIGNEES}),
    state_options=ItsmStateOptions,
    pulls=_PULLS,
    inbound_auth="bearer",
    case_mappings=case_mappings("short_description", "description", "work_notes"),
)

SERVICENOW_SIR = ConnectorType(
    id=".servicenow-sir",
    name="ServiceNow SecOps",
    config=ServiceNowConfig,
    secrets=ServiceNowSecrets,
    fields=SirFields,
    sub_actions={PUSH_TO_SERVICE: SirPush, **_COMMON_SUB_ACTIONS},
    supported_feature_ids=("alerting", "cases", "siem"),
    minimum_license_required="platinum",
    validate=validate,
    pushes_state=frozenset({STATUS, ASSIGNEES}),
    state_options=SirStateOptions,
    pulls=_PULLS,
    inbound_auth="bearer",
    case_mappings=case_mappings("short_description", "description", "work_notes"),
)

_PRODUCTS: dict[str, Itsm] = {SERVICENOW_ITSM.id: ITSM, SERVICENOW_SIR.id: SIR}


def _service(connector: Connector, http: OutboundClient) -> ServiceNowService:
    product = _PRODUCTS[connector.type.id]
    return ServiceNowService(http, product, connector.id, connector.config, connector.secrets)


@hookimpl
def register_connector_types() -> list[ConnectorType]:
    return [SERVICENOW_ITSM, SERVICENOW_SIR]


@hookimpl
def transform_case(connector: Connector, case: CaseForPush) -> dict[str, Any]:
    """Cases' ServiceNow format: title and description, the case's fields for this type, and the case id
    as ``correlation_id`` (by which an interrupted push finds its incident again)."""
    fields = case.case.connector.fields if case.case.connector.type == connector.type.id else None
    incident = {
        "short_description": case.title,
        "description": case.description,
        "externalId": case.external_id,
        **_PRODUCTS[connector.type.id].case_fields(fields, case.case.id),
    }
    comments = case.comment_params()
    return {"incident": incident, "comments": comments}


@hookimpl
async def push_to_service(
    connector: Connector, params: ItsmPush | SirPush, http: OutboundClient
) -> PushedIncident:
    """Kibana's ``pushToService``: create (naming the Basic user as caller) or update, then one update
    per comment carrying it as ``work_notes``, then SecOps' observables."""
    product = _PRODUCTS[connector.type.id]
    service = _service(connector, http)
    fields, additional = incident_fields(params.incident)
    fields = product.sent_fields(fields, service.table_api)
    if params.incident.externalId is None:
        user = connector.secrets.username
        creator = {"caller_id": user, "opened_by": user} if not connector.config.isOAuth else {}
        pushed = await service.create({**fields, **creator}, additional)
    else:
        pushed = await service.update(params.incident.externalId, fields, additional, IDEMPOTENT)
    for comment in params.comments or []:
        noted = {**fields, "work_notes": comment.comment}
        await service.update(pushed.id, noted, additional, RATE_LIMITED)
        pushed.comments.append(PushedComment(comment.commentId, pushed.pushed_date))
    observables = product.observables(params.incident, service.table_api)
    if observables:
        await service.add_observables(observables, pushed.id)
    return pushed


@hookimpl
async def find_incident(connector: Connector, case_id: str, http: OutboundClient) -> PushedIncident | None:
    service = _service(connector, http)
    found = await service.find_by_correlation_id(case_id)
    return service.pushed(found, "sys_updated_on") if found else None


@hookimpl
async def push_case_state(
    connector: Connector, external_id: str, state: CaseState, http: OutboundClient
) -> None:
    """casepush's own: the case's status as the incident's ``state`` (with the close code and notes when
    it closes) and its first assignee with an email as ``assigned_to``, in one update."""
    await push_state(_service(connector, http), external_id, state, _options(connector, state.options))


def _options(connector: Connector, options: StateOptions | None) -> StateOptions:
    """The connector's options, or (none saved) the type's defaults."""
    if options is not None:
        return options
    defaults = connector.type.state_options
    assert defaults is not None and issubclass(defaults, StateOptions)  # both types declare theirs
    return msgspec.convert({}, defaults)  # each type's options have a default for every field


@hookimpl
async def parse_inbound(
    connector: Connector, call: InboundCall, options: StateOptions | None, http: OutboundClient
) -> Inbound:
    """casepush's own: a notification of the README's business rules (after an update of the incident's
    state, short description or description; after a comment or work note) as the changes it reports.
    Changes made as the connector's own ServiceNow user are marked ``by_integration``."""
    notification = decode(call.body, _PRODUCTS[connector.type.id].table)
    own_user = await own_user_name(_service(connector, http))
    return inbound(notification, _options(connector, options), own_user)


@hookimpl
async def fetch_changes(
    connector: Connector,
    incident_ids: list[str],
    cursor: str | None,
    since: str,
    options: StateOptions | None,
    http: OutboundClient,
) -> Changes:
    """casepush's own: the incidents' changes since the last poll, through the Table API (the incidents
    and their ``sys_journal_field`` entries)."""
    return await fetch(_service(connector, http), incident_ids, cursor, since, _options(connector, options))


@hookimpl
async def execute_sub_action(connector: Connector, sub_action: str, params: Any, http: OutboundClient) -> Any:
    service = _service(connector, http)
    if sub_action == "handshake":
        return None
    if sub_action == "getIncident":
        return await service.get_incident(params.externalId)
    if sub_action == "getFields":
        return await service.fields()
    if sub_action == "getChoices":
        return await service.choices(params.fields)
    closed = await service.close(params.incident.externalId, params.incident.correlation_id)
    if closed is None:
        return None
    return {"title": closed.title, "id": closed.id, "pushedDate": closed.pushed_date, "url": closed.url}
