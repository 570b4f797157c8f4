"""The connectors of a case and their push state: ``GET /internal/cases/{case_id}/_connectors``."""

import asyncio
import dataclasses
from typing import Any

import casepush_echo
import msgspec
import pytest

from casepush import hookimpl
from casepush.app import create_app
from casepush.config import PreconfiguredConnector, Settings
from casepush.plugins import load_plugins
from tests.helpers import NONE_CONNECTOR, TOKEN, Api, connector_body

NEVER_PUSHED = {"needsToBePushed": True, "hasBeenPushed": False}


class HiveFields(msgspec.Struct, forbid_unknown_fields=True):
    tlp: int | None = None


class Hive:
    """A ``.thehive`` stand-in: the echo type with connector fields. For this type Kibana also counts
    severity and status changes as needing a push."""

    @hookimpl
    def register_connector_types(self) -> list:
        return [dataclasses.replace(casepush_echo.ECHO, id=".thehive", name="TheHive", fields=HiveFields)]

    @hookimpl
    def transform_case(self, connector: Any, case: Any) -> Any:
        return casepush_echo.transform_case(connector, case)

    @hookimpl
    async def push_to_service(self, connector: Any, params: Any, http: Any) -> Any:
        return await casepush_echo.push_to_service(connector, params, http)


@pytest.fixture
async def api(aiohttp_client, settings: Settings) -> Api:
    """The app with the echo type and the ``.thehive`` stand-in."""
    plugins = await load_plugins(allowed=[], extra=[casepush_echo, Hive()])
    return Api(await aiohttp_client(create_app(settings, announce=print, plugins=plugins)))


async def make_connector(api: Api, echo, connector_id: str = "", prefix: str = "", **fields: Any) -> dict:
    path = f"{prefix}/api/actions/connector" + (f"/{connector_id}" if connector_id else "")
    status, made = await api.post(path, connector_body(echo.url, **fields))
    assert status == 200, made
    return made


def naming(connector: dict, fields: dict | None = None) -> dict:
    """The case connector that names ``connector``."""
    return {
        "id": connector["id"],
        "name": connector["name"],
        "type": connector["connector_type_id"],
        "fields": fields,
    }


def entry(connector: dict, push: dict, fields: dict | None = None, name: str | None = None) -> dict:
    return {
        "push": push,
        "id": connector["id"],
        "type": connector["connector_type_id"],
        "fields": fields,
        "name": name or connector["name"],
    }


async def create_case(api: Api, connector: dict, prefix: str = "") -> dict:
    body = {
        "title": "Suspicious login",
        "description": "Several failed logins followed by a success.",
        "tags": ["auth"],
        "connector": connector,
        "settings": {"syncAlerts": False},
        "owner": "cases",
    }
    status, case = await api.post(f"{prefix}/api/cases", body)
    assert status == 200, case
    return case


async def patch_case(api: Api, case_id: str, **fields: Any) -> None:
    _, case = await api.get(f"/api/cases/{case_id}")
    status, body = await api.patch(
        "/api/cases", {"cases": [{"id": case_id, "version": case["version"], **fields}]}
    )
    assert status == 200, body


async def connectors_of(api: Api, case_id: str, prefix: str = "") -> dict:
    status, found = await api.get(f"{prefix}/internal/cases/{case_id}/_connectors")
    assert status == 200, found
    return found


async def push(api: Api, case_id: str, connector_id: str) -> None:
    await tick()
    status, case = await api.post(f"/api/cases/{case_id}/connector/{connector_id}/_push", {})
    assert status == 200, case
    await tick()


async def tick() -> None:
    """Kibana compares user action times to the millisecond: let one pass between steps that it orders."""
    await asyncio.sleep(0.002)


async def pushed_actions(api: Api, case_id: str) -> list[dict]:
    status, found = await api.get(f"/api/cases/{case_id}/user_actions/_find?types=pushed&perPage=100")
    assert status == 200, found
    return found["userActions"]


# --- never pushed ---------------------------------------------------------------------------------------


async def test_a_case_lists_the_connector_it_was_created_with_as_never_pushed(api, echo):
    connector = await make_connector(api, echo)
    case = await create_case(api, naming(connector))

    found = await connectors_of(api, case["id"])

    assert found == {connector["id"]: entry(connector, NEVER_PUSHED)}
    assert list(found[connector["id"]]) == ["push", "id", "type", "fields", "name"]
    assert list(found[connector["id"]]["push"]) == ["needsToBePushed", "hasBeenPushed"]


async def test_the_none_connector_is_never_listed(api, echo):
    connector = await make_connector(api, echo)
    case = await create_case(api, NONE_CONNECTOR)
    assert await connectors_of(api, case["id"]) == {}

    await patch_case(api, case["id"], connector=naming(connector))
    await patch_case(api, case["id"], connector=NONE_CONNECTOR)

    assert list(await connectors_of(api, case["id"])) == [connector["id"]]


async def test_every_connector_ever_named_is_listed_in_kibanas_order(api, echo):
    """Most often named first, then by id; JavaScript puts array-index keys such as "7" before all."""
    zulu, alpha, seven = [await make_connector(api, echo, i, name=i) for i in ("zulu", "alpha", "7")]
    case = await create_case(api, naming(zulu))
    for connector in (alpha, zulu, seven):
        await patch_case(api, case["id"], connector=naming(connector))

    found = await connectors_of(api, case["id"])

    assert list(found) == ["7", "zulu", "alpha"]
    assert found["alpha"] == entry(alpha, NEVER_PUSHED)


async def test_fields_come_from_the_newest_connector_user_action(api, echo):
    hive = await make_connector(api, echo, connector_type_id=".thehive", name="Hive")
    case = await create_case(api, naming(hive, {"tlp": 1}))
    assert (await connectors_of(api, case["id"]))[hive["id"]]["fields"] == {"tlp": 1}

    await patch_case(api, case["id"], connector=naming(hive, {"tlp": 3}))

    found = await connectors_of(api, case["id"])
    assert found == {hive["id"]: entry(hive, NEVER_PUSHED, fields={"tlp": 3})}


async def test_the_name_is_the_connectors_current_one(api, echo):
    connector = await make_connector(api, echo, name="Before")
    case = await create_case(api, naming(connector))

    status, _ = await api.put(
        f"/api/actions/connector/{connector['id']}",
        {"name": "After", "config": {"url": echo.url}, "secrets": {"token": TOKEN}},
    )

    assert status == 200
    assert (await connectors_of(api, case["id"]))[connector["id"]]["name"] == "After"


async def test_once_one_connector_is_deleted_every_connector_shows_its_stored_name(api, echo):
    """Kibana looks the connectors up all at once, and one missing loses the current names of all."""
    kept = await make_connector(api, echo, name="Kept")
    gone = await make_connector(api, echo, name="Gone")
    case = await create_case(api, naming(kept))
    await patch_case(api, case["id"], connector=naming(gone))
    await api.put(
        f"/api/actions/connector/{kept['id']}",
        {"name": "Renamed", "config": {"url": echo.url}, "secrets": {"token": TOKEN}},
    )
    assert (await connectors_of(api, case["id"]))[kept["id"]]["name"] == "Renamed"

    assert (await api.delete(f"/api/actions/connector/{gone['id']}"))[0] == 204

    found = await connectors_of(api, case["id"])
    assert found == {kept["id"]: entry(kept, NEVER_PUSHED), gone["id"]: entry(gone, NEVER_PUSHED)}


async def test_a_reader_without_connector_privileges_sees_the_stored_names(api, echo):
    connector = await make_connector(api, echo, name="Stored")
    case = await create_case(api, naming(connector))
    await api.put(
        f"/api/actions/connector/{connector['id']}",
        {"name": "Live", "config": {"url": echo.url}, "secrets": {"token": TOKEN}},
    )
    await api.create_role("reader", {"spaces": ["*"], "base": [], "feature": {"generalCases": ["read"]}})
    reader = await api.create_user("reader", "reader")

    found = await connectors_of(reader, case["id"])

    assert found == {connector["id"]: entry(connector, NEVER_PUSHED, name="Stored")}


async def test_a_preconfigured_connector_is_named_from_the_settings(api_with, echo):
    declared = PreconfiguredConnector(
        connector_type_id=".echo", name="Shared echo", config={"url": echo.url}, secrets={"token": TOKEN}
    )
    api = await api_with(preconfigured={"shared": declared})
    case = await create_case(
        api, {"id": "shared", "name": "As the case says", "type": ".echo", "fields": None}
    )

    found = await connectors_of(api, case["id"])

    assert found["shared"]["name"] == "Shared echo"


async def test_an_unknown_case_is_kibanas_404(api):
    assert await api.get("/internal/cases/nope/_connectors") == (
        404,
        {"statusCode": 404, "error": "Not Found", "message": "Saved object [cases/nope] not found"},
    )


async def test_reading_needs_read_on_the_cases_owner(api, echo):
    connector = await make_connector(api, echo)
    case = await create_case(api, naming(connector))
    features = {"observabilityCases": ["all"], "actions": ["all"]}
    await api.create_role("elsewhere", {"spaces": ["*"], "base": [], "feature": features})
    outsider = await api.create_user("outsider", "elsewhere")

    status, body = await outsider.get(f"/internal/cases/{case['id']}/_connectors")

    assert (status, body["message"]) == (403, 'Unauthorized to access user actions with owners: "cases"')


async def test_a_case_is_found_only_in_its_space_with_that_spaces_connectors(api, echo):
    await api.create_space("ops")
    connector = await make_connector(api, echo, prefix="/s/ops", name="Ops echo")
    case = await create_case(api, naming(connector), prefix="/s/ops")

    found = await connectors_of(api, case["id"], prefix="/s/ops")

    assert found == {connector["id"]: entry(connector, NEVER_PUSHED)}
    status, body = await api.get(f"/internal/cases/{case['id']}/_connectors")
    assert (status, body["message"]) == (404, f"Saved object [cases/{case['id']}] not found")


# --- pushed ---------------------------------------------------------------------------------------------


async def test_after_a_push_the_connector_has_been_pushed_with_the_push_details(api, echo):
    connector = await make_connector(api, echo)
    case = await create_case(api, naming(connector))
    await push(api, case["id"], connector["id"])
    (pushed,) = await pushed_actions(api, case["id"])

    found = await connectors_of(api, case["id"])

    service = pushed["payload"]["externalService"]
    details = {
        "latestUserActionPushDate": pushed["created_at"],
        "oldestUserActionPushDate": pushed["created_at"],
        "externalService": {
            "connector_id": connector["id"],
            "pushed_at": service["pushed_at"],
            "pushed_by": service["pushed_by"],
            "connector_name": "Echo",
            "external_id": "1",
            "external_title": "Suspicious login",
            "external_url": f"{echo.url}/browse/1",
        },
    }
    push_state = {"needsToBePushed": False, "hasBeenPushed": True, "details": details}
    assert found == {connector["id"]: entry(connector, push_state)}
    assert list(found[connector["id"]]["push"]["details"]["externalService"]) == list(
        details["externalService"]
    )


async def test_a_new_comment_needs_another_push_and_that_push_is_the_latest(api, echo):
    connector = await make_connector(api, echo)
    case = await create_case(api, naming(connector))
    await push(api, case["id"], connector["id"])

    status, _ = await api.post(
        f"/api/cases/{case['id']}/comments", {"type": "user", "comment": "Seen.", "owner": "cases"}
    )

    assert status == 200
    state = (await connectors_of(api, case["id"]))[connector["id"]]["push"]
    assert (state["needsToBePushed"], state["hasBeenPushed"]) == (True, True)
    await push(api, case["id"], connector["id"])
    first, second = await pushed_actions(api, case["id"])
    state = (await connectors_of(api, case["id"]))[connector["id"]]["push"]
    assert state["needsToBePushed"] is False
    assert state["details"]["oldestUserActionPushDate"] == first["created_at"]
    assert state["details"]["latestUserActionPushDate"] == second["created_at"]


async def test_a_title_change_needs_another_push(api, echo):
    connector = await make_connector(api, echo)
    case = await create_case(api, naming(connector))
    await push(api, case["id"], connector["id"])

    await patch_case(api, case["id"], title="Confirmed intrusion")

    assert (await connectors_of(api, case["id"]))[connector["id"]]["push"]["needsToBePushed"] is True


async def test_severity_and_status_changes_need_a_push_only_for_types_that_send_them(api, echo):
    plain = await make_connector(api, echo)
    hive = await make_connector(api, echo, connector_type_id=".thehive", name="Hive")
    case = await create_case(api, naming(plain))
    await patch_case(api, case["id"], connector=naming(hive))
    await push(api, case["id"], plain["id"])
    await push(api, case["id"], hive["id"])

    await patch_case(api, case["id"], severity="high")

    found = await connectors_of(api, case["id"])
    assert found[plain["id"]]["push"]["needsToBePushed"] is False
    assert found[hive["id"]]["push"]["needsToBePushed"] is True


async def test_connector_fields_other_than_at_the_push_need_a_push(api, echo):
    hive = await make_connector(api, echo, connector_type_id=".thehive", name="Hive")
    case = await create_case(api, naming(hive, {"tlp": 1}))
    await push(api, case["id"], hive["id"])

    await patch_case(api, case["id"], connector=naming(hive, {"tlp": 2}))
    assert (await connectors_of(api, case["id"]))[hive["id"]]["push"]["needsToBePushed"] is True

    await tick()
    await patch_case(api, case["id"], connector=naming(hive, {"tlp": 1}))
    assert (await connectors_of(api, case["id"]))[hive["id"]]["push"]["needsToBePushed"] is False


async def test_a_connector_only_pushed_to_is_not_listed(api, echo):
    named = await make_connector(api, echo, name="Named")
    other = await make_connector(api, echo, name="Other")
    case = await create_case(api, naming(named))

    await push(api, case["id"], other["id"])

    assert await connectors_of(api, case["id"]) == {named["id"]: entry(named, NEVER_PUSHED)}
