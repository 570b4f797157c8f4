"""Pushing a case's status and assignee to its incident (casepush's own, beyond Kibana's push): the
options of each type and the one write that brings the incident in line with the case.

Each case status maps to the incident states that count as it; the first is the one set when the
incident is in none of them, so that a push never moves an incident within its status (an ITSM
incident On Hold stays On Hold while its case is in progress, a SecOps one in Contain stays there) nor
rewrites the close notes of an incident already resolved. The incident is read back after the write:
ServiceNow answers without error when it leaves a field as it was (a state that is not one of its
choices, a field the user may not write, a closed incident's state), which is then an error.
"""

from typing import Annotated, Any, Literal

import msgspec

from casepush.connectors import CaseAssignee, CaseState, ConnectorError
from casepush_servicenow.errors import NAME, ServiceNowError
from casepush_servicenow.service import ServiceNowService

#: Kibana's case statuses.
OPEN, IN_PROGRESS, CLOSED = "open", "in-progress", "closed"
STATUSES = (OPEN, IN_PROGRESS, CLOSED)
#: The journal fields of an incident that two-way sync can bring back as case comments: "Additional
#: comments" (seen by the caller) and "Work notes" (internal; where casepush pushes the case's comments).
JournalField = Literal["comments", "work_notes"]
COMMENTS: JournalField = "comments"
WORK_NOTES: JournalField = "work_notes"
JOURNAL_FIELDS = (COMMENTS, WORK_NOTES)

Text = Annotated[str, msgspec.Meta(min_length=1)]
#: The incident states that count as a case status: one value, or several whose first is the one set.
States = Text | Annotated[tuple[Text, ...], msgspec.Meta(min_length=1)]


class StateOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What each type's options have: the states of each status, and the close code and notes sent
    when the case is closed (None: not sent); for two-way sync, the journal fields whose entries come
    back as case comments (``pull_journal``)."""

    open: States
    in_progress: States = msgspec.field(name=IN_PROGRESS)
    closed: States
    close_code: Text | None
    close_notes: Text | None
    pull_journal: tuple[JournalField, ...] = JOURNAL_FIELDS

    def states(self, status: str) -> tuple[str, ...]:
        found = {OPEN: self.open, IN_PROGRESS: self.in_progress, CLOSED: self.closed}.get(status)
        if found is None:
            raise ConnectorError(
                f"[Action][{NAME}]: Unable to push the case status {status}: it is none of"
                f" {OPEN}, {IN_PROGRESS} and {CLOSED}.",
                retryable=False,
            )
        return (found,) if isinstance(found, str) else found

    def status_of(self, state: str) -> str | None:
        """The case status an incident state counts as (two-way sync): the status that sets it (the
        first of its states), else the first of open, in-progress and closed that counts it; None when
        no status counts it. With SecOps' defaults Analysis (16) is in-progress, which sets it, though an
        open case counts it too."""
        for status in STATUSES:
            if self.states(status)[0] == state:
                return status
        for status in STATUSES:
            if state in self.states(status):
                return status
        return None

    def close_fields(self) -> dict[str, str]:
        closing = {"close_code": self.close_code, "close_notes": self.close_notes}
        return {name: value for name, value in closing.items() if value is not None}


class ItsmStateOptions(StateOptions, kw_only=True):
    """ServiceNow ITSM (``incident``): 1 New, 2 In Progress, 3 On Hold, 6 Resolved, 7 Closed, 8 Canceled.

    A closed case resolves the incident (6): ServiceNow needs the itil_admin or admin role to close
    (7), closes resolved incidents itself after its auto-close delay, and reopens only resolved ones.
    Resolving needs a resolution code that is one of the instance's choices, and resolution notes.
    """

    open: States = ("1",)
    in_progress: States = msgspec.field(default=("2", "3"), name=IN_PROGRESS)
    closed: States = ("6", "7", "8")
    close_code: Text | None = "Solution provided"
    close_notes: Text | None = "Closed by casepush"


class SirStateOptions(StateOptions, kw_only=True):
    """ServiceNow SecOps (``sn_si_incident``): 10 Draft, 16 Analysis, 18 Contain, 19 Eradicate,
    20 Recover, 100 Review, 3 Closed, 7 Cancelled. An open case counts Analysis too: SecOps moves a
    Draft incident to Analysis as soon as it is assigned."""

    open: States = ("10", "16")
    in_progress: States = msgspec.field(default=("16", "18", "19", "20", "100"), name=IN_PROGRESS)
    closed: States = ("3", "7")
    close_code: Text | None = "Investigation completed"
    close_notes: Text | None = "Closed by casepush"


async def push_state(
    service: ServiceNowService, sys_id: str, state: CaseState, options: StateOptions
) -> None:
    """Bring the incident's state and ``assigned_to`` in line with the case's status and assignees (each
    None when not pushed), in one write, and only what differs."""
    if state.status is None and state.assignees is None:
        return
    incident = await service.get_incident(sys_id)
    fields: dict[str, str] = {}
    wanted: tuple[str, ...] = ()
    if state.status is not None:
        wanted = options.states(state.status)
        if str(incident.get("state") or "") not in wanted:
            fields["state"] = wanted[0]
            if state.status == CLOSED:
                fields.update(options.close_fields())
    email = None
    if state.assignees is not None:
        email = _email(state.assignees, sys_id)
        user = await service.find_user(email) if email else None
        assignee = user["sys_id"] if user else ""
        if reference(incident.get("assigned_to")) != assignee:
            fields["assigned_to"] = assignee
    if not fields:
        return
    what = _describe(sys_id, state.status, fields, email)
    status, written = await service.update_record(sys_id, fields, what=what)
    problems = []
    if "state" in fields and str(written.get("state") or "") not in wanted:
        problems.append(
            f"ServiceNow answered without error but left the incident in state {written.get('state')}"
            f" instead of {fields['state']}{await _known_states(service)}"
        )
    assigned = reference(written.get("assigned_to"))
    if "assigned_to" in fields and assigned != fields["assigned_to"]:
        problems.append(
            f"ServiceNow answered without error but left assigned_to {assigned or 'empty'}"
            f" instead of {fields['assigned_to'] or 'empty'}"
        )
    if problems:
        message = " ".join(f"{problem}." for problem in problems)
        raise ServiceNowError(message, status).reworded(what, service.update_method, service.endpoint)


def reference(value: Any) -> str:
    """A reference field's sys_id as the Table API gives it: ``{"link", "value"}``, the id, or empty."""
    if isinstance(value, dict):
        return str(value.get("value") or "")
    return str(value or "")


def _email(assignees: list[CaseAssignee], sys_id: str) -> str | None:
    """The email of the first assignee who has one (ServiceNow has one ``assigned_to``); None for no
    assignees (the incident is unassigned)."""
    if not assignees:
        return None
    for assignee in assignees:
        if assignee.email:
            return assignee.email
    names = ", ".join(assignee.uid for assignee in assignees)
    raise ServiceNowError(
        f"None of the case's assignees ({names}) has an email,"
        " by which casepush finds their ServiceNow user.",
        retryable=False,
    ).reworded(f"Unable to assign incident with id {sys_id}", "get", "table")


def _describe(sys_id: str, status: str | None, fields: dict[str, str], email: str | None) -> str:
    """The write, as the step its failure names."""
    subject = f"incident with id {sys_id}"
    if "state" in fields:
        details = [f"case status {status}"]
        if "close_code" in fields:
            details.append(f'close code "{fields["close_code"]}"')
        what = f"set {subject} to state {fields['state']} ({', '.join(details)})"
        if "assigned_to" in fields:
            what += f" and assign it to {email}" if fields["assigned_to"] else " and unassign it"
    elif fields["assigned_to"]:
        what = f"assign {subject} to {email}"
    else:
        what = f"unassign {subject}"
    return f"Unable to {what}"


async def _known_states(service: ServiceNowService) -> str:
    """The table's states, to name in the error (nothing when they cannot be read)."""
    try:
        choices = await service.state_choices()
    except ServiceNowError:
        return ""
    named = [f"{choice.get('value')} ({choice.get('label')})" for choice in choices or []]
    return f"; the states of {service.product.table} are {', '.join(named)}" if named else ""
