"""The hooks connector plugins implement (``from casepush import hookimpl``).

A hook may return its value or an awaitable of it (``async def`` works). The hooks that act on one
connector (``transform_case``, ``push_to_service``, ``execute_sub_action``) are called only on the
plugin that registered the connector's type; ``before_push`` and ``after_push`` are heard by every
plugin. Every hook is documented in ``docs/writing-a-connector.md``.
"""

from typing import TYPE_CHECKING, Any

from pluggy import HookspecMarker

if TYPE_CHECKING:
    import msgspec

    from casepush.connectors import (
        CaseForPush,
        CaseState,
        Changes,
        Connector,
        ConnectorType,
        Inbound,
        InboundCall,
        PushedIncident,
    )
    from casepush.http import OutboundClient

hookspec = HookspecMarker("casepush")


@hookspec
def register_connector_types() -> "list[ConnectorType]":
    """Return the connector types this plugin provides.

    Called once at start. Each type id (``.jira``) may be registered by one plugin only.
    """


@hookspec(firstresult=True)
def transform_case(connector: "Connector", case: "CaseForPush") -> "msgspec.Struct | dict[str, Any]":
    """Turn a case into the params of the type's ``pushToService`` sub-action.

    :param connector: the connector pushed to, with its config and decrypted secrets.
    :param case: the case, its description with Kibana's "Added by" suffix, the comments new since the
        last push (alerts summed up in one), and the external id (None on the first push).
    :returns: an instance of the type's ``sub_actions["pushToService"]`` struct, or its fields as a dict.
        Either way the core checks them as ``_execute`` checks its params; a dict lets a case's own
        values (fields the user typed) be refused in Kibana's words (``[subActionParams.incident]: ...``)
        rather than in the words of the struct's constructor.
    """


@hookspec(firstresult=True)
def push_to_service(
    connector: "Connector", params: "msgspec.Struct", http: "OutboundClient", state: "CaseState | None"
) -> "PushedIncident":
    """Create the external incident (no external id in ``params``) or update it, then add the comments.

    :param params: the type's ``pushToService`` params, from ``transform_case`` or from ``_execute``.
    :param http: the core's HTTP client; plugins make every outbound call through it.
    :param state: the case's status and assignees to send with the incident, for types that send them
        with it rather than through ``push_case_state`` (None from ``_execute``, and when the
        connector's case sync settings ask for neither). Kibana's params stay Kibana's.
    :returns: the incident's id, title, url and pushed date.
    :raises casepush.connectors.ConnectorError: with the message the user sees.
    """


@hookspec(firstresult=True)
def execute_sub_action(
    connector: "Connector", sub_action: str, params: "msgspec.Struct", http: "OutboundClient"
) -> Any:
    """Run one of the type's ``_execute`` sub-actions other than ``pushToService``.

    :param params: an instance of the type's ``sub_actions[sub_action]`` struct.
    :returns: the ``data`` of the answer (anything msgspec can encode).
    :raises casepush.connectors.ConnectorError: with the message the user sees.
    """


@hookspec(firstresult=True)
def find_incident(connector: "Connector", case_id: str, http: "OutboundClient") -> "PushedIncident | None":
    """Find the incident a push of this case may have created before it was interrupted.

    Called only when a push died between the external create and the local save. Look the incident
    up by what ``transform_case`` put in it (ServiceNow's ``correlation_id``, a Jira label...).
    Without this hook, the next push creates a new incident, as Kibana does.

    :returns: the incident (its ``pushed_date`` may be the lookup time), or None when there is none.
    """


@hookspec(firstresult=True)
def push_case_state(
    connector: "Connector", external_id: str, state: "CaseState", http: "OutboundClient"
) -> None:
    """Bring the external incident's status and assignees in line with the case's (beyond Kibana).

    Called after a successful ``push_to_service``, when the connector's case sync settings ask for the
    status or assignees (each is None in ``state`` when not), for types whose ``pushes_state`` names
    them and which send them apart from the incident's fields (types that send them with the case use
    ``CaseForPush.state`` in ``transform_case`` instead).

    :param external_id: the incident's id, as ``push_to_service`` returned it.
    :param state: the status, the assignees, and the connector's ``options`` (the type's
        ``state_options``, e.g. which workflow transition each status takes).
    :raises casepush.connectors.ConnectorError: e.g. when the incident's workflow offers no transition
        to the status's mapped state, naming the status and the transitions available.
    """


@hookspec(firstresult=True)
def parse_inbound(
    connector: "Connector", call: "InboundCall", options: Any, http: "OutboundClient"
) -> "Inbound":
    """Turn a call of the connector's inbound webhook into the changes of external incidents it reports.

    Two-way sync, for types whose ``pulls`` is not empty. The core has checked the call's authentication
    (the type's ``inbound_auth``, with the connector's inbound secret) and its size; it applies each change
    once, to the case pushed to that incident, and drops changes made with the connector's own
    credentials (``by_integration``) and comments casepush pushed.

    :param call: the call's headers and raw body.
    :param options: the connector's status mapping and other options (the type's ``state_options``), to
        map an external status to a case status.
    :param http: the core's HTTP client, for what the call does not say (e.g. which external account is
        the connector's own, to mark its changes ``by_integration``).
    :returns: the changes (none for an event the type does not sync) and when the call was sent.
    :raises casepush.connectors.InboundRefused: for a body that is not what the system sends (a 400).
    """


@hookspec(firstresult=True)
def fetch_changes(
    connector: "Connector",
    incident_ids: list[str],
    cursor: str | None,
    since: str,
    options: Any,
    http: "OutboundClient",
) -> "Changes":
    """Find what changed in these incidents since the last poll (two-way sync by polling).

    :param incident_ids: the external ids of the incidents casepush pushed with this connector.
    :param cursor: where the previous poll stopped, as it said; None on the first poll.
    :param since: on the first poll, the time (ISO 8601 in UTC) from which changes count.
    :param options: the connector's ``state_options``, as for ``parse_inbound``.
    :returns: the changes and the cursor of the next poll. Overlapping polls are fine: a change seen
        twice (same ``change_id``) is applied once.
    :raises casepush.connectors.ConnectorError: when the system fails (the poll is tried again later).
    """


@hookspec
def before_push(connector: "Connector", params: "msgspec.Struct") -> None:
    """Hear of a push to an external system before it starts, e.g. to audit or to notify."""


@hookspec
def after_push(
    connector: "Connector", params: "msgspec.Struct", incident: "PushedIncident | None", error: str | None
) -> None:
    """Hear how a push ended: the incident pushed, or the connector's error message."""
