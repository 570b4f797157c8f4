"""Cases: create, read, update, delete and find, with Kibana's checks and messages."""

import dataclasses
import math
from functools import partial
from typing import Any, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from casepush.domain import Context, dates, load_case, new_id, now_iso, parse_iso, user_actions, validation
from casepush.domain.custom_fields import fill_missing, validate_custom_fields
from casepush.errors import KibanaError, bad_request, conflict, not_found, saved_object_not_found
from casepush.security.authz import Operations
from casepush.store import CaseQuery, Page, Tx, VersionConflict
from casepush.types import (
    AlertComment,
    Assignee,
    Attachment,
    Case,
    CaseConnector,
    CasePatch,
    CreateCase,
    FindCasesQuery,
    FindCasesResponse,
    StatusCounts,
    User,
    UserComment,
    as_list,
)

#: ``PATCH /api/cases`` fields that are user-editable, in the order Kibana records them.
PATCHABLE = (
    "title",
    "description",
    "tags",
    "status",
    "severity",
    "connector",
    "settings",
    "assignees",
    "category",
    "customFields",
    "owner",
)


def validate_connector(ctx: Context, connector: CaseConnector) -> None:
    """A case's connector: ``.none`` carries no fields; another type must be installed, and its fields
    (or null) must fit the type's ``fields`` struct."""
    if connector.type != ".none" and connector.type not in ctx.connector_types:
        raise bad_request(validation.invalid_value(connector.type, "connector,type"))
    if connector.fields is None:
        return
    fields_type = ctx.connector_types[connector.type].fields if connector.type != ".none" else None
    if fields_type is None or not _fits(connector.fields, fields_type):
        raise bad_request(validation.invalid_value(connector.fields, "connector,fields"))


def _fits(value: Any, struct: type) -> bool:
    try:
        msgspec.convert(value, struct)
    except msgspec.ValidationError:
        return False
    return True


def _validate_case_fields(
    title: str | None = None,
    description: str | None = None,
    tags: list[str] | None = None,
    category: str | None = None,
    assignees: list | None = None,
    custom_fields: list | None = None,
) -> None:
    if title is not None:
        validation.limited_string(title, "title", validation.MAX_TITLE_LENGTH)
    if description is not None:
        validation.limited_string(description, "description", validation.MAX_DESCRIPTION_LENGTH)
    if tags is not None:
        validation.tags(tags)
    if category is not None:
        validation.limited_or_other(
            partial(validation.limited_string, category, "category", validation.MAX_CATEGORY_LENGTH),
            category,
            "category",
        )
    if assignees is not None:
        validation.limited_array(assignees, "assignees", validation.MAX_ASSIGNEES_PER_CASE)
    if custom_fields is not None:
        validation.limited_array(custom_fields, "customFields", validation.MAX_CUSTOM_FIELDS_PER_CASE)
        for field in custom_fields:
            if isinstance(field.value, str):
                validation.limited_string(field.value, "value", validation.MAX_CUSTOM_FIELD_TEXT_VALUE_LENGTH)


T = TypeVar("T")


def _given(value: T | UnsetType) -> T | None:
    """A patch's field, None when the patch leaves it out."""
    return None if isinstance(value, UnsetType) else value


def _dedupe_assignees(assignees: list[Assignee]) -> list[Assignee]:
    """The first assignee of each uid, in order."""
    first: dict[str, Assignee] = {}
    for assignee in assignees:
        first.setdefault(assignee.uid, assignee)
    return list(first.values())


async def with_totals(tx: Tx, ctx: Context, cases: list[Case], include_comments: bool = False) -> list[Case]:
    """Fill ``totalComment``, ``totalAlerts`` and, when asked, ``comments`` as ``GET`` shows them: with the
    comments, the totals are counted from them (no statement of their own)."""
    if include_comments:
        for case in cases:
            case.comments, _ = await tx.list_attachments(ctx.space_id, case.id)
            case.totalComment, case.totalAlerts = attachment_totals(case.comments)
        return cases
    totals = await tx.case_totals(ctx.space_id, [c.id for c in cases])
    for case in cases:
        case.totalComment, case.totalAlerts = totals[case.id]
    return cases


def attachment_totals(attachments: list[Attachment]) -> tuple[int, int]:
    """``Tx.case_totals`` of a case, from all its attachments: its user comments, and the distinct ids of
    the alerts its alert attachments name (the store's ``case_alerts`` rows are exactly those ids)."""
    comments = sum(isinstance(attachment, UserComment) for attachment in attachments)
    alerts = {
        alert_id
        for attachment in attachments
        if isinstance(attachment, AlertComment)
        for alert_id in as_list(attachment.alertId)
    }
    return comments, len(alerts)


async def _owner_custom_fields(tx: Tx, ctx: Context, owner: str) -> list | None:
    configurations = await tx.list_configurations(ctx.space_id, [owner])
    return configurations[0].customFields if configurations else None


async def create(ctx: Context, request: CreateCase) -> Case:
    _validate_case_fields(
        request.title,
        request.description,
        request.tags,
        request.category,
        request.assignees,
        request.customFields,
    )
    validate_connector(ctx, request.connector)
    async with ctx.store.write() as tx:
        configured = await _owner_custom_fields(tx, ctx, request.owner)
        validate_custom_fields(request.customFields, configured)
        ctx.access.ensure([request.owner], Operations.create_case)
        case = Case(
            id=new_id(),
            title=request.title.strip(),
            description=request.description.strip(),
            tags=[tag.strip() for tag in request.tags],
            severity=request.severity,
            owner=request.owner,
            assignees=_dedupe_assignees(request.assignees or []),
            settings=request.settings,
            category=request.category.strip() if request.category is not None else None,
            customFields=fill_missing(request.customFields or [], configured),
            connector=request.connector,
            created_at=now_iso(),
            created_by=ctx.user,
        )
        action = user_actions.create_case_action(ctx, case)
        action.payload.update(
            title=request.title,
            description=request.description,
            tags=request.tags,
            customFields=msgspec.to_builtins(request.customFields or []),
        )
        case = await tx.insert_case(ctx.space_id, case)
        await user_actions.record(tx, ctx, case, [action])
    return case


async def get(ctx: Context, case_id: str, include_comments: bool = True) -> Case:
    async with ctx.read() as tx:
        case = await load_case(tx, ctx, case_id)
        ctx.access.ensure([case.owner], Operations.get_case)
        (case,) = await with_totals(tx, ctx, [case], include_comments)
    return case


def _changed_fields(case: Case, patch: CasePatch) -> dict[str, object]:
    """Kibana's ``getCaseToUpdate``: keep fields that differ; lists compare as unordered sets."""
    changes = {}
    for name in PATCHABLE:
        value = getattr(patch, name)
        if value is UNSET:
            continue
        current = getattr(case, name)
        if isinstance(value, list):
            differs = any(v not in current for v in value) or any(c not in value for c in current)
        else:
            differs = value != current
        if differs:
            changes[name] = value
    return changes


def _apply(case: Case, changes: dict[str, object], user: User, now: str, configured: list | None) -> Case:
    updated = msgspec.structs.replace(case, updated_at=now, updated_by=user)
    for name, value in changes.items():
        if isinstance(value, str) and name in ("title", "description", "category"):
            value = value.strip()
        elif name == "tags" and isinstance(value, list):
            value = [tag.strip() for tag in value]
        elif name == "assignees" and isinstance(value, list):
            value = _dedupe_assignees(value)
        elif name == "customFields" and isinstance(value, list):
            value = fill_missing(value, configured)
        setattr(updated, name, value)
    if "status" in changes:
        apply_status(updated, user, now)
    return updated


def _seconds_between(start: str, end: str) -> int | None:
    seconds = (parse_iso(end) - parse_iso(start)).total_seconds()
    return math.floor(seconds) if seconds >= 0 else None


def apply_status(case: Case, user: User, now: str) -> None:
    """Closing records who and when and the duration; reopening clears them (Kibana's bulk update)."""
    if case.status == "closed":
        case.closed_at, case.closed_by = now, user
        case.duration = _seconds_between(case.created_at, now)
        case.time_to_resolve = case.duration
        case.time_to_acknowledge = _seconds_between(case.created_at, case.in_progress_at or now)
        case.time_to_investigate = _seconds_between(case.in_progress_at, now) if case.in_progress_at else 0
        return
    case.closed_at = case.closed_by = case.duration = None
    case.time_to_investigate = case.time_to_resolve = None
    if case.status == "in-progress":
        case.in_progress_at = case.in_progress_at or now
        case.time_to_acknowledge = _seconds_between(case.created_at, now)
    else:
        case.time_to_acknowledge = None


async def bulk_update(ctx: Context, patches: list[CasePatch]) -> list[Case]:
    validation.limited_array(patches, "cases", validation.MAX_BULK_UPDATE_CASES, min_items=1)
    for patch in patches:
        _validate_case_fields(
            _given(patch.title),
            _given(patch.description),
            _given(patch.tags),
            _given(patch.category),
            _given(patch.assignees),
            _given(patch.customFields),
        )
        if patch.connector is not UNSET:
            validate_connector(ctx, patch.connector)
    async with ctx.store.write() as tx:
        found = {c.id: c for c in await tx.get_cases(ctx.space_id, [p.id for p in patches])}
        ctx.access.ensure({c.owner for c in found.values()}, Operations.update_case)
        missing = [p.id for p in patches if p.id not in found]
        if missing:
            raise not_found(
                f"These cases {', '.join(missing)} do not exist. Please check you have the correct ids."
            )
        stale = [p.id for p in patches if found[p.id].version != p.version]
        if stale:
            raise _stale_cases(stale)
        changes = {p.id: _changed_fields(found[p.id], p) for p in patches}
        if not any(changes.values()):
            raise KibanaError(406, "All update fields are identical to current version.")
        owner_changes = [case_id for case_id, changed in changes.items() if "owner" in changed]
        if owner_changes:
            raise bad_request(
                f"Updating the owner of a case is not allowed ids: [{', '.join(owner_changes)}]"
            )
        now = now_iso()
        updated_cases = []
        configured_of: dict[str, list | None] = {}  # read once per owner
        for patch in patches:
            changed, before = changes[patch.id], found[patch.id]
            if not changed:
                continue
            if before.owner not in configured_of:
                configured_of[before.owner] = await _owner_custom_fields(tx, ctx, before.owner)
            configured = configured_of[before.owner]
            if isinstance(custom_fields := changed.get("customFields"), list):
                validate_custom_fields(custom_fields, configured)
            after = _apply(before, changed, ctx.user, now, configured)
            try:
                after = await tx.update_case(ctx.space_id, after, before)
            except VersionConflict:
                raise _stale_cases([patch.id]) from None
            await user_actions.record(tx, ctx, after, user_actions.case_change_actions(ctx, before, after))
            updated_cases.append(after)
        return await with_totals(tx, ctx, updated_cases)


def _stale_cases(ids: list[str]) -> KibanaError:
    return conflict(
        f"These cases {', '.join(ids)} has been updated. Please refresh before saving additional updates."
    )


async def delete(ctx: Context, ids: list[str]) -> None:
    validation.limited_array(ids, "ids", validation.MAX_BULK_UPDATE_CASES, min_items=1)
    async with ctx.store.write() as tx:
        found = {c.id: c for c in await tx.get_cases(ctx.space_id, ids)}
        for case_id in ids:
            if case_id not in found:
                raise saved_object_not_found("cases", case_id)
        ctx.access.ensure({c.owner for c in found.values()}, Operations.delete_case)
        await tx.delete_cases(ctx.space_id, ids)


#: Find's sort fields and the case columns they sort by.
SORT_COLUMNS = {
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "closedAt": "closed_at",
    "title": "title",
    "category": "category",
    "status": "status",
    "severity": "severity",
}
#: The search fields that are case columns (``incremental_id.text`` is not).
TEXT_FIELDS = ("title", "description")
#: Find's multi-value filters accept at most this many values each (Kibana's ``MAX_CASES_PER_PAGE``).
MAX_FILTER_VALUES = 100


def _check_filter_sizes(params: FindCasesQuery) -> None:
    for name in ("tags", "assignees", "reporters", "category"):
        values = as_list(getattr(params, name))
        # io-ts ``union([limitedArray, string])``: a long list fails both branches.
        validation.limited_or_other(
            partial(validation.limited_array, values, name, MAX_FILTER_VALUES),
            values,
            name,
        )


def _store_query(params: FindCasesQuery) -> tuple[CaseQuery, Page]:
    """What the store looks for, and the page asked for."""
    _check_filter_sizes(params)
    assignees = as_list(params.assignees)
    query = CaseQuery(
        owners=as_list(params.owner),
        statuses=as_list(params.status),
        severities=as_list(params.severity),
        tags=as_list(params.tags),
        reporters=as_list(params.reporters),
        categories=as_list(params.category),
        assignees=[a for a in assignees if a != "none"],
        include_unassigned="none" in assignees,
        search=params.search or None,
        search_fields=[f for f in as_list(params.searchFields) or TEXT_FIELDS if f in TEXT_FIELDS],
        search_all_terms=params.defaultSearchOperator == "AND",
        created_from=dates.resolve(params.from_) if params.from_ else None,
        created_to=dates.resolve(params.to) if params.to else None,
    )
    descending = params.sortOrder == "desc"
    return query, Page(params.page, params.perPage, SORT_COLUMNS[params.sortField], descending)


async def find(ctx: Context, params: FindCasesQuery) -> FindCasesResponse:
    """``params.owner`` names the requested owners; only those the caller may read are searched."""
    query, page = _store_query(params)
    validation.paging(page.page, page.per_page)
    query = dataclasses.replace(query, owners=ctx.access.allowed_owners(query.owners, Operations.find_cases))
    async with ctx.scan() as tx:
        cases = await with_totals(tx, ctx, await tx.find_cases(ctx.space_id, query, page))
        # As Kibana, the counts by status leave out the status and search filters.
        counts_query = dataclasses.replace(query, statuses=[], search=None)
        counts = await tx.count_cases_by_status(ctx.space_id, counts_query)
        if query.search is None:  # the counts are of the same cases: no second count
            total = sum(counts[status] for status in query.statuses or counts)
        else:
            total = await tx.count_cases(ctx.space_id, query)
    return FindCasesResponse(
        cases=cases,
        page=page.page,
        per_page=page.per_page,
        total=total,
        count_open_cases=counts["open"],
        count_in_progress_cases=counts["in-progress"],
        count_closed_cases=counts["closed"],
    )


async def status_counts(ctx: Context, owners: list[str]) -> StatusCounts:
    async with ctx.scan() as tx:
        counts = await tx.count_cases_by_status(
            ctx.space_id, CaseQuery(owners=ctx.access.allowed_owners(owners, Operations.get_statuses))
        )
    return StatusCounts(counts["open"], counts["in-progress"], counts["closed"])


async def tags(ctx: Context, owners: list[str]) -> list[str]:
    async with ctx.scan() as tx:
        return await tx.tags(ctx.space_id, ctx.access.allowed_owners(owners, Operations.get_tags))


async def reporters(ctx: Context, owners: list[str]) -> list[User]:
    async with ctx.scan() as tx:
        return await tx.reporters(ctx.space_id, ctx.access.allowed_owners(owners, Operations.get_reporters))
