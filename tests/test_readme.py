"""The README's push example runs as written (against a real server with the Jira plugin, and the Jira
plugin's fake Jira in place of acme.atlassian.net), and the guides name every setting and link only
to files that exist."""

import asyncio
import re
from pathlib import Path

import msgspec
from fake_jira import API_TOKEN, EMAIL, PROJECT, start_jira

from casepush.app import create_app
from casepush.config import Settings
from casepush.plugins import load_plugins
from tests.helpers import PASSWORD
from tests.processes import sh_block

ROOT = Path(__file__).parent.parent


async def test_the_readme_push_example_pushes_a_case_and_its_comment_to_jira(
    aiohttp_client, settings, fake_service
):
    jira = await start_jira(fake_service())
    app = create_app(settings, announce=lambda line: None, plugins=await load_plugins(["casepush-jira"]))
    server = (await aiohttp_client(app)).server
    script = (
        sh_block(ROOT / "README.md", "Push a case to Jira")
        .replace("elastic:changeme", f"elastic:{PASSWORD}")
        .replace("http://127.0.0.1:5601", str(server.make_url("")).rstrip("/"))
        .replace("https://acme.atlassian.net", jira.url)
        .replace('"projectKey": "SEC"', f'"projectKey": "{PROJECT}"')
        .replace("bot@acme.com", EMAIL)
        .replace("jira-api-token", API_TOKEN)
    )
    shell = await asyncio.create_subprocess_exec(
        "bash",
        "-euo",
        "pipefail",
        "-c",
        script,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await shell.communicate()

    assert shell.returncode == 0, err.decode()
    [issue] = jira.issues.values()
    key = issue["key"]
    assert out.decode().strip() == f"{key} {jira.url}/browse/{key}"
    assert issue["fields"]["summary"] == "Suspicious login on web-01"
    assert issue["fields"]["priority"]["name"] == "High"
    [comment] = jira.comments[issue["id"]]
    assert comment["body"].startswith("Password reset requested.")


def test_the_configuration_reference_names_every_setting():
    reference = (ROOT / "docs" / "configuration.md").read_text()
    for field in msgspec.structs.fields(Settings):
        named = (
            f"CASEPUSH_{field.name.upper()}" in reference
            or f"`{field.name}` (settings file only)" in reference
        )
        assert named, f"docs/configuration.md does not describe the setting {field.name}"


def test_every_relative_link_of_the_readme_and_the_docs_leads_to_a_file():
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text()):
            if not target.startswith(("http://", "https://")):
                assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"
