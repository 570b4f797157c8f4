"""The plugin host: a third-party distribution installed with pip, ``CASEPUSH_LOAD_PLUGINS``, hooks
without a spec, sync and async hooks, the push broadcasts, and the guide that documents every hook."""

import asyncio
import inspect
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import casepush_echo
import pytest
from aiohttp import web

from casepush import hookimpl, hookspecs
from casepush.connectors import ConnectorType
from casepush.plugins import PluginError, load_plugins
from casepush.testing import Api
from tests.helpers import case_body, echo_service
from tests.processes import call, start_with_plugins, stop

GUIDE = Path(__file__).parent.parent / "docs" / "writing-a-connector.md"


def echo_connector(url: str) -> dict:
    """The body that creates an echo connector of the service at ``url``."""
    return {"name": "Echo", "connector_type_id": ".echo", "config": {"url": url}, "secrets": {"token": "t"}}


def environment(site: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEPUSH_")}
    return {**env, "PYTHONPATH": str(site), **settings}


def test_casepush_plugins_lists_an_installed_distribution(installed_echo):
    shown = subprocess.run(
        [sys.executable, "-m", "casepush", "plugins"],
        env=environment(installed_echo),
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0, shown.stderr
    # Beside whatever else this environment has installed (the bundled plugins, say).
    assert "casepush-echo 1.2.3: .echo" in shown.stdout.splitlines()
    limited = subprocess.run(
        [sys.executable, "-m", "casepush", "plugins"],
        env=environment(installed_echo, CASEPUSH_LOAD_PLUGINS="casepush-nothing"),
        capture_output=True,
        text=True,
    )
    assert limited.stdout.strip() == "No plugins installed."


async def test_an_installed_plugin_provides_its_type_until_load_plugins_leaves_it_out(
    installed_echo, settings, aiohttp_server
):
    async def incident(request: web.Request) -> web.Response:
        return web.json_response({"id": request.match_info["id"]})

    external = web.Application()
    external.router.add_get("/incidents/{id}", incident)
    fake = await aiohttp_server(external)
    process, url = await start_with_plugins(installed_echo, settings, CASEPUSH_LOAD_PLUGINS="casepush-echo")
    try:
        _, types = await call(url, "GET", "/api/actions/connector_types")
        assert [t["id"] for t in types] == [".echo"]
        body = echo_connector(str(fake.make_url("")))
        status, connector = await call(url, "POST", "/api/actions/connector", body)
        assert status == 200, connector
        params = {"subAction": "getIncident", "subActionParams": {"externalId": "42"}}
        status, result = await call(
            url, "POST", f"/api/actions/connector/{connector['id']}/_execute", {"params": params}
        )
        assert (status, result["status"], result["data"]) == (200, "ok", {"id": "42"})
    finally:
        await stop(process)
    process, url = await start_with_plugins(
        installed_echo, settings, CASEPUSH_LOAD_PLUGINS="casepush-nothing"
    )
    try:
        assert await call(url, "GET", "/api/actions/connector_types") == (200, [])
        status, body = await call(url, "POST", "/api/actions/connector", body)
        assert (status, body["message"]) == (400, 'Action type ".echo" is not registered.')
    finally:
        await stop(process)


async def test_a_server_killed_after_the_external_create_does_not_create_twice(
    installed_echo, settings, fake_service
):
    echo = echo_service(fake_service)
    await echo.start()
    process, url = await start_with_plugins(
        installed_echo, settings, CASEPUSH_PUSH_LEASE="1", ECHO_CRASH_AFTER_CREATE="1"
    )
    body = echo_connector(echo.url)
    _, connector = await call(url, "POST", "/api/actions/connector", body)
    _, case = await call(url, "POST", "/api/cases", case_body())
    push_path = f"/api/cases/{case['id']}/connector/{connector['id']}/_push"
    with pytest.raises(aiohttp.ClientError):
        await call(url, "POST", push_path, {})
    assert await process.wait() == 9
    assert len(echo.incidents) == 1

    process, url = await start_with_plugins(installed_echo, settings, CASEPUSH_PUSH_LEASE="1")
    try:
        status, pushed = await call(url, "POST", push_path, {})
    finally:
        await stop(process)

    assert (status, pushed["external_service"]["external_id"]) == (200, "1")
    assert len(echo.incidents) == 1
    assert [r.method for r in echo.requests][-2:] == ["GET", "PUT"]


# --- the host ----------------------------------------------------------------------------------------------


class UnknownHook:
    @hookimpl
    def register_connector_kinds(self):
        return []


class WrongArguments:
    @hookimpl
    def transform_case(self, connector, case, mood):
        return None


@pytest.mark.parametrize(
    "plugin", [UnknownHook(), WrongArguments()], ids=["unknown-hook", "unknown-argument"]
)
async def test_a_hook_implementation_without_a_spec_is_refused_at_start(plugin):
    with pytest.raises(PluginError):
        await load_plugins(allowed=[], extra=[plugin])


class SecondEcho:
    @hookimpl
    def register_connector_types(self):
        return [
            ConnectorType(
                id=".echo",
                name="Another echo",
                config=casepush_echo.EchoConfig,
                secrets=casepush_echo.EchoSecrets,
            )
        ]


async def test_a_type_registered_twice_is_refused_at_start():
    with pytest.raises(PluginError, match=r"connector type \.echo is registered by two plugins"):
        await load_plugins(allowed=[], extra=[casepush_echo, SecondEcho()])


class Listener:
    """Hears every push; its sync ``before_push`` and async ``after_push`` show both kinds work."""

    def __init__(self) -> None:
        self.heard: list[tuple] = []

    @hookimpl
    def before_push(self, connector, params):
        self.heard.append(("before", connector.id, params.incident.title))

    @hookimpl
    async def after_push(self, connector, incident, error):
        self.heard.append(("after", connector.id, incident.id if incident else None, error))


class FailingListener:
    @hookimpl
    def before_push(self, connector):
        raise RuntimeError("listener broke")


@pytest.fixture
def listener() -> Listener:
    return Listener()


@pytest.fixture
def casepush_plugins(listener) -> list[object]:
    return [casepush_echo, listener, FailingListener()]


async def test_every_plugin_hears_before_and_after_a_push_and_a_failing_listener_stops_nothing(
    casepush: Api, listener: Listener, fake_service
):
    service = fake_service()

    @service.route("POST", "/incidents")
    async def created(request: web.Request) -> web.Response:
        return web.json_response({"id": "7", "title": "t", "url": "u", "updated": "2026-11-28T00:00:00Z"})

    await service.start()
    body = echo_connector(service.url)
    _, connector = await casepush.post("/api/actions/connector", body)

    async def push(incident: dict) -> dict:
        params = {"subAction": "pushToService", "subActionParams": {"incident": incident}}
        status, result = await casepush.post(
            f"/api/actions/connector/{connector['id']}/_execute", {"params": params}
        )
        assert status == 200
        return result

    assert (await push({"title": "Pushed title"}))["status"] == "ok"
    # The fake service has no update route: the second push fails.
    assert (await push({"title": "Again", "externalId": "7"}))["status"] == "error"
    assert listener.heard == [
        ("before", connector["id"], "Pushed title"),
        ("after", connector["id"], "7", None),
        ("before", connector["id"], "Again"),
        ("after", connector["id"], None, "[Action][Echo]: Unable to PUT /incidents/7. Status: 404"),
    ]


class AsyncRegisteredEcho:
    """The example plugin, its type registered by an ``async def`` hook, as the hookspecs allow."""

    @hookimpl
    async def register_connector_types(self) -> list[ConnectorType]:
        await asyncio.sleep(0)  # a real suspension: only an awaited hook gets past it
        return [casepush_echo.ECHO]

    transform_case = staticmethod(casepush_echo.transform_case)
    push_to_service = staticmethod(casepush_echo.push_to_service)


class TestAnAsyncRegistration:
    @pytest.fixture
    def casepush_plugins(self) -> list[object]:
        return [AsyncRegisteredEcho()]

    async def test_its_type_is_listed_and_a_connector_of_it_pushes_a_case(self, casepush: Api, fake_service):
        echo = echo_service(fake_service)
        await echo.start()

        status, types = await casepush.get("/api/actions/connector_types")
        assert (status, [t["id"] for t in types]) == (200, [".echo"])
        body = echo_connector(echo.url)
        status, connector = await casepush.post("/api/actions/connector", body)
        assert status == 200, connector
        case = await casepush.create_case()
        status, pushed = await casepush.post(f"/api/cases/{case['id']}/connector/{connector['id']}/_push", {})

        assert status == 200, pushed
        assert pushed["external_service"]["external_id"] == "1"
        assert echo.incidents["1"]["title"] == case["title"]


# --- the guide ---------------------------------------------------------------------------------------------


def hookspec_signatures() -> dict[str, str]:
    """``name(arg, ...)`` of every hookspec, as the guide must show it."""
    found = {}
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction):
        if hasattr(function, "casepush_spec"):
            found[name] = f"{name}({', '.join(inspect.signature(function).parameters)})"
    return found


def test_every_hook_is_documented_in_the_plugin_guide():
    guide = GUIDE.read_text()
    signatures = hookspec_signatures()
    assert len(signatures) >= 6
    missing = [signature for signature in signatures.values() if f"### {signature}" not in guide]
    assert missing == []
