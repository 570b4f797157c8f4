"""casepush's TheHive connector type (``.thehive``), with the requests, fields and messages of Kibana's."""

from typing import Any

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
    PushedIncident,
    ValidationContext,
    case_mappings,
)
from casepush.http import OutboundClient
from casepush_thehive.schema import (
    CreateAlert,
    Incident,
    PushToService,
    TheHiveConfig,
    TheHiveFields,
    TheHiveSecrets,
    TheHiveStateOptions,
)
from casepush_thehive.service import TheHiveService
from casepush_thehive.sync import changes_of, find_case, own_login, parse_notification, poll, push_state

#: Kibana's cases ``format`` for TheHive: the case's severity as TheHive's number (medium otherwise).
SEVERITIES = {"low": 1, "medium": 2, "high": 3, "critical": 4}


def case_tag(case_id: str) -> str:
    """The tag that marks the TheHive case of a case, by which an interrupted push finds it again."""
    return f"casepush-case-{case_id}"


def validate(config: TheHiveConfig, secrets: TheHiveSecrets, context: ValidationContext) -> None:
    context.ensure_allowed(config.url, "error validating url")


THEHIVE = ConnectorType(
    id=".thehive",
    name="TheHive",
    config=TheHiveConfig,
    secrets=TheHiveSecrets,
    fields=TheHiveFields,
    sub_actions={PUSH_TO_SERVICE: PushToService, "createAlert": CreateAlert},
    supported_feature_ids=("alerting", "siem", "uptime", "cases"),
    minimum_license_required="platinum",
    sub_action_framework=True,
    validate=validate,
    # casepush's own: the case's status and assignee pushed, and two-way sync from TheHive's audits
    # (polled, or notified by a webhook endpoint with ``auth: {type: "bearer", key: <inbound secret>}``).
    pushes_state=frozenset({STATUS, ASSIGNEES}),
    state_options=TheHiveStateOptions,
    pulls=frozenset({STATUS, COMMENTS, TITLE, DESCRIPTION}),
    inbound_auth="bearer",
    case_mappings=case_mappings("title", "description", "comments", tags="tags"),
)


@hookimpl
def register_connector_types() -> list[ConnectorType]:
    return [THEHIVE]


def _service(connector: Connector, http: OutboundClient) -> TheHiveService:
    return TheHiveService(http, connector.config, connector.secrets)


@hookimpl
def transform_case(connector: Connector, case: CaseForPush) -> PushToService:
    """Kibana's TheHive mapping and ``format``: title, description and tags as they are, the case's TLP
    field (null without one) and its severity as a number; plus one tag naming the case."""
    fields = case.case.connector.fields  # as Kibana, whatever the type of the case's connector
    incident = Incident(
        title=case.title,
        description=case.description,
        externalId=case.external_id,
        severity=SEVERITIES.get(case.case.severity, 2),
        tlp=(fields or {}).get("tlp"),
        tags=[*case.case.tags, case_tag(case.case.id)],
    )
    return PushToService(incident=incident, comments=case.comment_params())


@hookimpl
async def push_to_service(
    connector: Connector, params: PushToService, http: OutboundClient
) -> PushedIncident:
    """Kibana's ``CaseConnector.pushToService``: update the case (``externalId``) or create it, then add
    every comment; the comments are reported pushed at the case's date."""
    service = _service(connector, http)
    incident = params.incident
    if incident.externalId is not None:
        pushed = await service.update_case(incident.externalId, incident)
    else:
        pushed = await service.create_case(incident)
    for comment in params.comments or []:
        pushed.comments.append(
            await service.comment(pushed.id, comment.commentId, comment.comment, pushed.pushed_date)
        )
    return pushed


@hookimpl
async def execute_sub_action(connector: Connector, sub_action: str, params: Any, http: OutboundClient) -> Any:
    """``createAlert``: Kibana answers no data (``data ?? {}``)."""
    await _service(connector, http).create_alert(params)
    return {}


@hookimpl
async def find_incident(connector: Connector, case_id: str, http: OutboundClient) -> PushedIncident | None:
    """The TheHive case tagged with the case (``transform_case``), for a push interrupted after the create."""
    return await find_case(_service(connector, http), case_tag(case_id))


@hookimpl
async def push_case_state(
    connector: Connector, external_id: str, state: CaseState, http: OutboundClient
) -> None:
    await push_state(_service(connector, http), external_id, state)


@hookimpl
async def parse_inbound(connector: Connector, call: InboundCall, http: OutboundClient) -> Inbound:
    """A webhook endpoint's notification: a case's status, title or description updated, a comment
    written or edited; changes made with the connector's API key are ``by_integration``."""
    audit, sent_at = parse_notification(call.body)
    changes = changes_of([audit], await own_login(_service(connector, http)))
    return Inbound(changes, sent_at)


@hookimpl
async def fetch_changes(
    connector: Connector, incident_ids: list[str], cursor: str | None, since: str, http: OutboundClient
) -> Changes:
    """The changes of these TheHive cases since the cursor, from their audits (``listAudit``)."""
    if not incident_ids:
        return Changes([], cursor)
    return await poll(_service(connector, http), incident_ids, cursor, since)
