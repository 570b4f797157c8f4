"""``.echo``: a connector type for an HTTP service that stores incidents (``/incidents``) and comments.

It exists to test casepush's plugin host the way a third party would use it: its own distribution,
entry point, structs and hooks. It is also the plugin guide's example: every code block of
docs/writing-a-connector.md is a region of this module (``# region name`` ... ``# endregion``), of its
tests (``tests/test_casepush_echo.py``) or of its ``pyproject.toml``, and tests/test_testing_kit.py checks
that the guide shows each as it is here.
"""

# region imports
from typing import Any
from urllib.parse import urlencode

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
    CommentParam,
    Connector,
    ConnectorError,
    ConnectorType,
    ExternalChange,
    ExternalComment,
    Inbound,
    InboundCall,
    InboundRefused,
    PushedComment,
    PushedIncident,
    ValidationContext,
    case_mappings,
)
from casepush.http import OutboundClient

# endregion


# region connector-type
class EchoConfig(msgspec.Struct, forbid_unknown_fields=True):
    url: str


class EchoSecrets(msgspec.Struct, forbid_unknown_fields=True):
    token: str


class EchoIncident(msgspec.Struct, forbid_unknown_fields=True):
    title: str
    description: str | None = None
    tags: list[str] = []
    #: The case id, by which an interrupted push finds the incident it made.
    correlationId: str | None = None
    externalId: str | None = None


class EchoPush(msgspec.Struct, forbid_unknown_fields=True):  # Kibana's pushToService params
    incident: EchoIncident
    comments: list[CommentParam] | None = None  # Kibana's {comment, commentId}


class GetIncident(msgspec.Struct, forbid_unknown_fields=True):
    externalId: str


class EchoStateOptions(msgspec.Struct, forbid_unknown_fields=True):
    """The echo service's state for each case status."""

    statuses: dict[str, str] = msgspec.field(
        default_factory=lambda: {"open": "new", "in-progress": "active", "closed": "done"}
    )


def validate(config: EchoConfig, secrets: EchoSecrets, context: ValidationContext) -> None:
    # InvalidConnector("error configuring echo action: target url ... is not added to ... allowedHosts")
    context.ensure_allowed(config.url, "error configuring echo action")


ECHO = ConnectorType(
    id=".echo",
    name="Echo",
    config=EchoConfig,
    secrets=EchoSecrets,
    sub_actions={PUSH_TO_SERVICE: EchoPush, "getIncident": GetIncident},
    supported_feature_ids=("cases", "alerting"),
    validate=validate,
    pushes_state=frozenset({STATUS, ASSIGNEES}),
    state_options=EchoStateOptions,
    pulls=frozenset({STATUS, COMMENTS, TITLE, DESCRIPTION}),
    inbound_auth="hub-signature",
    case_mappings=case_mappings("summary", "body", "notes", tags="labels"),
)
# endregion


# region register_connector_types
@hookimpl
def register_connector_types() -> list[ConnectorType]:
    return [ECHO]


# endregion


# region transform_case
@hookimpl
def transform_case(connector: Connector, case: CaseForPush) -> EchoPush:
    incident = EchoIncident(
        title=case.title,
        description=case.description,
        tags=case.case.tags,
        correlationId=case.case.id,
        externalId=case.external_id,
    )
    return EchoPush(
        incident=incident,
        comments=case.comment_params(),
    )


# endregion


# region push_to_service
async def _call(connector: Connector, http: OutboundClient, method: str, path: str, body: Any = None) -> Any:
    """The answer of one call of the echo service; a ``ConnectorError`` (with the status and the
    ``Retry-After`` automatic pushes back off by) when it fails."""
    response = await http.request(
        method,
        connector.config.url.rstrip("/") + path,
        json=body,
        headers={"Authorization": f"Bearer {connector.secrets.token}"},
    )
    if response.status >= 400:
        raise ConnectorError(
            f"[Action][Echo]: Unable to {method} {path}. Status: {response.status}",
            status=response.status,
            retry_after=response.retry_after,
        )
    return response.json()


@hookimpl
async def push_to_service(connector: Connector, params: EchoPush, http: OutboundClient) -> PushedIncident:
    incident = msgspec.to_builtins(params.incident)
    incident.pop("externalId", None)
    if params.incident.externalId is None:
        answer = await _call(connector, http, "POST", "/incidents", incident)
    else:
        answer = await _call(connector, http, "PUT", f"/incidents/{params.incident.externalId}", incident)
    pushed = []
    for comment in params.comments or []:
        made = await _call(
            connector, http, "POST", f"/incidents/{answer['id']}/comments", {"text": comment.comment}
        )
        pushed.append(PushedComment(comment.commentId, answer["updated"], made.get("comment_id")))
    return PushedIncident(answer["id"], answer["title"], answer["url"], answer["updated"], pushed)


# endregion


# region execute_sub_action
@hookimpl
async def execute_sub_action(
    connector: Connector, sub_action: str, params: GetIncident, http: OutboundClient
) -> Any:
    if sub_action == "getIncident":
        return await _call(connector, http, "GET", f"/incidents/{params.externalId}")
    raise ConnectorError(f"[Action][Echo]: unknown sub-action {sub_action}")


# endregion


# region find_incident
@hookimpl
async def find_incident(connector: Connector, case_id: str, http: OutboundClient) -> PushedIncident | None:
    found = await _call(connector, http, "GET", f"/incidents?correlationId={case_id}")
    if not found:
        return None
    return PushedIncident(found[0]["id"], found[0]["title"], found[0]["url"], found[0]["updated"])


# endregion


# region push_case_state
@hookimpl
async def push_case_state(
    connector: Connector, external_id: str, state: CaseState, http: OutboundClient
) -> None:
    body = {}
    if state.status is not None:
        body["state"] = state.options.statuses[state.status]
    if state.assignees is not None:
        body["assignee"] = next((a.email for a in state.assignees if a.email), None)
    await _call(connector, http, "PUT", f"/incidents/{external_id}/state", body)


# endregion


# region parse_inbound
class EchoComment(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    text: str
    created: str
    updated: str | None = None


class EchoEvent(msgspec.Struct, forbid_unknown_fields=True):
    """A change of an incident, as the echo service journals it (its API's own calls included)."""

    id: str
    incident: str
    at: str
    author: str | None = None
    integration: bool = False
    state: str | None = None
    title: str | None = None
    description: str | None = None
    comment: EchoComment | None = None


class EchoWebhook(msgspec.Struct, forbid_unknown_fields=True):
    """What the echo service sends its webhook (signed with ``X-Hub-Signature``)."""

    events: list[EchoEvent]
    sent_at: str | None = None


class EchoChanges(msgspec.Struct):
    events: list[EchoEvent]
    cursor: str | None = None


def _change(event: EchoEvent, options: EchoStateOptions) -> ExternalChange:
    """An event as a change: its state mapped back to the case status that pushes it (if any does)."""
    status = next(
        (case_status for case_status, state in options.statuses.items() if state == event.state), None
    )
    comment = None
    if event.comment is not None:
        found = event.comment
        comment = ExternalComment(found.id, found.text, event.author or "", found.created, found.updated)
    return ExternalChange(
        incident_id=event.incident,
        change_id=event.id,
        at=event.at,
        author=event.author,
        by_integration=event.integration,
        status=status,
        external_status=event.state,
        title=event.title,
        description=event.description,
        comment=comment,
    )


@hookimpl
def parse_inbound(connector: Connector, call: InboundCall, options: EchoStateOptions) -> Inbound:
    try:
        webhook = msgspec.json.decode(call.body, type=EchoWebhook)
    except msgspec.DecodeError as exc:
        raise InboundRefused(f"Not an echo webhook: {exc}") from None
    return Inbound([_change(event, options) for event in webhook.events], webhook.sent_at)


# endregion


# region fetch_changes
@hookimpl
async def fetch_changes(
    connector: Connector,
    incident_ids: list[str],
    cursor: str | None,
    since: str,
    options: EchoStateOptions,
    http: OutboundClient,
) -> Changes:
    query = urlencode({"ids": ",".join(incident_ids), **({"after": cursor} if cursor else {"since": since})})
    found = msgspec.convert(await _call(connector, http, "GET", f"/changes?{query}"), EchoChanges)
    return Changes([_change(event, options) for event in found.events], found.cursor or cursor)


# endregion


@hookimpl
def after_push(incident: PushedIncident | None) -> None:
    """A fault switch for casepush's crash tests, not part of the example: with ``ECHO_CRASH_AFTER_CREATE``
    set, die as ``kill -9`` would once a push has made its incident, before casepush saves it."""
    import os

    if incident is not None and os.environ.get("ECHO_CRASH_AFTER_CREATE"):
        os._exit(9)
