"""A client for tests: calls a casepush app as Kibana's clients do and returns ``(status, body)``.

Also the default bodies tests start from (``case_body``, ``configuration_body``).
"""

import asyncio
import base64
import time
from collections.abc import Awaitable
from typing import Any

PASSWORD = "test-password"


def basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class Api:
    """A test client that sends Kibana's headers and returns ``(status, json_or_text)``."""

    def __init__(self, client: Any, auth: str | None = basic_auth("elastic", PASSWORD)):
        self.client = client
        self.auth = auth

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict | None = None,
        xsrf: bool = True,
        **kwargs: Any,
    ) -> tuple[int, Any]:
        sent = {"kbn-xsrf": "true"} if xsrf else {}
        if self.auth:
            sent["Authorization"] = self.auth
        sent.update(headers or {})
        if body is not None and not isinstance(body, str | bytes):
            kwargs["json"] = body
        elif body is not None:
            kwargs["data"] = body
            sent.setdefault("Content-Type", "application/json")
        async with self.client.request(method, path, headers=sent, **kwargs) as response:
            text = await response.text()
            self.last_headers = response.headers
            try:
                return response.status, await response.json(content_type=None) if text else None
            except ValueError:
                return response.status, text

    async def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        return await self.request("POST", path, body, **kwargs)

    async def patch(self, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        return await self.request("PATCH", path, body, **kwargs)

    async def put(self, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        return await self.request("PUT", path, body, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        return await self.request("DELETE", path, **kwargs)

    def as_user(self, username: str, password: str = PASSWORD) -> "Api":
        """The same server, called as another user."""
        return Api(self.client, basic_auth(username, password))

    def with_api_key(self, encoded: str) -> "Api":
        return Api(self.client, f"ApiKey {encoded}")

    async def create_role(self, name: str, *kibana: dict) -> None:
        status, body = await self.put(
            f"/api/security/role/{name}", {"elasticsearch": {}, "kibana": list(kibana)}
        )
        assert status == 204, body

    async def create_user(self, username: str, *roles: str, **fields: Any) -> "Api":
        """A user with these roles (and ``PASSWORD``), and a client that calls as them."""
        body = {"password": PASSWORD, "roles": list(roles), **fields}
        status, created = await self.put(f"/_security/user/{username}", body)
        assert status == 200, created
        return self.as_user(username)

    async def create_space(self, space_id: str, **fields: Any) -> dict:
        status, space = await self.post(
            "/api/spaces/space", {"id": space_id, "name": space_id.title(), **fields}
        )
        assert status == 200, space
        return space

    async def configure(self, **fields: Any) -> dict:
        status, configuration = await self.post("/api/cases/configure", configuration_body(**fields))
        assert status == 200, configuration
        return configuration

    async def create_case(self, **fields: Any) -> dict:
        status, case = await self.post("/api/cases", case_body(**fields))
        assert status == 200, case
        return case

    async def change_case(self, case_id: str, **fields: Any) -> dict:
        """Change the case at its current version (``PATCH /api/cases``); the changed case."""
        current = await ok(self.get(f"/api/cases/{case_id}"))
        body = {"cases": [{"id": case_id, "version": current["version"], **fields}]}
        [changed] = await ok(self.patch("/api/cases", body))
        return changed

    async def pushed_automatically(self, case_id: str, pushes: int, timeout: float = 15) -> None:
        """Wait until the case's automatic pushes have succeeded ``pushes`` times in all."""
        deadline = time.monotonic() + timeout
        while True:
            found = await ok(self.get(f"/api/cases/{case_id}/user_actions/_find?types=pushed"))
            automatic = await ok(self.get(f"/api/casepush/cases/{case_id}/automatic_push"))
            state = automatic["automatic_pushes"][0]
            if found["total"] == pushes and state["state"] == "idle":
                assert state["last_outcome"] == "success", state
                return
            assert time.monotonic() < deadline, state
            await asyncio.sleep(0.05)

    async def execute(self, connector_id: str, sub_action: str, params: dict | None) -> dict:
        """The answer of ``_execute`` with a sub-action and its params (a 200, whatever the outcome)."""
        body = {"params": {"subAction": sub_action, "subActionParams": params}}
        status, result = await self.post(f"/api/actions/connector/{connector_id}/_execute", body)
        assert status == 200, result
        return result

    async def executed(self, connector_id: str, sub_action: str, params: dict | None) -> Any:
        """The ``data`` of a sub-action that succeeded."""
        result = await self.execute(connector_id, sub_action, params)
        assert result["status"] == "ok", result.get("service_message", result)
        return result["data"]

    async def execution_failed(self, connector_id: str, sub_action: str, params: dict | None) -> str:
        """The service message of a sub-action that failed in the external system."""
        result = await self.execute(connector_id, sub_action, params)
        expected = ("error", "an error occurred while running the action", True)
        assert (result["status"], result["message"], result["retry"]) == expected, result
        return result["service_message"]


async def ok(call: Awaitable[tuple[int, Any]]) -> Any:
    """The body of a call that must answer 200: ``await ok(api.get(path))``."""
    status, body = await call
    assert status == 200, body
    return body


NONE_CONNECTOR = {"id": "none", "name": "none", "type": ".none", "fields": None}
IMPACT_FIELD = {"key": "impact", "label": "Impact", "type": "text", "required": False}


def configuration_body(**fields: Any) -> dict:
    body = {"closure_type": "close-by-user", "connector": NONE_CONNECTOR, "owner": "cases"}
    body.update(fields)
    return body


def case_body(**fields: Any) -> dict:
    body = {
        "title": "Suspicious login",
        "description": "Several failed logins followed by a success.",
        "tags": ["auth", "triage"],
        "connector": NONE_CONNECTOR,
        "settings": {"syncAlerts": False},
        "owner": "cases",
    }
    body.update(fields)
    return body
