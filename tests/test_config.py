"""Settings from the environment and a TOML file, the environment winning."""

from pathlib import Path

import pytest

from casepush.config import ConfigError, Settings, load_settings
from casepush.store.backends import open_store
from casepush.store.postgres import PostgresStore
from casepush.store.sqlite import SqliteStore


def test_defaults_match_the_contract():
    settings = load_settings(environ={})
    assert settings.data_dir == "./data"
    assert settings.allowed_hosts == ["*"]
    assert settings.response_timeout == 60.0
    assert (settings.host, settings.port) == ("127.0.0.1", 5601)
    assert str(settings.sqlite_path) == "data/casepush.db"


def test_environment_variables_are_read_and_typed():
    settings = load_settings(
        environ={
            "CASEPUSH_DATA_DIR": "/srv/casepush",
            "CASEPUSH_ALLOWED_HOSTS": "jira.example.com, *.service-now.com",
            "CASEPUSH_RESPONSE_TIMEOUT": "12.5",
            "CASEPUSH_LOAD_PLUGINS": "casepush-jira",
            "CASEPUSH_DATABASE_URL": "sqlite:////var/lib/casepush/cases.db",
        }
    )
    assert settings.data_dir == "/srv/casepush"
    assert settings.allowed_hosts == ["jira.example.com", "*.service-now.com"]
    assert settings.response_timeout == 12.5
    assert settings.load_plugins == ["casepush-jira"]
    assert str(settings.sqlite_path) == "/var/lib/casepush/cases.db"


def test_sqlite_urls_follow_the_usual_relative_and_absolute_forms():
    assert (
        str(load_settings(environ={"CASEPUSH_DATABASE_URL": "sqlite:///cases.db"}).sqlite_path) == "cases.db"
    )
    with pytest.raises(ValueError, match="unsupported database URL"):
        _ = load_settings(environ={"CASEPUSH_DATABASE_URL": "mysql://x"}).sqlite_path


def test_environment_wins_over_the_toml_file(tmp_path):
    config = tmp_path / "casepush.toml"
    config.write_text('data_dir = "/from/file"\npublic_base_url = "https://cases.example.com"\nport = 5700\n')
    settings = load_settings(environ={"CASEPUSH_DATA_DIR": "/from/env"}, config_file=config)
    assert settings.data_dir == "/from/env"
    assert settings.public_base_url == "https://cases.example.com"
    assert settings.port == 5700


def test_unknown_file_setting_and_bad_values_are_refused(tmp_path):
    config = tmp_path / "casepush.toml"
    config.write_text("no_such_setting = 1\n")
    with pytest.raises(ConfigError):
        load_settings(environ={}, config_file=config)
    with pytest.raises(ConfigError):
        load_settings(environ={"CASEPUSH_RESPONSE_TIMEOUT": "soon"})
    with pytest.raises(ConfigError, match="at least 32"):
        load_settings(environ={"CASEPUSH_ENCRYPTION_KEY": "short"})
    with pytest.raises(ConfigError, match=r"CASEPUSH_KIBANA_VERSION: '9\.2' is not a version"):
        load_settings(environ={"CASEPUSH_KIBANA_VERSION": "9.2"})


def test_the_kibana_version_defaults_to_the_newest_followed_and_can_be_set():
    assert load_settings(environ={}).kibana_version == "9.2.0"
    assert load_settings(environ={"CASEPUSH_KIBANA_VERSION": "8.19.6"}).kibana_version == "8.19.6"
    assert (
        load_settings(environ={"CASEPUSH_KIBANA_VERSION": "9.3.0-SNAPSHOT"}).kibana_version
        == "9.3.0-SNAPSHOT"
    )


def test_the_database_pool_size_reaches_the_postgresql_store():
    settings = load_settings(
        {"CASEPUSH_DATABASE_URL": "postgresql://db/cases", "CASEPUSH_DATABASE_POOL_SIZE": "25"}
    )
    assert open_store(settings).pool_size == 25
    assert load_settings({}).database_pool_size == 10


def test_open_store_picks_the_backend_by_url(tmp_path: Path) -> None:
    for url in ("postgresql://db/casepush", "postgres://db/casepush?schema=s"):
        assert isinstance(open_store(Settings(database_url=url)), PostgresStore)
    assert isinstance(open_store(Settings(data_dir=str(tmp_path))), SqliteStore)
    with pytest.raises(ValueError, match="unsupported database URL"):
        open_store(Settings(database_url="mysql://db/casepush"))
