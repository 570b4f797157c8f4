"""What must not happen inside a write transaction: a call to an external system. It would hold SQLite's
write lock (every other write waits) or PostgreSQL's row locks while it waits on Jira, for as long as
Jira takes.

The storage backends mark their write transactions (``write_transaction``), the outbound client checks
before each call (``ensure_outside_write_transaction``). In tests (``casepush.testing``'s pytest plugin
sets ``strict``) such a call fails; in a server it is logged and made, so that a plugin's mistake slows
writes rather than failing them. The mark is a ``Scoped`` value, as is the read transaction a page
holds open (``casepush.domain.one_snapshot``).
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Whether a call inside a write transaction raises (tests) rather than being logged (servers).
strict = False


class CallInsideWriteTransaction(RuntimeError):
    """An outbound call was made while a write transaction was open."""


class Scoped(Generic[T]):
    """A value a block sets for the code it runs: ``with scoped(var, value)``, then ``current(var)``.

    A task started inside the block inherits it (as it inherits every context variable) and must not
    take it for its own once the block has ended: then ``current`` answers None.
    """

    def __init__(self, value: T):
        self.value = value
        self.open = True


@contextmanager
def scoped(var: ContextVar["Scoped[T] | None"], value: T) -> Iterator[None]:
    held = Scoped(value)
    token = var.set(held)
    try:
        yield
    finally:
        held.open = False
        var.reset(token)


def current(var: ContextVar["Scoped[T] | None"]) -> T | None:
    held = var.get()
    return held.value if held is not None and held.open else None


_write_transaction: ContextVar[Scoped[bool] | None] = ContextVar("casepush_write_transaction", default=None)


def write_transaction() -> AbstractContextManager[None]:
    """Mark the code inside as running in a write transaction."""
    return scoped(_write_transaction, True)


def ensure_outside_write_transaction(call: Callable[[], str]) -> None:
    """Refuse (``strict``) or log the call ``call()`` names if a write transaction of this task is open
    (named only then: the check is on every outbound call)."""
    if not current(_write_transaction):
        return
    message = f"{call()} was called inside a write transaction; make external calls before or after it"
    if strict:
        raise CallInsideWriteTransaction(message)
    log.warning(message)
