"""casepush as real processes (``python -m casepush serve``) on the database of the tests' ``settings``:
SQLite in its data dir, or its PostgreSQL schema in the suite's PostgreSQL half."""

import asyncio
import os
import socket
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


async def start(settings: Settings, **extra_env: str) -> tuple[asyncio.subprocess.Process, str]:
    """A running server and its base URL; it has answered ``/api/status`` when this returns."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "casepush",
        "serve",
        "--port",
        str(port),
        env=server_env(settings, **extra_env),
        stdout=asyncio.subprocess.PIPE,
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
    raise AssertionError("server did not start: " + (await process.stdout.read()).decode())


async def start_with_plugins(
    site: Path, settings: Settings, **extra_env: str
) -> tuple[asyncio.subprocess.Process, str]:
    """A running server that sees the plugins installed in ``site`` (only the example one, unless
    ``CASEPUSH_LOAD_PLUGINS`` says otherwise), ``elastic``'s password ``changeme``."""
    env = {
        "PYTHONPATH": str(site),
        "CASEPUSH_ELASTIC_PASSWORD": "changeme",
        "CASEPUSH_LOAD_PLUGINS": "casepush-echo",
        **extra_env,
    }
    return await start(settings, **env)


async def stop(process: asyncio.subprocess.Process) -> str:
    """Stop the server (SIGTERM) and return what it printed."""
    if process.returncode is None:
        process.terminate()
    output, _ = await process.communicate()
    return output.decode()


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
