"""casepush's webhook connector types: Kibana's Cases Webhook (``.cases-webhook``), whose templates
describe any case-management API, and casepush's own ``.webhook``, which sends the case as it is."""

from typing import Any

import msgspec
from msgspec import UNSET

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
    Connector,
    ConnectorType,
    Inbound,
    InboundCall,
    InboundRefused,
    PushedIncident,
)
from casepush.http import OutboundClient
from casepush_webhook import cases_webhook, inbound, webhook
from casepush_webhook.schema import (
    CasesWebhookConfig,
    CasesWebhookPush,
    CasesWebhookSecrets,
    PushedState,
    StateOptions,
    WebhookConfig,
    WebhookPush,
    WebhookSecrets,
)

#: Both types send the status and the assignees with the case (``CaseForPush.state``), so neither
#: implements ``push_case_state``.
STATE = frozenset({STATUS, ASSIGNEES})

CASES_WEBHOOK = ConnectorType(
    id=".cases-webhook",
    name=cases_webhook.NAME,
    config=CasesWebhookConfig,
    secrets=CasesWebhookSecrets,
    sub_actions={PUSH_TO_SERVICE: CasesWebhookPush},
    minimum_license_required="gold",
    validate=cases_webhook.validate,
    pushes_state=STATE,
    state_options=StateOptions,
)

WEBHOOK = ConnectorType(
    id=".webhook",
    name=webhook.NAME,
    config=WebhookConfig,
    secrets=WebhookSecrets,
    sub_actions={PUSH_TO_SERVICE: WebhookPush},
    validate=webhook.validate,
    pushes_state=STATE,
    state_options=StateOptions,
    # Two-way sync: the external system POSTs the mirror of the pushed document, signed as casepush signs
    # its pushes (``inbound``). ``.cases-webhook`` has no inbound form: see the README.
    pulls=frozenset({STATUS, COMMENTS, TITLE, DESCRIPTION}),
    inbound_auth="casepush-signature",
)


@hookimpl
def register_connector_types() -> list[ConnectorType]:
    return [CASES_WEBHOOK, WEBHOOK]


def _state(state: CaseState | None) -> dict[str, Any]:
    """What of the case's state is pushed: ``status`` and ``assignees`` (``{uid, email, full_name}``
    each), only those the connector's case sync settings ask for."""
    pushed: dict[str, Any] = {}
    if state is not None and state.status is not None:
        pushed["status"] = state.status
    if state is not None and state.assignees is not None:
        pushed["assignees"] = msgspec.to_builtins(state.assignees)
    return pushed


@hookimpl
def transform_case(connector: Connector, case: CaseForPush) -> dict[str, Any]:
    """``.cases-webhook``: Kibana's format (title, tags, id, severity, status, and the description as the
    case has it: the webhook's mapping is empty, so Kibana's "Added by" line never reaches it) and the
    comments as Cases words them. ``.webhook``: the case and its new user
    comments as the API returns them, and the state pushed, if any (``.cases-webhook`` gets it in
    ``push_to_service``: its params stay Kibana's)."""
    if connector.type is WEBHOOK:
        return {
            "case": msgspec.to_builtins(case.case),
            "external_id": case.external_id,
            "comments": msgspec.to_builtins(case.new_comments),
            "alerts_count": case.alerts_count,
            **_state(case.state),
        }
    incident = {
        "title": case.title,
        "description": case.case.description,
        "tags": case.case.tags,
        "id": case.case.id,
        "severity": case.case.severity,
        "status": case.case.status,
        "externalId": case.external_id,
    }
    return {"incident": incident, "comments": case.comment_params()}


@hookimpl
async def push_to_service(
    connector: Connector, params: Any, http: OutboundClient, state: CaseState | None
) -> PushedIncident:
    if connector.type is WEBHOOK:
        return await webhook.push(connector.config, connector.secrets, params, http)
    service = cases_webhook.CasesWebhookService(http, connector.config, connector.secrets)
    pushed = msgspec.convert(_state(state), PushedState) if state is not None else UNSET
    return await cases_webhook.push(service, params, pushed)


@hookimpl
def parse_inbound(connector: Connector, call: InboundCall) -> Inbound:
    """``.webhook``'s inbound document (``inbound``): the changes of one incident, status already a case
    status. ``.cases-webhook`` pulls nothing, so the core never calls it for one."""
    if connector.type is not WEBHOOK:
        raise InboundRefused(f"{connector.type.id} connectors take no inbound calls")
    return inbound.parse(call)
