"""What must not happen inside a write transaction: a call to an external system. It would hold SQLite's
write lock (every other write waits) or PostgreSQL's row locks while it waits on Jira, for as long as
Jira takes.

The storage backends mark their write transactions (``write_transaction``), the outbound client checks
before each call (``ensure_outside_write_transaction``). In tests (``casepush.testing``'s pytest plugin
sets ``strict``) such a call fails; in a server it is logged and made, so that a plugin's mistake slows
writes rather than failing them.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

log = logging.getLogger(__name__)

#: Whether a call inside a write transaction raises (tests) rather than being logged (servers).
strict = False


class CallInsideWriteTransaction(RuntimeError):
    """An outbound call was made while a write transaction was open."""


class _WriteTransaction:
    """Open until its transaction ends: a task started inside the transaction inherits the marker (as it
    inherits every context variable) and must not be taken for inside it once it has ended."""

    open = True


_current: ContextVar[_WriteTransaction | None] = ContextVar("casepush_write_transaction", default=None)


@contextmanager
def write_transaction() -> Iterator[None]:
    """Mark the code inside as running in a write transaction."""
    marker = _WriteTransaction()
    token = _current.set(marker)
    try:
        yield
    finally:
        marker.open = False
        _current.reset(token)


def ensure_outside_write_transaction(call: str) -> None:
    """Refuse (``strict``) or log ``call`` if a write transaction of this task is open."""
    marker = _current.get()
    if marker is None or not marker.open:
        return
    message = f"{call} was called inside a write transaction; make external calls before or after it"
    if strict:
        raise CallInsideWriteTransaction(message)
    log.warning(message)
