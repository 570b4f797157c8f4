"""The ``casepush`` command."""

import logging

import click
from aiohttp import web

from casepush import __version__
from casepush.app import create_app
from casepush.config import ConfigError, load_settings


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
    app = create_app(settings, announce=lambda line: click.echo(line, err=False))
    web.run_app(app, host=host or settings.host, port=port or settings.port, print=click.echo)
