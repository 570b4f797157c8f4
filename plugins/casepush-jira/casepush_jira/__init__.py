"""casepush's Jira connector type (``.jira``), with the requests, fields and messages of Kibana's."""

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
    ConnectorError,
    ConnectorType,
    Inbound,
    InboundCall,
    PushComment,
    PushedIncident,
    ValidationContext,
    case_mappings,
)
from casepush.http import OutboundClient
from casepush_jira.schema import (
    FieldsByIssueType,
    GetIncident,
    Issue,
    Issues,
    JiraConfig,
    JiraFields,
    JiraSecrets,
    JiraStateOptions,
    Nothing,
    PushToService,
)
from casepush_jira.service import JiraService, case_label, iso, jql_literal, jql_text
from casepush_jira.sync import identity, marked, parse_webhook, poll, start_of


def validate(config: JiraConfig, secrets: JiraSecrets, context: ValidationContext) -> None:
    context.ensure_allowed(config.apiUrl, "error configuring connector action")


JIRA = ConnectorType(
    id=".jira",
    name="Jira",
    config=JiraConfig,
    secrets=JiraSecrets,
    fields=JiraFields,
    sub_actions={
        PUSH_TO_SERVICE: PushToService,
        "getIncident": GetIncident,
        "handshake": Nothing,
        "issueTypes": Nothing,
        "fieldsByIssueType": FieldsByIssueType,
        "issues": Issues,
        "issue": Issue,
    },
    supported_feature_ids=("alerting", "cases", "uptime", "siem"),
    minimum_license_required="gold",
    validate=validate,
    pushes_state=frozenset({STATUS, ASSIGNEES}),
    state_options=JiraStateOptions,
    # Two-way sync: Jira's webhooks (signed with their secret, as ``X-Hub-Signature: sha256=<hex>``, by
    # Jira Cloud and Data Center alike) and polling bring these back.
    pulls=frozenset({STATUS, COMMENTS, TITLE, DESCRIPTION}),
    inbound_auth="hub-signature",
    case_mappings=case_mappings("summary", "description", "comments", tags="labels"),
)


@hookimpl
def register_connector_types() -> list[ConnectorType]:
    return [JIRA]


@hookimpl
def transform_case(connector: Connector, case: CaseForPush) -> dict[str, Any]:
    """Kibana's Jira ``format``: the case's Jira fields, tags as labels with whitespace made ``-``, and
    one more label naming the case."""
    fields = case.case.connector.fields if case.case.connector.type == ".jira" else None
    jira = msgspec.convert(fields or {}, JiraFields)
    incident = {
        "summary": case.title,
        "description": case.description,
        "externalId": case.external_id,
        "issueType": jira.issueType,
        "priority": jira.priority,
        # The case's label lets an interrupted push find the issue it created (``find_incident``).
        "labels": ["-".join(tag.split()) for tag in case.case.tags] + [case_label(case.case.id)],
        "parent": jira.parent,
        "otherFields": jira.otherFields,
    }
    comments = case.comment_params()
    return {"incident": incident, "comments": comments}


def _service(connector: Connector, http: OutboundClient) -> JiraService:
    return JiraService(http, connector.config, connector.secrets)


@hookimpl
async def push_to_service(
    connector: Connector, params: PushToService, http: OutboundClient
) -> PushedIncident:
    """Create or update the issue, then add each non-empty comment, as Kibana's Jira connector."""
    service = _service(connector, http)
    incident = params.incident
    pushed = await (service.update(incident) if incident.externalId else service.create(incident))
    for comment in params.comments or []:
        if comment.comment:
            pushed.comments.append(
                await service.comment(pushed.id, PushComment(comment.commentId, comment.comment))
            )
    return pushed


@hookimpl
async def find_incident(connector: Connector, case_id: str, http: OutboundClient) -> PushedIncident | None:
    return await _service(connector, http).find_case_issue(case_id)


@hookimpl
async def push_case_state(
    connector: Connector, external_id: str, state: CaseState, http: OutboundClient
) -> None:
    """Assign the issue as the case is (first), then move it to the Jira status of the case's status.
    Each is tried even when the other fails; the error then tells of both."""
    options = state.options or JiraStateOptions()
    targets = options.targets(state.status) if state.status is not None else []
    if state.assignees is None and not targets:
        return
    service = _service(connector, http)
    issue = await service.get_issue(external_id, fields="status,assignee")
    errors: list[ConnectorError] = []
    if state.assignees is not None:
        try:
            await service.assign(issue, state.assignees)
        except ConnectorError as exc:
            errors.append(exc)
    if state.status is not None and targets:
        try:
            await service.move_to_status(issue, state.status, targets)
        except ConnectorError as exc:
            errors.append(exc)
    if errors:
        raise _together(errors)


@hookimpl
async def parse_inbound(
    connector: Connector, call: InboundCall, options: Any, http: OutboundClient
) -> Inbound:
    """A Jira webhook's changes: ``jira:issue_updated`` (its changelog's status, summary and description, and
    the comment it may carry), ``comment_created`` and ``comment_updated``; other events bring nothing.
    Changes by the connector's own account (``GET /myself``, kept per credentials) are ``by_integration``."""
    drafts, sent_at = parse_webhook(call.body, options)
    if not drafts:
        return Inbound([], sent_at)
    me = await identity(_service(connector, http), connector.secrets)
    return Inbound(marked(drafts, me), sent_at)


@hookimpl
async def fetch_changes(
    connector: Connector,
    incident_ids: list[str],
    cursor: str | None,
    since: str,
    options: Any,
    http: OutboundClient,
) -> Changes:
    """The changes of these issues since the cursor (``since`` on the first poll), as the webhooks would
    report them (the same change ids), by a JQL search of the issues updated since then."""
    if not incident_ids:
        return Changes([], cursor or iso(start_of(cursor, since)))
    service = _service(connector, http)
    me = await identity(service, connector.secrets)
    return await poll(service, me, incident_ids, cursor, since, options)


def _together(errors: list[ConnectorError]) -> ConnectorError:
    """One error for the assignee's and the status's: both messages, and the status (and Retry-After) of
    one that may pass on a retry if either may, so that an automatic push is retried for it."""
    if len(errors) == 1:
        return errors[0]
    lead = next((error for error in errors if error.may_pass), errors[0])
    message = " ".join(error.message for error in errors)
    return ConnectorError(message, lead.status, lead.retry_after, lead.retryable)


@hookimpl
async def execute_sub_action(connector: Connector, sub_action: str, params: Any, http: OutboundClient) -> Any:
    service = _service(connector, http)
    if sub_action == "handshake":
        return {}  # Kibana's executor answers ``data ?? {}``
    if sub_action == "issueTypes":
        return await service.issue_types()
    if sub_action == "fieldsByIssueType":
        return await service.fields_by_issue_type(params.id)
    if sub_action == "getIncident":
        issue = await service.get_issue(params.externalId)
        return {"id": issue["id"], "key": issue["key"], **(issue.get("fields") or {})}
    if sub_action == "issue":
        issue = await service.get_issue(params.id, f"Unable to get issue with id {params.id}")
        return {"id": issue["id"], "key": issue["key"], "title": (issue.get("fields") or {}).get("summary")}
    jql = f'project="{jql_literal(connector.config.projectKey)}" and summary ~"{jql_text(params.title)}"'
    issues = await service.search(jql, "Unable to get issues")
    return [{"id": i["id"], "key": i["key"], "title": (i.get("fields") or {}).get("summary")} for i in issues]
