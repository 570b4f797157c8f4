"""Two-way sync: what changes in an external incident comes back to its case, once, with no echo.

Changes come three ways: the connector's inbound webhook (``casepush.domain.inbound``), polls
(``casepush.domain.polling``) and Kibana's ``POST /api/cases/{case_id}/_sync`` (``sync_case``). All of
them are applied here, one transaction per case:

- a change names its incident, and so the case pushed to it (``external_links``, written by every push);
  the case must still use that connector;
- **once**: the change's id is claimed in the transaction that applies it (``sync_changes``), whatever
  the mix of webhook retries, overlapping polls, ``_sync`` and instances;
- **no echo**: changes made with the connector's own credentials (``by_integration``) and comments
  casepush pushed (by their external id, or Kibana's "Added by" footer) are dropped; what sync writes
  never asks for an automatic push, and imported comments are never pushed back;
- **the later change wins**: a field changed on the case after the external change was made keeps the
  case's value (the change is counted conflicted, and named in the ``sync`` user action); an imported
  comment edited on both sides keeps the later edit. Nothing is ever deleted, and a value the case
  cannot hold (an empty or too long title...) is left out;
- each applied change is the user action of its field, by the external author (``Jane Doe (Jira)``),
  at the time the change was made; each case's batch ends with Kibana's ``sync`` user action.
"""

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec

from casepush.connectors import (
    COMMENTS,
    DESCRIPTION,
    STATUS,
    TITLE,
    Connector,
    ConnectorError,
    ExternalChange,
)
from casepush.domain import (
    Context,
    kibana_time,
    load_case,
    new_id,
    now_iso,
    parse_iso,
    user_actions,
    validation,
)
from casepush.domain.case_sync import options, pulled
from casepush.domain.cases import apply_status, with_totals
from casepush.domain.connectors import ConnectorRuntime, MissingSecrets, ensure_actions, load
from casepush.domain.push import ADDED_BY
from casepush.errors import KibanaError, bad_request
from casepush.http import OutboundError
from casepush.security.authz import Level, Operations
from casepush.store import Page, Tx, VersionConflict
from casepush.types import STATUSES, Case, CaseSyncRequest, User, UserAction, UserComment

log = logging.getLogger(__name__)

#: Tries of a case's batch when the case changed under it (PostgreSQL's concurrent writers).
TRIES = 3


@dataclass(frozen=True)
class Syncing:
    """What comes back from a connector's system (its case sync settings), with its options."""

    connector: Connector
    parts: frozenset[str]
    options: Any

    @property
    def system(self) -> str:
        return self.connector.type.name


async def syncing(tx: Tx, space_id: str, connector: Connector) -> Syncing:
    settings = await tx.get_case_sync(space_id, connector.id) or CaseSyncRequest()
    return Syncing(connector, pulled(connector.type, settings), options(connector.type, settings))


@dataclass
class Judged:
    """What became of changes: applied, conflicted (the case changed later) or ignored."""

    applied: int = 0
    conflicted: int = 0
    ignored: int = 0

    def add(self, other: "Judged") -> None:
        self.applied += other.applied
        self.conflicted += other.conflicted
        self.ignored += other.ignored

    def count(self, rt: ConnectorRuntime, connector_type: str, source: str) -> None:
        for outcome in ("applied", "conflicted", "ignored"):
            rt.metrics.observe_sync_changes(connector_type, source, outcome, getattr(self, outcome))


def acting_as(ctx: Context, user: User) -> Context:
    """The context as it records a change made by someone outside casepush."""
    return replace(ctx, principal=replace(ctx.principal, user=user))


def external_user(author: str | None, system: str) -> User:
    """Who made an external change, as the case shows it: their name and the system, never a casepush user."""
    return User(full_name=f"{author} ({system})" if author else system)


def _kibana(value: str) -> str:
    """An external time (ISO 8601 with an offset) in Kibana's form."""
    return kibana_time(parse_iso(value))


def _later(change_at: str, local_at: str | None) -> bool:
    return local_at is None or parse_iso(change_at) > parse_iso(local_at)


def from_casepush(text: str) -> bool:
    """A text casepush pushed (Kibana's footer): it never comes back as an external change."""
    return ADDED_BY in text


def without_footer(description: str) -> str:
    """A pushed description as the case holds it: without the footer the push added."""
    footer = description.rfind(ADDED_BY)
    return description if footer == -1 else description[:footer]


def part_of(change: ExternalChange) -> str | None:
    """What a change is about, or None for a change about nothing casepush brings back."""
    for part, value in (
        (STATUS, change.status),
        (TITLE, change.title),
        (DESCRIPTION, change.description),
        (COMMENTS, change.comment),
    ):
        if value is not None:
            return part
    return None


# --- one case's batch ----------------------------------------------------------------------------------


@dataclass
class _Batch:
    """The changes of one incident applied to its case in one transaction."""

    ctx: Context
    syncing: Syncing
    before: Case
    case: Case
    actions: list[UserAction] = field(default_factory=list)
    updated_fields: list[str] = field(default_factory=list)
    conflicted_fields: list[str] = field(default_factory=list)
    judged: Judged = field(default_factory=Judged)
    latest: ExternalChange | None = None

    def applied(self, part: str, change: ExternalChange) -> None:
        self.judged.applied += 1
        self.latest = change
        if part not in self.updated_fields:
            self.updated_fields.append(part)

    def conflicted(self, part: str, change: ExternalChange) -> None:
        self.judged.conflicted += 1
        self.latest = change
        if part not in self.conflicted_fields:
            self.conflicted_fields.append(part)

    def record(self, ctx: Context, action: UserAction, at: str) -> None:
        """An applied change's user action, by its author, when it was made."""
        self.actions.append(msgspec.structs.replace(action, created_at=at, created_by=ctx.user))

    def touch(self, user: User) -> None:
        self.case.updated_at, self.case.updated_by = now_iso(), user


async def apply(
    ctx: Context,
    rt: ConnectorRuntime,
    syncing: Syncing,
    changes: list[ExternalChange],
    source: str,
    caller: User | None = None,
) -> Judged:
    """Apply changes reported by the connector's system, each once, one transaction per case.
    ``caller``: the user who asked (``_sync``), whose ``sync`` user action is recorded even when
    nothing changed."""
    valid = _valid(changes)
    judged = Judged(ignored=len(changes) - len(valid))
    by_incident: dict[str, list[ExternalChange]] = defaultdict(list)
    for change in valid:
        by_incident[change.incident_id].append(change)
    for incident_id, reported in by_incident.items():
        judged.add(await _apply_to_case(ctx, syncing, incident_id, reported, caller))
    judged.count(rt, syncing.connector.type.id, source)
    return judged


def _valid(changes: list[ExternalChange]) -> list[ExternalChange]:
    """The changes with a readable time, oldest first (a plugin's slip is logged, not applied)."""
    valid = []
    for change in changes:
        try:
            aware = parse_iso(change.at).tzinfo is not None
        except (AttributeError, TypeError, ValueError):
            aware = False
        if not aware:
            log.warning(
                "change %s of incident %s left out: its time %r",
                change.change_id,
                change.incident_id,
                change.at,
            )
            continue
        valid.append(change)
    return sorted(valid, key=lambda change: parse_iso(change.at))


async def _apply_to_case(
    ctx: Context,
    syncing: Syncing,
    incident_id: str,
    changes: list[ExternalChange],
    caller: User | None,
) -> Judged:
    for attempt in range(TRIES):
        try:
            async with ctx.store.write() as tx:
                return await _apply_batch(tx, ctx, syncing, incident_id, changes, caller)
        except VersionConflict:
            if attempt == TRIES - 1:
                raise
    raise AssertionError("unreachable")


async def _apply_batch(
    tx: Tx,
    ctx: Context,
    syncing: Syncing,
    incident_id: str,
    changes: list[ExternalChange],
    caller: User | None,
) -> Judged:
    connector = syncing.connector
    case_id = await tx.case_of_external(ctx.space_id, connector.id, incident_id)
    found = await tx.get_cases(ctx.space_id, [case_id]) if case_id else []
    if not found or found[0].connector.id != connector.id:
        return Judged(ignored=len(changes))
    batch = _Batch(ctx, syncing, found[0], msgspec.structs.replace(found[0]))
    for change in changes:
        await _judge(tx, batch, change)
    case = batch.case
    if case != batch.before:
        case = await tx.update_case(ctx.space_id, case, batch.before)
    if batch.actions or batch.conflicted_fields or caller is not None:
        batch.actions.append(_sync_action(batch, case, caller))
        await user_actions.record(tx, ctx, case, batch.actions, asks_push=False)
    if batch.judged.applied:
        await tx.count_applied(ctx.space_id, connector.id, batch.judged.applied)
    return batch.judged


def _sync_action(batch: _Batch, case: Case, caller: User | None) -> UserAction:
    """Kibana's ``sync`` user action: which incident, what was updated and what kept the case's value."""
    service = case.external_service
    sync: dict[str, Any] = {
        "connector_name": service.connector_name if service else batch.syncing.connector.name,
        "external_id": service.external_id if service else None,
        "external_title": service.external_title if service else None,
        "external_url": service.external_url if service else None,
        "updated_fields": batch.updated_fields,
        "conflicted_fields": batch.conflicted_fields,
    }
    if batch.latest is not None:
        sync["external_updated_at"] = _kibana(batch.latest.at)
        if batch.latest.author:
            sync["external_updated_by"] = batch.latest.author
    user = caller or external_user(batch.latest.author if batch.latest else None, batch.syncing.system)
    return user_actions.user_action(acting_as(batch.ctx, user), case, "sync", "update", {"sync": sync})


async def _judge(tx: Tx, batch: _Batch, change: ExternalChange) -> None:
    """One change: dropped when it is not to come back (or already has), else applied or conflicted."""
    ctx, connector = batch.ctx, batch.syncing.connector
    part = part_of(change)
    if change.by_integration or part is None or part not in batch.syncing.parts:
        batch.judged.ignored += 1
        return
    if change.comment is not None and (
        from_casepush(change.comment.body)
        or await tx.is_pushed_comment(ctx.space_id, connector.id, change.comment.id)
    ):
        batch.judged.ignored += 1
        return
    if not await tx.claim_change(ctx.space_id, connector.id, change.change_id, int(time.time() * 1000)):
        batch.judged.ignored += 1
        return
    author = acting_as(ctx, external_user(change.author, batch.syncing.system))
    if part == COMMENTS:
        await _comment(tx, batch, author, change)
    else:
        await _field(tx, batch, author, part, change)


def _value(part: str, change: ExternalChange) -> str | None:
    """The change's value as the case can hold it, or None when it cannot."""
    if part == STATUS:
        return change.status if change.status in STATUSES else None
    if part == TITLE:
        title = (change.title or "").strip()
        return title if 0 < len(title) <= validation.MAX_TITLE_LENGTH else None
    description = without_footer(change.description or "").strip()
    return description if 0 < len(description) <= validation.MAX_DESCRIPTION_LENGTH else None


async def _latest_local(tx: Tx, ctx: Context, case_id: str, part: str) -> str | None:
    """When the case's field last changed (its latest user action of that type)."""
    latest, _ = await tx.find_user_actions(ctx.space_id, case_id, [part], [], Page(1, 1, descending=True))
    return latest[0].created_at if latest else None


async def _field(tx: Tx, batch: _Batch, author: Context, part: str, change: ExternalChange) -> None:
    value = _value(part, change)
    if value is None:
        log.warning(
            "%s of incident %s (%s) left out: the case cannot hold %r",
            part,
            change.incident_id,
            batch.syncing.connector.id,
            getattr(change, part),
        )
        batch.judged.ignored += 1
        return
    if getattr(batch.case, part) == value:
        batch.judged.ignored += 1
        return
    if not _later(change.at, await _latest_local(tx, batch.ctx, batch.case.id, part)):
        batch.conflicted(part, change)
        return
    setattr(batch.case, part, value)
    batch.touch(author.user)
    if part == STATUS:
        apply_status(batch.case, author.user, _kibana(change.at))
    action = user_actions.user_action(author, batch.case, part, "update", {part: value})
    batch.record(author, action, _kibana(change.at))
    batch.applied(part, change)


async def _comment(tx: Tx, batch: _Batch, author: Context, change: ExternalChange) -> None:
    """A new external comment becomes a case comment by its author; an edit of one imported before
    replaces its text unless the case's copy was edited later. One deleted from the case stays deleted."""
    ctx, connector, comment = batch.ctx, batch.syncing.connector, change.comment
    assert comment is not None
    body = comment.body.strip()
    if not body or len(body) > validation.MAX_COMMENT_LENGTH:
        log.warning("comment %s of incident %s left out: empty or too long", comment.id, change.incident_id)
        batch.judged.ignored += 1
        return
    attachment_id = await tx.imported_attachment(ctx.space_id, connector.id, comment.id)
    if attachment_id is None:
        now = now_iso()
        comment_made = UserComment(
            id=new_id(),
            comment=body,
            owner=batch.case.owner,
            created_at=now,
            created_by=author.user,
            pushed_at=now,
            pushed_by=author.user,
        )
        created = await tx.insert_attachment(ctx.space_id, batch.case.id, comment_made)
        await tx.remember_imported(ctx.space_id, connector.id, comment.id, created.id, batch.case.id)
        action = user_actions.comment_action(author, batch.case, "create", created)
    else:
        found = await tx.get_attachment(ctx.space_id, attachment_id)
        current = found[1] if found else None
        if not isinstance(current, UserComment) or current.comment == body:
            batch.judged.ignored += 1
            return
        edited_at = _kibana(comment.updated_at or change.at)
        if not _later(edited_at, current.updated_at):
            batch.conflicted(COMMENTS, change)
            return
        changed = msgspec.structs.replace(current, comment=body, updated_at=edited_at, updated_by=author.user)
        edited = await tx.update_attachment(ctx.space_id, batch.case.id, changed, current.version)
        action = user_actions.comment_action(author, batch.case, "update", edited)
    batch.touch(author.user)
    batch.record(author, action, _kibana(change.at))
    batch.applied(COMMENTS, change)


async def imported_comments(ctx: Context, case: Case) -> dict[str, str]:
    """Which of the case's comments came from an external system: the id of the connector that brought
    each, by comment id. ``case`` is one the caller was allowed to read."""
    async with ctx.read() as tx:
        return await tx.imported_comments(ctx.space_id, case.id)


# --- Kibana's _sync ------------------------------------------------------------------------------------


async def sync_case(ctx: Context, rt: ConnectorRuntime, case_id: str) -> Case:
    """Kibana's ``POST /api/cases/{case_id}/_sync``: bring the case's incident's changes since the case
    was created now (what the connector's case sync settings bring back: by Kibana's defaults, status,
    title and description), and record a ``sync`` user action by the caller whatever changed. Kibana's
    order of checks and its messages; no licence is needed."""
    async with ctx.read() as tx:
        case = await load_case(tx, ctx, case_id)
        ctx.access.ensure([case.owner], Operations.get_case)
        ctx.access.ensure([case.owner], Operations.push_case)
        service = case.external_service
        if service is None:
            raise bad_request("The case has not been pushed to an external incident yet.")
        if service.connector_id != case.connector.id:
            raise bad_request(
                "The case connector changed after the last push. Push the case again before syncing."
            )
        connector_type = rt.plugins.types.get(case.connector.type)
        if connector_type is None or not rt.plugins.implements(connector_type, "fetch_changes"):
            raise bad_request(
                f"Connector type {case.connector.type} does not support syncing from the external incident."
            )
        try:
            connector = await load(ctx, rt, case.connector.id, tx)
        except MissingSecrets as exc:
            raise KibanaError(424, str(exc)) from None
        ensure_actions(ctx, Level.ALL, f'Unauthorized to execute a "{connector.type.id}" action')
        wanted = await syncing(tx, ctx.space_id, connector)
    try:
        found = await rt.plugins.fetch_changes(
            connector, [service.external_id], None, case.created_at, wanted.options, rt.http
        )
    except (ConnectorError, OutboundError) as exc:
        raise KibanaError(424, exc.message) from None
    mine = _valid([change for change in found.changes if change.incident_id == service.external_id])
    judged = await _apply_to_case(ctx, wanted, service.external_id, mine, caller=ctx.user)
    judged.count(rt, connector.type.id, "sync")
    async with ctx.read() as tx:
        (synced,) = await with_totals(tx, ctx, [await load_case(tx, ctx, case_id)], include_comments=True)
    return synced
