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
back if it succeeds), so that concurrent guesses cannot all start before the first one fails.

The counts live in the memory of each instance (several instances behind a load balancer let a guesser
try ``max_failures`` times on each), and at most ``capacity`` of each are kept: the least recently
touched go first.
"""

import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from casepush.config import Settings

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
    """Failures per key, each key's count in a fixed window from its first failure."""

    def __init__(self, limit: int, window: float, capacity: int, clock: Callable[[], float]):
        self.limit = limit
        self.window = window
        self.capacity = capacity
        self.clock = clock
        self._windows: OrderedDict[Hashable, _Window] = OrderedDict()

    def __len__(self) -> int:
        return len(self._windows)

    def retry_after(self, key: Hashable) -> float:
        """Seconds until ``key`` may be tried again; 0 if it may be now."""
        current = self._current(key)
        if current is None or current.failures < self.limit:
            return 0.0
        return current.start + self.window - self.clock()

    def add(self, key: Hashable) -> bool:
        """Count a failure; True when it is the one that reaches the limit."""
        current = self._current(key)
        if current is None:
            current = self._windows[key] = _Window(self.clock())
            while len(self._windows) > self.capacity:
                self._windows.popitem(last=False)
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

    def _current(self, key: Hashable) -> _Window | None:
        """The key's window, unless it has passed (then it is dropped)."""
        current = self._windows.get(key)
        if current is not None and current.start + self.window <= self.clock():
            del self._windows[key]
            return None
        return current


class LoginThrottle:
    """Counts failed logins per account and client address, and says when a client must wait.

    Use: ``blocked`` before any check (a credential known good included); ``attempted`` when a check
    starts (it counts as failed until ``succeeded`` says otherwise, or ``abandoned`` if it could not be
    made). ``kind`` keeps accounts of
    different kinds apart (``basic`` for user names, ``apikey`` for API key ids).
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
        wait = self.by_account.retry_after(_key(kind, name, client))
        if client is not None:
            wait = max(wait, self.by_client.retry_after(_key(client)))
        return Throttled(wait) if wait > 0 else None

    def attempted(self, name: str, client: str | None, kind: str = "basic") -> None:
        """A check starts: counted as a failure until it succeeds."""
        if self.by_account.add(_key(kind, name, client)):
            # Not the name: a failed user name is often a password typed into the wrong field.
            log.warning("throttling logins to an account (%s) from %s after too many failures", kind, client)
        if client is not None and self.by_client.add(_key(client)):
            log.warning("throttling logins from %s after too many failures", client)

    def succeeded(self, name: str, client: str | None, kind: str = "basic", counted: bool = True) -> None:
        """The credential was right: the account starts afresh from this client. The client's own count
        only loses this attempt if ``attempted`` counted it (a credential found in a cache was not):
        one good account must not wipe out the client's guesses at others."""
        self.by_account.forget(_key(kind, name, client))
        if counted and client is not None:
            self.by_client.take_back(_key(client))

    def abandoned(self, name: str, client: str | None, kind: str = "basic") -> None:
        """A check could not be made (the database failed): the attempt does not count."""
        self.by_account.take_back(_key(kind, name, client))
        if client is not None:
            self.by_client.take_back(_key(client))


def _key(*parts: str | None) -> bytes:
    """16 bytes however long the names sent (and no user name, often a mistyped password, kept)."""
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).digest()


def login_throttle(settings: Settings) -> LoginThrottle:
    return LoginThrottle(
        settings.login_max_failures, settings.login_max_client_failures, settings.login_failure_window
    )
