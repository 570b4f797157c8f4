"""casepush's Swimlane connector type (``.swimlane``), with the requests, fields and messages of Kibana's."""

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
from casepush_swimlane.schema import (
    Incident,
    PushToService,
    SwimlaneConfig,
    SwimlaneFields,
    SwimlaneSecrets,
)
from casepush_swimlane.service import SwimlaneService, now_iso


def validate(config: SwimlaneConfig, secrets: SwimlaneSecrets, context: ValidationContext) -> None:
    context.ensure_allowed(config.apiUrl, "error configuring connector action")


SWIMLANE = ConnectorType(
    id=".swimlane",
    name="Swimlane",
    config=SwimlaneConfig,
    secrets=SwimlaneSecrets,
    fields=SwimlaneFields,
    sub_actions={PUSH_TO_SERVICE: PushToService},
    supported_feature_ids=("alerting", "cases", "siem"),
    minimum_license_required="gold",
    validate=validate,
    case_mappings=case_mappings("caseName", "description", "comments"),
)


@hookimpl
def register_connector_types() -> list[ConnectorType]:
    return [SWIMLANE]


@hookimpl
def transform_case(connector: Connector, case: CaseForPush) -> PushToService:
    """Cases' Swimlane format: the title as the case name, the description, and the case id: the case's
    connector fields' ``caseId`` when they have that key (null included), else the case's own id."""
    fields = case.case.connector.fields
    case_id = fields.get("caseId", case.case.id) if fields is not None else case.case.id
    incident = Incident(
        caseName=case.title,
        description=case.description,
        caseId=case_id,
        externalId=case.external_id,
    )
    return PushToService(incident=incident, comments=case.comment_params())


def _service(connector: Connector, http: OutboundClient) -> SwimlaneService:
    return SwimlaneService(http, connector.config, connector.secrets.apiToken)


@hookimpl
async def push_to_service(
    connector: Connector, params: PushToService, http: OutboundClient
) -> PushedIncident:
    """Create the record (no ``externalId``) or update it, then add every comment to the record's comments
    field, all with the one date taken after the record was saved, as Kibana's connector."""
    service = _service(connector, http)
    incident = params.incident
    if incident.externalId is None:
        pushed = await service.create(incident)
    else:
        pushed = await service.update(incident.externalId, incident)
    if params.comments:
        created_date = now_iso()
        for comment in params.comments:
            pushed.comments.append(await service.comment(pushed.id, comment, created_date))
    return pushed


@hookimpl
async def find_incident(connector: Connector, case_id: str, http: OutboundClient) -> PushedIncident | None:
    return await _service(connector, http).find_case_record(case_id)
