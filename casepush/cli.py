"""The ``casepush`` command."""

import asyncio
import logging

import click
from aiohttp import web

from casepush import __version__
from casepush.app import create_app, open_store
from casepush.config import ConfigError, Settings, load_settings
from casepush.domain.connectors import Rotation, rotate_secrets
from casepush.plugins import PluginError, load_plugins
from casepush.security.secrets import load_secret_box


@click.group()
@click.version_option(__version__, prog_name="casepush")
def cli() -> None:
    """casepush: Kibana's Cases API and case push, self-hosted."""


@cli.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 5601).")
@click.option(
    "--config", "config_file", type=click.Path(exists=True, dir_okay=False), help="TOML settings file."
)
def serve(host: str | None, port: int | None, config_file: str | None) -> None:
    """Run the HTTP server."""
    try:
        settings = load_settings(config_file=config_file)
    except (ConfigError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_app(settings, announce=lambda line: click.echo(line, err=False))
    except (PluginError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    web.run_app(app, host=host or settings.host, port=port or settings.port, print=click.echo)


@cli.command()
@click.option(
    "--config", "config_file", type=click.Path(exists=True, dir_okay=False), help="TOML settings file."
)
def plugins(config_file: str | None) -> None:
    """List the installed plugins, their versions and connector types."""
    try:
        settings = load_settings(config_file=config_file)
        host = load_plugins(settings.load_plugins)
    except (ConfigError, OSError, PluginError) as exc:
        raise click.ClickException(str(exc)) from None
    installed = host.installed()
    if not installed:
        click.echo("No plugins installed.")
    for plugin in installed:
        types = ", ".join(plugin.connector_types) or "no connector types"
        click.echo(f"{plugin.name} {plugin.version or ''}".rstrip() + f": {types}")


@cli.command("rotate-key")
@click.option(
    "--config", "config_file", type=click.Path(exists=True, dir_okay=False), help="TOML settings file."
)
def rotate_key(config_file: str | None) -> None:
    """Re-encrypt connector secrets with the current key (CASEPUSH_ENCRYPTION_KEY).

    Give the earlier keys in CASEPUSH_DECRYPTION_ONLY_KEYS; once this has run, they can be dropped.
    """
    try:
        settings = load_settings(config_file=config_file)
    except (ConfigError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    rotation = asyncio.run(_rotate(settings))
    click.echo(f"Re-encrypted the secrets of {rotation.rotated} connector(s).")
    if rotation.unreadable:
        click.echo("No configured key opens the secrets of: " + ", ".join(rotation.unreadable), err=True)
        raise SystemExit(1)


async def _rotate(settings: Settings) -> Rotation:
    store = open_store(settings)
    await store.open()
    try:
        return await rotate_secrets(store, load_secret_box(settings))
    finally:
        await store.close()
