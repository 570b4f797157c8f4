"""Fixtures for testing connector plugins against a real casepush app and fake external systems."""

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from casepush.app import create_app
from casepush.config import Settings
from casepush.plugins import load_plugins
from casepush.testing.client import PASSWORD, Api
from casepush.testing.database import TEST_DATABASE_ENV, backends, fresh_schema, postgres_server_url
from casepush.testing.fake import FakeService


def pytest_configure() -> None:
    """An outbound call inside a write transaction fails the test that makes it."""
    from casepush import guards

    guards.strict = True


def pytest_report_header() -> str:
    return _backends_line()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(_backends_line())


def _backends_line() -> str:
    if postgres_server_url():
        return f"casepush storage backends: SQLite and PostgreSQL ({TEST_DATABASE_ENV} is set)"
    return (
        f"casepush storage backends: SQLite only; the PostgreSQL half was SKIPPED"
        f" (set {TEST_DATABASE_ENV}=postgresql://user@host:5432/db to run it)"
    )


@pytest.fixture(params=backends())
async def casepush_database_url(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    """The database of the app under test: None (SQLite in the data dir) or, in the PostgreSQL half, a
    URL naming a fresh schema on ``CASEPUSH_TEST_DATABASE_URL``'s server, dropped afterwards."""
    if request.param == "sqlite":
        yield None
        return
    server_url = postgres_server_url()
    assert server_url is not None  # backends() lists PostgreSQL only then
    async with fresh_schema(server_url) as url:
        yield url


@pytest.fixture
def casepush_plugins() -> list[object]:
    """The plugins (modules or objects with ``@hookimpl`` functions) the app loads; override it.

    Installed plugins are not loaded, so that a test sees exactly these.
    """
    return []


@pytest.fixture
def casepush_settings(
    request: pytest.FixtureRequest, tmp_path: Path, casepush_database_url: str | None
) -> Settings:
    """Settings of the app under test: a fresh data dir and database, the ``elastic`` password
    ``PASSWORD``, and what an indirect parametrization changes:
    ``@pytest.mark.parametrize("casepush_settings", [{"allowed_hosts": ["ok.example"]}], indirect=True)``."""
    return Settings(
        data_dir=str(tmp_path / "casepush"),
        database_url=casepush_database_url,
        elastic_password=PASSWORD,
        **getattr(request, "param", {}),
    )


@pytest.fixture
async def casepush(aiohttp_client: Any, casepush_settings: Settings, casepush_plugins: list[object]) -> Api:
    """A client of a running app with ``casepush_plugins``, calling as the superuser ``elastic``."""
    plugins = await load_plugins(allowed=[], extra=casepush_plugins)
    app = create_app(casepush_settings, announce=lambda line: None, plugins=plugins)
    return Api(await aiohttp_client(app))


@pytest.fixture
def fake_service(aiohttp_server: Any) -> Callable[[], FakeService]:
    """Make fake external systems: ``service = fake_service()``, add routes, ``await service.start()``."""
    return lambda: FakeService(aiohttp_server)
