from casepush.cli import cli

cli()
