"""``casepush serve`` as a real process: first start, the printed password, and what is stored."""

import asyncio
import os
import socket
import sqlite3
import sys
from pathlib import Path

import aiohttp

from conftest import basic_auth


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def start(
    data_dir: Path, extra_env: dict[str, str] | None = None
) -> tuple[asyncio.subprocess.Process, int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEPUSH_")}
    env.update({"CASEPUSH_DATA_DIR": str(data_dir), **(extra_env or {})})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "casepush",
        "serve",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(f"http://127.0.0.1:{port}/api/status") as response:
                    if response.status == 200:
                        return process, port
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    process.kill()
    raise AssertionError("server did not start: " + (await process.stdout.read()).decode())


async def stop(process: asyncio.subprocess.Process) -> str:
    process.terminate()
    output, _ = await process.communicate()
    return output.decode()


async def authenticated_status(port: int, password: str) -> int:
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": basic_auth("elastic", password)}
        async with session.get(f"http://127.0.0.1:{port}/api/cases/_find", headers=headers) as response:
            return response.status


async def test_first_start_prints_a_generated_password_once_and_stores_only_a_hash(tmp_path):
    process, port = await start(tmp_path)
    output = await stop(process)
    lines = [line for line in output.splitlines() if "Generated password for the elastic user" in line]
    assert len(lines) == 1, output
    password = lines[0].rsplit(": ", 1)[1].strip()

    database = (tmp_path / "casepush.db").read_bytes()
    assert password.encode() not in database
    with sqlite3.connect(tmp_path / "casepush.db") as db:
        (stored,) = db.execute("SELECT password_hash FROM users WHERE username = 'elastic'").fetchone()
    assert stored.startswith("scrypt$")

    process, port = await start(tmp_path)
    try:
        assert await authenticated_status(port, password) == 200
        assert await authenticated_status(port, "wrong") == 401
    finally:
        output = await stop(process)
    assert "Generated password" not in output


async def test_configured_password_is_used_and_never_printed(tmp_path):
    process, port = await start(tmp_path, {"CASEPUSH_ELASTIC_PASSWORD": "s3cret-from-env"})
    try:
        assert await authenticated_status(port, "s3cret-from-env") == 200
    finally:
        output = await stop(process)
    assert "s3cret-from-env" not in output
    assert "Generated password" not in output


async def run_readme_section(tmp_path: Path, heading: str) -> str:
    """Run the first ``sh`` block under a README heading against a real server; its standard output."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    script = readme.split(f"## {heading}", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    process, port = await start(tmp_path, {"CASEPUSH_ELASTIC_PASSWORD": "changeme"})
    try:
        script = script.replace("http://127.0.0.1:5601", f"http://127.0.0.1:{port}")
        shell = await asyncio.create_subprocess_exec(
            "bash",
            "-euo",
            "pipefail",
            "-c",
            script + '\necho "\nCASE_ID=${CASE_ID:-}"',
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await shell.communicate()
    finally:
        await stop(process)
    assert shell.returncode == 0, err.decode()
    return out.decode()


async def test_readme_curl_session_works_as_shown(tmp_path):
    """The README's curl session runs unchanged against a real server and ends with the user actions."""
    output = await run_readme_section(tmp_path, "A session with curl")
    case_id = output.rsplit("CASE_ID=", 1)[1].strip()
    assert len(case_id) == 36
    # The last document printed is the user actions of the case: create, two comments, status, severity.
    user_actions = output.rsplit('{"userActions"', 1)[1]
    for expected in (
        '"type":"create_case"',
        '"type":"comment"',
        '"status":"in-progress"',
        '"severity":"high"',
    ):
        assert expected in user_actions


async def test_readme_read_only_user_and_api_key_work_as_shown(tmp_path):
    """The README's users section: the key reads, may not write, and is invalidated."""
    output = await run_readme_section(tmp_path, "A read-only user and an API key with curl")
    assert '{"created":true}' in output
    assert "find: 200" in output
    assert "create: 403" in output
    assert '"invalidated_api_keys":["' in output
    assert '"error_count":0' in output
    assert "after invalidation: 401" in output
