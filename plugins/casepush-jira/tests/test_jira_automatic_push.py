"""A case's status and assignee reaching the fake Jira by automatic push: the issue moves through the
workflow transition to each mapped status and is assigned to the Jira user with the assignee's email."""

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import casepush_jira
import pytest
from fake_jira import API_TOKEN, EMAIL, PROJECT, FakeJira, start_jira

from casepush.config import Settings
from casepush.testing import PASSWORD, Api, FakeService, ok


@pytest.fixture
def casepush_plugins() -> list[object]:
    return [casepush_jira]


@pytest.fixture
def casepush_settings(tmp_path: Path, casepush_database_url: str | None) -> Settings:
    """The kit's settings, with a worker that looks for due automatic pushes every 50 ms."""
    return Settings(
        data_dir=str(tmp_path / "casepush"),
        database_url=casepush_database_url,
        elastic_password=PASSWORD,
        automatic_push_poll_interval=0.05,
    )


@pytest.fixture
async def jira(fake_service: Callable[[], FakeService]) -> FakeJira:
    return await start_jira(fake_service())


async def test_status_and_assignee_reach_jira_through_its_workflow(casepush: Api, jira: FakeJira):
    bob = jira.add_user("Bob Builder", "bob@acme.example")
    await casepush.create_user("bob", "editor", email="bob@acme.example", full_name="Bob Builder")
    body = {
        "name": "Jira",
        "connector_type_id": ".jira",
        "config": {"apiUrl": jira.url, "projectKey": PROJECT},
        "secrets": {"email": EMAIL, "apiToken": API_TOKEN},
    }
    connector = await ok(casepush.post("/api/actions/connector", body))
    sync = {"push_status": True, "push_assignees": True}
    await ok(casepush.put(f"/api/casepush/connectors/{connector['id']}/case_sync", sync))
    setting = {"mode": "all", "quiet_period": 0.2}
    await ok(casepush.put(f"/api/casepush/automatic_push/cases/{connector['id']}", setting))
    fields = {"issueType": None, "priority": None, "parent": None}
    case = await ok(
        casepush.post(
            "/api/cases",
            {
                "title": "Malware on laptop-7",
                "description": "A trojan.",
                "tags": [],
                "owner": "cases",
                "settings": {"syncAlerts": False},
                "assignees": [{"uid": "bob"}],
                "connector": {"id": connector["id"], "name": "Jira", "type": ".jira", "fields": fields},
            },
        )
    )

    await casepush.pushed_automatically(case["id"], 1)
    [issue_id] = jira.issues
    assert jira.status_of(issue_id) == "To Do"  # where new issues start: no transition needed
    assert jira.sent("PUT", f"/issue/{issue_id}/assignee") == [{"accountId": bob["accountId"]}]

    await casepush.change_case(case["id"], status="in-progress")
    await casepush.pushed_automatically(case["id"], 2)
    assert jira.status_of(issue_id) == "In Progress"

    await casepush.change_case(case["id"], status="closed", assignees=[])
    await casepush.pushed_automatically(case["id"], 3)
    assert jira.status_of(issue_id) == "Done"
    taken = [sent["transition"]["id"] for sent in jira.sent("POST", f"/issue/{issue_id}/transitions")]
    assert len(taken) == 2  # one transition per status change, each to the mapped status
    assert jira.sent("PUT", f"/issue/{issue_id}/assignee")[-1] == {"accountId": None}
