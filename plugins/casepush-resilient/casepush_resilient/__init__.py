"""casepush's IBM Resilient connector type (``.resilient``), with the requests, fields and messages of
Kibana's."""

from typing import Any

from casepush import hookimpl
from casepush.connectors import (
    PUSH_TO_SERVICE,
    CaseForPush,
    Connector,
    ConnectorType,
    PushedIncident,
    ValidationContext,
    case_mappings,
)
from casepush.http import OutboundClient
from casepush_resilient.schema import (
    Nothing,
    PushToService,
    ResilientConfig,
    ResilientFields,
    ResilientSecrets,
)
from casepush_resilient.service import NAME, ResilientService


def validate(config: ResilientConfig, secrets: ResilientSecrets, context: ValidationContext) -> None:
    # The sub-action framework's ``urlAllowListValidator('apiUrl')``.
    context.ensure_allowed(config.apiUrl, "error validating url")


RESILIENT = ConnectorType(
    id=".resilient",
    name=NAME,
    config=ResilientConfig,
    secrets=ResilientSecrets,
    fields=ResilientFields,
    # In the order Kibana's ``CaseConnector`` and ``ResilientConnector`` register them.
    sub_actions={
        PUSH_TO_SERVICE: PushToService,
        "incidentTypes": Nothing,
        "severity": Nothing,
        "getFields": Nothing,
    },
    supported_feature_ids=("alerting", "cases", "siem"),
    minimum_license_required="platinum",
    sub_action_framework=True,
    validate=validate,
    case_mappings=case_mappings("name", "description", "comments"),
)


@hookimpl
def register_connector_types() -> list[ConnectorType]:
    return [RESILIENT]


@hookimpl
def transform_case(connector: Connector, case: CaseForPush) -> dict[str, Any]:
    """Kibana's push for Resilient: the title as the incident's name, the description, and the case's
    Resilient fields as they are (ids as strings, coerced by the params)."""
    fields = (case.case.connector.fields if case.case.connector.type == RESILIENT.id else None) or {}
    incident = {
        "name": case.title,
        "description": case.description,
        "externalId": case.external_id,
        "incidentTypes": fields.get("incidentTypes"),
        "severityCode": fields.get("severityCode"),
        "additionalFields": fields.get("additionalFields"),
    }
    return {"incident": incident, "comments": case.comment_params()}


def _service(connector: Connector, http: OutboundClient) -> ResilientService:
    return ResilientService(http, connector.config, connector.secrets)


@hookimpl
async def push_to_service(
    connector: Connector, params: PushToService, http: OutboundClient
) -> PushedIncident:
    """Kibana's ``CaseConnector.pushToService``: update when there is an external id, else create; then
    every comment, each dated with the incident's push."""
    service = _service(connector, http)
    incident = params.incident
    external_id = incident.externalId
    pushed = await (
        service.create(incident) if external_id is None else service.update(external_id, incident)
    )
    for comment in params.comments or []:
        pushed.comments.append(
            await service.comment(pushed.id, comment.commentId, comment.comment, pushed.pushed_date)
        )
    return pushed


@hookimpl
async def execute_sub_action(
    connector: Connector, sub_action: str, params: Nothing, http: OutboundClient
) -> Any:
    service = _service(connector, http)
    if sub_action == "getFields":
        return await service.fields()
    if sub_action == "incidentTypes":
        return await service.choices("incident_type_ids", "Unable to get incident types")
    return await service.choices("severity_code", "Unable to get severity")
