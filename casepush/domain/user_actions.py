"""The audit trail: every change to a case becomes a user action with Kibana's type, action and payload."""

from collections.abc import Sequence
from typing import Any, get_args

import msgspec

from casepush.domain import Context, automatic_push, load_case, new_id, now_iso, validation
from casepush.security.authz import Operations
from casepush.store import Page, Tx
from casepush.types import (
    Attachment,
    Case,
    FindUserActionsResponse,
    UserAction,
    UserActionType,
)

#: Every type a user action is stored with.
STORED_TYPES: tuple[str, ...] = get_args(UserActionType)


def user_action(
    ctx: Context, case: Case, type_: str, action: str, payload: dict[str, Any], comment_id: str | None = None
) -> UserAction:
    return UserAction(
        id=new_id(),
        type=type_,  # type: ignore[arg-type]
        action=action,  # type: ignore[arg-type]
        payload=payload,
        comment_id=comment_id,
        created_at=now_iso(),
        created_by=ctx.user,
        owner=case.owner,
    )


def _plain(value: Any) -> Any:
    return msgspec.to_builtins(value)


def create_case_action(ctx: Context, case: Case) -> UserAction:
    payload = {
        "title": case.title,
        "description": case.description,
        "tags": case.tags,
        "connector": _plain(case.connector),
        "settings": _plain(case.settings),
        "owner": case.owner,
        "severity": case.severity,
        "assignees": _plain(case.assignees),
        "status": case.status,
        "category": case.category,
        "customFields": _plain(case.customFields),
    }
    return user_action(ctx, case, "create_case", "create", payload)


def case_change_actions(ctx: Context, before: Case, after: Case) -> list[UserAction]:
    """One user action per changed field; list fields split into ``add`` and ``delete``."""
    actions = []
    for field in ("title", "description", "status", "severity", "settings", "connector", "category"):
        old, new = getattr(before, field), getattr(after, field)
        if old != new:
            actions.append(user_action(ctx, after, field, "update", {field: _plain(new)}))
    actions += _list_changes(ctx, after, "tags", before.tags, after.tags)
    actions += _list_changes(ctx, after, "assignees", before.assignees, after.assignees)
    changed_fields = [f for f in after.customFields if f not in before.customFields]
    if changed_fields:
        actions.append(
            user_action(ctx, after, "customFields", "update", {"customFields": _plain(changed_fields)})
        )
    return actions


def _list_changes(
    ctx: Context, case: Case, field: str, old: Sequence[Any], new: Sequence[Any]
) -> list[UserAction]:
    added = [item for item in new if item not in old]
    removed = [item for item in old if item not in new]
    return [
        user_action(ctx, case, field, action, {field: _plain(items)})
        for action, items in (("add", added), ("delete", removed))
        if items
    ]


def comment_action(ctx: Context, case: Case, action: str, attachment: Attachment) -> UserAction:
    """Kibana records the attachment's request attributes (not its metadata) under ``comment``."""
    attributes = _plain(attachment)
    for key in (
        "id",
        "version",
        "created_at",
        "created_by",
        "pushed_at",
        "pushed_by",
        "updated_at",
        "updated_by",
    ):
        attributes.pop(key, None)
    return user_action(ctx, case, "comment", action, {"comment": attributes}, comment_id=attachment.id)


async def record(tx: Tx, ctx: Context, case: Case, actions: list[UserAction], asks_push: bool = True) -> None:
    """Record a change of ``case`` (as it is after it); a change that needs a push asks for an automatic
    one, unless it came from the external system (``asks_push`` False: a push's own changes, and two-way
    sync's, never ask for a push, which would echo them back)."""
    if not actions:
        return
    if not asks_push or not automatic_push.may_push(case):
        await tx.insert_user_actions(ctx.space_id, case.id, actions)
        return
    # The rules that decide whether the change asks for a push come with the insert (one statement).
    rules = await tx.record_user_actions(ctx.space_id, case.id, actions, case.owner, case.connector.id)
    await automatic_push.note_changes(tx, ctx, case, actions, rules)


async def find(
    ctx: Context, case_id: str, types: list[str], sort_order: str, page: int, per_page: int
) -> FindUserActionsResponse:
    validation.paging(page, per_page)
    async with ctx.read() as tx:
        case = await load_case(tx, ctx, case_id)
        ctx.access.ensure([case.owner], Operations.get_user_actions)
        stored, attachment_types = type_filter(types)
        found, total = await tx.find_user_actions(
            ctx.space_id,
            case_id,
            stored,
            attachment_types,
            Page(page, per_page, descending=sort_order == "desc"),
        )
    return FindUserActionsResponse(userActions=found, page=page, perPage=per_page, total=total)


#: Kibana's filter names for comment user actions, by the attachment type they concern.
_ATTACHMENT_FILTERS = {
    "user": ["user"],
    "alert": ["alert"],
    "attachment": ["externalReference", "persistableState"],
}


def type_filter(types: list[str]) -> tuple[list[str], list[str]]:
    """Split ``types`` into stored user-action types and attachment types of comment user actions.

    ``action`` means every user action that is not about an attachment.
    """
    stored: set[str] = set()
    attachment_types: set[str] = set()
    for name in types:
        if name == "action":
            stored.update(t for t in STORED_TYPES if t != "comment")
        elif name in _ATTACHMENT_FILTERS:
            attachment_types.update(_ATTACHMENT_FILTERS[name])
        else:
            stored.add(name)
    return sorted(stored), sorted(attachment_types)
