"""A case's status and assignee reaching the fake ServiceNow by automatic push, on ITSM (resolved with
its close code and notes) and SecOps: ``state`` follows the case's status, ``assigned_to`` the
``sys_user`` with the assignee's email."""

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from fake_servicenow import FakeServiceNow, basic, casepush_plugins, private_key, sn

from casepush.config import Settings
from casepush.testing import PASSWORD, Api, ok


@pytest.fixture
def casepush_settings(tmp_path: Path, casepush_database_url: str | None) -> Settings:
    """The kit's settings, with a worker that looks for due automatic pushes every 50 ms."""
    return Settings(
        data_dir=str(tmp_path / "casepush"),
        database_url=casepush_database_url,
        elastic_password=PASSWORD,
        automatic_push_poll_interval=0.05,
    )


@pytest.mark.parametrize(
    ("type_id", "fields", "states"),
    [
        (
            ".servicenow",
            {"impact": None, "severity": None, "urgency": None, "category": None, "subcategory": None},
            ("1", "2", "6"),
        ),
        (
            ".servicenow-sir",
            {
                "category": None,
                "destIp": None,
                "malwareHash": None,
                "malwareUrl": None,
                "priority": None,
                "sourceIp": None,
                "subcategory": None,
            },
            ("16", "16", "3"),
        ),
    ],
    ids=["itsm", "secops"],
)
async def test_status_and_assignee_reach_servicenow(
    casepush: Api, sn: FakeServiceNow, type_id: str, fields: dict, states: tuple[str, str, str]
):
    await casepush.create_user("bob", "editor", email="bob@acme.example", full_name="Bob Builder")
    connector = await ok(
        casepush.post(
            "/api/actions/connector",
            {"name": "SN", "connector_type_id": type_id, **basic(sn, usesTableApi=True)},
        )
    )
    sync = {"push_status": True, "push_assignees": True}
    await ok(casepush.put(f"/api/casepush/connectors/{connector['id']}/case_sync", sync))
    setting = {"mode": "all", "quiet_period": 0.2}
    await ok(casepush.put(f"/api/casepush/automatic_push/cases/{connector['id']}", setting))
    named = {"id": connector["id"], "name": "SN", "type": type_id, "fields": fields}
    body = {
        "title": "Malware on laptop-7",
        "description": "A trojan.",
        "tags": [],
        "owner": "cases",
        "settings": {"syncAlerts": False},
        "assignees": [{"uid": "bob"}],
        "connector": named,
    }
    case = await ok(casepush.post("/api/cases", body))

    await casepush.pushed_automatically(case["id"], 1)
    [sys_id] = sn.incidents
    # SecOps moves an assigned Draft to Analysis by itself, which counts as open: nothing more is written.
    assert (sn.incidents[sys_id]["state"], sn.incidents[sys_id]["assigned_to"]) == (states[0], "usr-bob")

    await casepush.change_case(case["id"], status="in-progress")
    await casepush.pushed_automatically(case["id"], 2)
    assert sn.incidents[sys_id]["state"] == states[1]

    await casepush.change_case(case["id"], status="closed", assignees=[])
    await casepush.pushed_automatically(case["id"], 3)
    closed = sn.incidents[sys_id]
    assert (closed["state"], closed["assigned_to"]) == (states[2], "")
    assert closed["close_code"] and closed["close_notes"] == "Closed by casepush"
