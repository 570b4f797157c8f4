"""Automatic push: a changed case reaches its ticket by itself, after a quiet period, exactly once.

- **Settings**, per space, owner and connector (``automatic_push_settings``): on or off, the mode
  (``updates``: cases whose latest push went to the connector; ``all``: their first push too) and the
  quiet period. Per connector, **case sync** settings say whether pushes also send the case's status
  and assignees (beyond Kibana's push), with the type's options.
- **The outbox.** In the transaction of every change to a case (``note_changes``), a change that makes
  the case need a push to its connector (what Kibana's ``needsToBePushed`` counts, and the status and
  assignees when they are pushed) moves the case's row to the end of the quiet period: a burst of
  edits makes one push. The row is in the database, so a restart or ``kill -9`` loses nothing.
- **The worker** (``AutomaticPusher``), on every instance that runs one: takes due rows under a lease
  (``SKIP LOCKED`` on PostgreSQL, so each runs once whatever the number of instances; a dead instance's
  leases run out and others take its rows over), pushes as the user whose change caused it, and
  settles the row: done, retried later with exponential backoff and jitter (at least the external
  system's ``Retry-After``), or failed for good when retrying cannot help (bad credentials, invalid
  fields) or after the last attempt. A change made while a push runs is pushed again after it. The
  push's own changes (its user actions, a close by pushing) never ask for another push.
"""

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable

from casepush.config import Settings
from casepush.connectors import ASSIGNEES, STATUS
from casepush.domain import Context, acting_context, epoch_ms, iso_of_ms, load_case, new_id, now_iso
from casepush.domain.case_connectors import CHANGE_TYPES, NONE_ID, STATUS_AWARE_TYPES
from casepush.domain.case_sync import case_connector
from casepush.domain.connectors import ConnectorRuntime, ensure_actions
from casepush.errors import KibanaError, bad_request, not_found
from casepush.security.authz import Level, Operation
from casepush.store import AutomaticPush, PushRules, Settlement, Store, Tx
from casepush.types import (
    AutomaticPushRequest,
    AutomaticPushSetting,
    Case,
    CaseAutomaticPush,
    CaseSyncRequest,
    Owner,
    UserAction,
)

log = logging.getLogger(__name__)

MANAGE_SETTINGS = Operation("update", "automatic push settings", Level.ALL)
READ_SETTINGS = Operation("access", "automatic push settings", Level.READ)
READ_STATE = Operation("access", "case", Level.READ)
#: The most a quiet period may be: a day.
MAX_QUIET_PERIOD = 86_400.0
#: A push that found the case claimed by another push is tried again this soon.
BUSY_RETRY = 1.0


# --- settings ----------------------------------------------------------------------------------------------


async def put_setting(
    ctx: Context,
    rt: ConnectorRuntime,
    settings: Settings,
    owner: Owner,
    connector_id: str,
    request: AutomaticPushRequest,
) -> AutomaticPushSetting:
    """Turn automatic push on or off for the owner's cases that use the connector (cases ``all`` on the
    owner and actions ``all``, as pushing needs)."""
    ctx.access.ensure([owner], MANAGE_SETTINGS)
    ensure_actions(ctx, Level.ALL, "Unauthorized to update automatic push settings of actions")
    quiet = settings.automatic_push_quiet_period if request.quiet_period is None else request.quiet_period
    if not 0 <= quiet <= MAX_QUIET_PERIOD:
        raise bad_request(f"quiet_period must be between 0 and {MAX_QUIET_PERIOD:g} seconds")
    setting = AutomaticPushSetting(
        enabled=request.enabled,
        mode=request.mode,
        quiet_period=quiet,
        owner=owner,
        connector_id=connector_id,
        updated_at=now_iso(),
        updated_by=ctx.user,
    )
    async with ctx.store.write() as tx:
        if connector_id == NONE_ID:
            raise bad_request("Cases without a connector are never pushed")
        await case_connector(ctx, rt, tx, connector_id)
        await tx.put_automatic_push_setting(ctx.space_id, setting)
    return setting


async def delete_setting(ctx: Context, owner: Owner, connector_id: str) -> None:
    ctx.access.ensure([owner], MANAGE_SETTINGS)
    ensure_actions(ctx, Level.ALL, "Unauthorized to update automatic push settings of actions")
    async with ctx.store.write() as tx:
        if not await tx.delete_automatic_push_setting(ctx.space_id, owner, connector_id):
            raise not_found(f"No automatic push setting for owner {owner} and connector {connector_id}")


async def list_settings(ctx: Context) -> list[AutomaticPushSetting]:
    """The settings of the owners the caller may read."""
    owners = ctx.access.allowed_owners([], READ_SETTINGS)
    async with ctx.read() as tx:
        found = await tx.list_automatic_push_settings(ctx.space_id)
    return [setting for setting in found if setting.owner in owners]


# --- the outbox ------------------------------------------------------------------------------------------


def _triggers(
    setting: AutomaticPushSetting, connector_type_id: str, sync: CaseSyncRequest | None
) -> set[str]:
    """The user action types that make a case need an automatic push to the connector."""
    types = {*CHANGE_TYPES, "connector"}
    if connector_type_id in STATUS_AWARE_TYPES:
        types |= {"severity", "status"}
    if sync is not None:
        types |= {STATUS} if sync.push_status else set()
        types |= {ASSIGNEES} if sync.push_assignees else set()
    if setting.mode == "all":
        types.add("create_case")
    return types


def _qualifies(case: Case, setting: AutomaticPushSetting) -> bool:
    """Automatic push is on for the case's connector and owner, and (``updates``) its latest push went
    to that connector."""
    if not setting.enabled or case.connector.id == NONE_ID:
        return False
    if setting.mode == "updates":
        return case.external_service is not None and case.external_service.connector_id == case.connector.id
    return True


def may_push(case: Case) -> bool:
    """Whether a change of the case may ask for an automatic push at all (it has a connector)."""
    return case.connector.id != NONE_ID


async def note_changes(
    tx: Tx, ctx: Context, case: Case, actions: Iterable[UserAction], rules: PushRules
) -> None:
    """In the transaction of a change, with the rules read as its user actions were recorded
    (``Tx.record_user_actions``): ask for an automatic push of the case when the change needs one."""
    setting = rules.setting
    if not may_push(case) or setting is None or not _qualifies(case, setting):
        return
    if not {action.type for action in actions} & _triggers(setting, case.connector.type, rules.sync):
        return
    now = time.time()
    await tx.enqueue_automatic_push(
        ctx.space_id,
        case.id,
        case.connector.id,
        case.owner,
        epoch_ms(now + setting.quiet_period),
        epoch_ms(now),
        ctx.user,
    )


async def case_pushes(ctx: Context, case_id: str) -> list[CaseAutomaticPush]:
    """The case's automatic push to its connector, and any other connector it has a row for."""
    async with ctx.read() as tx:
        case = await load_case(tx, ctx, case_id)
        ctx.access.ensure([case.owner], READ_STATE)
        rows = {row.connector_id: row for row in await tx.list_automatic_pushes(ctx.space_id, case_id)}
        settings = {
            connector_id: await tx.get_automatic_push_setting(ctx.space_id, case.owner, connector_id)
            for connector_id in {*rows, case.connector.id} - {NONE_ID}
        }
    return [
        _state(connector_id, case, settings[connector_id], rows.get(connector_id))
        for connector_id in sorted(settings, key=lambda c: (c != case.connector.id, c))
    ]


def _state(
    connector_id: str, case: Case, setting: AutomaticPushSetting | None, row: AutomaticPush | None
) -> CaseAutomaticPush:
    enabled = connector_id == case.connector.id and setting is not None and _qualifies(case, setting)
    state = CaseAutomaticPush(
        connector_id=connector_id, enabled=enabled, mode=setting.mode if setting else None
    )
    if row is not None:
        state.state = row.state
        state.due_at = iso_of_ms(row.due_ms) if row.state in ("pending", "retrying") else None
        state.pending_since = iso_of_ms(row.pending_since_ms)
        state.attempts = row.attempts
        state.caused_by = row.caused_by
        state.last_attempt_at = iso_of_ms(row.last_attempt_ms)
        state.last_outcome = row.last_outcome
        state.last_error = row.last_error
        state.last_pushed_at = iso_of_ms(row.last_pushed_ms)
    return state


# --- the worker ------------------------------------------------------------------------------------------


#: How the worker pushes a case to a connector (``casepush.domain.push.push_automatically``, given by the
#: app: the push module builds on this one).
PushFunction = Callable[[Context, ConnectorRuntime, str, str], Awaitable[object]]


class AutomaticPusher:
    """Takes due automatic pushes from the outbox and runs them, a few at a time, under leases."""

    def __init__(
        self, store: Store, rt: ConnectorRuntime, settings: Settings, run_push: PushFunction
    ) -> None:
        self.store = store
        self.rt = rt
        self.settings = settings
        self.run_push = run_push
        self.name = f"worker-{new_id()}"
        self.lease = rt.push_lease
        self._running: dict[tuple[str, str, str], asyncio.Task[None]] = {}
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look for due pushes now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Until cancelled: take what is due, then wait for the next poll (or a wake-up)."""
        try:
            while True:
                try:
                    await self.take_due()
                except Exception as exc:  # the database is away: try again at the next poll
                    log.warning("automatic push worker could not look for due pushes: %r", exc)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.automatic_push_poll_interval)
        finally:
            await self._abandon()

    async def take_due(self) -> None:
        free = self.settings.automatic_push_concurrency - len(self._running)
        now = time.time()
        async with self.store.write() as tx:
            if free > 0:
                claimed = await tx.claim_automatic_pushes(
                    self.name, epoch_ms(now), epoch_ms(now + self.lease), free
                )
            else:
                claimed = []
            depth, oldest = await tx.automatic_push_queue()
        self.rt.metrics.observe_automatic_push_queue(depth, now - oldest / 1000 if oldest else 0.0)
        for push in claimed:
            key = (push.space_id, push.case_id, push.connector_id)
            task = asyncio.create_task(self._attempt(push))
            self._running[key] = task
            task.add_done_callback(functools.partial(self._finished, key))

    def _finished(self, key: tuple[str, str, str], _: "asyncio.Task[None]") -> None:
        self._running.pop(key, None)

    async def _abandon(self) -> None:
        """Stopping: cancel the pushes in flight and let their leases go, so that the next start (or
        another instance) takes them over at once."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _attempt(self, push: AutomaticPush) -> None:
        renewing = asyncio.create_task(self._renew(push))
        try:
            settled = await self._push(push)
        except asyncio.CancelledError:
            renewing.cancel()
            await self._release(push)
            raise
        finally:
            renewing.cancel()
        try:
            async with self.store.write() as tx:
                await tx.settle_automatic_push(
                    push.space_id,
                    push.case_id,
                    push.connector_id,
                    push.generation,
                    epoch_ms(time.time()),
                    settled,
                )
        except Exception:
            # The lease runs out and the push is taken over: at worst it is made once more.
            log.exception(
                "could not record the automatic push of case %s to %s", push.case_id, push.connector_id
            )
            return
        self.rt.metrics.observe_automatic_push(_metric_outcome(settled))
        _log_attempt(push, settled)

    async def _renew(self, push: AutomaticPush) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                async with self.store.write() as tx:
                    await tx.renew_automatic_push(push, epoch_ms(time.time() + self.lease))
            except Exception as exc:
                log.warning("could not renew the lease of an automatic push: %r", exc)

    async def _release(self, push: AutomaticPush) -> None:
        try:
            async with self.store.write() as tx:
                await tx.renew_automatic_push(push, 0)
        except Exception as exc:
            log.warning("could not release the lease of an automatic push: %r", exc)

    async def _push(self, push: AutomaticPush) -> Settlement:
        """One attempt: skipped when the case no longer qualifies, else pushed and judged."""
        async with self.store.read() as tx:
            space = await tx.get_space(push.space_id)
            cases = await tx.get_cases(push.space_id, [push.case_id]) if space else []
            setting = await tx.get_automatic_push_setting(push.space_id, push.owner, push.connector_id)
        if space is None or not cases:
            return Settlement("idle", "skipped", "the case no longer exists")
        case = cases[0]
        if case.connector.id != push.connector_id:
            return Settlement("idle", "skipped", f"the case now uses connector {case.connector.id}")
        if setting is None or not _qualifies(case, setting):
            return Settlement("idle", "skipped", "automatic push is off for this case's owner and connector")
        ctx = acting_context(self.store, space, push.caused_by or case.created_by, self.rt.plugins.types)
        try:
            await self.run_push(ctx, self.rt, push.case_id, push.connector_id)
        except KibanaError as exc:
            return self._judged(push, exc)
        return Settlement("idle", "success")

    def _judged(self, push: AutomaticPush, exc: KibanaError) -> Settlement:
        """A failed attempt: retried when it may pass later, else failed until the case changes."""
        retryable = getattr(exc, "retryable", False)
        if exc.status == 409:  # another push of the case holds it: try again soon, not a failure
            return Settlement(
                "retrying", "failure", exc.message, epoch_ms(time.time() + BUSY_RETRY), counted=False
            )
        if not retryable or push.attempts + 1 >= self.settings.automatic_push_max_attempts:
            return Settlement("failed", "failure", exc.message)
        delay = backoff(
            push.attempts,
            self.settings.automatic_push_backoff,
            self.settings.automatic_push_max_backoff,
            getattr(exc, "retry_after", None),
        )
        return Settlement("retrying", "failure", exc.message, epoch_ms(time.time() + delay))


def backoff(attempts: int, first: float, longest: float, retry_after: float | None = None) -> float:
    """Seconds before the next try after ``attempts`` earlier failures: doubling from ``first``, with
    jitter (half to all of it), at most ``longest``; but never less than the external system's
    ``Retry-After``, however long it asks for."""
    exponential = min(longest, first * 2**attempts)
    return max(exponential * random.uniform(0.5, 1.0), retry_after or 0.0)


def _metric_outcome(settled: Settlement) -> str:
    if settled.outcome == "failure":
        return "retry" if settled.state == "retrying" else "failed"
    return settled.outcome


def _log_attempt(push: AutomaticPush, settled: Settlement) -> None:
    where = f"case {push.case_id} to connector {push.connector_id} (space {push.space_id})"
    if settled.outcome == "success":
        log.info("automatic push of %s succeeded", where)
    elif settled.outcome == "skipped":
        log.info("automatic push of %s skipped: %s", where, settled.error)
    elif settled.state == "retrying":
        log.warning("automatic push of %s failed, retrying: %s", where, settled.error)
    else:
        log.error("automatic push of %s failed for good: %s", where, settled.error)
