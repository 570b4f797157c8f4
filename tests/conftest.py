"""Fixtures: a real casepush app on a real database (SQLite, and PostgreSQL too when
``CASEPUSH_TEST_DATABASE_URL`` is set), called over HTTP. What tests import lives in ``tests.helpers``."""

import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from casepush.app import create_app
from casepush.config import Settings
from casepush.security import auth as auth_module
from casepush.store.sqlite import SqliteStore
from casepush.testing import FakeService
from casepush.testing.database import StoredData
from tests.helpers import EXAMPLE_PLUGIN, PASSWORD, Api, echo_plugins, echo_service


@pytest.fixture
def password_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords checked against a stored digest (each an scrypt run) from now on, in order."""
    checks: list[str] = []
    real_verify = auth_module.verify_password_async

    async def counted(password: str, hashed: str) -> bool:
        checks.append(password)
        return await real_verify(password, hashed)

    monkeypatch.setattr(auth_module, "verify_password_async", counted)
    return checks


@pytest.fixture
def settings(tmp_path: Path, casepush_database_url: str | None) -> Settings:
    """A fresh data dir and database: SQLite, or PostgreSQL in the suite's PostgreSQL half."""
    return Settings(data_dir=str(tmp_path), database_url=casepush_database_url, elastic_password=PASSWORD)


@pytest.fixture
def stored(settings: Settings) -> StoredData:
    """What the database of ``settings`` holds, read behind the server's back."""
    return StoredData(settings)


@pytest.fixture
def api_with(aiohttp_client: Any, settings: Settings) -> Callable[..., Awaitable[Api]]:
    """Start an app on the test's data dir and database with some settings changed:
    ``api = await api_with(encryption_key=...)``."""

    async def start(**changes: Any) -> Api:
        app = create_app(
            msgspec.structs.replace(settings, **changes),
            announce=lambda line: None,
            plugins=await echo_plugins(),
        )
        return Api(await aiohttp_client(app))

    return start


@pytest.fixture
async def api(api_with: Callable[..., Awaitable[Api]]) -> Api:
    return await api_with()


@pytest.fixture(scope="session")
def installed_echo(tmp_path_factory) -> Path:
    """The example plugin built and installed by pip into a folder of its own, as a user would."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(EXAMPLE_PLUGIN),
        ],
        check=True,
        capture_output=True,
    )
    return target


@pytest.fixture
async def echo(fake_service: Callable[[], FakeService]) -> FakeService:
    service = echo_service(fake_service)
    await service.start()
    return service


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """A SQLite store of its own, opened, with two readers of each kind."""
    store = SqliteStore(tmp_path / "casepush.db", readers=2)
    await store.open()
    yield store
    await store.close()
