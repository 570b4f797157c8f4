"""A suite every connector type should pass, run against the type's own fake external system.

Subclass ``ConnectorContract`` in a test module (its name must start with ``Test``), set
``casepush_plugins`` to load your plugin, and provide these fixtures:

- ``contract_type_id``: the connector type's id, e.g. ``".jira"``;
- ``contract_connector``: ``{"config": ..., "secrets": ...}`` of a connector that reaches your fake
  service (make the service with the ``fake_service`` fixture);
- ``contract_push_params``: a function ``(external_id, comments) -> subActionParams`` of
  ``pushToService``, where ``comments`` is a list of ``(comment_id, text)``;
- ``contract_break``: a function that makes the fake service fail every later call.

A type that pushes a case's status or assignees (``pushes_state``) needs a fake service that takes them
(its workflow's states, a user with the email ``assignee@example.com``).

A type that brings changes back (two-way sync: ``pulls``) is checked for idempotence and echo
suppression, and needs:

- ``contract_external_comment``: a function ``(external_id, text)`` (or a coroutine function) by which a
  person, not the connector's account, comments on the incident in your fake service; and when the type
  takes inbound webhook calls,
- ``contract_inbound_call``: a function ``(external_id, text, secret) -> (body, headers)`` of the call
  your system would make to report that person's new comment, signed (or carrying a token) with
  ``secret``.

Both are plain fixtures (not ``async def``: the kit asks for them only where the type needs them); the
functions they return may be coroutine functions. Override ``contract_case_fields`` when a case on your
type needs connector fields.
"""

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from casepush.config import Settings
from casepush.plugins import await_me_maybe
from casepush.testing.browser import browsing
from casepush.testing.client import Api, case_body
from casepush.testing.database import StoredData
from casepush.testing.sync import case_now, deliver, polled, user_comments


def _typed(value: Any) -> str | None:
    """What a person types into the form's input for a value (None: leave it empty)."""
    if value is None or value is False:
        return None
    if value is True:
        return "on"
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _secret_values(secrets: Any) -> list[str]:
    if isinstance(secrets, dict):
        return [v for value in secrets.values() for v in _secret_values(value)]
    if isinstance(secrets, list):
        return [v for value in secrets for v in _secret_values(value)]
    return [secrets] if isinstance(secrets, str) and len(secrets) >= 4 else []


class ConnectorContract:
    # Its tests run in pytest-asyncio's strict mode (its default) as in auto mode.
    pytestmark = [pytest.mark.asyncio]

    async def _create(self, casepush: Api, contract_type_id: str, contract_connector: dict) -> dict:
        body = {"name": "Contract", "connector_type_id": contract_type_id, **contract_connector}
        status, connector = await casepush.post("/api/actions/connector", body)
        assert status == 200, connector
        return connector

    async def _push(self, casepush: Api, connector_id: str, params: dict) -> dict:
        body = {"params": {"subAction": "pushToService", "subActionParams": params}}
        status, result = await casepush.post(f"/api/actions/connector/{connector_id}/_execute", body)
        assert status == 200, result
        return result

    async def test_type_is_listed_for_cases(self, casepush: Api, contract_type_id: str) -> None:
        status, types = await casepush.get("/api/actions/connector_types?feature_id=cases")
        assert status == 200
        assert contract_type_id in [t["id"] for t in types]

    async def test_no_answer_carries_a_secret(
        self, casepush: Api, contract_type_id: str, contract_connector: dict
    ) -> None:
        connector = await self._create(casepush, contract_type_id, contract_connector)
        assert "secrets" not in connector
        assert connector["is_missing_secrets"] is False
        answers = [connector]
        for path in (f"/api/actions/connector/{connector['id']}", "/api/actions/connectors"):
            status, answer = await casepush.get(path)
            assert status == 200
            answers.append(answer)
        text = repr(answers)
        for secret in _secret_values(contract_connector["secrets"]):
            assert secret not in text

    async def test_secrets_are_not_stored_in_clear(
        self, casepush: Api, casepush_settings: Settings, contract_type_id: str, contract_connector: dict
    ) -> None:
        await self._create(casepush, contract_type_id, contract_connector)
        stored = await StoredData(casepush_settings).everything()
        for secret in _secret_values(contract_connector["secrets"]):
            assert secret.encode() not in stored

    async def test_push_creates_then_updates_the_same_incident(
        self,
        casepush: Api,
        contract_type_id: str,
        contract_connector: dict,
        contract_push_params: Callable[[str | None, list[tuple[str, str]]], dict],
    ) -> None:
        connector = await self._create(casepush, contract_type_id, contract_connector)
        created = await self._push(casepush, connector["id"], contract_push_params(None, []))
        assert created["status"] == "ok", created
        assert {"id", "title", "url", "pushedDate"} <= set(created["data"])
        external_id = created["data"]["id"]
        updated = await self._push(
            casepush, connector["id"], contract_push_params(external_id, [("c1", "A note")])
        )
        assert updated["status"] == "ok", updated
        assert updated["data"]["id"] == external_id
        assert [c["commentId"] for c in updated["data"].get("comments", [])] == ["c1"]

    async def test_a_case_push_creates_then_updates_through_the_type(
        self, casepush: Api, contract_type_id: str, contract_connector: dict
    ) -> None:
        connector = await self._create(casepush, contract_type_id, contract_connector)
        status, case = await casepush.post("/api/cases", case_body())
        assert status == 200, case
        path = f"/api/cases/{case['id']}/connector/{connector['id']}/_push"
        status, first = await casepush.post(path, {})
        assert status == 200, first
        external_id = first["external_service"]["external_id"]
        status, again = await casepush.post(path, {})
        assert status == 200, again
        assert again["external_service"]["external_id"] == external_id

    async def test_a_failing_service_is_an_error_answer_without_secrets(
        self,
        casepush: Api,
        contract_type_id: str,
        contract_connector: dict,
        contract_push_params: Callable[[str | None, list[tuple[str, str]]], dict],
        contract_break: Callable[[], None],
    ) -> None:
        connector = await self._create(casepush, contract_type_id, contract_connector)
        contract_break()
        result = await self._push(casepush, connector["id"], contract_push_params(None, []))
        assert result["status"] == "error"
        assert result["service_message"]
        for secret in _secret_values(contract_connector["secrets"]):
            assert secret not in repr(result)

    async def test_the_web_ui_makes_the_connector_from_the_types_form(
        self, casepush: Api, contract_type_id: str, contract_connector: dict
    ) -> None:
        fields = {
            f"{part}.{key}": value
            for part in ("config", "secrets")
            for key, value in contract_connector[part].items()
        }
        async with browsing(casepush) as person:
            await person.login()
            form = await person.get(f"/app/connectors/new?type={contract_type_id}")
            for name in fields:
                assert f'name="{name}"' in form.text, f"the form has no input {name}"
            for name in (name for name in fields if name.startswith("secrets.")):
                shown_as = rf'name="{re.escape(name)}"[^>]*type="password"'
                assert re.search(shown_as, form.text), f"{name} is shown"
            typed = form.checked_boxes  # what the person leaves as the form shows it
            for name, value in fields.items():
                typed.pop(name, None)
                if (shown := _typed(value)) is not None:
                    typed[name] = shown
            body = {"connector_type_id": contract_type_id, "name": "From the form", **typed}
            done = (await person.post("/app/connectors/new", body)).text
        assert "Connector From the form created." in done
        made_by_api = await self._create(casepush, contract_type_id, contract_connector)
        _, connectors = await casepush.get("/api/actions/connectors")
        [made_by_form] = [c for c in connectors if c["name"] == "From the form"]
        assert made_by_form["config"] == made_by_api["config"]
        for secret in _secret_values(contract_connector["secrets"]):
            assert secret not in done

    async def test_a_config_without_its_fields_is_refused(self, casepush: Api, contract_type_id: str) -> None:
        body = {"name": "Empty", "connector_type_id": contract_type_id, "config": {}, "secrets": {}}
        status, answer = await casepush.post("/api/actions/connector", body)
        assert status == 400
        assert answer["message"].startswith("error validating action type ")
        status, connectors = await casepush.get("/api/actions/connectors")
        assert connectors == []

    async def test_the_state_it_can_push_is_declared_and_taken(
        self, casepush: Api, contract_type_id: str, contract_connector: dict
    ) -> None:
        """What the type says it can push beyond Kibana's fields (``pushes_state``) is what its case sync
        settings accept, with its ``state_options`` defaults; asked for, a push sends it without a
        ``Warning`` (a type that pushes nothing more is refused any of it)."""
        connector = await self._create(casepush, contract_type_id, contract_connector)
        path = f"/api/casepush/connectors/{connector['id']}/case_sync"
        status, sync = await casepush.get(path)
        assert status == 200, sync
        pushable = set(sync["pushable"])
        assert pushable <= {"status", "assignees"}
        wanted = {"push_status": "status" in pushable, "push_assignees": "assignees" in pushable}
        status, saved = await casepush.put(path, {**wanted, "options": sync["options"]})
        assert status == 200, saved
        assert saved["options"] == sync["options"]  # the defaults, as the type's options take them
        for name in {"status", "assignees"} - pushable:
            status, refused = await casepush.put(path, {f"push_{name}": True})
            assert status == 400, refused
        if not pushable:
            return
        await casepush.create_user("contract-assignee", "editor", email="assignee@example.com")
        status, case = await casepush.post("/api/cases", case_body(assignees=[{"uid": "contract-assignee"}]))
        assert status == 200, case
        push = f"/api/cases/{case['id']}/connector/{connector['id']}/_push"
        for status_now in ("open", "in-progress", "closed"):
            if status_now != "open":
                status, current = await casepush.get(f"/api/cases/{case['id']}")
                patch = {"cases": [{"id": case["id"], "version": current["version"], "status": status_now}]}
                assert (await casepush.patch("/api/cases", patch))[0] == 200
            status, pushed = await casepush.post(push, {})
            assert status == 200, pushed
            assert "Warning" not in casepush.last_headers, casepush.last_headers["Warning"]

    # --- two-way sync ---------------------------------------------------------------------------------

    @pytest.fixture
    def contract_case_fields(self) -> dict | None:
        """The connector fields of a case on the type (None: the type's defaults)."""
        return None

    async def _pushed_case(
        self, casepush: Api, connector: dict, fields: dict | None, sync: dict
    ) -> tuple[dict, str]:
        """A case on the connector with one comment, pushed, after ``sync`` settings were saved; and the
        incident's id."""
        status, saved = await casepush.put(f"/api/casepush/connectors/{connector['id']}/case_sync", sync)
        assert status == 200, saved
        named = {"id": connector["id"], "name": connector["name"], "type": connector["connector_type_id"]}
        status, case = await casepush.post("/api/cases", case_body(connector={**named, "fields": fields}))
        assert status == 200, case
        comment = {"type": "user", "comment": "Pushed by casepush.", "owner": "cases"}
        assert (await casepush.post(f"/api/cases/{case['id']}/comments", comment))[0] == 200
        status, pushed = await casepush.post(f"/api/cases/{case['id']}/connector/{connector['id']}/_push", {})
        assert status == 200, pushed
        return pushed, pushed["external_service"]["external_id"]

    async def _case_sync(self, casepush: Api, connector: dict) -> dict:
        status, sync = await casepush.get(f"/api/casepush/connectors/{connector['id']}/case_sync")
        assert status == 200, sync
        return sync

    async def _assert_imported_once(self, casepush: Api, case_id: str, type_name: str) -> None:
        ours, theirs = user_comments(await case_now(casepush, case_id))
        assert ours["comment"] == "Pushed by casepush."  # and not brought back: the only other is theirs
        assert theirs["comment"] == "Written in the external system."
        assert theirs["created_by"]["username"] is None
        assert theirs["created_by"]["full_name"].endswith(f"({type_name})")

    async def test_a_polled_comment_comes_back_once_and_a_pushed_one_never(
        self,
        casepush: Api,
        request: pytest.FixtureRequest,
        contract_type_id: str,
        contract_connector: dict,
        contract_case_fields: dict | None,
    ) -> None:
        connector = await self._create(casepush, contract_type_id, contract_connector)
        sync = await self._case_sync(casepush, connector)
        if not sync["polls"] or "comments" not in sync["pullable"]:
            pytest.skip("the type polls no comments")
        make_comment = _needed(request, "contract_external_comment")
        settings = {"pull_comments": True, "poll_interval": 60}
        case, external_id = await self._pushed_case(casepush, connector, contract_case_fields, settings)
        await await_me_maybe(make_comment(external_id, "Written in the external system."))

        for _ in range(3):  # overlapping polls see the same changes: each is applied once
            state = await polled(casepush, connector)
            assert state["last_poll_error"] is None, state

        await self._assert_imported_once(casepush, case["id"], await self._type_name(casepush, sync))

    async def test_an_inbound_comment_comes_back_once_and_an_unsigned_call_is_refused(
        self,
        casepush: Api,
        request: pytest.FixtureRequest,
        contract_type_id: str,
        contract_connector: dict,
        contract_case_fields: dict | None,
    ) -> None:
        connector = await self._create(casepush, contract_type_id, contract_connector)
        sync = await self._case_sync(casepush, connector)
        if not sync["receives"] or "comments" not in sync["pullable"]:
            pytest.skip("the type takes no inbound calls with comments")
        inbound_call = _needed(request, "contract_inbound_call")
        secret = "contract-inbound-secret-0123456789"
        settings = {"pull_comments": True, "inbound_secret": secret}
        case, external_id = await self._pushed_case(casepush, connector, contract_case_fields, settings)
        body, headers = await await_me_maybe(
            inbound_call(external_id, "Written in the external system.", secret)
        )
        unsigned = {k: v for k, v in headers.items() if k.lower() in ("content-type",)}
        status, refused = await deliver(casepush, connector, body, unsigned)
        assert status == 401, refused
        assert len(user_comments(await case_now(casepush, case["id"]))) == 1
        answers = [await deliver(casepush, connector, body, headers) for _ in range(3)]

        assert [(status, answer["applied"]) for status, answer in answers] == [(200, 1), (200, 0), (200, 0)]
        await self._assert_imported_once(casepush, case["id"], await self._type_name(casepush, sync))

    async def _type_name(self, casepush: Api, sync: dict) -> str:
        status, types = await casepush.get("/api/actions/connector_types")
        assert status == 200, types
        return next(t["name"] for t in types if t["id"] == sync["connector_type_id"])


def _needed(request: pytest.FixtureRequest, name: str) -> Any:
    try:
        return request.getfixturevalue(name)
    except pytest.FixtureLookupError:
        pytest.fail(
            f"the type brings changes back: provide the {name} fixture (see casepush.testing.contract)"
        )
