"""The storage backends the tests run on, read from the environment (the standard library only: the
pytest plugin reads them when pytest starts, in every project that has casepush installed)."""

import os

#: The PostgreSQL server of the PostgreSQL half, e.g. ``postgresql://postgres@127.0.0.1:5432/test``.
TEST_DATABASE_ENV = "CASEPUSH_TEST_DATABASE_URL"


def postgres_server_url() -> str | None:
    return os.environ.get(TEST_DATABASE_ENV) or None


def backends() -> list[str]:
    """``sqlite``, and ``postgresql`` when the PostgreSQL half is asked for."""
    return ["sqlite", "postgresql"] if postgres_server_url() else ["sqlite"]
