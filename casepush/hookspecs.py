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

    from casepush.connectors import CaseForPush, CaseState, Connector, ConnectorType, PushedIncident
    from casepush.http import OutboundClient

hookspec = HookspecMarker("casepush")


@hookspec
def register_connector_types() -> "list[ConnectorType]":
    """Return the connector types this plugin provides.

    Called once at start. Each type id (``.jira``) may be registered by one plugin only.
    """


@hookspec(firstresult=True)
def transform_case(connector: "Connector", case: "CaseForPush") -> "msgspec.Struct":
    """Turn a case into the params of the type's ``pushToService`` sub-action.

    :param connector: the connector pushed to, with its config and decrypted secrets.
    :param case: the case, its description with Kibana's "Added by" suffix, the comments new since the
        last push (alerts summed up in one), and the external id (None on the first push).
    :returns: an instance of the type's ``sub_actions["pushToService"]`` struct.
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


@hookspec
def before_push(connector: "Connector", params: "msgspec.Struct") -> None:
    """Hear of a push to an external system before it starts, e.g. to audit or to notify."""


@hookspec
def after_push(
    connector: "Connector", params: "msgspec.Struct", incident: "PushedIncident | None", error: str | None
) -> None:
    """Hear how a push ended: the incident pushed, or the connector's error message."""
