"""Attachments (user comments and alerts) of a case, with Kibana's checks and messages."""

import msgspec

from casepush.domain import Context, load_case, new_id, now_iso, user_actions, validation
from casepush.domain.cases import with_totals
from casepush.errors import bad_request, conflict, not_found, saved_object_not_found
from casepush.security.authz import Operations
from casepush.store import Tx, VersionConflict
from casepush.types import (
    AddAlertComment,
    AddComment,
    AddUserComment,
    AlertComment,
    Attachment,
    Case,
    CaseAlert,
    CaseOfAlert,
    FindCommentsResponse,
    UpdateComment,
    UserComment,
    as_list,
    attachment_type,
)

_STALE = "This case has been updated. Please refresh before saving additional updates."


def _validate_request(request: AddComment) -> None:
    if isinstance(request, AddUserComment):
        validation.limited_string(request.comment, "comment", validation.MAX_COMMENT_LENGTH)
    # Kibana's alert codec has no array limit: too many alerts meet the case's alert limiter in ``add``.


def _attachment(request: AddComment, attachment_id: str, ctx: Context, now: str) -> Attachment:
    fields = msgspec.structs.asdict(request)
    fields.pop("version", None)
    fields["id"] = attachment_id
    kind = UserComment if isinstance(request, AddUserComment) else AlertComment
    return kind(**fields, created_at=now, created_by=ctx.user)


async def _touch_case(tx: Tx, ctx: Context, case: Case, now: str) -> Case:
    """Every attachment change updates the case's ``updated_at``/``updated_by`` (and so its version)."""
    touched = msgspec.structs.replace(case, updated_at=now, updated_by=ctx.user)
    try:
        return await tx.update_case(ctx.space_id, touched, case)
    except VersionConflict:
        raise conflict(f"Saved object [cases/{case.id}] conflict") from None


async def _case_response(tx: Tx, ctx: Context, case: Case) -> Case:
    (case,) = await with_totals(tx, ctx, [case], include_comments=True)
    return case


async def add(ctx: Context, case_id: str, request: AddComment) -> Case:
    _validate_request(request)
    async with ctx.store.write() as tx:
        ctx.access.ensure([request.owner], Operations.create_comment)
        case = await load_case(tx, ctx, case_id)
        if isinstance(request, AddAlertComment) and case.status == "closed":
            raise bad_request("Alert cannot be attached to a closed case")
        if request.owner != case.owner:
            raise bad_request("The owner field of the comment must match the case")
        if isinstance(request, AddAlertComment):
            attached = await tx.count_case_alerts(ctx.space_id, case_id)
            if attached + len(as_list(request.alertId)) > validation.MAX_ALERTS_PER_CASE:
                raise bad_request(
                    f"Case has reached the maximum allowed number ({validation.MAX_ALERTS_PER_CASE}) "
                    "of attached alerts."
                )
        now = now_iso()
        attachment = await tx.insert_attachment(
            ctx.space_id, case_id, _attachment(request, new_id(), ctx, now)
        )
        case = await _touch_case(tx, ctx, case, now)
        await user_actions.record(
            tx, ctx, case, [user_actions.comment_action(ctx, case, "create", attachment)]
        )
        return await _case_response(tx, ctx, case)


async def _load_attachment(tx: Tx, ctx: Context, case_id: str, attachment_id: str) -> Attachment:
    found = await tx.get_attachment(ctx.space_id, attachment_id)
    if found is None:
        raise saved_object_not_found("cases-comments", attachment_id)
    owning_case, attachment = found
    if owning_case != case_id:
        raise not_found(f"This comment {attachment_id} does not exist in {case_id}.")
    return attachment


async def update(ctx: Context, case_id: str, request: UpdateComment) -> Case:
    _validate_request(request)
    async with ctx.store.write() as tx:
        found = await tx.get_attachment(ctx.space_id, request.id)
        if found is None:
            raise saved_object_not_found("cases-comments", request.id)
        owning_case, current = found
        ctx.access.ensure([current.owner], Operations.update_comment)
        case = await load_case(tx, ctx, case_id)
        if attachment_type(current) != attachment_type(request):
            raise bad_request("You cannot change the type of the comment.")
        if current.owner != request.owner:
            raise bad_request("You cannot change the owner of the comment.")
        if owning_case != case_id:
            raise not_found(f"This comment {request.id} does not exist in {case_id}).")
        if current.version != request.version:
            raise conflict(_STALE)
        now = now_iso()
        changed = _attachment(request, current.id, ctx, current.created_at)
        changed = msgspec.structs.replace(
            changed,
            created_by=current.created_by,
            pushed_at=current.pushed_at,
            pushed_by=current.pushed_by,
            updated_at=now,
            updated_by=ctx.user,
        )
        try:
            changed = await tx.update_attachment(ctx.space_id, case_id, changed, request.version)
        except VersionConflict:
            raise conflict(_STALE) from None
        case = await _touch_case(tx, ctx, case, now)
        await user_actions.record(tx, ctx, case, [user_actions.comment_action(ctx, case, "update", changed)])
        return await _case_response(tx, ctx, case)


async def delete(ctx: Context, case_id: str, attachment_id: str) -> None:
    async with ctx.store.write() as tx:
        attachment = await _load_attachment(tx, ctx, case_id, attachment_id)
        ctx.access.ensure([attachment.owner], Operations.delete_comment)
        case = await load_case(tx, ctx, case_id)
        await tx.delete_attachments(ctx.space_id, case_id, [attachment_id])
        await user_actions.record(
            tx, ctx, case, [user_actions.comment_action(ctx, case, "delete", attachment)]
        )


async def delete_all(ctx: Context, case_id: str) -> None:
    async with ctx.store.write() as tx:
        case = await load_case(tx, ctx, case_id)
        attachments, _ = await tx.list_attachments(ctx.space_id, case_id)
        if not attachments:
            raise not_found(f"No comments found for {case_id}.")
        ctx.access.ensure({a.owner for a in attachments}, Operations.delete_comment)
        await tx.delete_attachments(ctx.space_id, case_id, None)
        await user_actions.record(
            tx, ctx, case, [user_actions.comment_action(ctx, case, "delete", a) for a in attachments]
        )


async def get(ctx: Context, case_id: str, attachment_id: str) -> Attachment:
    async with ctx.read() as tx:
        attachment = await _load_attachment(tx, ctx, case_id, attachment_id)
    ctx.access.ensure([attachment.owner], Operations.get_comment)
    return attachment


async def find(ctx: Context, case_id: str, sort_order: str, page: int, per_page: int) -> FindCommentsResponse:
    """User comments only, by creation time, as Kibana's ``comments/_find``."""
    validation.paging(page, per_page)
    async with ctx.read() as tx:
        case = await load_case(tx, ctx, case_id)
        ctx.access.ensure([case.owner], Operations.get_comment)
        comments, total = await tx.list_attachments(
            ctx.space_id, case_id, (page - 1) * per_page, per_page, sort_order == "desc", only_type="user"
        )
    return FindCommentsResponse(comments=comments, page=page, per_page=per_page, total=total)


async def alerts_of_case(ctx: Context, case_id: str) -> list[CaseAlert]:
    async with ctx.read() as tx:
        case = await load_case(tx, ctx, case_id)
        ctx.access.ensure([case.owner], Operations.get_alerts)
        return await tx.case_alerts(ctx.space_id, case_id)


async def cases_of_alert(ctx: Context, alert_id: str, owners: list[str]) -> list[CaseOfAlert]:
    async with ctx.read() as tx:
        cases = await tx.cases_with_alert(
            ctx.space_id, alert_id, ctx.access.allowed_owners(owners, Operations.get_cases_of_alert)
        )
        cases = await with_totals(tx, ctx, cases)
    return [
        CaseOfAlert(
            id=c.id,
            title=c.title,
            description=c.description,
            status=c.status,
            createdAt=c.created_at,
            totals={"alerts": c.totalAlerts, "userComments": c.totalComment},
        )
        for c in cases
    ]
