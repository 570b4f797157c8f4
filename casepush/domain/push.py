"""Kibana's push: send a case, its new comments and an alerts summary to an external system through a
connector, then record it on the case. Safer than Kibana's: one push at a time per case and connector
(a claim in the database), and a journal that keeps a crash from creating a second incident.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import msgspec

from casepush.connectors import (
    PUSH_TO_SERVICE,
    CaseForPush,
    CaseState,
    Connector,
    ConnectorError,
    PushComment,
    PushedIncident,
)
from casepush.domain import Context, case_sync, epoch_ms, load_case, new_id, now_iso, user_actions
from casepush.domain.cases import apply_status, with_totals
from casepush.domain.connectors import (
    ConnectorRuntime,
    InvalidParams,
    MissingSecrets,
    ensure_actions,
    load,
    sub_action_params,
)
from casepush.errors import KibanaError, conflict
from casepush.http import HostNotAllowed, OutboundError, ResponseTooLarge
from casepush.security.authz import Level, Operations
from casepush.store import Page, PushClaim, PushRecord, Tx
from casepush.types import (
    AlertComment,
    Attachment,
    Case,
    ExternalService,
    User,
    UserAction,
    UserComment,
    as_list,
)

log = logging.getLogger(__name__)

#: Kibana reads at most this many user actions of a case when it pushes.
MAX_USER_ACTIONS = 10000
#: Where each owner's cases live in Kibana's UI, for the links in pushed descriptions.
APP_ROUTES = {
    "securitySolution": "/app/security",
    "observability": "/app/observability",
    "cases": "/app/management/insightsAndAlerting",
}


#: Kibana's footer of a pushed description and of every pushed comment (then the user's name): two-way
#: sync knows casepush's own texts by it.
ADDED_BY = "\n\nAdded by "


@dataclass(frozen=True)
class DryRun:
    """What a push would send: the ``pushToService`` params after the plugin's transform."""

    connector_id: str
    connector_name: str
    connector_type_id: str
    operation: str
    external_id: str | None
    subAction: str
    subActionParams: Any


@dataclass(frozen=True)
class Pushed:
    """A push made: the case as saved, and ``state_failure`` when the incident was pushed but the status
    or assignees the connector's case sync settings ask for could not be (Kibana's answer stays a
    success: its part of the push was made and saved)."""

    case: Case
    state_failure: "PushFailed | None" = None


class PushFailed(KibanaError):
    """Kibana's 424: the external system failed or refused; ``retryable`` when trying again later may
    pass (no answer, a 5xx, 408, 409, 425, 429), ``retry_after`` the seconds it asked to wait."""

    def __init__(self, message: str, retryable: bool = False, retry_after: float | None = None):
        super().__init__(424, message)
        self.retryable = retryable
        self.retry_after = retry_after


def push_failed(exc: ConnectorError | OutboundError, blind_create: bool = False) -> PushFailed:
    """Kibana's 424 for a failed call. ``blind_create``: the call was a create that no lookup can find
    again (the type has no ``find_incident``), so a failure after which the incident may exist (no
    answer, a 5xx) is not tried again unattended: that could make a second incident."""
    if isinstance(exc, OutboundError):  # no answer, unless the call was refused before it was made
        refused_first = isinstance(exc, HostNotAllowed | ResponseTooLarge)
        return PushFailed(exc.message, retryable=not refused_first and not blind_create)
    retryable = exc.may_pass
    if blind_create and (exc.status is None or exc.status >= 500):
        retryable = False
    return PushFailed(exc.message, retryable=retryable, retry_after=exc.retry_after)


# --- what is sent ----------------------------------------------------------------------------------------


def display_name(*users: User | None) -> str:
    """Kibana's "Added by" name: the first user's full name, else username; else ``Unknown``."""
    for user in users:
        if user is not None and (name := user.full_name or user.username):
            return name
    return "Unknown"


def case_url(rt: ConnectorRuntime, ctx: Context, case: Case) -> str | None:
    if not rt.public_base_url:
        return None
    space = "" if ctx.space_id == "default" else f"/s/{ctx.space_id}"
    return f"{rt.public_base_url.rstrip('/')}{space}{APP_ROUTES[case.owner]}/cases/{case.id}"


def _latest_push(actions: list[UserAction], connector_id: str) -> tuple[int, str | None]:
    """The index of the newest ``pushed`` user action for this connector (0 if none) and its external id."""
    for index in range(len(actions) - 1, -1, -1):
        action = actions[index]
        service = action.payload.get("externalService") if action.type == "pushed" else None
        if service and service.get("connector_id") == connector_id:
            return index, service.get("external_id")
    return 0, None


def _new_comments(attachments: list[Attachment], actions: list[UserAction], since: int) -> list[UserComment]:
    """The user comments created or edited since the last push to this connector (Kibana's), and those no
    push has marked pushed: a comment made while a push ran is recorded before that push's user action,
    and would otherwise never be sent."""
    touched = {a.comment_id for a in actions[since:] if a.type == "comment" and a.comment_id}
    return [a for a in attachments if isinstance(a, UserComment) and (a.id in touched or a.pushed_at is None)]


def _alerts_count(attachments: list[Attachment]) -> int:
    return sum(len(as_list(a.alertId)) for a in attachments if isinstance(a, AlertComment))


def _comments_to_push(
    case: Case, attachments: list[Attachment], new_comments: list[UserComment], url: str | None
) -> list[PushComment]:
    """The new user comments with Kibana's "Added by", then one summary of the alerts when any is new."""
    comments = [
        PushComment(a.id, f"{a.comment}{ADDED_BY}{display_name(a.updated_by, a.created_by)}.")
        for a in new_comments
    ]
    if any(a.pushed_at is None for a in attachments if isinstance(a, AlertComment)):
        summary = f"Elastic Alerts attached to the case: {_alerts_count(attachments)}"
        if url:
            summary += f"\n\nFor more details, view the alerts in Kibana\nAlerts URL: {url}/?tabId=alerts"
        comments.append(PushComment(f"{case.id}-total-alerts", summary))
    return comments


def case_for_push(
    rt: ConnectorRuntime,
    ctx: Context,
    case: Case,
    attachments: list[Attachment],
    actions: list[UserAction],
    connector: Connector,
    external_id: str | None,
    state: CaseState | None = None,
) -> CaseForPush:
    since, _ = _latest_push(actions, connector.id)
    url = case_url(rt, ctx, case)
    description = f"{case.description}{ADDED_BY}{display_name(case.updated_by, case.created_by)}."
    if url:
        description += f"\nFor more details, view this case in Kibana.\nCase URL: {url}"
    new_comments = _new_comments(attachments, actions, since)
    return CaseForPush(
        case=case,
        title=case.title,
        description=description,
        comments=_comments_to_push(case, attachments, new_comments, url),
        external_id=external_id,
        case_url=url,
        new_comments=new_comments,
        alerts_count=_alerts_count(attachments),
        state=state,
    )


# --- loading and privileges ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    """A case as a push reads it: its attachments and user actions; the generation of its automatic push
    to the connector (None without one), which the push settles; and the status and assignees to push
    beyond Kibana's fields (None: none)."""

    case: Case
    attachments: list[Attachment]
    actions: list[UserAction]
    generation: int | None = None
    state: CaseState | None = None
    #: The comments that came from the connector's system (two-way sync): never pushed back to it.
    imported: frozenset[str] = frozenset()

    @property
    def pushable(self) -> list[Attachment]:
        return [attachment for attachment in self.attachments if attachment.id not in self.imported]


async def _loaded(tx: Tx, ctx: Context, case: Case, connector: Connector) -> Loaded:
    """What a push reads beside ``case`` (read in ``tx``): three statements."""
    attachments, _ = await tx.list_attachments(ctx.space_id, case.id)
    everything = Page(page=1, per_page=MAX_USER_ACTIONS, descending=False)
    actions, _ = await tx.find_user_actions(ctx.space_id, case.id, [], [], everything)
    kept = await tx.push_bookkeeping(ctx.space_id, case.id, connector.id)
    return Loaded(
        case,
        attachments,
        actions,
        kept.generation,
        await case_sync.pushed_state(tx, ctx, case, connector, kept.sync),
        kept.imported,
    )


def _sent_with_case(rt: ConnectorRuntime, loaded: Loaded, connector: Connector) -> CaseState | None:
    """The state ``transform_case`` sends with the case: for types without ``push_case_state``."""
    return None if rt.plugins.implements(connector.type, "push_case_state") else loaded.state


async def _authorized(
    tx: Tx, ctx: Context, rt: ConnectorRuntime, case_id: str, connector_id: str
) -> tuple[Case, Connector]:
    """The case and the connector, in Kibana's order: the case (404, then read), the connector (404, then
    actions read), then the push privilege on the case's owner and, for running the connector, ``all``
    on actions."""
    case = await load_case(tx, ctx, case_id)
    ctx.access.ensure([case.owner], Operations.get_case)
    try:
        connector = await load(ctx, rt, connector_id, tx)
    except MissingSecrets as exc:
        raise KibanaError(424, str(exc)) from None
    ensure_actions(ctx, Level.READ, "Unauthorized to get actions")
    ctx.access.ensure([case.owner], Operations.push_case)
    ensure_actions(ctx, Level.ALL, f'Unauthorized to execute a "{connector.type.id}" action')
    return case, connector


# --- the claim -------------------------------------------------------------------------------------------


async def _take_claim(
    ctx: Context, rt: ConnectorRuntime, case_id: str, connector_id: str
) -> tuple[Connector, tuple[PushClaim, Loaded] | None]:
    """Check the caller may push, then wait for the claim on this case and connector (another push may
    hold it) for up to two leases: the connector, and the claim with the case as read in the claim's
    transaction (a push that held the claim before may have pushed it already), or None when the claim
    stayed held. One transaction does it all when the claim is free.

    The journal is written in that transaction too: a push with no push of the case to the connector
    recorded will create an incident, so the claim records that a create is in flight (``creating``)
    before the transaction commits, and so before any call out. That is earlier than the create itself
    (the transform and the recovery's lookup come between), which only errs on the safe side: a push
    that fails before calling out leaves the journal set, and the next push looks the incident up
    before creating one, finding none."""
    token, deadline, pause = new_id(), time.monotonic() + 2 * rt.push_lease, 0.02
    connector = None
    while True:
        now = epoch_ms(time.time())
        expires = now + epoch_ms(rt.push_lease)
        async with ctx.store.write() as tx:
            if connector is None:
                case, connector = await _authorized(tx, ctx, rt, case_id, connector_id)
            else:
                # The case's row before the claim's, as the first try and the save take them: a try that
                # took them the other way round would deadlock with those on PostgreSQL.
                case = await load_case(tx, ctx, case_id)
            claim = await tx.claim_push(ctx.space_id, case_id, connector_id, token, now, expires)
            if claim is not None:
                loaded = await _loaded(tx, ctx, case, connector)
                _, recorded_id = _latest_push(loaded.actions, connector.id)
                if recorded_id is None and not claim.interrupted_create:  # taken over: it is set already
                    await tx.update_push_claim(claim.token, expires, creating=True)
                return connector, (claim, loaded)
        if time.monotonic() > deadline:
            return connector, None
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.5)


@asynccontextmanager
async def _holding(ctx: Context, rt: ConnectorRuntime, claim: PushClaim) -> AsyncIterator[None]:
    """Hold the claim, renewing its lease while the push runs. If the push ends by an unexpected error,
    the lease is cut short so that the next push takes over (and recovers) at once."""

    async def renew() -> None:
        while True:
            await asyncio.sleep(rt.push_lease / 3)
            async with ctx.store.write() as tx:
                await tx.update_push_claim(claim.token, epoch_ms(time.time() + rt.push_lease))

    renewing = asyncio.create_task(renew())
    try:
        yield
    except BaseException:
        await _expire(ctx, claim)
        raise
    finally:
        renewing.cancel()


async def _expire(ctx: Context, claim: PushClaim) -> None:
    """Let the next push take the claim over now (best effort: the lease runs out anyway)."""
    try:
        async with ctx.store.write() as tx:
            await tx.update_push_claim(claim.token, 0)
    except Exception:
        log.exception("could not expire push claim %s", claim.token)


# --- the push ----------------------------------------------------------------------------------------------


async def push(ctx: Context, rt: ConnectorRuntime, case_id: str, connector_id: str) -> Pushed:
    started = time.monotonic()
    connector, claimed = await _take_claim(ctx, rt, case_id, connector_id)
    outcome = "error"
    try:
        if claimed is None:
            raise conflict(f"Case {case_id} is being pushed to connector {connector_id}. Try again later.")
        claim, loaded = claimed
        async with _holding(ctx, rt, claim):
            pushed = await _push_claimed(ctx, rt, connector, claim, loaded)
        outcome = "success"
        return pushed
    except KibanaError as exc:
        outcome = "failure" if exc.status == 424 else "refused"
        raise
    finally:
        rt.metrics.observe_push(connector.type.id, outcome, time.monotonic() - started)


async def push_automatically(ctx: Context, rt: ConnectorRuntime, case_id: str, connector_id: str) -> None:
    """An automatic push: as ``push``, but a state the connector could not take fails it (retried)."""
    pushed = await push(ctx, rt, case_id, connector_id)
    if pushed.state_failure is not None:
        raise pushed.state_failure


async def _transformed(rt: ConnectorRuntime, connector: Connector, case: CaseForPush) -> msgspec.Struct:
    """The type's ``pushToService`` params for a case, checked as ``_execute`` checks them (a 424 when
    they do not pass, as Kibana answers a push whose params the connector refuses)."""
    try:
        params = await rt.plugins.transform_case(connector, case)
        return sub_action_params(connector.type, PUSH_TO_SERVICE, msgspec.to_builtins(params))
    except InvalidParams as exc:
        message = exc.message
    except (ValueError, TypeError) as exc:  # a params struct refusing its values as it is built
        message = f"error validating action params: {exc}"
    raise KibanaError(424, message)


async def dry_run(ctx: Context, rt: ConnectorRuntime, case_id: str, connector_id: str) -> DryRun:
    """What a push would send: nothing is sent nor written."""
    async with ctx.read() as tx:
        found, connector = await _authorized(tx, ctx, rt, case_id, connector_id)
        loaded = await _loaded(tx, ctx, found, connector)
    _, external_id = _latest_push(loaded.actions, connector.id)
    case = case_for_push(
        rt,
        ctx,
        loaded.case,
        loaded.pushable,
        loaded.actions,
        connector,
        external_id,
        _sent_with_case(rt, loaded, connector),
    )
    params = await _transformed(rt, connector, case)
    return DryRun(
        connector_id=connector.id,
        connector_name=connector.name,
        connector_type_id=connector.type.id,
        operation="update" if external_id else "create",
        external_id=external_id,
        subAction="pushToService",
        subActionParams=msgspec.to_builtins(params),
    )


async def _push_claimed(
    ctx: Context, rt: ConnectorRuntime, connector: Connector, claim: PushClaim, loaded: Loaded
) -> Pushed:
    case_id = loaded.case.id
    _, recorded_id = _latest_push(loaded.actions, connector.id)
    external_id = recorded_id
    if recorded_id is None and claim.interrupted_create:
        external_id = await _recover(rt, connector, case_id)
    sent_state = _sent_with_case(rt, loaded, connector)
    case = case_for_push(
        rt, ctx, loaded.case, loaded.pushable, loaded.actions, connector, external_id, sent_state
    )
    params = await _transformed(rt, connector, case)
    # A create (``external_id`` None) is journaled already: the claim's transaction wrote it.
    try:
        incident = await rt.plugins.push_to_service(connector, params, rt.http, sent_state)
    except (ConnectorError, OutboundError) as exc:
        async with ctx.store.write() as tx:
            if recorded_id is None:
                # No push is recorded yet and this one may have made the incident (a create whose
                # read-back failed, an incident recovered but not updated): the journal stays, and the
                # next push, taking the expired claim over, looks the incident up first.
                await tx.update_push_claim(claim.token, 0)
            else:
                await tx.release_push_claim(claim.token)
        blind = external_id is None and not rt.plugins.implements(connector.type, "find_incident")
        raise push_failed(exc, blind_create=blind) from None
    saved = await _save(ctx, connector, incident, claim, loaded)
    return Pushed(saved, await _push_state(rt, connector, incident, loaded, saved))


async def _push_state(
    rt: ConnectorRuntime, connector: Connector, incident: PushedIncident, loaded: Loaded, saved: Case
) -> PushFailed | None:
    """The status and assignees, after the incident's push was saved (its status as saved: a push may
    close the case), for types that take them apart from the incident's fields."""
    if loaded.state is None or not rt.plugins.implements(connector.type, "push_case_state"):
        return None
    state = loaded.state
    if state.status is not None:
        state = replace(state, status=saved.status)
    try:
        await rt.plugins.push_case_state(connector, incident.id, state, rt.http)
    except (ConnectorError, OutboundError) as exc:
        log.warning(
            "case %s was pushed to %s, but not its status or assignees: %s",
            saved.id,
            connector.id,
            exc.message,
        )
        return push_failed(exc)
    return None


async def _recover(rt: ConnectorRuntime, connector: Connector, case_id: str) -> str | None:
    """After a push died between the external create and the local save: the incident it made, if the
    connector type can look it up (else, as Kibana, a new one will be created)."""
    try:
        found = await rt.plugins.find_incident(connector, case_id, rt.http)
    except (ConnectorError, OutboundError) as exc:
        raise KibanaError(424, exc.message) from None
    if found is None:
        log.warning(
            # None: the interrupted create never reached the system, or the type cannot look it up.
            "push of case %s to %s may have been interrupted and no incident of it was found (%s):"
            " creating one",
            case_id,
            connector.id,
            connector.type.id,
        )
        return None
    log.info("push of case %s to %s resumes with incident %s", case_id, connector.id, found.id)
    return found.id


async def _save(
    ctx: Context,
    connector: Connector,
    incident: PushedIncident,
    claim: PushClaim,
    loaded: Loaded,
) -> Case:
    """Record the push in one transaction (with the claim's release): ``external_service``, every
    unpushed attachment marked pushed, close-by-pushing, the user actions, and (unless a change came
    after the push read the case) no automatic push waiting any more."""
    case_id, attachments, generation = loaded.case.id, loaded.attachments, loaded.generation
    async with ctx.store.write() as tx:
        case = await load_case(tx, ctx, case_id)
        now, user = now_iso(), ctx.user
        service = ExternalService(
            connector_id=connector.id,
            connector_name=connector.name,
            external_id=incident.id,
            external_title=incident.title,
            external_url=incident.url,
            pushed_at=now,
            pushed_by=user,
        )
        updated = msgspec.structs.replace(case, external_service=service, updated_at=now, updated_by=user)
        actions = []
        if await _closes_by_pushing(tx, ctx, case.owner):
            updated.status = "closed"
            apply_status(updated, user, now)
            actions.append(user_actions.user_action(ctx, updated, "status", "update", {"status": "closed"}))
        updated = await tx.update_case(ctx.space_id, updated, case)
        actions.append(
            user_actions.user_action(
                ctx, updated, "pushed", "push_to_service", {"externalService": msgspec.to_builtins(service)}
            )
        )
        previous = case.external_service
        linked = previous is not None and (previous.connector_id, previous.external_id) == (
            connector.id,
            incident.id,
        )
        # The rest in one statement (PostgreSQL): the user actions (a push's own never ask for a push),
        # every attachment the push read marked pushed unless it was already (as Kibana's push marks every
        # one it read; one changed or deleted while the push ran is left as it is now, and the next push
        # sends it), the incident's link (known since its push), the comments pushed, the automatic push
        # sent, and the claim's release, which ends the journal as the push is recorded.
        record = PushRecord(
            claim_token=claim.token,
            actions=actions,
            marked=[
                msgspec.structs.replace(a, pushed_at=now, pushed_by=user)
                for a in attachments
                if a.pushed_at is None
            ],
            link_external_id=None if linked else incident.id,
            pushed_comment_ids=[comment.external_id for comment in incident.comments if comment.external_id],
            generation=generation,
        )
        stored = await tx.record_push(ctx.space_id, case_id, connector.id, record)
        (updated,) = await with_totals(tx, ctx, [updated])
    updated.comments = [stored.get(a.id, a) if a.pushed_at is None else a for a in attachments]
    return updated


async def _closes_by_pushing(tx: Tx, ctx: Context, owner: str) -> bool:
    configurations = await tx.list_configurations(ctx.space_id, [owner])
    return bool(configurations) and configurations[0].closure_type == "close-by-pushing"
