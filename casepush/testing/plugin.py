"""Fixtures for testing connector plugins against a real casepush app and fake external systems.

pytest loads this module (the ``pytest11`` entry point) in every run of every project that has casepush
installed, whether its tests use the kit or not. So it imports only pytest, the standard library and
pytest-asyncio (a pytest plugin pytest loads anyway): the app, the store, aiohttp... are imported by the
fixtures that need them. And it prints nothing unless the run uses the kit (``_KitReport``).

The kit needs pytest-asyncio and pytest-aiohttp (``pip install 'casepush[testing]'``). Its async fixtures
are pytest-asyncio's, so they work in its strict mode (its default) as in auto mode.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from casepush.testing.backends import TEST_DATABASE_ENV, backends, postgres_server_url

if TYPE_CHECKING:
    from casepush.config import Settings
    from casepush.testing.client import Api
    from casepush.testing.fake import FakeService

_async_fixture: Any
try:
    import pytest_asyncio

    _async_fixture = pytest_asyncio.fixture
except ImportError:  # without the testing extra: a test that uses the kit fails saying what to install
    _async_fixture = pytest.fixture

#: The fixture that runs a test on each storage backend: a run that uses it shows which backends ran.
BACKENDS_FIXTURE = "casepush_database_url"
#: The kit's fixtures that need pytest-asyncio and pytest-aiohttp.
KIT_FIXTURES = frozenset({BACKENDS_FIXTURE, "casepush_settings", "casepush", "fake_service"})
#: The pytest plugins the kit's fixtures need (their packages), and the distributions that bring them.
NEEDED_PLUGINS = {"pytest_asyncio": "pytest-asyncio", "pytest_aiohttp": "pytest-aiohttp"}
INSTALL = "pip install 'casepush[testing]'"


def backends_line() -> str:
    if postgres_server_url():
        return f"casepush storage backends: SQLite and PostgreSQL ({TEST_DATABASE_ENV} is set)"
    return (
        f"casepush storage backends: SQLite only; the PostgreSQL half was SKIPPED"
        f" (set {TEST_DATABASE_ENV}=postgresql://user@host:5432/db to run it)"
    )


class _KitReport:
    """Shows the storage backends line only in runs that use the kit's backends (a test that ran, or was
    collected, asks for ``casepush_database_url``, directly or through ``casepush_settings``,
    ``casepush`` or a fixture of the project): after collection when pytest runs the tests itself, and
    in the terminal summary, where pytest-xdist's controller learns it from its workers' reports.

    Makes ``casepush.guards`` strict for the tests that use the kit (an outbound call inside a write
    transaction fails them), and fails, with what to install, a test that uses the kit while
    pytest-asyncio or pytest-aiohttp is missing (rather than pytest's "fixture 'aiohttp_client' not
    found").
    """

    def __init__(self, config: pytest.Config):
        self.config = config
        self.used = False
        self.missing: list[str] | None = None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item) -> Generator[None, Any, Any]:
        report = yield
        if BACKENDS_FIXTURE in getattr(item, "fixturenames", ()):
            # An attribute of the report, which pytest-xdist sends to its controller with the rest.
            report.casepush_backends = True
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if getattr(report, "casepush_backends", False):
            self.used = True

    def pytest_report_collectionfinish(self, items: list[pytest.Item]) -> str | None:
        if any(BACKENDS_FIXTURE in getattr(item, "fixturenames", ()) for item in items):
            return backends_line()
        return None

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.used:
            terminalreporter.write_line(backends_line())

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if KIT_FIXTURES.isdisjoint(getattr(item, "fixturenames", ())):
            return
        # Under the kit, an outbound call inside a write transaction fails the test that makes it.
        from casepush import guards

        guards.strict = True
        if self.missing is None:
            plugins = self.config.pluginmanager.get_plugins()
            active = {str(getattr(plugin, "__name__", "")).partition(".")[0] for plugin in plugins}
            self.missing = [name for package, name in NEEDED_PLUGINS.items() if package not in active]
        if self.missing:
            pytest.fail(
                f"casepush's test kit needs {' and '.join(self.missing)} (installed and not disabled"
                f" with -p no:...): {INSTALL}",
                pytrace=False,
            )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_KitReport(config), "casepush-kit-report")


@_async_fixture(params=backends())
async def casepush_database_url(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    """The database of the app under test: None (SQLite in the data dir) or, in the PostgreSQL half, a
    URL naming a fresh schema on ``CASEPUSH_TEST_DATABASE_URL``'s server, dropped afterwards."""
    if request.param == "sqlite":
        yield None
        return
    server_url = postgres_server_url()
    if server_url is None:
        pytest.fail(f"the PostgreSQL half was collected with {TEST_DATABASE_ENV} set, which is now unset")
    from casepush.testing.database import fresh_schema

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
    from casepush.config import Settings
    from casepush.testing.client import PASSWORD

    return Settings(
        data_dir=str(tmp_path / "casepush"),
        database_url=casepush_database_url,
        elastic_password=PASSWORD,
        **getattr(request, "param", {}),
    )


@_async_fixture
async def casepush(aiohttp_client: Any, casepush_settings: Settings, casepush_plugins: list[object]) -> Api:
    """A client of a running app with ``casepush_plugins``, calling as the superuser ``elastic``."""
    from casepush.app import create_app
    from casepush.plugins import load_plugins
    from casepush.testing.client import Api

    plugins = await load_plugins(allowed=[], extra=casepush_plugins)
    app = create_app(casepush_settings, announce=lambda line: None, plugins=plugins)
    return Api(await aiohttp_client(app))


@pytest.fixture
def fake_service(aiohttp_server: Any) -> Callable[[], FakeService]:
    """Make fake external systems: ``service = fake_service()``, add routes, ``await service.start()``."""
    from casepush.testing.fake import FakeService

    return lambda: FakeService(aiohttp_server)
