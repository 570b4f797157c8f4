"""What the tests import: the example plugin and its fake echo service, bodies, and the kit's client and
default bodies (``casepush.testing``, shared with plugin authors) under the names the tests use."""

import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import casepush_echo
from aiohttp import web

from casepush.domain import now_iso
from casepush.plugins import PluginHost, load_plugins
from casepush.testing import FakeService
from casepush.testing.client import (  # noqa: F401
    IMPACT_FIELD,
    NONE_CONNECTOR,
    PASSWORD,
    Api,
    basic_auth,
    case_body,
    configuration_body,
)

#: A third-party plugin (its own distribution under ``example-plugin``), importable by the tests.
EXAMPLE_PLUGIN = Path(__file__).parent / "example-plugin"


async def echo_plugins() -> PluginHost:
    """Exactly the example plugin, whatever else is installed, so that tests see the same types."""
    return await load_plugins(allowed=[], extra=[casepush_echo])


# --- the example plugin's fake echo service ---------------------------------------------------

TOKEN = "s3cret-t0ken-value"


def echo_service(fake_service: Callable[[], FakeService]) -> FakeService:
    """A fake echo service: incidents numbered from 1, comments and states kept, switches to fail calls
    (``fail(status, times, path, **headers)``, ``break_all()``) and to recover, and a ``gate`` to hold
    them."""
    service = fake_service()
    incidents: dict[str, dict] = {}
    failing_with: dict[str, Any] = {"status": None, "headers": {}, "times": 0, "path": ""}

    def fail(status: int = 503, times: int = -1, path: str = "", **headers: str) -> None:
        """Answer every call (or the next ``times`` calls; only those whose path ends with ``path``) with
        ``status`` and ``headers``."""
        failing_with.update(status=status, headers=headers, times=times, path=path)

    service.fail = fail
    service.break_all = fail
    service.recover = lambda: failing_with.update(status=None)
    service.incidents = incidents
    #: Set to an unset ``asyncio.Event`` to hold every call until it is set.
    service.gate = None

    @web.middleware
    async def failing(request: web.Request, handler: Any) -> web.StreamResponse:
        if service.gate is not None:
            await service.gate.wait()
        matches = request.path.endswith(failing_with["path"])
        if failing_with["status"] is not None and failing_with["times"] != 0 and matches:
            failing_with["times"] -= 1
            status, headers = failing_with["status"], failing_with["headers"]
            return web.json_response({"error": "down"}, status=status, headers=headers)
        return await handler(request)

    service.app.middlewares.append(failing)

    events: list[dict] = []
    service.events = events

    def journal(incident_id: str, author: str | None = None, at: str | None = None, **change: Any) -> dict:
        """Record a change of an incident as the service's journal has it: by a person (``author``) or,
        without one, by the API's caller (casepush, the integration)."""
        event = {
            "id": f"ev-{len(events) + 1}",
            "incident": incident_id,
            "at": at or now_iso(),
            "author": author or "casepush integration",
            "integration": author is None,
            **change,
        }
        events.append(event)
        return event

    def person_comments(incident_id: str, text: str, author: str = "Jane Doe", **times: str) -> dict:
        """A person comments on the incident (``created``/``updated`` override the times)."""
        comment = {"id": f"c-{len(events) + 1}", "text": text, "created": now_iso(), **times}
        incidents[incident_id]["comments"].append(text)
        return journal(incident_id, author, at=comment.get("updated") or comment["created"], comment=comment)

    service.journal = journal
    service.person_comments = person_comments

    def webhook_call(sent: list[dict], secret: str, sent_at: str | None = None) -> tuple[bytes, dict]:
        """The body and headers of the service's webhook reporting ``sent`` events, signed with ``secret``."""
        body = json.dumps({"events": sent, "sent_at": sent_at or now_iso()}).encode()
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return body, {"X-Hub-Signature": f"sha256={signature}", "Content-Type": "application/json"}

    service.webhook_call = webhook_call

    @service.route("GET", "/changes")
    async def changes(request: web.Request) -> web.Response:
        """The events of these incidents after the cursor (an event's position), or since a time."""
        wanted = set(request.query["ids"].split(","))
        after = int(request.query.get("after", "0"))
        since = request.query.get("since")
        found = [
            event
            for position, event in enumerate(events, 1)
            if position > after and event["incident"] in wanted and (since is None or event["at"] >= since)
        ]
        return web.json_response({"events": found, "cursor": str(len(events))})

    def answer(incident_id: str) -> web.Response:
        incident = incidents[incident_id]
        url = f"{service.url}/browse/{incident_id}"
        return web.json_response(
            {"id": incident_id, "url": url, "updated": "2026-11-28T10:00:00.000Z", **incident}
        )

    @service.route("POST", "/incidents")
    async def create(request: web.Request) -> web.Response:
        incident_id = str(len(incidents) + 1)
        incidents[incident_id] = {**await request.json(), "comments": []}
        return answer(incident_id)

    @service.route("PUT", "/incidents/{id}")
    async def update(request: web.Request) -> web.Response:
        incidents[request.match_info["id"]].update(await request.json())
        return answer(request.match_info["id"])

    @service.route("GET", "/incidents")
    async def search(request: web.Request) -> web.Response:
        wanted = request.query.get("correlationId")
        return web.json_response(
            [
                {
                    "id": incident_id,
                    "url": f"{service.url}/browse/{incident_id}",
                    "updated": "2026-11-28T10:00:00.000Z",
                    **i,
                }
                for incident_id, i in incidents.items()
                if i.get("correlationId") == wanted
            ]
        )

    @service.route("GET", "/incidents/{id}")
    async def get(request: web.Request) -> web.Response:
        if request.match_info["id"] not in incidents:
            return web.json_response({"error": "no such incident"}, status=404)
        return answer(request.match_info["id"])

    @service.route("PUT", "/incidents/{id}/state")
    async def set_state(request: web.Request) -> web.Response:
        if request.match_info["id"] not in incidents:
            return web.json_response({"error": "no such incident"}, status=404)
        state = await request.json()
        incidents[request.match_info["id"]].update(state)
        if state.get("state"):
            journal(request.match_info["id"], state=state["state"])
        return answer(request.match_info["id"])

    @service.route("POST", "/incidents/{id}/comments")
    async def comment(request: web.Request) -> web.Response:
        text = (await request.json())["text"]
        incidents[request.match_info["id"]]["comments"].append(text)
        made = {"id": f"c-{len(events) + 1}", "text": text, "created": now_iso()}
        journal(request.match_info["id"], comment=made)
        return web.json_response({"comment_id": made["id"]})

    return service


def connector_body(url: str, **fields: Any) -> dict:
    return {
        "name": "Echo",
        "connector_type_id": ".echo",
        "config": {"url": url},
        "secrets": {"token": TOKEN},
        **fields,
    }
