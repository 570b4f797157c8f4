"""The privilege matrix: every route of the router against callers with different roles.

Each route has a rule in ``RULES``; a route added without one fails ``test_every_route_has_a_rule``
and every column of the matrix. A cell asserts the exact status: the route's success status where
the column's role allows the request, Kibana's 403 where it does not.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from casepush.app import create_app
from casepush.config import Settings
from casepush.web.routing import SPACE_PREFIX
from casepush.web.ui import is_ui_path
from tests.helpers import PASSWORD, Api, case_body, configuration_body, echo_plugins

SPACE = "team"
#: The service's own paths, which like Elasticsearch's (``/_security``) know no spaces.
SERVICE_PATHS = ("/api/status", "/api/openapi.json", "/metrics")


def unspaced(path: str) -> bool:
    return path.startswith("/_security") or path in SERVICE_PATHS


@dataclass(frozen=True)
class Column:
    """A caller: the role's Kibana privileges (None: no role at all) and the space they call in."""

    name: str
    kibana: list[dict] | None
    space: str = "default"
    builtin_role: str | None = None


def privilege(spaces: list[str], base: list[str] | None = None, **features: list[str]) -> dict:
    return {"spaces": spaces, "base": base or [], "feature": features}


COLUMNS = [
    Column("none", None),
    Column("read", [privilege(["*"], generalCases=["read"])]),
    Column("all", [privilege(["*"], generalCasesV3=["all"], actions=["all"])]),
    Column("other_owner", [privilege(["*"], observabilityCases=["all"])]),
    Column("space_only@default", [privilege([SPACE], generalCases=["all"])]),
    Column("space_only@team", [privilege([SPACE], generalCases=["all"])], space=SPACE),
    Column("base_all", [privilege(["*"], base=["all"])]),
    Column("base_read@team", [privilege(["*"], base=["read"])], space=SPACE),
    Column("viewer", None, builtin_role="viewer"),
    Column("superuser", None, builtin_role="superuser"),
]

#: Which columns may do what. The order is that of COLUMNS.
ALLOWED = {
    # Reading a case, its comments, alerts or user actions: read on generalCases where it lives.
    "read": (0, 1, 1, 0, 0, 1, 1, 1, 1, 1),
    # Changing them (or creating one with owner "cases"): all on generalCases there.
    "write": (0, 0, 1, 0, 0, 1, 1, 0, 0, 1),
    # Listing across owners: any readable owner in the space will do.
    "list": (0, 1, 1, 1, 0, 1, 1, 1, 1, 1),
    # Seeing a space: any privilege in it.
    "see_space": (0, 1, 1, 1, 0, 1, 1, 1, 1, 1),
    # Listing spaces: any privilege anywhere.
    "list_spaces": (0, 1, 1, 1, 1, 1, 1, 1, 1, 1),
    # Managing spaces: base all on every space.
    "manage_spaces": (0, 0, 0, 0, 0, 0, 1, 0, 0, 1),
    # Users, roles and other people's keys: superusers only.
    "superuser": (0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
    # Reading and running connectors: read on "actions" (base privileges include it).
    "actions_read": (0, 0, 1, 0, 0, 0, 1, 1, 1, 1),
    # Creating, changing and deleting connectors: all on "actions".
    "actions_write": (0, 0, 1, 0, 0, 0, 1, 0, 0, 1),
    # Pushing a case: all on its owner's cases feature and all on "actions".
    "push": (0, 0, 1, 0, 0, 0, 1, 0, 0, 1),
    # Who you are, your own password and API keys: anyone signed in.
    "self": (1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
}


@dataclass
class World:
    """Fresh objects for one cell, made by the superuser in the cell's space."""

    admin: Api
    prefix: str
    caller: str
    #: Where connectors reach their external system (a fake echo service).
    service_url: str = "http://127.0.0.1:9"
    made: dict[str, Any] = field(default_factory=dict)

    async def case(self) -> dict:
        if "case" not in self.made:
            status, case = await self.admin.post(f"{self.prefix}/api/cases", case_body())
            assert status == 200, case
            self.made["case"] = case
        return self.made["case"]

    async def comment(self) -> dict:
        case = await self.case()
        body = {"type": "user", "comment": "Seen.", "owner": "cases"}
        status, updated = await self.admin.post(f"{self.prefix}/api/cases/{case['id']}/comments", body)
        assert status == 200, updated
        return updated["comments"][-1]

    async def alert_id(self) -> str:
        case = await self.case()
        body = {
            "type": "alert",
            "alertId": "alert-1",
            "index": "i",
            "rule": {"id": "r", "name": "r"},
            "owner": "cases",
        }
        status, updated = await self.admin.post(f"{self.prefix}/api/cases/{case['id']}/comments", body)
        assert status == 200, updated
        return "alert-1"

    async def configuration(self) -> dict:
        status, made = await self.admin.post(f"{self.prefix}/api/cases/configure", configuration_body())
        assert status == 200, made
        return made

    async def connector(self) -> dict:
        if "connector" not in self.made:
            body = {"name": "Echo", "connector_type_id": ".echo", "config": {"url": self.service_url}}
            status, made = await self.admin.post(
                f"{self.prefix}/api/actions/connector", {**body, "secrets": {"token": "t0ken"}}
            )
            assert status == 200, made
            self.made["connector"] = made
        return self.made["connector"]

    async def pushed_case(self) -> dict:
        """A case on the connector, pushed to it."""
        made = await self.connector()
        named = {"id": made["id"], "name": made["name"], "type": ".echo", "fields": None}
        status, case = await self.admin.post(f"{self.prefix}/api/cases", case_body(connector=named))
        assert status == 200, case
        path = f"{self.prefix}/api/cases/{case['id']}/connector/{made['id']}/_push"
        status, pushed = await self.admin.post(path, {})
        assert status == 200, pushed
        return pushed

    async def spare_space(self) -> str:
        status, made = await self.admin.post("/api/spaces/space", {"id": "spare", "name": "Spare"})
        assert status in (200, 409), made
        return "spare"

    async def spare_role(self) -> str:
        await self.admin.create_role("spare-role", privilege(["*"], base=["read"]))
        return "spare-role"

    async def spare_user(self) -> str:
        await self.admin.create_user("spare-user")
        return "spare-user"


Builder = Callable[[World], Awaitable[tuple[str, Any]]]


@dataclass(frozen=True)
class Call:
    """A route's rule, its success status, and how to build its path and body (none: the bare path)."""

    rule: str
    status: int
    build: Builder | None = None


call = Call


async def case_path(w: World) -> tuple[str, Any]:
    return f"/api/cases/{(await w.case())['id']}", None


async def comment_path(w: World) -> tuple[str, Any]:
    comment = await w.comment()
    return f"/api/cases/{(await w.case())['id']}/comments/{comment['id']}", None


def on_case(suffix: str, body: Callable[[World], Awaitable[Any]] | None = None) -> Callable:
    async def build(w: World) -> tuple[str, Any]:
        case = await w.case()
        return f"/api/cases/{case['id']}{suffix}", await body(w) if body else None

    return build


async def new_comment(w: World) -> dict:
    return {"type": "user", "comment": "More.", "owner": "cases"}


async def changed_comment(w: World) -> dict:
    comment = await w.comment()
    return {
        "id": comment["id"],
        "version": comment["version"],
        "type": "user",
        "comment": "Edited.",
        "owner": "cases",
    }


async def all_comments(w: World) -> tuple[str, Any]:
    await w.comment()
    return f"/api/cases/{(await w.case())['id']}/comments", None


async def patch_cases(w: World) -> tuple[str, Any]:
    case = await w.case()
    return "/api/cases", {"cases": [{"id": case["id"], "version": case["version"], "title": "Renamed"}]}


async def delete_cases(w: World) -> tuple[str, Any]:
    return f"/api/cases?ids={(await w.case())['id']}", None


async def create_case(w: World) -> tuple[str, Any]:
    return "/api/cases", case_body()


async def create_configuration(w: World) -> tuple[str, Any]:
    return "/api/cases/configure", configuration_body()


async def patch_configuration(w: World) -> tuple[str, Any]:
    made = await w.configuration()
    return f"/api/cases/configure/{made['id']}", {
        "version": made["version"],
        "closure_type": "close-by-pushing",
    }


async def cases_of_alert(w: World) -> tuple[str, Any]:
    return f"/api/cases/alerts/{await w.alert_id()}", None


async def new_connector(w: World) -> tuple[str, Any]:
    body = {"name": "Echo", "connector_type_id": ".echo", "config": {"url": "http://127.0.0.1:9"}}
    return "/api/actions/connector", {**body, "secrets": {"token": "t0ken"}}


async def existing_connector(w: World) -> tuple[str, Any]:
    made = await w.connector()
    return f"/api/actions/connector/{made['id']}", {
        "name": "Renamed",
        "config": made["config"],
        "secrets": {"token": "t"},
    }


async def execute_connector(w: World) -> tuple[str, Any]:
    made = await w.connector()
    params = {"subAction": "getIncident", "subActionParams": {"externalId": "1"}}
    return f"/api/actions/connector/{made['id']}/_execute", {"params": params}


async def dry_push(w: World) -> tuple[str, Any]:
    case, made = await w.case(), await w.connector()
    return f"/api/cases/{case['id']}/connector/{made['id']}/_push?dry_run=true", {}


async def automatic_push_setting(w: World) -> tuple[str, Any]:
    return f"/api/casepush/automatic_push/cases/{(await w.connector())['id']}", {"mode": "updates"}


async def existing_automatic_push_setting(w: World) -> tuple[str, Any]:
    path, body = await automatic_push_setting(w)
    status, made = await w.admin.put(w.prefix + path, body)
    assert status == 200, made
    return path, None


async def case_automatic_push(w: World) -> tuple[str, Any]:
    return f"/api/casepush/cases/{(await w.case())['id']}/automatic_push", None


async def case_sync(w: World) -> tuple[str, Any]:
    return f"/api/casepush/connectors/{(await w.connector())['id']}/case_sync", {"push_status": False}


async def sync_state(w: World) -> tuple[str, Any]:
    return f"/api/casepush/connectors/{(await w.connector())['id']}/sync_state", None


async def polled_connector(w: World) -> tuple[str, Any]:
    path, _ = await case_sync(w)
    status, saved = await w.admin.put(w.prefix + path, {"poll_interval": 60})
    assert status == 200, saved
    return f"/api/casepush/connectors/{(await w.connector())['id']}/sync_state/_poll", None


async def inbound(w: World) -> tuple[str, Any]:
    """A connector's inbound webhook, which takes no casepush credentials (and, without an inbound
    secret set, no calls): every caller gets the same answer."""
    return f"/api/casepush/connectors/{(await w.connector())['id']}/inbound", {"events": []}


async def synced_case(w: World) -> tuple[str, Any]:
    return f"/api/cases/{(await w.pushed_case())['id']}/_sync", None


async def case_connectors(w: World) -> tuple[str, Any]:
    return f"/internal/cases/{(await w.case())['id']}/_connectors", None


async def this_space(w: World) -> tuple[str, Any]:
    return f"/api/spaces/space/{w.prefix.removeprefix('/s/') or 'default'}", None


async def new_space(w: World) -> tuple[str, Any]:
    return "/api/spaces/space", {"id": "fresh", "name": "Fresh"}


async def spare_space(w: World) -> tuple[str, Any]:
    return f"/api/spaces/space/{await w.spare_space()}", {"id": "spare", "name": "Renamed"}


async def spare_role(w: World) -> tuple[str, Any]:
    body = {"elasticsearch": {}, "kibana": [privilege(["*"], base=["all"])]}
    return f"/api/security/role/{await w.spare_role()}", body


async def spare_user(w: World) -> tuple[str, Any]:
    return f"/_security/user/{await w.spare_user()}", {"password": PASSWORD, "roles": []}


def spare_user_switch(action: str) -> Builder:
    async def build(w: World) -> tuple[str, Any]:
        return f"/_security/user/{await w.spare_user()}/{action}", None

    return build


async def own_password(w: World) -> tuple[str, Any]:
    return f"/_security/user/{w.caller}/_password", {"password": PASSWORD}


async def same_password(w: World) -> tuple[str, Any]:
    return "/_security/user/_password", {"password": PASSWORD}


async def api_key(w: World) -> tuple[str, Any]:
    return "/_security/api_key", {"name": "script"}


async def own_keys(w: World) -> tuple[str, Any]:
    return "/_security/api_key", {"owner": True}


RULES: dict[tuple[str, str], Call] = {
    ("GET", "/api/status"): call("self", 200),
    ("GET", "/metrics"): call("self", 200),
    ("GET", "/api/openapi.json"): call("self", 200),
    ("GET", "/api/spaces/space"): call("list_spaces", 200),
    ("POST", "/api/spaces/space"): call("manage_spaces", 200, new_space),
    ("GET", "/api/spaces/space/{id}"): call("see_space", 200, this_space),
    ("PUT", "/api/spaces/space/{id}"): call("manage_spaces", 200, spare_space),
    ("DELETE", "/api/spaces/space/{id}"): call("manage_spaces", 204, spare_space),
    ("PUT", "/api/security/role/{name}"): call("superuser", 204, spare_role),
    ("GET", "/api/security/role"): call("superuser", 200),
    ("GET", "/api/security/role/{name}"): call("superuser", 200, spare_role),
    ("DELETE", "/api/security/role/{name}"): call("superuser", 204, spare_role),
    ("POST", "/_security/user/{username}/_password"): call("self", 200, own_password),
    ("PUT", "/_security/user/{username}/_password"): call("self", 200, own_password),
    ("POST", "/_security/user/_password"): call("self", 200, same_password),
    ("PUT", "/_security/user/_password"): call("self", 200, same_password),
    ("POST", "/_security/user/{username}"): call("superuser", 200, spare_user),
    ("PUT", "/_security/user/{username}"): call("superuser", 200, spare_user),
    ("GET", "/_security/user"): call("superuser", 200),
    ("GET", "/_security/user/{username}"): call("superuser", 200, spare_user),
    ("DELETE", "/_security/user/{username}"): call("superuser", 200, spare_user),
    ("POST", "/_security/user/{username}/_enable"): call("superuser", 200, spare_user_switch("_enable")),
    ("PUT", "/_security/user/{username}/_enable"): call("superuser", 200, spare_user_switch("_enable")),
    ("POST", "/_security/user/{username}/_disable"): call("superuser", 200, spare_user_switch("_disable")),
    ("PUT", "/_security/user/{username}/_disable"): call("superuser", 200, spare_user_switch("_disable")),
    ("GET", "/_security/_authenticate"): call("self", 200),
    ("POST", "/_security/api_key"): call("self", 200, api_key),
    ("PUT", "/_security/api_key"): call("self", 200, api_key),
    ("GET", "/_security/api_key"): call("self", 200),
    ("DELETE", "/_security/api_key"): call("self", 200, own_keys),
    ("POST", "/api/actions/connector"): call("actions_write", 200, new_connector),
    ("POST", "/api/actions/connector/{id}"): call("actions_write", 200, new_connector),
    ("GET", "/api/actions/connector/{id}"): call("actions_read", 200, existing_connector),
    ("PUT", "/api/actions/connector/{id}"): call("actions_write", 200, existing_connector),
    ("DELETE", "/api/actions/connector/{id}"): call("actions_write", 204, existing_connector),
    ("GET", "/api/actions/connectors"): call("actions_read", 200),
    ("GET", "/api/actions/connector_types"): call("self", 200),
    ("POST", "/api/actions/connector/{id}/_execute"): call("actions_read", 200, execute_connector),
    ("GET", "/api/cases/configure/connectors/_find"): call("actions_read", 200),
    ("POST", "/api/cases/{case_id}/connector/{connector_id}/_push"): call("push", 200, dry_push),
    ("GET", "/internal/cases/{case_id}/_connectors"): call("read", 200, case_connectors),
    ("GET", "/api/casepush/automatic_push"): call("list", 200),
    ("PUT", "/api/casepush/automatic_push/{owner}/{connector_id}"): call("push", 200, automatic_push_setting),
    ("DELETE", "/api/casepush/automatic_push/{owner}/{connector_id}"): call(
        "push", 204, existing_automatic_push_setting
    ),
    ("GET", "/api/casepush/connectors/{connector_id}/case_sync"): call("actions_read", 200, case_sync),
    ("PUT", "/api/casepush/connectors/{connector_id}/case_sync"): call("actions_write", 200, case_sync),
    ("GET", "/api/casepush/cases/{case_id}/automatic_push"): call("read", 200, case_automatic_push),
    ("GET", "/api/casepush/connectors/{connector_id}/sync_state"): call("actions_read", 200, sync_state),
    ("POST", "/api/casepush/connectors/{connector_id}/sync_state/_poll"): call(
        "actions_write", 200, polled_connector
    ),
    ("POST", "/api/casepush/connectors/{connector_id}/inbound"): call("self", 404, inbound),
    ("POST", "/api/cases/{case_id}/_sync"): call("push", 200, synced_case),
    ("GET", "/api/cases/configure"): call("list", 200),
    ("POST", "/api/cases/configure"): call("write", 200, create_configuration),
    ("PATCH", "/api/cases/configure/{configuration_id}"): call("write", 200, patch_configuration),
    ("POST", "/api/cases"): call("write", 200, create_case),
    ("PATCH", "/api/cases"): call("write", 200, patch_cases),
    ("DELETE", "/api/cases"): call("write", 204, delete_cases),
    ("GET", "/api/cases/_find"): call("list", 200),
    ("GET", "/api/cases/tags"): call("list", 200),
    ("GET", "/api/cases/reporters"): call("list", 200),
    ("GET", "/api/cases/status"): call("list", 200),
    ("GET", "/api/cases/alerts/{alert_id}"): call("list", 200, cases_of_alert),
    ("GET", "/api/cases/{case_id}"): call("read", 200, case_path),
    ("GET", "/api/cases/{case_id}/alerts"): call("read", 200, on_case("/alerts")),
    ("POST", "/api/cases/{case_id}/comments"): call("write", 200, on_case("/comments", new_comment)),
    ("PATCH", "/api/cases/{case_id}/comments"): call("write", 200, on_case("/comments", changed_comment)),
    ("DELETE", "/api/cases/{case_id}/comments"): call("write", 204, all_comments),
    ("GET", "/api/cases/{case_id}/comments"): call("read", 200, on_case("/comments")),
    ("GET", "/api/cases/{case_id}/comments/_find"): call("read", 200, on_case("/comments/_find")),
    ("GET", "/api/cases/{case_id}/comments/{comment_id}"): call("read", 200, comment_path),
    ("DELETE", "/api/cases/{case_id}/comments/{comment_id}"): call("write", 204, comment_path),
    ("GET", "/api/cases/{case_id}/user_actions/_find"): call("read", 200, on_case("/user_actions/_find")),
}


async def router_routes(settings: Settings) -> list[tuple[str, str]]:
    """Every (method, path) of the API, without the ``/s/{space_id}`` twins. The web UI's pages are
    left out: they call the same domain functions, and tests/test_ui.py checks what they refuse."""
    app = create_app(settings, announce=lambda line: None, plugins=await echo_plugins())
    return [
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if not route.resource.canonical.startswith(SPACE_PREFIX) and not is_ui_path(route.resource.canonical)
    ]


async def test_every_route_has_a_rule(settings):
    routes = await router_routes(settings)
    assert sorted(set(routes) - set(RULES)) == [], "routes without a privilege rule"
    assert sorted(set(RULES) - set(routes)) == [], "rules for routes that do not exist"


async def test_every_kibana_route_also_exists_under_a_space(settings):
    app = create_app(settings, announce=lambda line: None, plugins=await echo_plugins())
    served = {(route.method, route.resource.canonical) for route in app.router.routes()}
    bare = [(m, p) for m, p in served if not p.startswith(SPACE_PREFIX) and not is_ui_path(p)]
    spaced = {(m, p) for m, p in bare if not unspaced(p)}
    assert {(m, SPACE_PREFIX + p) for m, p in spaced} <= served


async def caller_for(api: Api, column: Column) -> tuple[Api, str]:
    if column.name == "superuser":
        return api, "elastic"
    roles = [column.builtin_role] if column.builtin_role else []
    if column.kibana is not None:
        await api.create_role(f"role-{column.name.replace('@', '-')}", *column.kibana)
        roles.append(f"role-{column.name.replace('@', '-')}")
    username = f"user-{column.name.replace('@', '-')}"
    return await api.create_user(username, *roles), username


@pytest.mark.parametrize("column", COLUMNS, ids=[c.name for c in COLUMNS])
async def test_privilege_matrix(api, settings, echo, column):
    await api.create_space(SPACE)
    caller, username = await caller_for(api, column)
    prefix = "" if column.space == "default" else f"/s/{column.space}"
    index = COLUMNS.index(column)
    wrong = []
    for method, template in await router_routes(settings):
        rule = RULES.get((method, template))
        if rule is None:
            wrong.append(f"{method} {template}: no rule")
            continue
        world = World(api, prefix, username, echo.url)
        path, body = await rule.build(world) if rule.build else (template, None)
        spaced = "" if unspaced(template) else prefix
        status, answer = await caller.request(method, spaced + path, body)
        expected = rule.status if ALLOWED[rule.rule][index] else 403
        if status != expected:
            wrong.append(f"{method} {spaced}{path}: {status} (expected {expected}) {answer}")
        await restore(api, world)
    assert wrong == []


async def restore(api: Api, world: World) -> None:
    """Undo what a cell may have made that would clash with the next one."""
    for path in ("/api/spaces/space/fresh", "/api/spaces/space/spare"):
        await api.delete(path)


def test_columns_and_rules_agree():
    assert all(len(allowed) == len(COLUMNS) for allowed in ALLOWED.values())
    assert {rule.rule for rule in RULES.values()} <= set(ALLOWED)
    assert len({c.name for c in COLUMNS}) == len(COLUMNS)


async def test_lists_count_only_the_owners_the_caller_may_read(api):
    """_find, status, tags, reporters, configurations and cases of an alert leave out unreadable owners."""
    alert = {"type": "alert", "alertId": "shared", "index": "i", "rule": {"id": "r", "name": "r"}}
    for owner in ("cases", "securitySolution"):
        case = await api.create_case(owner=owner, tags=[f"{owner}-tag"])
        status, _ = await api.post(f"/api/cases/{case['id']}/comments", {**alert, "owner": owner})
        assert status == 200
        await api.configure(owner=owner)
    await api.create_role("general-reader", privilege(["*"], generalCases=["read"]))
    reader = await api.create_user("reader", "general-reader")

    _, found = await reader.get("/api/cases/_find")
    assert [c["owner"] for c in found["cases"]] == ["cases"]
    assert (found["total"], found["count_open_cases"]) == (1, 1)
    _, statuses = await reader.get("/api/cases/status")
    assert statuses == {"count_open_cases": 1, "count_in_progress_cases": 0, "count_closed_cases": 0}
    assert (await reader.get("/api/cases/tags"))[1] == ["cases-tag"]
    assert [u["username"] for u in (await reader.get("/api/cases/reporters"))[1]] == ["elastic"]
    assert [c["owner"] for c in (await reader.get("/api/cases/configure"))[1]] == ["cases"]
    _, of_alert = await reader.get("/api/cases/alerts/shared")
    assert len(of_alert) == 1
    # Asking for an owner one may not read gives nothing, not someone else's objects.
    _, found = await reader.get("/api/cases/_find?owner=securitySolution")
    assert found["total"] == 0
    assert (await reader.get("/api/cases/tags?owner=securitySolution"))[1] == []


async def test_a_caller_who_may_read_no_owner_gets_kibanas_403_on_lists(api):
    await api.create_role("connectors-only", privilege(["*"], actions=["all"]))
    nobody = await api.create_user("nobody", "connectors-only")
    expectations = {
        "/api/cases/_find": "Unauthorized to access cases of any owner",
        "/api/cases/status": "Unauthorized to access cases of any owner",
        "/api/cases/tags": "Unauthorized to access case of any owner",
        "/api/cases/reporters": "Unauthorized to access case of any owner",
        "/api/cases/configure": "Unauthorized to access case configurations of any owner",
        "/api/cases/alerts/x": "Unauthorized to access cases of any owner",
    }
    for path, message in expectations.items():
        status, body = await nobody.get(path)
        assert (status, body["message"]) == (403, message), path


async def test_a_denied_write_names_the_owner_and_changes_nothing(api):
    await api.create_role("general-reader", privilege(["*"], generalCases=["read"]))
    reader = await api.create_user("reader", "general-reader")
    status, body = await reader.post("/api/cases", case_body(owner="cases"))
    assert (status, body["message"]) == (403, 'Unauthorized to create case with owners: "cases"')
    case = await api.create_case()
    patch = {"cases": [{"id": case["id"], "version": case["version"], "title": "Mine now"}]}
    status, body = await reader.patch("/api/cases", patch)
    assert (status, body["message"]) == (403, 'Unauthorized to update case with owners: "cases"')
    _, found = await api.get("/api/cases/_find")
    assert [(c["title"], c["version"]) for c in found["cases"]] == [(case["title"], case["version"])]
