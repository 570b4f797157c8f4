"""The ``casepush`` command."""

import asyncio
import logging

import click
import msgspec
from aiohttp import web

from casepush import __version__
from casepush.app import create_app
from casepush.config import ConfigError, Settings, load_settings
from casepush.domain.connectors import Rotation, rotate_secrets
from casepush.logs import configure_logging
from casepush.plugins import PluginError, load_plugins
from casepush.security.secrets import load_secret_box
from casepush.store.backends import opened_store, shown_url
from casepush.store.copy import CopyError, copy_database
from casepush.store.rows import latest_migration
from casepush.web.server import run_app

log = logging.getLogger(__name__)

config_option = click.option(
    "--config", "config_file", type=click.Path(exists=True, dir_okay=False), help="TOML settings file."
)


def _settings(config_file: str | None) -> Settings:
    try:
        return load_settings(config_file=config_file)
    except (ConfigError, OSError) as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
@click.version_option(__version__, prog_name="casepush")
def cli() -> None:
    """casepush: Kibana's Cases API and case push, self-hosted."""


@cli.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 5601).")
@config_option
def serve(host: str | None, port: int | None, config_file: str | None) -> None:
    """Run the HTTP server; on SIGTERM, stop listening and let requests in progress finish."""
    settings = _settings(config_file)
    configure_logging(settings.log_format)
    try:
        # On a loop of their own, before the server's: a plugin that cannot load stops the start here.
        plugins = asyncio.run(load_plugins(settings.load_plugins))
        app = create_app(settings, announce=lambda line: click.echo(line, err=False), plugins=plugins)
    except (PluginError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None

    async def draining(app: web.Application) -> None:
        log.info("stopped listening; waiting up to %ss for requests in progress", settings.shutdown_timeout)

    app.on_shutdown.append(draining)
    # The server stops listening at once, then waits shutdown_timeout for handlers (a push under way
    # records its result) before the database closes.
    run_app(app, host or settings.host, port or settings.port, settings)


@cli.command()
@config_option
def plugins(config_file: str | None) -> None:
    """List the installed plugins, their versions and connector types."""
    settings = _settings(config_file)
    try:
        host = asyncio.run(load_plugins(settings.load_plugins))
    except PluginError as exc:
        raise click.ClickException(str(exc)) from None
    installed = host.installed()
    if not installed:
        click.echo("No plugins installed.")
    for plugin in installed:
        types = ", ".join(plugin.connector_types) or "no connector types"
        click.echo(f"{plugin.name} {plugin.version or ''}".rstrip() + f": {types}")


@cli.command("rotate-key")
@config_option
def rotate_key(config_file: str | None) -> None:
    """Re-encrypt connector secrets with the current key (CASEPUSH_ENCRYPTION_KEY).

    Give the earlier keys in CASEPUSH_DECRYPTION_ONLY_KEYS; once this has run, they can be dropped.
    """
    settings = _settings(config_file)
    rotation = asyncio.run(_rotate(settings))
    click.echo(f"Re-encrypted the secrets of {rotation.rotated} connector(s).")
    if rotation.inbound_rotated:
        click.echo(f"Re-encrypted {rotation.inbound_rotated} inbound webhook secret(s).")
    if rotation.unreadable:
        click.echo("No configured key opens the secrets of: " + ", ".join(rotation.unreadable), err=True)
        raise SystemExit(1)


async def _rotate(settings: Settings) -> Rotation:
    async with opened_store(settings) as store:
        return await rotate_secrets(store, load_secret_box(settings))


@cli.group()
def db() -> None:
    """Database schema and copies."""


@db.command()
@config_option
def migrate(config_file: str | None) -> None:
    """Apply pending migrations to the configured database (CASEPUSH_DATABASE_URL), then exit.

    Instances apply them at start too; run this first to upgrade before starting new instances.
    """
    settings = _settings(config_file)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    asyncio.run(_open_and_close(settings))
    click.echo(f"{shown_url(settings)} is at migration {latest_migration()}.")


async def _open_and_close(settings: Settings) -> None:
    async with opened_store(settings):
        pass


@db.command()
@click.option("--from", "source", required=True, help="URL of the database to copy.")
@click.option("--to", "target", required=True, help="URL of a new database to copy it into.")
@config_option
def copy(source: str, target: str, config_file: str | None) -> None:
    """Copy every object of one database into a new one: SQLite to PostgreSQL or back.

    URLs as CASEPUSH_DATABASE_URL: sqlite:///path/casepush.db or postgresql://user@host/db. Stop the
    instances writing to the source first. Connector secrets stay sealed: run the copy with the same
    encryption key.
    """
    settings = _settings(config_file)
    source_settings = msgspec.structs.replace(settings, database_url=source)
    target_settings = msgspec.structs.replace(settings, database_url=target)
    if shown_url(source_settings) == shown_url(target_settings):
        raise click.ClickException("--from and --to name the same database")
    try:
        copied = asyncio.run(_copy(source_settings, target_settings))
    except CopyError as exc:
        raise click.ClickException(str(exc)) from None
    for table, count in copied.items():
        click.echo(f"{table}: {count}")
    click.echo(f"Copied {shown_url(source_settings)} into {shown_url(target_settings)}.")


async def _copy(source: Settings, target: Settings) -> dict[str, int]:
    async with opened_store(source) as reading, opened_store(target) as writing:
        return await copy_database(reading, writing)
