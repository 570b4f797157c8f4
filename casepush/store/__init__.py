"""The storage interface the domain layer talks to; one backend per database engine.

Every read and write goes through a transaction object (``Tx``). ``Store.write()`` runs one
serialised transaction that commits only when its block ends without an exception, so a request
that fails writes nothing.
"""

import abc
import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from casepush.store.sync import SyncState

from casepush.types import (
    Attachment,
    AutomaticPushOutcome,
    AutomaticPushSetting,
    AutomaticPushState,
    Case,
    CaseAlert,
    CaseSyncRequest,
    Configuration,
    RoleBody,
    RoleDescriptor,
    Space,
    User,
    UserAction,
)


class VersionConflict(Exception):
    """A row changed since the version the caller read."""


def encode_version(seq: int) -> str:
    """Kibana's saved-object version: base64 of JSON ``[seq_no, primary_term]`` (formatted by hand: it is
    made for every row read, and ``json.dumps`` cost more than the rest of the row's decoding)."""
    return base64.b64encode(f"[{int(seq)},1]".encode()).decode()


def decode_version(version: str) -> int | None:
    """The sequence number in a version string, or None when it is not one of ours."""
    try:
        seq, term = json.loads(base64.b64decode(version, validate=True))
    except (ValueError, TypeError):
        return None
    return seq if isinstance(seq, int) and term == 1 else None


@dataclass
class CaseQuery:
    """Filters of ``GET /api/cases/_find`` (and of the counts beside it)."""

    owners: list[str]
    statuses: list[str] = field(default_factory=list)
    severities: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    reporters: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    include_unassigned: bool = False
    search: str | None = None
    #: The case columns the terms are looked for in; none: the search matches only a case id.
    search_fields: list[str] = field(default_factory=lambda: ["title", "description"])
    search_all_terms: bool = False
    created_from: str | None = None
    created_to: str | None = None


@dataclass
class Page:
    page: int = 1
    per_page: int = 20
    sort_field: str = "created_at"
    descending: bool = True

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


@dataclass
class StoredUser:
    username: str
    password_hash: str
    full_name: str | None = None
    email: str | None = None
    roles: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True


@dataclass
class StoredApiKey:
    """An API key; only a digest of its secret is kept. Times are epoch milliseconds."""

    id: str
    name: str
    username: str
    secret_hash: str
    created_ms: int
    expires_ms: int | None = None
    invalidated_ms: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Elasticsearch role descriptors restricting the key (none: it acts with its owner's roles).
    role_descriptors: dict[str, RoleDescriptor] = field(default_factory=dict)


@dataclass
class StoredConnector:
    """A connector; ``secrets`` is the sealed token, never clear text."""

    id: str
    type_id: str
    name: str
    config: dict[str, Any]
    secrets: str
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class PushClaim:
    """A held claim on pushing a case to a connector; ``interrupted_create`` when it was taken over
    from a holder whose external create may have happened without being saved."""

    token: str
    interrupted_create: bool = False


@dataclass
class AutomaticPush:
    """A row of the automatic push outbox: one case and connector. Times are epoch milliseconds."""

    space_id: str
    case_id: str
    connector_id: str
    owner: str
    generation: int
    state: AutomaticPushState
    attempts: int = 0
    due_ms: int | None = None
    pending_since_ms: int | None = None
    lease_owner: str | None = None
    lease_until_ms: int | None = None
    caused_by: User | None = None
    last_attempt_ms: int | None = None
    last_outcome: AutomaticPushOutcome | None = None
    last_error: str | None = None
    last_pushed_ms: int | None = None


@dataclass(frozen=True)
class Settlement:
    """How an automatic push attempt ended, for ``settle_automatic_push``: ``state`` is what the row
    becomes (``idle``, ``retrying``, ``failed``) unless the case changed meanwhile (then ``pending``)."""

    state: AutomaticPushState
    outcome: AutomaticPushOutcome
    error: str | None = None
    retry_at_ms: int | None = None
    #: Whether the attempt counts towards the attempts' limit (not when another push held the case).
    counted: bool = True


#: The outbox states in which a push is waiting or running.
QUEUED_STATES = ("pending", "retrying", "running")


@dataclass(frozen=True)
class PushRules:
    """What decides whether a change of a case asks for an automatic push to its connector: the automatic
    push setting of the case's owner and connector, and the connector's case sync settings (None: none)."""

    setting: AutomaticPushSetting | None = None
    sync: CaseSyncRequest | None = None


@dataclass(frozen=True)
class PushBookkeeping:
    """What a push reads beside the case, for one case and connector: the generation of its automatic push
    (None without one), the connector's case sync settings (None: none), and the case's comments that
    came from the connector's system (never pushed back to it)."""

    generation: int | None = None
    sync: CaseSyncRequest | None = None
    imported: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PushRecord:
    """What a push writes beside the case's row, in the transaction that saves it (``Tx.record_push``): its
    user actions; the attachments it read, marked pushed (each with the version it was read at); the
    incident to link to the case (None: it is linked already); the external ids of the comments it
    pushed; the automatic push generation it sent (None: none waited); and the claim it releases."""

    claim_token: str
    actions: list[UserAction] = field(default_factory=list)
    marked: list[Attachment] = field(default_factory=list)
    link_external_id: str | None = None
    pushed_comment_ids: list[str] = field(default_factory=list)
    generation: int | None = None


@dataclass(frozen=True)
class PoolUsage:
    """The store's database connections now: running a query or transaction, open, and at most."""

    in_use: int
    open: int
    max: int


@dataclass(frozen=True)
class Table:
    """A table as whole-database copies see it: the columns copied (not the generated ``pos``), which of
    them hold JSON documents or flags, and whether rows keep their insertion order."""

    name: str
    columns: tuple[str, ...]
    json_columns: frozenset[str] = frozenset()
    flag_columns: frozenset[str] = frozenset()
    ordered: bool = False


@dataclass(frozen=True)
class WindowCount:
    """A count of failed logins as the database has it: ``failures`` in a window that ends in
    ``remaining`` seconds (by the database's clock)."""

    failures: int
    remaining: float


@dataclass(frozen=True)
class LoginCounts:
    """The counts of an account (from a client) and of the client after a statement, None where no
    window runs; for an attempt, whether it was ``counted``."""

    account: WindowCount | None
    client: WindowCount | None
    counted: bool = True


@dataclass(frozen=True)
class LoginChange:
    """Another instance took a count to its limit, or back under it: ``kind`` is ``account`` or
    ``client``, ``count`` the count now (None: no window runs)."""

    kind: str
    key: bytes
    count: WindowCount | None


class LoginFailures(abc.ABC):
    """Failed-login counts kept in the database, shared by every instance on it (the throttle of
    ``casepush.security.throttle`` keeps what it learns of them in memory).

    Keys are digests: of an account with the client address it was tried from, and of the client
    address alone. Each key's count runs in a fixed window from its first failure, timed by the
    database's clock so that every instance agrees; an attempt counts against both keys at once, or,
    when either is at its limit, against neither.
    """

    def __init__(self, max_failures: int, max_client_failures: int, window: float):
        self.max_failures = max_failures
        self.max_client_failures = max_client_failures
        self.window = window

    @abc.abstractmethod
    async def attempt(self, account: bytes, client: bytes | None) -> LoginCounts:
        """Count an attempt against the account's key and the client's (if any), unless either is at its
        limit: then nothing is counted and the counts are as found. A count that reaches its limit is
        announced to the other instances."""

    @abc.abstractmethod
    async def release(self, account: bytes, client: bytes | None, succeeded: bool) -> LoginCounts:
        """Take back a counted attempt: a success forgets the account's count, an attempt that could not
        be checked takes one off it; either takes one off the client's. A count that leaves its limit
        is announced to the other instances."""

    @abc.abstractmethod
    def on_change(self, callback: Callable[[LoginChange | None], None]) -> None:
        """Call ``callback`` with what another instance changed at a limit, or with None when changes may
        have been missed (what was heard before may be stale)."""

    @abc.abstractmethod
    async def expire(self) -> int:
        """Delete the counts whose window has passed; how many were deleted."""


class Tx(abc.ABC):
    """The operations of one transaction. Every method is scoped to one space."""

    # cases
    @abc.abstractmethod
    async def get_cases(self, space_id: str, ids: list[str]) -> list[Case]: ...

    @abc.abstractmethod
    async def insert_case(self, space_id: str, case: Case) -> Case: ...

    @abc.abstractmethod
    async def update_case(self, space_id: str, case: Case, before: Case) -> Case:
        """Store ``case`` if the stored version is still ``before``'s, else VersionConflict."""

    @abc.abstractmethod
    async def delete_cases(self, space_id: str, ids: list[str]) -> None:
        """Delete cases with their attachments and user actions."""

    @abc.abstractmethod
    async def find_cases(self, space_id: str, query: CaseQuery, page: Page) -> list[Case]:
        """One page of the cases matching ``query``."""

    @abc.abstractmethod
    async def count_cases(self, space_id: str, query: CaseQuery) -> int:
        """How many cases match ``query``."""

    @abc.abstractmethod
    async def count_cases_by_status(self, space_id: str, query: CaseQuery) -> dict[str, int]: ...

    @abc.abstractmethod
    async def case_totals(self, space_id: str, case_ids: list[str]) -> dict[str, tuple[int, int]]:
        """``{case_id: (user comments, distinct alert ids)}``."""

    @abc.abstractmethod
    async def tags(self, space_id: str, owners: list[str]) -> list[str]: ...

    @abc.abstractmethod
    async def reporters(self, space_id: str, owners: list[str]) -> list[User]: ...

    # attachments
    @abc.abstractmethod
    async def insert_attachment(self, space_id: str, case_id: str, attachment: Attachment) -> Attachment: ...

    @abc.abstractmethod
    async def update_attachment(
        self, space_id: str, case_id: str, attachment: Attachment, expected_version: str
    ) -> Attachment: ...

    @abc.abstractmethod
    async def get_attachment(self, space_id: str, attachment_id: str) -> tuple[str, Attachment] | None:
        """``(case_id, attachment)`` of an attachment of this space."""

    @abc.abstractmethod
    async def list_attachments(
        self,
        space_id: str,
        case_id: str,
        offset: int = 0,
        limit: int | None = None,
        descending: bool = False,
        only_type: str | None = None,
    ) -> tuple[list[Attachment], int]:
        """A case's attachments (of one type, if given) by creation time, and their total."""

    @abc.abstractmethod
    async def delete_attachments(self, space_id: str, case_id: str, ids: list[str] | None) -> None:
        """Delete the given attachments of a case, or all of them when ``ids`` is None."""

    @abc.abstractmethod
    async def case_alerts(self, space_id: str, case_id: str) -> list[CaseAlert]: ...

    @abc.abstractmethod
    async def cases_with_alert(self, space_id: str, alert_id: str, owners: list[str]) -> list[Case]: ...

    @abc.abstractmethod
    async def count_case_alerts(self, space_id: str, case_id: str) -> int: ...

    # user actions
    @abc.abstractmethod
    async def insert_user_actions(self, space_id: str, case_id: str, actions: list[UserAction]) -> None: ...

    @abc.abstractmethod
    async def record_user_actions(
        self, space_id: str, case_id: str, actions: list[UserAction], owner: str, connector_id: str
    ) -> PushRules:
        """Insert a case's user actions, and read what decides whether they ask for an automatic push to
        the case's connector (``connector_id``, for the case's ``owner``): one statement on PostgreSQL."""

    @abc.abstractmethod
    async def find_user_actions(
        self, space_id: str, case_id: str, types: list[str], attachment_types: list[str], page: Page
    ) -> tuple[list[UserAction], int]:
        """User actions of the given types, or comment user actions about the given attachment types.

        With neither filter, all of them; ordered by creation.
        """

    # configurations
    @abc.abstractmethod
    async def list_configurations(self, space_id: str, owners: list[str]) -> list[Configuration]: ...

    @abc.abstractmethod
    async def get_configuration(self, space_id: str, configuration_id: str) -> Configuration | None: ...

    @abc.abstractmethod
    async def insert_configuration(self, space_id: str, configuration: Configuration) -> Configuration: ...

    @abc.abstractmethod
    async def update_configuration(
        self, space_id: str, configuration: Configuration, expected_version: str
    ) -> Configuration: ...

    @abc.abstractmethod
    async def delete_configuration(self, space_id: str, configuration_id: str) -> None: ...

    # connectors
    @abc.abstractmethod
    async def insert_connector(self, space_id: str, connector: StoredConnector) -> bool:
        """False when a connector with that id exists (in any space)."""

    @abc.abstractmethod
    async def get_connector(self, space_id: str, connector_id: str) -> StoredConnector | None: ...

    @abc.abstractmethod
    async def list_connectors(self, space_id: str) -> list[StoredConnector]:
        """The space's connectors by name."""

    @abc.abstractmethod
    async def update_connector(self, space_id: str, connector: StoredConnector) -> None: ...

    @abc.abstractmethod
    async def delete_connector(self, space_id: str, connector_id: str) -> bool: ...

    @abc.abstractmethod
    async def count_connector_references(self, space_id: str, connector_ids: list[str]) -> dict[str, int]:
        """How many cases and configurations of the space name each connector."""

    # push claims
    @abc.abstractmethod
    async def claim_push(
        self, space_id: str, case_id: str, connector_id: str, token: str, now_ms: int, expires_ms: int
    ) -> PushClaim | None:
        """Take the claim when it is free or its holder's lease has run out; None while held."""

    @abc.abstractmethod
    async def update_push_claim(self, token: str, expires_ms: int, creating: bool | None = None) -> None:
        """Extend a held claim's lease, and record (or clear) that an external create is in flight."""

    @abc.abstractmethod
    async def release_push_claim(self, token: str) -> None: ...

    @abc.abstractmethod
    async def push_bookkeeping(self, space_id: str, case_id: str, connector_id: str) -> PushBookkeeping:
        """What a push reads beside the case, in one statement."""

    @abc.abstractmethod
    async def record_push(
        self, space_id: str, case_id: str, connector_id: str, record: PushRecord
    ) -> dict[str, Attachment]:
        """What a push writes beside the case's row, in the transaction that saves it: insert its user
        actions; store the attachments it marked pushed (neither their type nor their alerts change), each
        only if its stored version is still the one it carries; link the incident to the case; remember the
        comments pushed; clear the automatic push sent (as ``clear_automatic_push``); release the claim.
        The attachments stored, by id, with their new versions. One statement on PostgreSQL."""

    # automatic pushes: settings and the outbox
    @abc.abstractmethod
    async def get_automatic_push_setting(
        self, space_id: str, owner: str, connector_id: str
    ) -> AutomaticPushSetting | None: ...

    @abc.abstractmethod
    async def list_automatic_push_settings(self, space_id: str) -> list[AutomaticPushSetting]: ...

    @abc.abstractmethod
    async def put_automatic_push_setting(self, space_id: str, setting: AutomaticPushSetting) -> None: ...

    @abc.abstractmethod
    async def delete_automatic_push_setting(self, space_id: str, owner: str, connector_id: str) -> bool: ...

    @abc.abstractmethod
    async def get_case_sync(self, space_id: str, connector_id: str) -> CaseSyncRequest | None: ...

    @abc.abstractmethod
    async def put_case_sync(self, space_id: str, connector_id: str, sync: CaseSyncRequest) -> None: ...

    @abc.abstractmethod
    async def delete_connector_settings(self, space_id: str, connector_id: str) -> None:
        """Forget a deleted connector's automatic push and case sync settings and its queued pushes."""

    @abc.abstractmethod
    async def enqueue_automatic_push(
        self, space_id: str, case_id: str, connector_id: str, owner: str, due_ms: int, now_ms: int, user: User
    ) -> None:
        """A change asks for a push: a new generation, due at ``due_ms`` (a running push stays running,
        then finds the generation changed); a failed push is tried again."""

    @abc.abstractmethod
    async def claim_automatic_pushes(
        self, lease_owner: str, now_ms: int, lease_until_ms: int, limit: int
    ) -> list[AutomaticPush]:
        """Take up to ``limit`` due pushes nobody holds (or whose holder's lease ran out), oldest due first;
        on PostgreSQL rows other instances are taking are skipped (``SKIP LOCKED``)."""

    @abc.abstractmethod
    async def renew_automatic_push(self, push: AutomaticPush, lease_until_ms: int) -> bool:
        """Extend a held lease; False when it is no longer ours."""

    @abc.abstractmethod
    async def settle_automatic_push(
        self,
        space_id: str,
        case_id: str,
        connector_id: str,
        generation: int,
        now_ms: int,
        settled: Settlement,
    ) -> None:
        """Record an attempt and release the lease: the row becomes ``settled.state`` if its generation is
        still ``generation``, else (the case changed meanwhile) ``pending`` again."""

    @abc.abstractmethod
    async def clear_automatic_push(
        self, space_id: str, case_id: str, connector_id: str, generation: int
    ) -> None:
        """A push sent the case as of ``generation``: nothing waits any more unless a later change came (a
        held lease is left alone)."""

    @abc.abstractmethod
    async def list_automatic_pushes(self, space_id: str, case_id: str) -> list[AutomaticPush]: ...

    @abc.abstractmethod
    async def automatic_push_queue(self) -> tuple[int, int | None]:
        """How many pushes wait or run, in every space, and since when the oldest has waited."""

    # two-way sync (``casepush.store.sync``)
    @abc.abstractmethod
    async def link_external(self, space_id: str, connector_id: str, external_id: str, case_id: str) -> None:
        """Record the case an incident belongs to (every push does)."""

    @abc.abstractmethod
    async def case_of_external(self, space_id: str, connector_id: str, external_id: str) -> str | None: ...

    @abc.abstractmethod
    async def external_ids(self, space_id: str, connector_id: str) -> list[str]: ...

    @abc.abstractmethod
    async def remember_pushed_comments(
        self, space_id: str, connector_id: str, external_ids: list[str]
    ) -> None: ...

    @abc.abstractmethod
    async def is_pushed_comment(self, space_id: str, connector_id: str, external_id: str) -> bool: ...

    @abc.abstractmethod
    async def imported_attachment(self, space_id: str, connector_id: str, external_id: str) -> str | None: ...

    @abc.abstractmethod
    async def remember_imported(
        self, space_id: str, connector_id: str, external_id: str, attachment_id: str, case_id: str
    ) -> None: ...

    @abc.abstractmethod
    async def imported_comments(self, space_id: str, case_id: str) -> dict[str, str]: ...

    @abc.abstractmethod
    async def set_inbound_secret(self, space_id: str, connector_id: str, sealed: str | None) -> None: ...

    @abc.abstractmethod
    async def get_inbound_secret(self, space_id: str, connector_id: str) -> str | None: ...

    @abc.abstractmethod
    async def list_inbound_secrets(self) -> list[tuple[str, str, str]]: ...

    @abc.abstractmethod
    async def poll_soon(self, space_id: str, connector_id: str, now_ms: int) -> bool:
        """Make the connector's next poll due now; False when it is not polled."""

    @abc.abstractmethod
    async def claim_change(self, space_id: str, connector_id: str, change_id: str, now_ms: int) -> bool:
        """Record that an external change is applied; False when it was already."""

    @abc.abstractmethod
    async def forget_changes_before(self, before_ms: int) -> int: ...

    @abc.abstractmethod
    async def get_sync_state(self, space_id: str, connector_id: str) -> "SyncState | None": ...

    @abc.abstractmethod
    async def start_sync_state(
        self, space_id: str, connector_id: str, since_ms: int, due_ms: int | None
    ) -> None: ...

    @abc.abstractmethod
    async def claim_due_polls(
        self, lease_owner: str, now_ms: int, lease_until_ms: int, limit: int
    ) -> "list[SyncState]": ...

    @abc.abstractmethod
    async def finish_poll(
        self, state: "SyncState", now_ms: int, cursor: str | None, next_due_ms: int | None, error: str | None
    ) -> None: ...

    @abc.abstractmethod
    async def note_inbound(
        self, space_id: str, connector_id: str, now_ms: int, error: str | None
    ) -> None: ...

    @abc.abstractmethod
    async def count_applied(self, space_id: str, connector_id: str, applied: int) -> None: ...

    # spaces
    @abc.abstractmethod
    async def list_spaces(self) -> list[Space]: ...

    @abc.abstractmethod
    async def get_space(self, space_id: str) -> Space | None: ...

    @abc.abstractmethod
    async def insert_space(self, space: Space) -> bool:
        """False when a space with that id exists."""

    @abc.abstractmethod
    async def update_space(self, space: Space) -> None: ...

    @abc.abstractmethod
    async def delete_space(self, space_id: str) -> None:
        """Delete a space with every object in it."""

    # users, roles and API keys (not space-scoped)
    @abc.abstractmethod
    async def get_user(self, username: str) -> StoredUser | None: ...

    @abc.abstractmethod
    async def list_users(self) -> list[StoredUser]: ...

    @abc.abstractmethod
    async def put_user(self, user: StoredUser) -> bool:
        """Insert or replace; True when the user is new."""

    @abc.abstractmethod
    async def delete_user(self, username: str) -> bool:
        """Delete a user and their API keys; False when there was none."""

    @abc.abstractmethod
    async def get_roles(self, names: list[str]) -> dict[str, RoleBody]: ...

    @abc.abstractmethod
    async def list_roles(self) -> dict[str, RoleBody]: ...

    @abc.abstractmethod
    async def put_role(self, name: str, role: RoleBody) -> None: ...

    @abc.abstractmethod
    async def delete_role(self, name: str) -> bool: ...

    @abc.abstractmethod
    async def insert_api_key(self, key: StoredApiKey) -> None: ...

    @abc.abstractmethod
    async def get_api_key(self, key_id: str) -> StoredApiKey | None: ...

    @abc.abstractmethod
    async def list_api_keys(self, username: str | None) -> list[StoredApiKey]:
        """Every key, or those of one user, oldest first."""

    @abc.abstractmethod
    async def invalidate_api_key(self, key_id: str, at_ms: int) -> None: ...

    @abc.abstractmethod
    async def lock(self, name: str) -> None:
        """Hold a lock named ``name`` until the transaction ends, so that instances doing the same
        thing do it one at a time."""

    # whole tables (``casepush db copy``)
    @abc.abstractmethod
    def table_rows(self, table: Table) -> AsyncIterator[list[tuple]]:
        """Every row of ``table`` (its ``columns``), in batches, in insertion order if ``ordered``."""

    @abc.abstractmethod
    async def count_rows(self, table: Table) -> int: ...

    @abc.abstractmethod
    async def insert_rows(self, table: Table, rows: list[tuple]) -> None: ...

    @abc.abstractmethod
    async def delete_rows(self, table: Table) -> None: ...


class SpaceCache:
    """The spaces requests name, as last read: every request looks its space up before anything else (on
    PostgreSQL a read transaction of its own: four round trips), and spaces seldom change.

    Only spaces that exist are kept (an unknown id is read each time, so that no caller fills memory
    with names), and they are used only while the store hears every change (``Store.hears_changes``):
    changes made through this store empty the cache as they commit, other instances' as they are heard
    (PostgreSQL's NOTIFY), and it is emptied when hearing starts and stops. A lookup that read the
    database before a change must not keep what it read after it: the generation tells.
    """

    def __init__(self) -> None:
        self._spaces: dict[str, Space] = {}
        self._generation = 0

    def forget(self) -> None:
        self._generation += 1
        self._spaces.clear()

    async def get(self, store: "Store", space_id: str) -> Space | None:
        trusted = store.hears_changes
        if trusted and (kept := self._spaces.get(space_id)) is not None:
            return kept
        generation = self._generation
        async with store.read() as tx:
            space = await tx.get_space(space_id)
        if space is not None and trusted and store.hears_changes and generation == self._generation:
            self._spaces[space_id] = space
        return space


class Store(abc.ABC):
    """A database: opened once per app, handing out transactions."""

    def __init__(self) -> None:
        self._space_cache = SpaceCache()

    async def space(self, space_id: str) -> Space | None:
        """The space ``space_id`` (None: there is none), as a request looks up the space it names: from
        memory while every change is heard, else read (``SpaceCache``). What it returns is shared: never
        change it."""
        return await self._space_cache.get(self, space_id)

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and apply pending migrations."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def read(self) -> AbstractAsyncContextManager[Tx]:
        """A read-only transaction whose statements all see one snapshot of the database, taken at the
        first of them: what is committed later is not seen (``tests/test_store_reads.py``)."""

    def scan(self) -> AbstractAsyncContextManager[Tx]:
        """A read as ``read``, for reads that may visit many rows (searches, counts over cases): the
        SQLite backend runs them on threads, so that the event loop goes on meanwhile."""
        return self.read()

    @abc.abstractmethod
    def write(self) -> AbstractAsyncContextManager[Tx]: ...

    def bulk_write(self) -> AbstractAsyncContextManager[Tx]:
        """A write transaction expected to be long (a copy of the database, a key rotation): as
        ``write``, but not logged as a long one."""
        return self.write()

    @abc.abstractmethod
    def on_security_change(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever another instance may have changed users, roles or API keys."""

    def login_failures(
        self, max_failures: int, max_client_failures: int, window: float
    ) -> LoginFailures | None:
        """Failed-login counts shared by every instance on this database (with these limits and window),
        or None where the database serves one instance (then the throttle counts in memory)."""
        return None

    @property
    def hears_changes(self) -> bool:
        """Whether changes made by other instances are heard now (caches must not be trusted when not)."""
        return True

    @abc.abstractmethod
    async def ping(self) -> None:
        """Run a trivial query; raises when the database does not answer (the status page's check)."""

    @abc.abstractmethod
    def pool_usage(self) -> PoolUsage: ...

    @abc.abstractmethod
    async def analyze(self) -> None:
        """Refresh the query planner's statistics, as after a bulk load (a plan made without them may
        read every case where an index would find a few)."""

    @abc.abstractmethod
    def snapshot(self) -> AbstractAsyncContextManager[Tx]:
        """A transaction that sees one consistent state of the whole database while it lasts (for
        copies), however long that is."""
