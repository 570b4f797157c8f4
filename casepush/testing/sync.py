"""Helpers for testing two-way sync against a running app: a connector's sync settings, a case pushed to
it, calls of its inbound webhook as the external system makes them, polls made now, and what the case
then holds."""

import asyncio
import time
from typing import Any

from casepush.testing.client import Api, case_body


def anonymous(api: Api) -> Api:
    """The external system: no casepush credentials, no kbn-xsrf."""
    return Api(api.client, auth=None)


async def sync_settings(api: Api, connector: dict, **settings: Any) -> dict:
    """Comments come back too; the rest as ``settings`` say (the inbound secret is left out unless given)."""
    body = {"pull_comments": True, **settings}
    status, saved = await api.put(f"/api/casepush/connectors/{connector['id']}/case_sync", body)
    assert status == 200, saved
    return saved


async def pushed_case(api: Api, connector: dict, fields: dict | None = None, **case: Any) -> dict:
    """A case on the connector (with its connector ``fields``), pushed; the case as the push answers it."""
    named = {"id": connector["id"], "name": connector["name"], "type": connector["connector_type_id"]}
    status, made = await api.post("/api/cases", case_body(connector={**named, "fields": fields}, **case))
    assert status == 200, made
    status, pushed = await api.post(f"/api/cases/{made['id']}/connector/{connector['id']}/_push", {})
    assert status == 200, pushed
    return pushed


async def deliver(api: Api, connector: dict, body: bytes, headers: dict) -> tuple[int, Any]:
    """A call of the connector's inbound webhook, as the external system makes it."""
    path = f"/api/casepush/connectors/{connector['id']}/inbound"
    return await anonymous(api).post(path, body, headers=headers, xsrf=False)


async def case_now(api: Api, case_id: str) -> dict:
    status, case = await api.get(f"/api/cases/{case_id}")
    assert status == 200, case
    return case


async def actions(api: Api, case_id: str, types: str = "") -> list[dict]:
    """The case's user actions (of these comma-separated ``types``), oldest first."""
    query = "".join(f"&types={name}" for name in types.split(",") if name)
    status, found = await api.get(f"/api/cases/{case_id}/user_actions/_find?perPage=100{query}")
    assert status == 200, found
    return found["userActions"]


def user_comments(case: dict) -> list[dict]:
    return [comment for comment in case["comments"] if comment["type"] == "user"]


async def sync_state(api: Api, connector: dict) -> dict:
    status, state = await api.get(f"/api/casepush/connectors/{connector['id']}/sync_state")
    assert status == 200, state
    return state


async def polled(api: Api, connector: dict, timeout: float = 15.0) -> dict:
    """Ask for a poll now, and the sync state once it has finished."""
    before = (await sync_state(api, connector))["last_poll_at"]
    status, state = await api.post(f"/api/casepush/connectors/{connector['id']}/sync_state/_poll")
    assert status == 200, state
    deadline = time.monotonic() + timeout
    while True:
        state = await sync_state(api, connector)
        if state["last_poll_at"] not in (None, before):
            return state
        assert time.monotonic() < deadline, f"no poll finished: {state}"
        await asyncio.sleep(0.05)
