"""Throttling of failed logins, so that guessing passwords or API keys is slow and cannot burn the CPU.

Two counts of failed checks, each in a fixed window that starts at its first failure:

- per account (user name, or API key id) *and* client address: a guesser is stopped after
  ``max_failures``, while the same account still logs in from every other address (no lockout of
  the account's owner by someone else's guesses);
- per client address, whatever the account: a client trying many names (password spraying, or random
  names that each cost a password hash) is stopped after ``max_client_failures``.

While a count is at its limit, no credential is checked at all, the right one included: a check would
cost the hash the throttle saves, and a success would tell the guesser it has found the password. The
count starts again when its window passes. An attempt counts as a failure from its start (and is taken
back if it succeeds), in one step with the test of the limits, so that concurrent guesses cannot all
start before the first one fails.

Where the counts live:

- ``MemoryThrottle``: in this process (SQLite, whose file serves one instance). At most ``capacity``
  counts of each kind are kept; the least recently touched go first.
- ``SharedThrottle``: in the database, shared by every instance on it (PostgreSQL), so that a guesser
  spreading attempts over instances behind a load balancer meets the same limits as on one. Each
  attempt is one statement that tests and counts both keys; the instance keeps in memory what it
  learns of the counts (from its statements, and from the other instances, which announce through the
  database every count that reaches its limit or leaves it), so that the test before the credential
  cache costs no round trip.
"""

import abc
import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from casepush.config import Settings
from casepush.store import LoginChange, LoginCounts, LoginFailures, Store, WindowCount

log = logging.getLogger(__name__)

#: Counts kept per kind (by account, by client): about 30 MB for both when full (300 bytes each).
DEFAULT_CAPACITY = 50_000


@dataclass(frozen=True)
class Throttled:
    """Too many failed logins: the client may try again in ``retry_after`` seconds."""

    retry_after: float

    @property
    def seconds(self) -> int:
        """Whole seconds, rounded up, for the ``Retry-After`` header."""
        return max(1, math.ceil(self.retry_after))

    @property
    def message(self) -> str:
        return f"Too many failed login attempts; try again in {self.seconds} seconds"


class _Window:
    __slots__ = ("failures", "start")

    def __init__(self, start: float):
        self.start = start
        self.failures = 0


class FailureCounts:
    """Failures per key, each key's count in a fixed window from its first failure (at most ``capacity``
    keys, the least recently touched dropped first)."""

    def __init__(self, limit: int, window: float, capacity: int, clock: Callable[[], float]):
        self.limit = limit
        self.window = window
        self.capacity = capacity
        self.clock = clock
        self._windows: OrderedDict[Hashable, _Window] = OrderedDict()

    def __len__(self) -> int:
        return len(self._windows)

    def failures(self, key: Hashable) -> int:
        current = self._current(key)
        return 0 if current is None else current.failures

    def retry_after(self, key: Hashable) -> float:
        """Seconds until ``key`` may be tried again; 0 if it may be now."""
        current = self._current(key)
        if current is None or current.failures < self.limit:
            return 0.0
        return current.start + self.window - self.clock()

    def add(self, key: Hashable) -> bool:
        """Count a failure; True when it is the one that reaches the limit."""
        current = self._current(key) or self._started(key, self.clock())
        self._windows.move_to_end(key)
        current.failures += 1
        return current.failures == self.limit

    def take_back(self, key: Hashable) -> None:
        """Uncount one failure (an attempt counted in advance that succeeded)."""
        current = self._current(key)
        if current is not None and current.failures > 0:
            current.failures -= 1

    def forget(self, key: Hashable) -> None:
        self._windows.pop(key, None)

    def clear(self) -> None:
        self._windows.clear()

    def set(self, key: Hashable, count: WindowCount | None) -> None:
        """Take a count kept elsewhere (the database's): its failures, and when its window ends."""
        if count is None or count.failures <= 0 or count.remaining <= 0:
            self.forget(key)
            return
        start = self.clock() + count.remaining - self.window
        current = self._windows.get(key) or self._started(key, start)
        current.start, current.failures = start, count.failures
        self._windows.move_to_end(key)

    def _started(self, key: Hashable, start: float) -> _Window:
        started = self._windows[key] = _Window(start)
        while len(self._windows) > self.capacity:
            self._windows.popitem(last=False)
        return started

    def _current(self, key: Hashable) -> _Window | None:
        """The key's window, unless it has passed (then it is dropped)."""
        current = self._windows.get(key)
        if current is not None and current.start + self.window <= self.clock():
            del self._windows[key]
            return None
        return current


class LoginThrottle(abc.ABC):
    """Counts failed logins per account and client address, and says when a client must wait.

    Use: ``blocked`` before any check (a credential known good included), and ``clean`` before taking a
    credential from a cache; ``attempted`` when a check is to start (Throttled, and nothing counted,
    when a limit is reached: then no check is made; otherwise it counts as failed until ``succeeded``
    says otherwise, or ``abandoned`` if it could not be made). ``kind`` keeps accounts of different
    kinds apart (``basic`` for user names, ``apikey`` for API key ids).

    ``by_account`` and ``by_client`` are the counts this process knows: all of them (``MemoryThrottle``),
    or what it learnt of the database's (``SharedThrottle``). ``blocked`` and ``clean`` read only them.
    """

    def __init__(
        self,
        max_failures: int = 10,
        max_client_failures: int = 100,
        window: float = 300.0,
        capacity: int = DEFAULT_CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.by_account = FailureCounts(max_failures, window, capacity, clock)
        self.by_client = FailureCounts(max_client_failures, window, capacity, clock)

    def blocked(self, name: str, client: str | None, kind: str = "basic") -> Throttled | None:
        """Throttled while the account (from this client) or the client has too many failures."""
        return self._blocked(*_keys(kind, name, client))

    def clean(self, name: str, client: str | None, kind: str = "basic") -> bool:
        """No failure of the account from this client is known: a credential found in a cache may be used
        unchecked. Otherwise it is checked again, so that its success starts the count afresh."""
        return self.by_account.failures(_keys(kind, name, client)[0]) == 0

    async def attempted(self, name: str, client: str | None, kind: str = "basic") -> Throttled | None:
        """A check is to start: counted as a failure until it succeeds; or Throttled, counting nothing,
        when the account (from this client) or the client is at its limit."""
        account, client_key = _keys(kind, name, client)
        counted = await self._count(account, client_key)
        if isinstance(counted, Throttled):
            return counted
        account_reached, client_reached = counted
        if account_reached:
            # Not the name: a failed user name is often a password typed into the wrong field.
            log.warning("throttling logins to an account (%s) from %s after too many failures", kind, client)
        if client_reached:
            log.warning("throttling logins from %s after too many failures", client)
        return None

    async def succeeded(self, name: str, client: str | None, kind: str = "basic") -> None:
        """The credential was right: the account starts afresh from this client. The client's own count
        only loses this attempt: one good account must not wipe out the client's guesses at others."""
        await self._release(*_keys(kind, name, client), succeeded=True)

    async def abandoned(self, name: str, client: str | None, kind: str = "basic") -> None:
        """A check could not be made (the database failed): the attempt does not count."""
        await self._release(*_keys(kind, name, client), succeeded=False)

    def _blocked(self, account: bytes, client: bytes | None) -> Throttled | None:
        wait = self.by_account.retry_after(account)
        if client is not None:
            wait = max(wait, self.by_client.retry_after(client))
        return Throttled(wait) if wait > 0 else None

    @abc.abstractmethod
    async def _count(self, account: bytes, client: bytes | None) -> Throttled | tuple[bool, bool]:
        """Count an attempt against both keys unless either is at its limit (then Throttled); whether
        each count reached its limit."""

    @abc.abstractmethod
    async def _release(self, account: bytes, client: bytes | None, succeeded: bool) -> None:
        """Take back a counted attempt (as ``succeeded`` or ``abandoned`` say)."""


class MemoryThrottle(LoginThrottle):
    """The counts in this process's memory: for a database that one instance serves (SQLite)."""

    async def _count(self, account: bytes, client: bytes | None) -> Throttled | tuple[bool, bool]:
        if throttled := self._blocked(account, client):
            return throttled
        return self.by_account.add(account), client is not None and self.by_client.add(client)

    async def _release(self, account: bytes, client: bytes | None, succeeded: bool) -> None:
        if succeeded:
            self.by_account.forget(account)
        else:
            self.by_account.take_back(account)
        if client is not None:
            self.by_client.take_back(client)


class SharedThrottle(LoginThrottle):
    """The counts in the database, shared by every instance on it (PostgreSQL).

    Every attempt is tested and counted by the database, in one statement. What this instance learns of
    the counts is kept in memory, so that ``blocked`` and ``clean`` (before the credential cache) cost no
    round trip: the counts its own statements return, and the changes other instances announce when a
    count reaches its limit or leaves it. When those announcements may have been missed (the connection
    that hears them was lost or is back), what was learnt is dropped: the credential cache is not used
    meanwhile, and the database answers the next attempts.
    """

    def __init__(
        self,
        failures: LoginFailures,
        capacity: int = DEFAULT_CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__(
            failures.max_failures, failures.max_client_failures, failures.window, capacity, clock
        )
        self.failures = failures
        failures.on_change(self._heard)

    def _heard(self, change: LoginChange | None) -> None:
        if change is None:
            self.by_account.clear()
            self.by_client.clear()
        else:
            (self.by_account if change.kind == "account" else self.by_client).set(change.key, change.count)

    def _learn(self, account: bytes, client: bytes | None, counts: LoginCounts) -> None:
        self.by_account.set(account, counts.account)
        if client is not None:
            self.by_client.set(client, counts.client)

    async def _count(self, account: bytes, client: bytes | None) -> Throttled | tuple[bool, bool]:
        counts = await self.failures.attempt(account, client)
        self._learn(account, client, counts)
        if not counts.counted:
            # A count at its limit that began after this statement's snapshot may not be among the
            # counts: its window is about a whole one.
            return self._blocked(account, client) or Throttled(self.failures.window)
        return _reached(counts.account, self.failures.max_failures), _reached(
            counts.client, self.failures.max_client_failures
        )

    async def _release(self, account: bytes, client: bytes | None, succeeded: bool) -> None:
        try:
            counts = await self.failures.release(account, client, succeeded)
        except Exception as exc:  # the attempt stays counted in the database until its window passes
            log.warning("could not take back a counted login attempt: %s", exc)
            return
        self._learn(account, client, counts)


def _reached(count: WindowCount | None, limit: int) -> bool:
    return count is not None and count.failures == limit


def _key(*parts: str | None) -> bytes:
    """16 bytes however long the names sent (and no user name, often a mistyped password, kept)."""
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).digest()


def _keys(kind: str, name: str, client: str | None) -> tuple[bytes, bytes | None]:
    """The keys of the account from the client, and of the client (None without an address)."""
    return _key(kind, name, client), None if client is None else _key(client)


def login_throttle(settings: Settings, store: Store | None = None) -> LoginThrottle:
    """The throttle of ``settings``' limits: shared through ``store``'s database when it serves several
    instances, else in memory."""
    limits = (settings.login_max_failures, settings.login_max_client_failures, settings.login_failure_window)
    shared = store.login_failures(*limits) if store is not None else None
    return MemoryThrottle(*limits) if shared is None else SharedThrottle(shared)
