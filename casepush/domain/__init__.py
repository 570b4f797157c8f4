"""The domain layer: Kibana's rules for cases, comments, user actions and configurations.

Handlers call these functions with a ``Context``; the functions talk to the store, never to HTTP.
"""

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, overload

from casepush.errors import saved_object_not_found
from casepush.guards import Scoped, current, scoped
from casepush.security.authz import Access, Grants, Principal

# Store is re-exported: the web layer holds the store by this type and never imports casepush.store.
from casepush.store import Store as Store
from casepush.store import Tx
from casepush.types import Case, Space, User

if TYPE_CHECKING:
    from casepush.connectors import ConnectorType


@dataclass(frozen=True)
class Context:
    """Who is asking, in which space (and what they may do there), against which store."""

    store: Store
    space_id: str
    principal: Principal
    access: Access
    #: The installed connector types by id, to check the connector a case names.
    connector_types: Mapping[str, "ConnectorType"] = field(default_factory=dict)

    @property
    def user(self) -> User:
        return self.principal.user

    def read(self) -> AbstractAsyncContextManager[Tx]:
        """A read transaction: the one ``one_snapshot`` holds open on this store, or a new one."""
        return self._held() or self.store.read()

    def scan(self) -> AbstractAsyncContextManager[Tx]:
        """A read that may visit many rows (``Store.scan``): the held one, or a new one."""
        return self._held() or self.store.scan()

    def _held(self) -> AbstractAsyncContextManager[Tx] | None:
        held = current(_snapshot)
        return nullcontext(held[1]) if held is not None and held[0] is self.store else None


_snapshot: ContextVar[Scoped[tuple[Store, Tx]] | None] = ContextVar("casepush_snapshot", default=None)


@asynccontextmanager
async def one_snapshot(ctx: Context) -> AsyncIterator[None]:
    """Every read of the block (``ctx.read()``) in one read transaction: a page built from several
    domain calls shows one state of the database, and takes one connection."""
    async with ctx.store.read() as tx:
        with scoped(_snapshot, (ctx.store, tx)):
            yield


def acting_context(
    store: Store, space: "Space", user: User, connector_types: Mapping[str, "ConnectorType"]
) -> Context:
    """The context of casepush's own work in a space (automatic pushes, two-way sync): all is granted,
    and what it records is by ``user``."""
    principal = Principal(user=user, grants=Grants(superuser=True))
    return Context(
        store=store,
        space_id=space.id,
        principal=principal,
        access=principal.access(space.id, space.disabledFeatures),
        connector_types=connector_types,
    )


def kibana_time(moment: datetime) -> str:
    """Kibana's timestamps: ISO 8601 in UTC with milliseconds and a ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return kibana_time(datetime.now(UTC))


def epoch_ms(seconds: float) -> int:
    """Epoch seconds as the database keeps times of background work: milliseconds."""
    return int(seconds * 1000)


@overload
def iso_of_ms(ms: int) -> str: ...
@overload
def iso_of_ms(ms: int | None) -> str | None: ...
def iso_of_ms(ms: int | None) -> str | None:
    return None if ms is None else kibana_time(datetime.fromtimestamp(ms / 1000, UTC))


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def new_id() -> str:
    return str(uuid.uuid4())


async def load_case(tx: Tx, ctx: Context, case_id: str) -> Case:
    """A case of the request's space, or Kibana's saved-object 404."""
    found = await tx.get_cases(ctx.space_id, [case_id])
    if not found:
        raise saved_object_not_found("cases", case_id)
    return found[0]
