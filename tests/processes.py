"""casepush as real processes (``python -m casepush serve``) on the database of the tests' ``settings``:
SQLite in its data dir, or its PostgreSQL schema in the suite's PostgreSQL half."""

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

from casepush.config import Settings
from casepush.testing.client import basic_auth


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a server storing where ``settings`` say, without the caller's CASEPUSH_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEPUSH_")}
    env["CASEPUSH_DATA_DIR"] = settings.data_dir
    if settings.database_url:
        env["CASEPUSH_DATABASE_URL"] = settings.database_url
    return {**env, **extra}


def run_cli(settings: Settings, *arguments: str, **extra_env: str) -> subprocess.CompletedProcess:
    """``python -m casepush <arguments>`` on the database of ``settings``, to its end."""
    return subprocess.run(
        [sys.executable, "-m", "casepush", *arguments],
        env=server_env(settings, **extra_env),
        capture_output=True,
        text=True,
    )


async def start(
    settings: Settings, log: Path | None = None, **extra_env: str
) -> tuple[asyncio.subprocess.Process, str]:
    """A running server and its base URL; it has answered ``/api/status`` when this returns.

    What it prints is kept in a pipe for ``stop`` to read, or written to ``log`` by a test that makes it
    print more than the pipe and its reader hold (about 200 KiB, a thousand requests): a full pipe would
    stop the server.
    """
    port = free_port()
    with log.open("wb") if log else contextlib.nullcontext(asyncio.subprocess.PIPE) as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "casepush",
            "serve",
            "--port",
            str(port),
            env=server_env(settings, **extra_env),
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if process.returncode is not None:
                break
            try:
                async with session.get(f"{url}/api/status") as response:
                    if response.status == 200:
                        return process, url
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    if process.returncode is None:
        process.kill()
    printed = log.read_text() if log else (await process.stdout.read()).decode()
    raise AssertionError("server did not start: " + printed)


async def start_with_plugins(
    site: Path, settings: Settings, log: Path | None = None, **extra_env: str
) -> tuple[asyncio.subprocess.Process, str]:
    """A running server that sees the plugins installed in ``site`` (only the example one, unless
    ``CASEPUSH_LOAD_PLUGINS`` says otherwise), ``elastic``'s password ``changeme``; ``log`` as for
    ``start``."""
    env = {
        "PYTHONPATH": str(site),
        "CASEPUSH_ELASTIC_PASSWORD": "changeme",
        "CASEPUSH_LOAD_PLUGINS": "casepush-echo",
        **extra_env,
    }
    return await start(settings, log, **env)


async def stop(process: asyncio.subprocess.Process) -> str:
    """Stop the server (SIGTERM) and return what it printed (nothing if it printed to a ``log``)."""
    if process.returncode is None:
        process.terminate()
    output, _ = await process.communicate()
    return output.decode() if output is not None else ""


async def call(
    url: str, method: str, path: str, body: object = None, auth: str = basic_auth("elastic", "changeme")
) -> tuple[int, object]:
    """One request (as ``elastic`` unless ``auth`` says otherwise): ``(status, json)``."""
    headers = {"Authorization": auth, "kbn-xsrf": "true"}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url + path, json=body, headers=headers) as response,
    ):
        return response.status, await response.json(content_type=None)


def sh_block(markdown: Path, heading: str) -> str:
    """The first ``sh`` code block under ``## heading`` of a Markdown file (the README, a guide)."""
    text = markdown.read_text()
    return text.split(f"## {heading}", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
