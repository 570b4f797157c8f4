"""A client for tests: calls a casepush app as Kibana's clients do and returns ``(status, body)``.

Also the default bodies tests start from (``case_body``, ``configuration_body``).
"""

import asyncio
import base64
import time
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

    async def sync_state(self, connector_id: str) -> dict:
        """The connector's two-way sync state (its last inbound call and poll, changes applied)."""
        status, state = await self.get(f"/api/casepush/connectors/{connector_id}/sync_state")
        assert status == 200, state
        return state

    async def polled(self, connector_id: str, timeout: float = 10.0) -> dict:
        """Ask for a poll of the connector's system now, and its sync state once the poll has finished."""
        before = (await self.sync_state(connector_id))["last_poll_at"]
        status, state = await self.post(f"/api/casepush/connectors/{connector_id}/sync_state/_poll")
        assert status == 200, state
        deadline = time.monotonic() + timeout
        while True:
            state = await self.sync_state(connector_id)
            if state["last_poll_at"] not in (None, before):
                return state
            assert time.monotonic() < deadline, f"no poll finished: {state}"
            await asyncio.sleep(0.05)


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
