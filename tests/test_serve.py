"""``casepush serve`` as a real process: first start, the printed password, and what is stored."""

import asyncio
from pathlib import Path

from casepush.config import Settings
from casepush.testing.client import basic_auth
from tests.processes import call, sh_block, start, stop


async def authenticated_status(url: str, password: str) -> int:
    status, _ = await call(url, "GET", "/api/cases/_find", auth=basic_auth("elastic", password))
    return status


async def test_first_start_prints_a_generated_password_once_and_stores_only_a_hash(settings, stored):
    process, url = await start(settings)
    output = await stop(process)
    lines = [line for line in output.splitlines() if "Generated password for the elastic user" in line]
    assert len(lines) == 1, output
    password = lines[0].rsplit(": ", 1)[1].strip()

    assert password.encode() not in await stored.everything()
    [(hashed,)] = await stored.rows("SELECT password_hash FROM users WHERE username = 'elastic'")
    assert hashed.startswith("scrypt$")

    process, url = await start(settings)
    try:
        assert await authenticated_status(url, password) == 200
        assert await authenticated_status(url, "wrong") == 401
    finally:
        output = await stop(process)
    assert "Generated password" not in output


async def test_configured_password_is_used_and_never_printed(settings):
    process, url = await start(settings, CASEPUSH_ELASTIC_PASSWORD="s3cret-from-env")
    try:
        assert await authenticated_status(url, "s3cret-from-env") == 200
    finally:
        output = await stop(process)
    assert "s3cret-from-env" not in output
    assert "Generated password" not in output


GETTING_STARTED = Path(__file__).parent.parent / "docs" / "getting-started.md"


async def run_guide_section(settings: Settings, heading: str) -> str:
    """Run the first ``sh`` block under a heading of the getting-started guide against a real server;
    its standard output."""
    script = sh_block(GETTING_STARTED, heading)
    process, url = await start(settings, CASEPUSH_ELASTIC_PASSWORD="changeme")
    try:
        script = script.replace("http://127.0.0.1:5601", url)
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


async def test_the_guides_curl_session_works_as_shown(settings):
    """The guide's curl session runs unchanged against a real server and ends with the user actions."""
    output = await run_guide_section(settings, "A session with curl")
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


async def test_the_guides_read_only_user_and_api_key_work_as_shown(settings):
    """The guide's users section: the key reads, may not write, and is invalidated."""
    output = await run_guide_section(settings, "A read-only user and an API key with curl")
    assert '{"created":true}' in output
    assert "find: 200" in output
    assert "create: 403" in output
    assert '"invalidated_api_keys":["' in output
    assert '"error_count":0' in output
    assert "after invalidation: 401" in output
