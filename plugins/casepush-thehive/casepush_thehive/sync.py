"""casepush's own, beyond Kibana's connector: finding a case's TheHive case again, pushing a case's status
and assignee, and two-way sync from TheHive's audits (polled with ``listAudit``, or sent by a webhook
endpoint as notifications)."""

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec

from casepush.connectors import (
    CaseAssignee,
    CaseState,
    Changes,
    ConnectorError,
    ExternalChange,
    ExternalComment,
    InboundRefused,
    PushedIncident,
)
from casepush.http import IDEMPOTENT
from casepush_thehive.schema import TheHiveStateOptions
from casepush_thehive.service import TheHiveService, iso_of_ms

#: The audits a poll reads at once.
PAGE = 100
#: TheHive's case stages and the case statuses they stand for.
STAGES = {"New": "open", "InProgress": "in-progress", "Closed": "closed"}
#: The API key's own login, by TheHive URL and a digest of the key: looked up once.
_LOGINS: dict[tuple[str, str], str] = {}


def query(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"query": list(steps)}


async def find_case(service: TheHiveService, tag: str) -> PushedIncident | None:
    """The TheHive case carrying the tag that names a case (the oldest, should there be several)."""
    found = await service.call(
        "POST",
        "/query",
        IDEMPOTENT,
        query(
            {"_name": "listCase"},
            {"_name": "filter", "_eq": {"_field": "tags", "_value": tag}},
            {"_name": "sort", "_fields": [{"_createdAt": "asc"}]},
            {"_name": "page", "from": 0, "to": 1},
        ),
    )
    if not isinstance(found, list) or not found:
        return None
    case = found[0]
    return PushedIncident(
        case["_id"], case["title"], service.case_url(case["_id"]), iso_of_ms(case["_createdAt"])
    )


async def own_login(service: TheHiveService) -> str:
    """The login of the API key's user (``GET /api/v1/user/current``), which writes casepush's changes."""
    key = (service.base, hashlib.sha256(service.headers["Authorization"].encode()).hexdigest())
    if key not in _LOGINS:
        user = await service.call("GET", "/user/current", IDEMPOTENT)
        _LOGINS[key] = user["login"]
    return _LOGINS[key]


# --- pushing the case's state ------------------------------------------------------------------------------


async def push_state(service: TheHiveService, case_id: str, state: CaseState) -> None:
    """One ``PATCH`` of what differs: the status the options map the case's to, and the assignee (the TheHive
    user whose login is the email of the first case assignee with one; none without assignees)."""
    options = state.options or TheHiveStateOptions()
    current = await service.call("GET", f"/case/{case_id}", IDEMPOTENT)
    changes: dict[str, Any] = {}
    target = options.target(state.status) if state.status is not None else None
    if target is not None and current.get("status") != target:
        changes["status"] = target
    if state.assignees is not None:
        login = await _assignee_login(service, state.assignees)
        if current.get("assignee") != login:
            changes["assignee"] = login
    if changes:
        await service.call("PATCH", f"/case/{case_id}", IDEMPOTENT, changes)


async def _assignee_login(service: TheHiveService, assignees: list[CaseAssignee]) -> str | None:
    if not assignees:
        return None
    email = next((assignee.email for assignee in assignees if assignee.email), None)
    if email is None:
        uids = ", ".join(assignee.uid for assignee in assignees)
        raise ConnectorError(
            f"Unable to assign the TheHive case: none of the case's assignees ({uids}) has an email,"
            " and TheHive users are found by their login, their email",
            retryable=False,
        )
    try:
        user = await service.call("GET", f"/user/{email}", IDEMPOTENT)
    except ConnectorError as exc:
        if exc.status == 404:
            raise ConnectorError(
                f"Unable to assign the TheHive case: no TheHive user has the login {email}", 404
            ) from None
        raise
    return user["login"]


# --- two-way sync: TheHive's audits as changes ---------------------------------------------------------


class Audit(msgspec.Struct):
    """What casepush reads of an audit, polled or notified: ``action`` (an audit's) or ``operation`` (a
    notification's), the object and its root case, when and by whom (``_createdBy``, or the ``object``'s
    writer in a notification), and the changed ``details``."""

    objectType: str
    objectId: str
    rootId: str
    details: dict[str, Any] = {}
    action: str | None = None
    operation: str | None = None
    requestId: str | None = None
    _createdAt: int | None = None
    startDate: int | None = None
    _createdBy: str | None = None
    object: dict[str, Any] = {}

    @property
    def verb(self) -> str:
        return (self.action or self.operation or "").lower()

    @property
    def at(self) -> int:
        return self._createdAt or self.startDate or 0

    @property
    def author(self) -> str | None:
        found = self.object
        writer = (
            found.get("_updatedBy")
            or found.get("updatedBy")
            or found.get("_createdBy")
            or found.get("createdBy")
        )
        return self._createdBy or writer

    def change_id(self, part: str) -> str:
        """The same for an audit polled and notified: its request, its object and what changed."""
        return f"{self.requestId or self.at}:{self.objectId}:{part}"


def changes_of(audits: Iterable[Audit], me: str) -> list[ExternalChange]:
    changes = []
    for audit in audits:
        kind = audit.objectType.lower()
        if kind == "case" and audit.verb == "update":
            changes.extend(_case_changes(audit, me))
        elif kind in ("comment", "case_comment") and audit.verb in ("create", "creation", "update"):
            changes.extend(_comment_change(audit, me))
    return changes


def _base(audit: Audit, part: str, me: str) -> dict[str, Any]:
    return {
        "incident_id": audit.rootId,
        "change_id": audit.change_id(part),
        "at": iso_of_ms(audit.at),
        "author": audit.author,
        "by_integration": audit.author == me,
    }


def _case_changes(audit: Audit, me: str) -> list[ExternalChange]:
    details, found = audit.details, []
    stage = details.get("stage") or (_stage_of(details["status"]) if "status" in details else None)
    if stage in STAGES:
        found.append(
            ExternalChange(
                **_base(audit, "status", me), status=STAGES[stage], external_status=details.get("status")
            )
        )
    for part in ("title", "description"):
        if isinstance(details.get(part), str):
            found.append(ExternalChange(**_base(audit, part, me), **{part: details[part]}))
    return found


def _stage_of(status: str) -> str:
    """TheHive 5's stage of a status: ``New`` and ``InProgress`` their own, every other one closing."""
    return status if status in ("New", "InProgress") else "Closed"


def _comment_change(audit: Audit, me: str) -> list[ExternalChange]:
    message = audit.details.get("message", audit.object.get("message"))
    if not isinstance(message, str):
        return []
    created = audit.object.get("createdAt") or audit.at
    edited = audit.verb == "update"
    comment = ExternalComment(
        id=audit.objectId,
        body=message,
        author=audit.author or "TheHive",
        created_at=iso_of_ms(created),
        updated_at=iso_of_ms(audit.at) if edited else None,
    )
    part = f"comment-{audit.at}" if edited else "comment"
    return [ExternalChange(**_base(audit, part, me), comment=comment)]


async def poll(service: TheHiveService, incident_ids: list[str], cursor: str | None, since: str) -> Changes:
    """The audits of these cases since the cursor (Unix milliseconds; ``since`` on the first poll), oldest
    first, a page at a time; the next cursor is the newest audit's time (read again: polls may overlap)."""
    start = (
        int(cursor)
        if cursor
        else int(datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp() * 1000)
    )
    me, audits, offset = await own_login(service), [], 0
    while True:
        page = await service.call("POST", "/query", IDEMPOTENT, _audits_query(incident_ids, start, offset))
        audits.extend(msgspec.convert(page, list[Audit]))
        if len(page) < PAGE:
            break
        offset += PAGE
    newest = max((audit.at for audit in audits), default=start)
    return Changes(changes_of(audits, me), str(newest))


def _audits_query(incident_ids: list[str], start: int, offset: int) -> dict[str, Any]:
    return query(
        {"_name": "listAudit"},
        {
            "_name": "filter",
            "_and": [
                {"_in": {"_field": "rootId", "_values": incident_ids}},
                {"_gte": {"_field": "_createdAt", "_value": start}},
            ],
        },
        {"_name": "sort", "_fields": [{"_createdAt": "asc"}]},
        {"_name": "page", "from": offset, "to": offset + PAGE},
    )


def parse_notification(body: bytes) -> tuple[Audit, str | None]:
    """A webhook endpoint's notification (TheHive's version 0 message) and when it was sent."""
    try:
        audit = msgspec.json.decode(body, type=Audit)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InboundRefused(f"Not a TheHive notification: {exc}") from None
    return audit, iso_of_ms(audit.at) if audit.at else None
