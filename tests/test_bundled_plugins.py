"""Each bundled plugin installs with pip, on its own, into an environment with casepush alone."""

import asyncio
import functools
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.helpers import basic_auth
from tests.processes import free_port

ROOT = Path(__file__).parent.parent
BUNDLED = sorted(path for path in (ROOT / "plugins").iterdir() if (path / "setup.cfg").exists())
#: The connector types each bundled plugin provides.
TYPES = {
    "casepush-jira": [".jira"],
    "casepush-resilient": [".resilient"],
    "casepush-servicenow": [".servicenow", ".servicenow-sir"],
    "casepush-swimlane": [".swimlane"],
    "casepush-thehive": [".thehive"],
    "casepush-webhook": [".cases-webhook", ".webhook"],
}


@pytest.fixture(scope="module")
def fresh_casepush(tmp_path_factory) -> Path:
    """A new virtual environment with casepush installed (not editable) and nothing else of ours."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, str(ROOT)], check=True, capture_output=True)
    return venv


def test_every_bundled_plugin_is_known_here():
    assert [path.name for path in BUNDLED] == sorted(TYPES)


@pytest.mark.parametrize("plugin", BUNDLED, ids=[path.name for path in BUNDLED])
async def test_installing_a_bundled_plugin_adds_its_connector_types(fresh_casepush, plugin, tmp_path):
    python = str(fresh_casepush / "bin" / "python")
    # Away from the source tree, which ``python -m`` would put first on the path.
    run = functools.partial(subprocess.run, cwd=tmp_path, capture_output=True, check=True)
    before = run([python, "-m", "casepush", "plugins"], text=True)
    assert before.stdout.strip() == "No plugins installed."
    run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(plugin)])
    server, port = serve(python, tmp_path)
    try:
        types = await connector_types(port)
    finally:
        server.terminate()
        server.wait()
        # The next plugin is tried alone again.
        run([python, "-m", "pip", "uninstall", "-q", "-y", plugin.name])
    assert [t["id"] for t in types] == TYPES[plugin.name]


def serve(python: str, folder: Path) -> tuple[subprocess.Popen, int]:
    """``casepush serve`` of that Python, storing in ``folder`` and started there, and its port."""
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "CASEPUSH_DATA_DIR": str(folder), "CASEPUSH_ELASTIC_PASSWORD": "changeme"}
    server = subprocess.Popen([python, "-m", "casepush", "serve", "--port", str(port)], env=env, cwd=folder)
    return server, port


async def test_a_plain_install_serves_the_web_uis_templates_and_static_files(fresh_casepush, tmp_path):
    """They are package data: installed with the code, not only found in the source tree."""
    server, port = serve(str(fresh_casepush / "bin" / "python"), tmp_path)
    try:
        await connector_types(port)  # once it answers
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/app/login") as response:
                assert response.status == 200
                assert "Log in" in await response.text()
            async with session.get(f"http://127.0.0.1:{port}/app/static/ui.css") as response:
                assert response.status == 200
    finally:
        server.terminate()
        server.wait()


async def connector_types(port: int) -> list[dict]:
    headers = {"Authorization": basic_auth("elastic", "changeme")}
    url = f"http://127.0.0.1:{port}/api/actions/connector_types"
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(url, headers=headers) as response:
                    return await response.json()
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    raise AssertionError("casepush did not start")
