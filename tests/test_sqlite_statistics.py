"""SQLite's planner statistics never make the trigram index scan its own tables: it reads them by rowid
ranges as it merges its segments on each insert, and a scan there makes every create read the whole
index (creates slow down as cases grow). A fresh database's statistics count those tables as nearly
empty; the store counts them as large, on the writer and in the file."""

import sqlite3

from casepush.store.sqlite import SqliteStore

MERGE_STATEMENT = "DELETE FROM case_text_data WHERE id >= :low AND id <= :high"


def plan(rows: list) -> str:
    return " ".join(str(row[-1]) for row in rows)


async def test_the_writer_reads_the_trigram_index_by_rowid_ranges(sqlite_store: SqliteStore):
    for _ in range(2):  # as opened, and after the statistics are refreshed
        async with sqlite_store.write() as tx:
            rows = await tx._fetch_named(f"EXPLAIN QUERY PLAN {MERGE_STATEMENT}", {"low": 1, "high": 2})
        assert plan(rows).startswith("SEARCH case_text_data USING INTEGER PRIMARY KEY")
        await sqlite_store.analyze()


async def test_a_new_connection_reads_the_same_statistics(sqlite_store: SqliteStore):
    with sqlite3.connect(sqlite_store.path) as conn:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {MERGE_STATEMENT}", {"low": 1, "high": 2}).fetchall()
        counted = conn.execute("SELECT tbl, stat FROM sqlite_stat1 WHERE tbl LIKE 'case_text%'").fetchall()
    assert plan(rows).startswith("SEARCH case_text_data USING INTEGER PRIMARY KEY")
    assert counted and all(stat.split()[0] == "1000000" for _, stat in counted)
