"""The PostgreSQL store against a real server, mostly by running the same transactions on it and on the
SQLite store and comparing the results.

Each test works in a fresh schema (the store's ``schema`` URL parameter). The server is taken from
``CASEPUSH_TEST_DATABASE_URL``; the tests are skipped when it is not set.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest

from casepush.security.throttle import SharedThrottle, Throttled
from casepush.store import (
    CaseQuery,
    LoginCounts,
    Page,
    PushClaim,
    PushRecord,
    Store,
    StoredApiKey,
    StoredConnector,
    StoredUser,
    Tx,
    VersionConflict,
    WindowCount,
    encode_version,
    postgres,
)
from casepush.store.postgres import PostgresStore
from casepush.store.rows import migrations
from casepush.store.sqlite import SqliteStore
from casepush.testing.database import TEST_DATABASE_ENV, fresh_schema, postgres_server_url
from casepush.types import (
    AlertComment,
    AlertRule,
    Assignee,
    AutomaticPushSetting,
    Case,
    CaseConnector,
    CaseSyncRequest,
    Configuration,
    KibanaPrivilege,
    RoleBody,
    Space,
    User,
    UserAction,
    UserComment,
)
from casepush.types import Settings as CaseSettings

pytestmark = pytest.mark.skipif(not postgres_server_url(), reason=f"{TEST_DATABASE_ENV} is not set")

NONE_CONNECTOR = CaseConnector(id="none", name="none", type=".none", fields=None)
ALICE = User(username="alice", full_name="Alice", email="alice@example.com")
BOB = User(username="bob", full_name=None, email=None)


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A store URL naming a fresh schema, dropped afterwards."""
    async with fresh_schema(postgres_server_url()) as url:
        yield url


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[PostgresStore]:
    store = PostgresStore(pg_url, pool_size=4)
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def stores(pg: PostgresStore, tmp_path: Path) -> AsyncIterator[list[Store]]:
    """The SQLite store and the PostgreSQL store, both empty."""
    sqlite = SqliteStore(tmp_path / "casepush.db")
    await sqlite.open()
    yield [sqlite, pg]
    await sqlite.close()


async def same(stores: list[Store], op: Callable[[Tx], Awaitable[Any]]) -> Any:
    """Run ``op`` in a write transaction of each store; its results (as plain data) must be equal."""
    results = []
    for store in stores:
        async with store.write() as tx:
            results.append(msgspec.to_builtins(await op(tx)))
    assert results[0] == results[1]
    return results[0]


def case(n: int, **fields: Any) -> Case:
    values: dict[str, Any] = {
        "id": f"case-{n:02d}",
        "title": f"Title {n}",
        "description": f"Description of case {n}",
        "tags": [],
        "owner": "cases",
        "settings": CaseSettings(syncAlerts=False),
        "connector": NONE_CONNECTOR,
        "created_at": f"2026-01-{n:02d}T10:00:00.000Z",
        "created_by": ALICE,
    }
    return Case(**{**values, **fields})


def user_comment(n: int, case_n: int = 1, **fields: Any) -> UserComment:
    values = {"id": f"att-{n:02d}", "owner": "cases", "created_at": f"2026-02-{case_n:02d}T10:00:00.000Z"}
    return UserComment(**{**values, "created_by": ALICE, "comment": f"comment {n}", **fields})


def alert_comment(n: int, alert_ids: list[str], case_n: int = 1) -> AlertComment:
    return AlertComment(
        id=f"att-{n:02d}",
        owner="cases",
        created_at=f"2026-02-{case_n:02d}T11:00:00.000Z",
        created_by=ALICE,
        alertId=alert_ids,
        index=[f"index-{a}" for a in alert_ids],
        rule=AlertRule(id="rule", name="Rule"),
    )


# --- the pool ---------------------------------------------------------------------------------------


async def last_statement(store: PostgresStore, pid: int) -> tuple[str, str]:
    """What the server says a connection (by its backend's pid) is doing and last ran."""
    conn = await asyncpg.connect(store.dsn)
    try:
        row = await conn.fetchrow("SELECT state, query FROM pg_stat_activity WHERE pid = $1", pid)
    finally:
        await conn.close()
    return row["state"], row["query"]


async def test_a_connection_returns_to_the_pool_without_a_reset_query(pg: PostgresStore) -> None:
    """Not asyncpg's ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;``, a round trip
    after each transaction: casepush leaves no session state on a pooled connection."""
    async with pg.write() as tx:
        pid = tx.conn.get_server_pid()  # type: ignore[attr-defined]
        await tx.lock("a lock of the transaction")
    assert await last_statement(pg, pid) == ("idle", "COMMIT;")
    async with pg.read() as tx:
        assert tx.conn.get_server_pid() == pid  # type: ignore[attr-defined]
        assert await tx.get_space("default") is not None
    assert await last_statement(pg, pid) == ("idle", "COMMIT;")


async def test_a_transaction_left_open_is_rolled_back_as_its_connection_returns(pg: PostgresStore) -> None:
    async with pg._pool.acquire() as conn:  # type: ignore[union-attr]
        pid = conn.get_server_pid()
        await conn.execute("BEGIN")  # not ended, as after a failure in the middle of one
        await conn.execute("""INSERT INTO spaces (id, data) VALUES ('ops', '{"id": "ops", "name": "Ops"}')""")
    assert await last_statement(pg, pid) == ("idle", "ROLLBACK")
    async with pg.read() as tx:
        assert await tx.get_space("ops") is None


# --- migrations -----------------------------------------------------------------------------------


async def _applied(url: str) -> list[int]:
    store = PostgresStore(url)
    await store.open()
    try:
        async with store._pool.acquire() as conn:  # type: ignore[union-attr]
            return [n for (n,) in await conn.fetch("SELECT number FROM schema_migrations ORDER BY number")]
    finally:
        await store.close()


ALL_MIGRATIONS = [number for number, _, _ in migrations("postgres")]


async def test_migrations_apply_once(pg_url: str) -> None:
    assert list(range(1, len(ALL_MIGRATIONS) + 1)) == ALL_MIGRATIONS
    assert await _applied(pg_url) == ALL_MIGRATIONS
    assert await _applied(pg_url) == ALL_MIGRATIONS


async def test_instances_starting_together_migrate_once(pg_url: str) -> None:
    first, second = PostgresStore(pg_url), PostgresStore(pg_url)
    await asyncio.gather(first.open(), second.open())
    await asyncio.gather(first.close(), second.close())
    assert await _applied(pg_url) == ALL_MIGRATIONS


# --- cases ----------------------------------------------------------------------------------------


async def test_case_versions(pg: PostgresStore) -> None:
    async with pg.write() as tx:
        inserted = await tx.insert_case("default", case(1, tags=["a", "b"]))
    assert inserted.version == encode_version(1)
    async with pg.write() as tx:
        updated = await tx.update_case("default", case(1, title="New", tags=["c"]), inserted)
    assert updated.version == encode_version(2)
    async with pg.read() as tx:
        (stored,) = await tx.get_cases("default", ["case-01", "missing"])
        assert await tx.get_cases("other", ["case-01"]) == []
        assert await tx.tags("default", ["cases"]) == ["c"]
    assert (stored.title, stored.version) == ("New", encode_version(2))
    for stale in (inserted.version, "not-a-version"):
        with pytest.raises(VersionConflict):
            async with pg.write() as tx:
                await tx.update_case(
                    "default", case(1, title="Stale"), msgspec.structs.replace(inserted, version=stale)
                )


async def test_concurrent_updates_of_a_case_conflict(pg_url: str, pg: PostgresStore) -> None:
    """Two instances updating from the same version: one wins, the other conflicts."""
    other = PostgresStore(pg_url)
    await other.open()
    async with pg.write() as tx:
        inserted = await tx.insert_case("default", case(1))

    async def update(store: Store, title: str) -> str:
        try:
            async with store.write() as tx:
                await tx.update_case("default", case(1, title=title), inserted)
                await asyncio.sleep(0.05)
            return "ok"
        except VersionConflict:
            return "conflict"

    outcomes = await asyncio.gather(update(pg, "one"), update(other, "two"))
    await other.close()
    assert sorted(outcomes) == ["conflict", "ok"]


async def test_a_failed_write_rolls_back(pg: PostgresStore) -> None:
    with pytest.raises(RuntimeError):
        async with pg.write() as tx:
            await tx.insert_case("default", case(1))
            raise RuntimeError("boom")
    async with pg.read() as tx:
        assert await tx.get_cases("default", ["case-01"]) == []


def _find_data() -> list[Case]:
    carol = User(username="carol", full_name="Carol", email=None)
    return [
        case(1, title="Printer on fire", tags=["hw", "urgent"], severity="critical", category="IT"),
        case(2, title="printer jammed", status="in-progress", tags=["hw"], assignees=[Assignee("u1")]),
        case(3, title="VPN down", status="closed", closed_at="2026-01-05T00:00:00.000Z", created_by=BOB),
        case(4, title="100% CPU", description="load_avg high", severity="high", category="ops"),
        case(5, title="Émile's laptop", description="écran cassé", owner="observability", created_by=carol),
        case(6, title="Disk 50_percent", tags=["urgent"], assignees=[Assignee("u2"), Assignee("u1")]),
        case(7, title="Zebra", status="closed", closed_at="2026-01-09T00:00:00.000Z", category="IT"),
        case(8, title="apple", updated_at="2026-03-01T00:00:00.000Z", created_by=BOB, tags=["Hw"]),
        case(9, title="Same time", created_at="2026-01-01T10:00:00.000Z", owner="securitySolution"),
    ]


FIND_QUERIES = [
    CaseQuery(owners=["cases"]),
    CaseQuery(owners=["cases", "observability", "securitySolution"]),
    CaseQuery(owners=[]),
    CaseQuery(owners=["cases"], statuses=["open", "closed"]),
    CaseQuery(owners=["cases"], severities=["critical", "high"]),
    CaseQuery(owners=["cases"], tags=["hw"]),
    CaseQuery(owners=["cases"], reporters=["bob"]),
    CaseQuery(owners=["cases"], categories=["IT"]),
    CaseQuery(owners=["cases"], assignees=["u1"]),
    CaseQuery(owners=["cases"], include_unassigned=True),
    CaseQuery(owners=["cases"], assignees=["u2"], include_unassigned=True),
    CaseQuery(
        owners=["cases"], created_from="2026-01-03T00:00:00.000Z", created_to="2026-01-07T00:00:00.000Z"
    ),
    CaseQuery(owners=["cases"], search="PRINTER"),
    CaseQuery(owners=["cases"], search="printer fire", search_all_terms=True),
    CaseQuery(owners=["cases"], search="printer vpn"),
    # A term under three characters: the trigram index cannot narrow OR, and skips it under AND.
    CaseQuery(owners=["cases"], search="vpn hw"),
    CaseQuery(owners=["cases"], search="vpn hw", search_all_terms=True),
    CaseQuery(owners=["cases"], search="100%"),
    CaseQuery(owners=["cases"], search="50_"),
    CaseQuery(owners=["cases"], search="load_avg", search_fields=["description"]),
    CaseQuery(owners=["cases"], search="load", search_fields=["title"]),
    CaseQuery(owners=["cases", "observability"], search="émile"),
    CaseQuery(owners=["cases", "observability"], search="ÉCRAN"),
    CaseQuery(owners=["cases"], search=" case-03 "),
]

PAGES = [
    Page(),
    Page(page=2, per_page=3),
    Page(per_page=4, sort_field="title", descending=False),
    Page(sort_field="title"),
    Page(sort_field="closed_at"),
    Page(sort_field="closed_at", descending=False),
    Page(sort_field="updated_at"),
    Page(sort_field="category", descending=False),
    Page(sort_field="status"),
    Page(sort_field="severity", descending=False),
]


async def test_find_matches_sqlite(stores: list[Store]) -> None:
    for c in _find_data():
        await same(stores, lambda tx, c=c: tx.insert_case("default", c))
    for query in FIND_QUERIES:
        for page in PAGES:
            await same(stores, lambda tx, q=query, p=page: tx.find_cases("default", q, p))
        await same(stores, lambda tx, q=query: tx.count_cases("default", q))
        await same(stores, lambda tx, q=query: tx.count_cases_by_status("default", q))
        await same(stores, lambda tx, q=query: tx.find_cases("other-space", q, Page()))
    every_owner = ["cases", "observability", "securitySolution"]
    assert await same(stores, lambda tx: tx.tags("default", every_owner)) == ["Hw", "hw", "urgent"]
    reporters = await same(stores, lambda tx: tx.reporters("default", every_owner))
    assert [r["username"] for r in reporters] == ["alice", "bob", "carol"]
    await same(stores, lambda tx: tx.reporters("default", []))


# --- attachments, alerts and user actions ---------------------------------------------------------


async def test_attachments_and_alerts_match_sqlite(stores: list[Store]) -> None:
    for n in (1, 2):
        await same(stores, lambda tx, n=n: tx.insert_case("default", case(n)))
    await same(stores, lambda tx: tx.insert_attachment("default", "case-01", user_comment(1)))
    await same(stores, lambda tx: tx.insert_attachment("default", "case-01", alert_comment(2, ["a1", "a2"])))
    await same(stores, lambda tx: tx.insert_attachment("default", "case-01", user_comment(3)))
    await same(stores, lambda tx: tx.insert_attachment("default", "case-01", alert_comment(4, ["a2"])))
    await same(stores, lambda tx: tx.insert_attachment("default", "case-02", alert_comment(5, ["a1"], 2)))
    for args in [(0, None, False, None), (1, 2, False, None), (0, 2, True, None), (0, None, True, "alert")]:
        await same(stores, lambda tx, a=args: tx.list_attachments("default", "case-01", *a))
    await same(stores, lambda tx: tx.get_attachment("default", "att-02"))
    await same(stores, lambda tx: tx.get_attachment("other", "att-02"))
    await same(stores, lambda tx: tx.case_alerts("default", "case-01"))
    await same(stores, lambda tx: tx.cases_with_alert("default", "a1", ["cases"]))
    assert await same(stores, lambda tx: tx.count_case_alerts("default", "case-01")) == 3
    totals = await same(stores, lambda tx: tx.case_totals("default", ["case-01", "case-02", "none"]))
    assert totals == {"case-01": (2, 2), "case-02": (0, 1), "none": (0, 0)}

    current = await same(stores, lambda tx: tx.get_attachment("default", "att-02"))
    changed = alert_comment(2, ["a3"])
    await same(stores, lambda tx: tx.update_attachment("default", "case-01", changed, current[1]["version"]))
    for store in stores:
        with pytest.raises(VersionConflict):
            async with store.write() as tx:
                await tx.update_attachment("default", "case-01", changed, current[1]["version"])
    await same(stores, lambda tx: tx.case_alerts("default", "case-01"))
    await same(stores, lambda tx: tx.delete_attachments("default", "case-01", ["att-01", "att-02"]))
    await same(stores, lambda tx: tx.delete_attachments("default", "case-01", []))
    await same(stores, lambda tx: tx.list_attachments("default", "case-01"))
    await same(stores, lambda tx: tx.delete_attachments("default", "case-01", None))
    await same(stores, lambda tx: tx.case_totals("default", ["case-01", "case-02"]))
    await same(stores, lambda tx: tx.delete_cases("default", ["case-02"]))
    await same(stores, lambda tx: tx.cases_with_alert("default", "a1", ["cases"]))


def _action(n: int, kind: str, comment_type: str | None = None) -> UserAction:
    payload: dict[str, Any] = {"comment": {"type": comment_type}} if comment_type else {"title": f"t{n}"}
    return UserAction(
        id=f"ua-{n:02d}",
        type=kind,  # type: ignore[arg-type]
        action="update",
        payload=payload,
        created_at="2026-02-01T10:00:00.000Z",
        created_by=ALICE,
        owner="cases",
    )


async def test_user_actions_match_sqlite(stores: list[Store]) -> None:
    await same(stores, lambda tx: tx.insert_case("default", case(1)))
    actions = [
        _action(1, "title"),
        _action(2, "comment", "user"),
        _action(3, "comment", "alert"),
        _action(4, "tags"),
        _action(5, "comment", "user"),
    ]
    await same(stores, lambda tx: tx.insert_user_actions("default", "case-01", actions))
    filters = [([], []), (["tags"], []), ([], ["user"]), (["title"], ["alert"]), (["create_case"], [])]
    for types, attachment_types in filters:
        for page in (Page(), Page(page=2, per_page=2, descending=False), Page(descending=True)):
            await same(
                stores,
                lambda tx, t=types, a=attachment_types, p=page: tx.find_user_actions(
                    "default", "case-01", t, a, p
                ),
            )


async def test_the_statements_of_a_push_match_sqlite(stores: list[Store]) -> None:
    """What creates, comments and pushes write and read in one statement on PostgreSQL (``_write_case``,
    ``record_user_actions``, ``push_bookkeeping``, ``record_push``), as SQLite does it one by one."""
    connected = CaseConnector(id="conn-1", name="c", type=".echo", fields=None)
    first = case(1, connector=connected, tags=["a", "b", "a"], assignees=[Assignee("u1"), Assignee("u2")])
    inserted = await same(stores, lambda tx: tx.insert_case("default", first))
    for attachment in (user_comment(1), alert_comment(2, ["a1", "a2"]), user_comment(3)):
        await same(stores, lambda tx, a=attachment: tx.insert_attachment("default", "case-01", a))

    def bookkeeping(tx: Tx) -> Awaitable[Any]:
        async def read() -> Any:
            kept = await tx.push_bookkeeping("default", "case-01", "conn-1")
            return [kept.generation, kept.sync, sorted(kept.imported)]

        return read()

    assert await same(stores, bookkeeping) == [None, None, []]
    actions = [_action(1, "title"), _action(2, "comment", "user")]
    rules = await same(
        stores, lambda tx: tx.record_user_actions("default", "case-01", actions, "cases", "conn-1")
    )
    assert rules == {"setting": None, "sync": None}

    setting = AutomaticPushSetting(
        quiet_period=0, owner="cases", connector_id="conn-1", updated_at="2026-01-01", updated_by=ALICE
    )
    sync = CaseSyncRequest(push_status=True)
    await same(stores, lambda tx: tx.put_automatic_push_setting("default", setting))
    await same(stores, lambda tx: tx.put_case_sync("default", "conn-1", sync))
    actions = [_action(3, "tags"), _action(4, "comment", "alert")]
    rules = await same(
        stores, lambda tx: tx.record_user_actions("default", "case-01", actions, "cases", "conn-1")
    )
    assert (rules["setting"]["connector_id"], rules["sync"]["push_status"]) == ("conn-1", True)
    other = await same(stores, lambda tx: tx.record_user_actions("default", "case-01", [], "cases", "conn-2"))
    assert other == {"setting": None, "sync": None}  # no setting: the case sync settings decide nothing
    await same(
        stores, lambda tx: tx.enqueue_automatic_push("default", "case-01", "conn-1", "cases", 5, 1, BOB)
    )
    await same(stores, lambda tx: tx.remember_imported("default", "conn-1", "x-9", "att-03", "case-01"))
    assert await same(stores, bookkeeping) == [1, msgspec.to_builtins(sync), ["att-03"]]

    # The tags and assignees replaced with the case, in one statement on PostgreSQL.
    changed = case(1, connector=connected, tags=["b", "c"], assignees=[Assignee("u2"), Assignee("u3")])
    before = msgspec.convert(inserted, Case)
    await same(stores, lambda tx: tx.update_case("default", changed, before))
    assert await same(stores, lambda tx: tx.tags("default", ["cases"])) == ["b", "c"]
    for uid, found in (("u1", []), ("u2", ["case-01"]), ("u3", ["case-01"])):
        query = CaseQuery(owners=["cases"], assignees=[uid])
        cases = await same(stores, lambda tx, q=query: tx.find_cases("default", q, Page()))
        assert [c["id"] for c in cases] == found

    attachments = await same(stores, lambda tx: tx.list_attachments("default", "case-01"))
    read = [msgspec.convert(a, UserComment | AlertComment) for a in attachments[0]]  # type: ignore[arg-type]
    await same(stores, lambda tx: tx.insert_attachment("default", "case-01", user_comment(4)))
    await same(stores, lambda tx: tx.claim_push("default", "case-01", "conn-1", "token", 0, 10))

    def record() -> PushRecord:
        """A push's record, made for each store (the stores give what they store its new version)."""
        marked = [
            msgspec.structs.replace(a, pushed_at="2026-03-01T00:00:00.000Z", pushed_by=BOB) for a in read
        ]
        return PushRecord(
            claim_token="token",
            actions=[_action(5, "pushed")],
            marked=[marked[0], marked[1], msgspec.structs.replace(marked[2], version=encode_version(7))],
            link_external_id="x-1",
            pushed_comment_ids=["x-2", "x-3", "x-2"],
            generation=1,
        )

    stored = await same(stores, lambda tx: tx.record_push("default", "case-01", "conn-1", record()))
    assert sorted(stored) == ["att-01", "att-03"]  # not att-02: changed since it was read
    assert [a["version"] for a in stored.values()] == [encode_version(2)] * 2
    after = await same(stores, lambda tx: tx.list_attachments("default", "case-01"))
    assert [a.get("pushed_at") for a in after[0]] == ["2026-03-01T00:00:00.000Z"] * 2 + [None, None]
    assert await same(stores, lambda tx: tx.case_alerts("default", "case-01"))  # as they were
    assert await same(stores, lambda tx: tx.count_case_alerts("default", "case-01")) == 2
    listed = await same(
        stores,
        lambda tx: tx.find_user_actions("default", "case-01", [], [], Page(per_page=100, descending=False)),
    )
    assert [a["id"] for a in listed[0]] == ["ua-01", "ua-02", "ua-03", "ua-04", "ua-05"]
    assert await same(stores, lambda tx: tx.case_of_external("default", "conn-1", "x-1")) == "case-01"
    for pushed in ("x-2", "x-3"):
        assert await same(stores, lambda tx, p=pushed: tx.is_pushed_comment("default", "conn-1", p))
    pushes = await same(stores, lambda tx: tx.list_automatic_pushes("default", "case-01"))
    assert [p["state"] for p in pushes] == ["idle"]
    claimed = await same(stores, lambda tx: tx.claim_push("default", "case-01", "conn-1", "next", 0, 10))
    assert claimed == {"token": "next", "interrupted_create": False}  # released


# --- configurations, connectors, spaces -------------------------------------------------------


def _configuration(owner: str, connector_id: str) -> Configuration:
    return Configuration(
        id=f"config-{owner}",
        owner=owner,  # type: ignore[arg-type]
        closure_type="close-by-user",
        connector=CaseConnector(id=connector_id, name="c", type=".echo", fields=None),
        created_at="2026-01-01T00:00:00.000Z",
        created_by=ALICE,
    )


def _connector(connector_id: str, name: str) -> StoredConnector:
    return StoredConnector(
        connector_id, ".echo", name, {"url": "http://x", "b": 1}, "sealed", "2026-01-01", "2026-01-02"
    )


async def test_configurations_and_connectors_match_sqlite(stores: list[Store]) -> None:
    for owner in ("observability", "cases"):
        await same(
            stores, lambda tx, o=owner: tx.insert_configuration("default", _configuration(o, "conn-1"))
        )
    listed = await same(stores, lambda tx: tx.list_configurations("default", ["cases", "observability"]))
    assert [c["owner"] for c in listed] == ["cases", "observability"]
    changed = _configuration("cases", "conn-2")
    await same(stores, lambda tx: tx.update_configuration("default", changed, listed[0]["version"]))
    for store in stores:
        with pytest.raises(VersionConflict):
            async with store.write() as tx:
                await tx.update_configuration("default", changed, listed[0]["version"])
    await same(stores, lambda tx: tx.get_configuration("default", "config-cases"))

    connected = CaseConnector(id="conn-1", name="c", type=".echo", fields=None)
    await same(stores, lambda tx: tx.insert_case("default", case(1, connector=connected)))
    await same(stores, lambda tx: tx.insert_case("default", case(2, connector=connected)))
    for connector_id, name in [("conn-2", "beta"), ("conn-1", "alpha"), ("conn-3", "Beta")]:
        connector = _connector(connector_id, name)
        assert await same(stores, lambda tx, c=connector: tx.insert_connector("default", c)) is True
    assert await same(stores, lambda tx: tx.insert_connector("other", _connector("conn-1", "x"))) is False
    listed = await same(stores, lambda tx: tx.list_connectors("default"))
    assert [c["name"] for c in listed] == ["Beta", "alpha", "beta"]
    await same(stores, lambda tx: tx.update_connector("default", _connector("conn-2", "gamma")))
    await same(stores, lambda tx: tx.get_connector("default", "conn-2"))
    await same(stores, lambda tx: tx.get_connector("other", "conn-2"))
    references = await same(
        stores, lambda tx: tx.count_connector_references("default", ["conn-1", "conn-2", "x"])
    )
    assert references == {"conn-1": 3, "conn-2": 1}
    assert await same(stores, lambda tx: tx.delete_connector("default", "conn-3")) is True
    assert await same(stores, lambda tx: tx.delete_connector("default", "conn-3")) is False
    await same(stores, lambda tx: tx.delete_configuration("default", "config-cases"))
    await same(stores, lambda tx: tx.list_configurations("default", ["cases", "observability"]))


async def test_spaces_match_sqlite_and_delete_cascades(stores: list[Store]) -> None:
    space = Space(id="ops", name="Ops", color="#fff")
    assert await same(stores, lambda tx: tx.insert_space(space)) is True
    assert await same(stores, lambda tx: tx.insert_space(space)) is False
    await same(stores, lambda tx: tx.update_space(Space(id="ops", name="Operations")))
    await same(stores, lambda tx: tx.insert_space(Space(id="b", name="Backoffice")))
    assert [s["id"] for s in await same(stores, lambda tx: tx.list_spaces())] == ["b", "default", "ops"]
    await same(stores, lambda tx: tx.get_space("ops"))
    await same(stores, lambda tx: tx.get_space("nope"))

    async def fill(tx: Tx) -> None:
        await tx.insert_case("ops", case(1))
        await tx.insert_attachment("ops", "case-01", alert_comment(1, ["a1"]))
        await tx.insert_user_actions("ops", "case-01", [_action(1, "title")])
        await tx.insert_configuration("ops", _configuration("cases", "conn-1"))
        await tx.insert_connector("ops", _connector("conn-1", "c"))
        await tx.claim_push("ops", "case-01", "conn-1", "token", 0, 10)

    await same(stores, fill)
    await same(stores, lambda tx: tx.delete_space("ops"))
    assert await same(stores, lambda tx: tx.get_space("ops")) is None
    pg = stores[1]
    async with pg._pool.acquire() as conn:  # type: ignore[attr-defined]
        for table in ("cases", "attachments", "case_alerts", "user_actions", "configurations", "connectors"):
            assert await conn.fetchval(f"SELECT COUNT(*) FROM {table}") == 0, table
        assert await conn.fetchval("SELECT COUNT(*) FROM push_claims") == 0


# --- users, roles and API keys ------------------------------------------------------------------


async def test_users_roles_and_api_keys_match_sqlite(stores: list[Store]) -> None:
    zed = StoredUser("zed", "hash", full_name="Zed", roles=["viewer"], metadata={"k": [1]})
    assert await same(stores, lambda tx: tx.put_user(zed)) is True
    assert await same(stores, lambda tx: tx.put_user(StoredUser("zed", "hash2", enabled=False))) is False
    await same(stores, lambda tx: tx.put_user(StoredUser("Amy", "h")))
    assert [u["username"] for u in await same(stores, lambda tx: tx.list_users())] == ["Amy", "zed"]
    await same(stores, lambda tx: tx.get_user("zed"))
    await same(stores, lambda tx: tx.get_user("nobody"))

    role = RoleBody(description="r", kibana=[KibanaPrivilege(base=["read"])])
    await same(stores, lambda tx: tx.put_role("viewer", role))
    await same(stores, lambda tx: tx.put_role("admin", RoleBody()))
    await same(stores, lambda tx: tx.put_role("viewer", RoleBody(description="changed")))
    await same(stores, lambda tx: tx.get_roles(["viewer", "nope"]))
    await same(stores, lambda tx: tx.get_roles([]))
    assert list(await same(stores, lambda tx: tx.list_roles())) == ["admin", "viewer"]
    assert await same(stores, lambda tx: tx.delete_role("admin")) is True
    assert await same(stores, lambda tx: tx.delete_role("admin")) is False

    for key_id, username, created in [("k2", "zed", 2), ("k1", "zed", 2), ("k3", "Amy", 1)]:
        key = StoredApiKey(key_id, f"name {key_id}", username, "digest", created, metadata={"m": 1})
        await same(stores, lambda tx, k=key: tx.insert_api_key(k))
    assert [k["id"] for k in await same(stores, lambda tx: tx.list_api_keys(None))] == ["k3", "k1", "k2"]
    await same(stores, lambda tx: tx.list_api_keys("zed"))
    await same(stores, lambda tx: tx.invalidate_api_key("k3", 99))
    await same(stores, lambda tx: tx.get_api_key("k3"))
    assert await same(stores, lambda tx: tx.delete_user("zed")) is True
    assert await same(stores, lambda tx: tx.delete_user("zed")) is False
    for store in stores:
        async with store.read() as tx:
            assert all(k.invalidated_ms for k in await tx.list_api_keys("zed"))


# --- push claims -----------------------------------------------------------------------------------


async def test_push_claims(pg: PostgresStore) -> None:
    key = ("default", "case-01", "conn-1")
    async with pg.write() as tx:
        assert await tx.claim_push(*key, "t1", 1000, 2000) == PushClaim("t1")
        assert await tx.claim_push(*key, "t2", 1999, 3000) is None
        await tx.update_push_claim("t1", 2500, creating=True)
        assert await tx.claim_push(*key, "t2", 2000, 3000) is None
        await tx.update_push_claim("t1", 2600)
        assert await tx.claim_push(*key, "t2", 2600, 3600) == PushClaim("t2", interrupted_create=True)
        await tx.update_push_claim("t2", 3600, creating=False)
        assert await tx.claim_push(*key, "t3", 3600, 4600) == PushClaim("t3", interrupted_create=False)
        await tx.release_push_claim("t3")
        assert await tx.claim_push(*key, "t4", 0, 100) == PushClaim("t4")


async def test_one_of_two_instances_gets_the_claim(pg_url: str, pg: PostgresStore) -> None:
    other = PostgresStore(pg_url)
    await other.open()

    async def claim(store: Store, token: str) -> PushClaim | None:
        async with store.write() as tx:
            claimed = await tx.claim_push("default", "case-01", "conn-1", token, 1000, 2000)
            await asyncio.sleep(0.05)
            return claimed

    results = await asyncio.gather(*(claim(store, f"t{i}") for i, store in enumerate([pg, other] * 3)))
    await other.close()
    assert len([r for r in results if r is not None]) == 1


# --- failed logins -----------------------------------------------------------------------------------

ACCOUNT, CLIENT, OTHER, NEW = (bytes([n]) * 16 for n in range(4))


async def login_counts(store: PostgresStore) -> dict[bytes, int]:
    rows = await store._fetch("SELECT key, failures FROM login_failures")
    return {key: failures for key, failures in rows}


async def eventually(check: Callable[[], Any]) -> None:
    """Wait up to 5 s for ``check()`` (or its awaited result) to hold."""
    for _ in range(100):
        result = check()
        if await result if asyncio.iscoroutine(result) else result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("never held")


@pytest.fixture
async def other_instance(pg_url: str, pg: PostgresStore) -> AsyncIterator[PostgresStore]:
    """A second store on ``pg``'s schema, as another instance has; both listening to each other."""
    other = PostgresStore(pg_url)
    await other.open()
    await eventually(lambda: pg.hears_changes and other.hears_changes)
    yield other
    await other.close()


async def test_an_attempt_counts_against_both_keys_or_neither(pg: PostgresStore) -> None:
    failures = pg.login_failures(max_failures=2, max_client_failures=3, window=300)

    assert await failures.attempt(ACCOUNT, CLIENT) == LoginCounts(
        WindowCount(1, 300.0), WindowCount(1, 300.0)
    )
    second = await failures.attempt(ACCOUNT, CLIENT)
    assert (second.counted, second.account.failures, second.client.failures) == (True, 2, 2)  # type: ignore[union-attr]
    refused = await failures.attempt(ACCOUNT, CLIENT)  # the account is at its limit: nothing counted
    assert not refused.counted and refused.account.failures == 2  # type: ignore[union-attr]
    assert 299 < refused.account.remaining <= 300  # type: ignore[union-attr]
    assert await login_counts(pg) == {ACCOUNT: 2, CLIENT: 2}

    assert (await failures.attempt(OTHER, CLIENT)).counted  # the client reaches its limit
    refused = await failures.attempt(NEW, CLIENT)  # the new account's count is taken back
    assert not refused.counted and refused.client.failures == 3  # type: ignore[union-attr]
    assert refused.account is not None and refused.account.failures == 0
    assert await login_counts(pg) == {ACCOUNT: 2, CLIENT: 3, OTHER: 1, NEW: 0}

    alone = await failures.attempt(NEW, None)  # no client address: the account's count alone
    assert alone == LoginCounts(WindowCount(1, alone.account.remaining), None)  # type: ignore[union-attr]


async def test_a_count_starts_afresh_once_its_window_has_passed_by_the_databases_clock(
    pg: PostgresStore,
) -> None:
    failures = pg.login_failures(max_failures=1, max_client_failures=10, window=300)
    assert (await failures.attempt(ACCOUNT, CLIENT)).counted
    assert not (await failures.attempt(ACCOUNT, CLIENT)).counted

    await pg._execute("UPDATE login_failures SET window_end = now() WHERE key = $1", ACCOUNT)

    again = await failures.attempt(ACCOUNT, CLIENT)
    assert again == LoginCounts(WindowCount(1, 300.0), again.client)
    assert again.client is not None and again.client.failures == 2 and again.client.remaining < 300


async def test_a_throttle_lifts_when_the_window_passes(
    pg: PostgresStore, other_instance: PostgresStore
) -> None:
    """With a real window of a second: the database's clock and each instance's agree that it passed."""
    here, there = (SharedThrottle(store.login_failures(1, 10, window=1)) for store in (pg, other_instance))
    assert await here.attempted("bob", "10.0.0.1") is None
    await eventually(lambda: there.blocked("bob", "10.0.0.1") is not None)
    throttled = await there.attempted("bob", "10.0.0.1")
    assert isinstance(throttled, Throttled) and 0 < throttled.retry_after <= 1

    # Each instance times the window from when it heard how much was left: later than the database by up
    # to a round trip, never earlier.
    await asyncio.sleep(throttled.retry_after + 0.1)

    assert there.blocked("bob", "10.0.0.1") is None and here.blocked("bob", "10.0.0.1") is None
    assert await there.attempted("bob", "10.0.0.1") is None


async def test_counts_whose_window_has_passed_are_deleted(
    pg: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures = pg.login_failures(max_failures=10, max_client_failures=100, window=300)
    for n in range(5):
        await failures.attempt(bytes([10 + n]) * 16, CLIENT)
    await pg._execute("UPDATE login_failures SET window_end = now() WHERE key <> $1", CLIENT)

    assert await failures.expire() == 5
    assert await login_counts(pg) == {CLIENT: 5}

    # Instances delete them as they count: here after every third attempt, in the background.
    monkeypatch.setattr(postgres, "EXPIRE_LOGINS_EVERY_ATTEMPTS", 3)
    counting = pg.login_failures(max_failures=10, max_client_failures=100, window=300)
    await pg._execute("UPDATE login_failures SET window_end = now()")
    for key in (ACCOUNT, OTHER, NEW):
        await counting.attempt(key, None)

    async def only_the_new_counts() -> bool:
        return await login_counts(pg) == {ACCOUNT: 1, OTHER: 1, NEW: 1}

    await eventually(only_the_new_counts)


async def test_instances_share_the_counts_and_hear_of_blocks(
    pg: PostgresStore, other_instance: PostgresStore
) -> None:
    here, there = (SharedThrottle(store.login_failures(2, 10, 300)) for store in (pg, other_instance))
    assert await here.attempted("bob", "10.0.0.1") is None  # a check that failed
    assert await there.attempted("bob", "10.0.0.1") is None  # the second, counted in advance: the limit
    # Heard by the first instance, which refuses without a round trip, the right password included.
    await eventually(lambda: here.blocked("bob", "10.0.0.1") is not None)
    assert not here.clean("bob", "10.0.0.1")
    assert here.blocked("bob", "10.0.0.2") is None and here.blocked("alice", "10.0.0.1") is None
    assert isinstance(await here.attempted("bob", "10.0.0.1"), Throttled)
    assert sorted((await login_counts(pg)).values()) == [2, 2]

    # The second check could not be made: its attempt is taken back, and the block it made lifted.
    await there.abandoned("bob", "10.0.0.1")
    await eventually(lambda: here.blocked("bob", "10.0.0.1") is None)
    assert sorted((await login_counts(pg)).values()) == [1, 1]

    # The right password at the limit: blocked while it is checked, then the account starts afresh
    # from there and the client's count loses the attempt.
    assert await here.attempted("bob", "10.0.0.1") is None
    await eventually(lambda: there.blocked("bob", "10.0.0.1") is not None)
    await here.succeeded("bob", "10.0.0.1")
    await eventually(lambda: there.blocked("bob", "10.0.0.1") is None)
    assert list((await login_counts(pg)).values()) == [1]
    assert here.clean("bob", "10.0.0.1")


async def test_concurrent_attempts_through_two_instances_count_to_the_limit_and_no_further(
    pg: PostgresStore, other_instance: PostgresStore
) -> None:
    throttles = [SharedThrottle(store.login_failures(3, 100, 300)) for store in (pg, other_instance)]

    answers = await asyncio.gather(*(throttles[n % 2].attempted("bob", "10.0.0.1") for n in range(20)))

    assert sum(answer is None for answer in answers) == 3
    assert all(isinstance(answer, Throttled) for answer in answers if answer is not None)
    assert sorted((await login_counts(pg)).values()) == [3, 3]


async def test_a_take_back_the_database_cannot_make_is_logged(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = PostgresStore(pg_url)
    await store.open()
    throttle = SharedThrottle(store.login_failures(3, 10, 300))
    assert await throttle.attempted("bob", "10.0.0.1") is None
    await store.close()

    with caplog.at_level(logging.WARNING):
        await throttle.abandoned("bob", "10.0.0.1")

    assert "could not take back a counted login attempt" in caplog.text


# --- the planner's statistics ----------------------------------------------------------------------------


async def _cases_statistics(store: PostgresStore) -> int:
    """Rows of the planner's statistics about the cases table (none before its first ANALYZE)."""
    async with store.read() as tx:
        conn = tx.conn  # type: ignore[attr-defined]
        return await conn.fetchval(
            "SELECT COUNT(*) FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'cases'"
        )


async def _autovacuum_on(store: PostgresStore) -> bool:
    async with store.read() as tx:
        return await tx.conn.fetchval("SELECT current_setting('autovacuum') = 'on'")  # type: ignore[attr-defined]


async def test_without_autovacuum_the_store_refreshes_the_statistics_as_cases_are_written(
    pg: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    if await _autovacuum_on(pg):
        pytest.skip("autovacuum is on: PostgreSQL keeps the statistics itself")
    writes = postgres.STALE_ROWS + 10
    monkeypatch.setattr(postgres, "STATISTICS_CHECK_EVERY_WRITES", writes)
    assert await _cases_statistics(pg) == 0
    # PostgreSQL publishes the counts of changed rows within a second of the commits: the check after
    # a batch of writes may not see the batch yet, the one after the next does.
    for batch in range(3):
        for number in range(batch * writes, (batch + 1) * writes):
            async with pg.write() as tx:
                await tx.insert_case("default", case(number))
        assert pg._analyzing is not None
        await pg._analyzing
        if await _cases_statistics(pg) > 0:
            return
        await asyncio.sleep(1.1)
    pytest.fail("no statistics of the cases after three checks")
