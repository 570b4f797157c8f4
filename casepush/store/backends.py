"""Choosing and opening a storage backend from the settings' database URL."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeGuard

from yarl import URL

from casepush.config import Settings
from casepush.store import Store
from casepush.store.postgres import PostgresStore
from casepush.store.sqlite import SqliteStore


def is_postgres(url: str | None) -> TypeGuard[str]:
    return url is not None and url.startswith(("postgresql://", "postgres://"))


def open_store(settings: Settings) -> Store:
    """PostgreSQL for a ``postgresql://`` (or ``postgres://``) URL, else SQLite."""
    if is_postgres(settings.database_url):
        return PostgresStore(settings.database_url, settings.database_pool_size)
    return SqliteStore(settings.sqlite_path, settings.sqlite_readers)


@asynccontextmanager
async def opened_store(settings: Settings) -> AsyncIterator[Store]:
    """The store of ``settings``, opened (and migrated) for the block."""
    store = open_store(settings)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def shown_url(settings: Settings) -> str:
    """The database's URL as it may be shown: its password masked, a SQLite file as an absolute URL."""
    if is_postgres(settings.database_url):
        url = URL(settings.database_url)
        return str(url.with_password("***")) if url.password else str(url)
    return f"sqlite:///{settings.sqlite_path.resolve()}"
