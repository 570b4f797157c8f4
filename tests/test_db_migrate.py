"""``casepush db migrate``: brings the configured database to the newest schema, once, and exits."""

import subprocess
import sys

from casepush.store.rows import latest_migration
from tests.processes import server_env


def migrate(settings) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "casepush", "db", "migrate"],
        env=server_env(settings),
        capture_output=True,
        text=True,
    )


async def test_migrate_applies_every_migration_once_and_says_where_the_database_is(settings, stored):
    first = migrate(settings)

    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().endswith(f"is at migration {latest_migration()}.")
    assert "applying migration 0001_initial.sql" in first.stderr
    applied = await stored.rows("SELECT number, name FROM schema_migrations ORDER BY number")
    assert applied[-1][1] == latest_migration() + ".sql"
    assert [number for number, _ in applied] == list(range(1, len(applied) + 1))
    assert await stored.count("spaces") == 1

    again = migrate(settings)
    assert again.returncode == 0, again.stderr
    assert "applying migration" not in again.stderr
    assert await stored.rows("SELECT number, name FROM schema_migrations ORDER BY number") == applied
