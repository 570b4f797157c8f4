"""Fixtures for testing connector plugins against a real casepush app and fake external systems."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from casepush.app import create_app
from casepush.config import Settings
from casepush.plugins import load_plugins
from casepush.testing.client import PASSWORD, Api
from casepush.testing.fake import FakeService


@pytest.fixture
def casepush_plugins() -> list[object]:
    """The plugins (modules or objects with ``@hookimpl`` functions) the app loads; override it.

    Installed plugins are not loaded, so that a test sees exactly these.
    """
    return []


@pytest.fixture
def casepush_settings(tmp_path: Path) -> Settings:
    """Settings of the app under test: a fresh data dir, the ``elastic`` password ``PASSWORD``."""
    return Settings(data_dir=str(tmp_path / "casepush"), elastic_password=PASSWORD)


@pytest.fixture
async def casepush(aiohttp_client: Any, casepush_settings: Settings, casepush_plugins: list[object]) -> Api:
    """A client of a running app with ``casepush_plugins``, calling as the superuser ``elastic``."""
    plugins = load_plugins(allowed=[], extra=casepush_plugins)
    app = create_app(casepush_settings, announce=lambda line: None, plugins=plugins)
    return Api(await aiohttp_client(app))


@pytest.fixture
def fake_service(aiohttp_server: Any) -> Callable[[], FakeService]:
    """Make fake external systems: ``service = fake_service()``, add routes, ``await service.start()``."""
    return lambda: FakeService(aiohttp_server)
