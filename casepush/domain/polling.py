"""Two-way sync by polling, for external systems that cannot reach casepush, and every connector's sync
state.

Each polled connector has a row in ``sync_state``: its cursor (where the last poll stopped, as the
plugin said), when the next poll is due, and the last poll's and inbound call's outcomes. The poller of
every instance takes due rows under a lease (``SKIP LOCKED`` on PostgreSQL, so one instance polls a
connector at a time), asks the plugin for the changes of the incidents casepush pushed with it since the
cursor, applies them (each once, ``casepush.domain.sync``) and stores the new cursor: a restart, or
``kill -9``, resumes where the last finished poll stopped. A failed poll keeps its cursor and is tried
again at the next interval. The poller also forgets, after the retention, which changes were applied.
"""

import asyncio
import contextlib
import functools
import logging
import time

from casepush.config import Settings
from casepush.connectors import ConnectorError
from casepush.domain import Context, acting_context, epoch_ms, iso_of_ms, new_id, sync
from casepush.domain.case_sync import case_connector
from casepush.domain.connectors import ConnectorRuntime, MissingSecrets, ensure_actions, load
from casepush.errors import KibanaError
from casepush.http import OutboundError
from casepush.security.authz import Level
from casepush.store import Store
from casepush.store.sync import SyncState
from casepush.types import ConnectorSyncState

log = logging.getLogger(__name__)

#: How long a poll may run before another instance may take it over (it is then made again: harmless).
POLL_LEASE = 300.0
#: Seconds between the poller's looks for due polls.
TICK = 1.0
#: Seconds between the poller's clean-ups of the applied changes' ids.
CLEANUP_EVERY = 3600.0


# --- the sync state -------------------------------------------------------------------------------------


def _state(connector_id: str, row: SyncState | None) -> ConnectorSyncState:
    if row is None:
        return ConnectorSyncState(connector_id=connector_id)
    return ConnectorSyncState(
        connector_id=connector_id,
        last_inbound_at=iso_of_ms(row.last_inbound_ms),
        last_inbound_error=row.last_inbound_error,
        last_poll_at=iso_of_ms(row.last_poll_ms),
        last_poll_error=row.last_poll_error,
        next_poll_at=iso_of_ms(row.due_ms),
        changes_applied=row.applied,
    )


async def sync_state(ctx: Context, rt: ConnectorRuntime, connector_id: str) -> ConnectorSyncState:
    """The connector's last inbound call and poll, their errors, the next poll and what was applied."""
    ensure_actions(ctx, Level.READ, "Unauthorized to get actions")
    async with ctx.read() as tx:
        await case_connector(ctx, rt, tx, connector_id)
        row = await tx.get_sync_state(ctx.space_id, connector_id)
    return _state(connector_id, row)


async def poll_now(
    ctx: Context, rt: ConnectorRuntime, connector_id: str, poller: "Poller | None"
) -> ConnectorSyncState:
    """Make the connector's next poll due now (a 400 when it is not polled)."""
    ensure_actions(ctx, Level.ALL, "Unauthorized to update actions")
    async with ctx.store.write() as tx:
        await case_connector(ctx, rt, tx, connector_id)
        if not await tx.poll_soon(ctx.space_id, connector_id, epoch_ms(time.time())):
            sync = await tx.get_case_sync(ctx.space_id, connector_id)
            if sync is not None and sync.poll_interval is not None:
                why = "its case sync brings nothing back"
            else:
                why = "set its case sync poll_interval"
            raise KibanaError(400, f"Connector {connector_id} is not polled: {why}")
        row = await tx.get_sync_state(ctx.space_id, connector_id)
    if poller is not None:
        poller.wake()
    return _state(connector_id, row)


# --- the poller -----------------------------------------------------------------------------------------


class Poller:
    """Takes due polls, a few at a time, under leases; and forgets old applied changes' ids."""

    def __init__(self, store: Store, rt: ConnectorRuntime, settings: Settings):
        self.store, self.rt, self.settings = store, rt, settings
        self.name = f"poller-{new_id()}"
        self._running: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._cleaned = 0.0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self.take_due()
                    await self._clean_up()
                except Exception as exc:  # the database is away: try again at the next tick
                    log.warning("sync poller could not look for due polls: %r", exc)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), TICK)
        finally:
            tasks = list(self._running.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def take_due(self) -> None:
        free = self.settings.sync_poll_concurrency - len(self._running)
        if free <= 0:
            return
        now = time.time()
        async with self.store.write() as tx:
            claimed = await tx.claim_due_polls(self.name, epoch_ms(now), epoch_ms(now + POLL_LEASE), free)
        for state in claimed:
            key = (state.space_id, state.connector_id)
            task = asyncio.create_task(self._poll(state))
            self._running[key] = task
            task.add_done_callback(functools.partial(self._finished, key))

    def _finished(self, key: tuple[str, str], _: "asyncio.Task[None]") -> None:
        self._running.pop(key, None)

    async def _clean_up(self) -> None:
        now = time.time()
        if now - self._cleaned < CLEANUP_EVERY:
            return
        async with self.store.write() as tx:
            forgotten = await tx.forget_changes_before(epoch_ms(now - self.settings.sync_changes_retention))
        self._cleaned = now
        if forgotten:
            log.info("forgot %d applied external changes older than the retention", forgotten)

    async def _poll(self, state: SyncState) -> None:
        """One poll; its outcome recorded on its row (unless the database is away: the lease then runs
        out, and the poll is made again)."""
        started = time.time()
        try:
            cursor, interval, error, type_id = await self._fetch_and_apply(state)
        except Exception:
            log.exception("poll of connector %s failed", state.connector_id)
            return
        next_due = epoch_ms(started + interval) if interval is not None else None
        # Counted before it is recorded: whoever sees the recorded poll (its sync state) sees it counted.
        self.rt.metrics.observe_sync_poll(type_id, "failure" if error else "success")
        if error:
            log.warning("poll of connector %s failed: %s", state.connector_id, error)
        try:
            async with self.store.write() as tx:
                await tx.finish_poll(state, epoch_ms(time.time()), cursor, next_due, error)
        except Exception as exc:
            log.warning("could not record the poll of connector %s: %r", state.connector_id, exc)

    async def _fetch_and_apply(self, state: SyncState) -> tuple[str | None, float | None, str | None, str]:
        """The poll: (the new cursor, the seconds to the next poll (None: stop), the error, the type)."""
        async with self.store.read() as tx:
            space = await tx.get_space(state.space_id)
            settings = await tx.get_case_sync(state.space_id, state.connector_id)
        interval = settings.poll_interval if settings else None
        if space is None or interval is None:
            return None, None, None, "unknown"
        ctx = acting_context(self.store, space, sync.external_user(None, "casepush"), self.rt.plugins.types)
        try:
            connector = await load(ctx, self.rt, state.connector_id)
        except (KibanaError, MissingSecrets) as exc:
            return None, interval, f"the connector cannot be used: {exc}", "unknown"
        async with self.store.read() as tx:
            wanted = await sync.syncing(tx, state.space_id, connector)
            incidents = await tx.external_ids(state.space_id, state.connector_id)
        if not wanted.parts or not incidents:
            return None, interval, None, connector.type.id
        try:
            found = await self.rt.plugins.fetch_changes(
                connector, incidents, state.cursor, iso_of_ms(state.since_ms), wanted.options, self.rt.http
            )
        except (ConnectorError, OutboundError) as exc:
            return None, interval, exc.message, connector.type.id
        await sync.apply(ctx, self.rt, wanted, found.changes, "poll")
        return found.cursor, interval, None, connector.type.id
