"""Fixtures: a real casepush app on a real SQLite file, called over HTTP.

The client and default bodies live in ``casepush.testing`` (shared with plugin authors); they are
re-exported here for the tests' imports.
"""

import sys
from pathlib import Path
from typing import Any

import pytest

from casepush.app import create_app
from casepush.config import Settings
from casepush.plugins import PluginHost, load_plugins
from casepush.testing.client import (  # noqa: F401
    IMPACT_FIELD,
    NONE_CONNECTOR,
    PASSWORD,
    Api,
    basic_auth,
    case_body,
    configuration_body,
)

#: A third-party plugin (its own distribution under ``example-plugin``), importable by the tests.
sys.path.insert(0, str(Path(__file__).parent / "example-plugin"))
import casepush_echo


def echo_plugins() -> PluginHost:
    """Exactly the example plugin, whatever else is installed, so that tests see the same types."""
    return load_plugins(allowed=[], extra=[casepush_echo])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=str(tmp_path), elastic_password=PASSWORD)


@pytest.fixture
def db_path(settings: Settings) -> Path:
    return settings.sqlite_path


@pytest.fixture
async def api(aiohttp_client: Any, settings: Settings) -> Api:
    client = await aiohttp_client(create_app(settings, announce=lambda line: None, plugins=echo_plugins()))
    return Api(client)
