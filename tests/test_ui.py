"""The web UI at ``/app`` through its forms, as a browser without JavaScript uses it: sign-in and sessions,
CSRF tokens, privileges, version conflicts, connectors, pushes and settings, all on the real app and
database (and the example plugin's fake echo service)."""

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from html.parser import HTMLParser
from typing import Literal

import aiohttp
import msgspec
import pytest
from markupsafe import escape
from multidict import MultiDict

from casepush.errors import KibanaError
from casepush.plugins import load_plugins
from casepush.testing.browser import Browser, Page, browsing
from casepush.web.ui.forms import form_fields, read_form
from casepush.web.ui.session import SESSION_COOKIE
from tests.helpers import PASSWORD, TOKEN, Api, case_body, casepush_echo, connector_body


@pytest.fixture
async def browser(api: Api) -> AsyncIterator[Callable[..., Awaitable[Browser]]]:
    """``await browser()``: a browser signed in as ``elastic`` (or ``browser(username)``, or ``None``
    for none)."""
    async with AsyncExitStack() as stack:

        async def open_browser(username: str | None = "elastic") -> Browser:
            person = await stack.enter_async_context(browsing(api))
            if username is not None:
                page = await person.login(username)
                assert page.url.path == "/app/cases", page.text
            return person

        yield open_browser


async def find_total(api: Api) -> int:
    status, found = await api.get("/api/cases/_find")
    assert status == 200, found
    return found["total"]


async def read_only_user(api: Api) -> Api:
    await api.create_role(
        "reader", {"base": [], "feature": {"generalCases": ["read"], "actions": ["read"]}, "spaces": ["*"]}
    )
    return await api.create_user("reader", "reader")


# --- signing in --------------------------------------------------------------------------------------


async def test_a_logged_out_page_goes_to_the_login_page_and_the_api_still_answers_401(api, browser):
    anonymous = await browser(None)
    page = await anonymous.get("/app/cases?status=open")
    assert (page.status, page.url.path, page.url.query["next"]) == (
        200,
        "/app/login",
        "/app/cases?status=open",
    )
    assert 'name="password"' in page.text
    anonymous_api = Api(api.client, auth=None)
    status, body = await anonymous_api.get("/api/cases/_find")
    assert (status, body["message"]) == (401, "Unauthorized")
    assert anonymous_api.last_headers.getall("WWW-Authenticate") == [
        'Basic realm="security", charset="UTF-8"',
        "ApiKey",
    ]


async def test_logging_in_sets_an_http_only_same_site_expiring_cookie_and_returns_to_the_asked_page(
    browser,
):
    person = await browser(None)
    await person.get("/app/settings")
    form = {"username": "elastic", "password": PASSWORD, "next": "/app/settings"}
    page = await person.post("/app/login", form)
    assert (page.status, page.url.path) == (200, "/app/settings")
    cookie = person.last_response.history[0].cookies[SESSION_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert (cookie["max-age"], cookie["path"]) == ("28800", "/")
    assert "elastic" in page.text


async def test_a_wrong_password_is_refused_without_a_session(browser):
    person = await browser(None)
    await person.get("/app/login")
    page = await person.post("/app/login", {"username": "elastic", "password": "wrong"})
    assert page.status == 401
    assert "Wrong username or password." in page.text
    assert person.session_cookie is None


async def test_failed_logins_are_throttled_as_the_apis(api_with):
    api = await api_with(login_max_failures=2)
    async with browsing(api) as person:
        await person.get("/app/login")
        for _ in range(2):
            await person.post("/app/login", {"username": "elastic", "password": "wrong"})
        page = await person.login()
        assert page.status == 429
        assert "Too many failed login attempts; try again in" in page.text
        assert int(person.last_response.headers["Retry-After"]) > 0
        assert person.session_cookie is None
    status, _ = await api.get("/api/cases/_find")
    assert status == 429


async def test_the_login_page_sends_nowhere_but_the_ui(browser):
    person = await browser(None)
    await person.get("/app/login")
    for wanted in ("//evil.example/app/cases", "https://evil.example/app/cases", "/app/x\r\nSet-Cookie: a=b"):
        form = {"username": "elastic", "password": PASSWORD, "next": wanted}
        page = await person.post("/app/login", form)
        assert (page.status, page.url.host, page.url.path) == (200, "127.0.0.1", "/app/cases")
        await person.get("/app/login")


async def test_a_session_expires(api_with):
    api = await api_with(ui_session_timeout=1)
    async with browsing(api) as person:
        await person.login()
        cookie = person.session_cookie

        async def landing() -> str:
            """Where the cookie leads, sent by hand: whatever the browser does with its Max-Age."""
            headers = {"Cookie": f"{SESSION_COOKIE}={cookie}"}
            async with (
                aiohttp.ClientSession() as fresh,
                fresh.get(api.client.make_url("/app/cases"), headers=headers) as response,
            ):
                return response.url.path

        assert await landing() == "/app/cases"
        await asyncio.sleep(1.2)
        assert await landing() == "/app/login"


async def test_a_password_change_ends_the_users_sessions(api, browser):
    person = await browser()
    status, _ = await api.post("/_security/user/elastic/_password", {"password": "another-password"})
    assert status == 200
    page = await person.get("/app/cases")
    assert page.url.path == "/app/login"


async def test_logging_out_ends_the_session(browser):
    person = await browser()
    page = await person.post("/app/logout")
    assert page.url.path == "/app/login"
    assert person.session_cookie is None
    assert (await person.get("/app/cases")).url.path == "/app/login"


async def test_a_form_without_its_csrf_token_is_refused(api, browser):
    person = await browser()
    await person.get("/app/cases/new")
    form = {"title": "t", "description": "d", "owner": "cases", "severity": "low"}
    for token in ("", "forged"):
        page = await person.post("/app/cases/new", form, csrf=token)
        assert page.status == 403
        assert "did not come from this site" in page.text
    assert await find_total(api) == 0
    stranger = await browser(None)
    page = await stranger.post("/app/login", {"username": "elastic", "password": PASSWORD}, csrf="guess")
    assert (page.status, stranger.session_cookie) == (403, None)


# --- cases -------------------------------------------------------------------------------------------


async def create_case_through_the_form(person: Browser, **fields: str) -> str:
    await person.get("/app/cases/new")
    form = {"title": "Suspicious login", "description": "Several failures.", "tags": "auth, web"}
    page = await person.post("/app/cases/new", {**form, "owner": "cases", "severity": "high", **fields})
    assert page.status == 200, page.text
    assert "Case created." in page.text
    return page.url.path.rsplit("/", 1)[1]


async def test_a_case_made_and_commented_in_the_ui_is_the_apis(api, browser):
    person = await browser()
    case_id = await create_case_through_the_form(person)
    await person.post(f"/app/cases/{case_id}/comments", {"comment": "Reset the password.", "owner": "cases"})
    status, case = await api.get(f"/api/cases/{case_id}")
    assert status == 200
    assert (case["title"], case["tags"], case["severity"]) == ("Suspicious login", ["auth", "web"], "high")
    assert [c["comment"] for c in case["comments"]] == ["Reset the password."]
    status, actions = await api.get(f"/api/cases/{case_id}/user_actions/_find")
    assert [a["type"] for a in actions["userActions"]] == ["create_case", "comment"]
    assert {a["created_by"]["username"] for a in actions["userActions"]} == {"elastic"}


async def test_the_list_filters_searches_and_pages(api, browser):
    await api.create_case(title="Phishing mail", tags=["mail"])
    closed = await api.create_case(title="Old scan", tags=["scan"])
    await api.patch(
        "/api/cases", {"cases": [{"id": closed["id"], "version": closed["version"], "status": "closed"}]}
    )
    person = await browser()
    page = await person.get("/app/cases?status=closed")
    assert "Old scan" in page.text and "Phishing mail" not in page.text
    page = await person.get("/app/cases?search=phishing&tags=mail")
    assert "Phishing mail" in page.text and "Old scan" not in page.text
    page = await person.get("/app/cases?sortField=title&sortOrder=asc")
    assert page.text.index("Old scan") < page.text.index("Phishing mail")
    page = await person.get("/app/cases?severity=bogus")
    assert page.status == 400


async def test_a_stale_edit_shows_a_conflict_and_keeps_what_was_typed(api, browser):
    case = await api.create_case()
    person = await browser()
    page = await person.get(f"/app/cases/{case['id']}")
    seen = re.search(r'name="version" value="([^"]*)"', page.text)[1]
    status, _ = await api.patch(
        "/api/cases", {"cases": [{"id": case["id"], "version": seen, "title": "Renamed"}]}
    )
    assert status == 200
    form = {
        "title": "Suspicious login",
        "description": "My careful rewrite.",
        "tags": "auth",
        "status": "in-progress",
        "severity": "low",
        "connector": "none",
        "version": seen,
    }
    page = await person.post(f"/app/cases/{case['id']}", form)
    assert page.status == 409
    assert "Someone else changed this case after you opened it." in page.text
    assert ">My careful rewrite.</textarea>" in page.text
    _, now = await api.get(f"/api/cases/{case['id']}")
    assert (now["title"], now["description"], now["status"]) == ("Renamed", case["description"], "open")
    # Saving again applies the edit over the newer version.
    page = await person.post(f"/app/cases/{case['id']}", {**form, "version": now["version"]})
    assert "Case saved." in page.text
    _, now = await api.get(f"/api/cases/{case['id']}")
    assert (now["description"], now["status"]) == ("My careful rewrite.", "in-progress")


async def test_a_comment_is_edited_and_deleted(api, browser):
    case = await api.create_case()
    person = await browser()
    await person.get(f"/app/cases/{case['id']}")
    await person.post(f"/app/cases/{case['id']}/comments", {"comment": "First take", "owner": "cases"})
    _, found = await api.get(f"/api/cases/{case['id']}")
    comment = found["comments"][0]
    form = {"comment": "Second take", "owner": "cases", "version": comment["version"]}
    page = await person.post(f"/app/cases/{case['id']}/comments/{comment['id']}", form)
    assert "Comment saved." in page.text
    page = await person.post(
        f"/app/cases/{case['id']}/comments/{comment['id']}", {**form, "comment": "Third"}
    )
    assert page.status == 409
    assert "Someone else changed this comment" in page.text and ">Third</textarea>" in page.text
    await person.post(f"/app/cases/{case['id']}/comments/{comment['id']}/delete")
    _, found = await api.get(f"/api/cases/{case['id']}")
    assert found["comments"] == []


async def test_a_read_only_user_sees_no_actions_and_is_refused_when_posting_anyway(api, browser):
    case = await api.create_case()
    await read_only_user(api)
    reader = await browser("reader")
    page = await reader.get(f"/app/cases/{case['id']}")
    assert page.status == 200 and case["title"] in page.text
    for action in ("Add comment", "Save case", "Push", "Preview"):
        assert action not in page.text
    assert "Create case" not in (await reader.get("/app/cases")).text
    page = await reader.post(f"/app/cases/{case['id']}/comments", {"comment": "sneaky", "owner": "cases"})
    assert page.status == 403
    assert "Unauthorized to create comments" in page.text
    _, found = await api.get(f"/api/cases/{case['id']}")
    assert found["comments"] == []


async def test_the_case_page_shows_attached_alerts_and_the_activity(api, browser):
    case = await api.create_case()
    alert = {"type": "alert", "alertId": "alert-1", "index": ".alerts-x", "owner": "cases"}
    status, _ = await api.post(
        f"/api/cases/{case['id']}/comments", {**alert, "rule": {"id": "r1", "name": "Brute force"}}
    )
    assert status == 200
    page = await (await browser()).get(f"/app/cases/{case['id']}")
    assert "<td>alert-1</td><td>.alerts-x</td>" in page.text and "Brute force" in page.text
    assert "<b>elastic</b> added alerts" in page.text and "<b>elastic</b> created the case" in page.text


async def test_a_user_without_connector_privileges_edits_cases_but_sees_no_connectors_nor_push(
    api, browser, echo
):
    _, connector = await api.post("/api/actions/connector", connector_body(echo.url))
    named = {"id": connector["id"], "name": "Echo", "type": ".echo", "fields": None}
    case = await api.create_case(connector=named)
    await api.create_role("handler", {"base": [], "feature": {"generalCases": ["all"]}, "spaces": ["*"]})
    await api.create_user("handler", "handler")
    handler = await browser("handler")
    page = await handler.get(f"/app/cases/{case['id']}")
    assert "Save case" in page.text and "Add comment" in page.text and "Needs to be pushed" in page.text
    assert "/app/connectors" not in page.text and "Preview" not in page.text and "/push" not in page.text
    page = await handler.get("/app/connectors")
    assert page.status == 403 and "Unauthorized to get actions" in page.text


async def test_kibanas_case_links_lead_to_the_case_page(api, browser):
    case = await api.create_case()
    person = await browser()
    page = await person.get(f"/app/management/insightsAndAlerting/cases/{case['id']}")
    assert (page.status, page.url.path) == (200, f"/app/cases/{case['id']}")


async def test_each_space_shows_its_own_cases(api, browser):
    await api.create_space("blue")
    await api.create_case(title="Default one")
    status, blue_case = await api.post("/s/blue/api/cases", case_body(title="Blue one"))
    assert status == 200, blue_case
    person = await browser()
    page = await person.get("/s/blue/app/cases")
    assert "Blue one" in page.text and "Default one" not in page.text
    assert f'href="/s/blue/app/cases/{blue_case["id"]}"' in page.text
    assert 'href="/s/blue/app/cases">Blue</a>' in page.text


# --- connectors, pushes and settings -------------------------------------------------------------------


class SampleConfig(msgspec.Struct):
    url: str
    method: Literal["post", "put"] = "post"
    hasAuth: bool = True
    retries: int | None = None
    headers: dict[str, str] | None = None


def test_a_connector_form_has_an_input_for_each_field_of_the_types_struct():
    fields = form_fields(SampleConfig, "config")
    assert [(f.name, f.kind, f.required, f.choices) for f in fields] == [
        ("config.url", "text", True, ()),
        ("config.method", "select", False, ("post", "put")),
        ("config.hasAuth", "checkbox", False, ()),
        ("config.retries", "number", False, ()),
        ("config.headers", "json", False, ()),
    ]
    form = {"config.url": " https://x.example ", "config.retries": "3", "config.headers": '{"a": "b"}'}
    # Empty inputs are left to the struct's defaults; an unticked box is false.
    assert read_form(fields, MultiDict(form)) == {
        "url": "https://x.example",
        "hasAuth": False,
        "retries": 3,
        "headers": {"a": "b"},
    }
    with pytest.raises(KibanaError, match="headers must be JSON"):
        read_form(fields, MultiDict({"config.headers": "{"}))


async def test_a_connector_is_made_from_its_types_form_and_its_secret_never_shown(api, browser, echo):
    person = await browser()
    page = await person.get("/app/connectors/new?type=.echo")
    assert 'name="config.url"' in page.text and 'name="secrets.token" type="password"' in page.text
    form = {"connector_type_id": ".echo", "name": "Echo", "config.url": echo.url, "secrets.token": TOKEN}
    page = await person.post("/app/connectors/new", form)
    assert "Connector Echo created." in page.text
    _, found = await api.get("/api/actions/connectors")
    assert [(c["name"], c["config"], c["is_missing_secrets"]) for c in found] == [
        ("Echo", {"url": echo.url}, False)
    ]
    edit = await person.get(f"/app/connectors/{found[0]['id']}")
    assert echo.url in edit.text
    assert TOKEN not in edit.text and TOKEN not in page.text


async def test_a_connector_form_refused_by_the_type_keeps_what_was_typed_but_the_secrets(browser):
    person = await browser()
    await person.get("/app/connectors/new?type=.echo")
    form = {"connector_type_id": ".echo", "name": "Echo", "config.url": "not a url", "secrets.token": TOKEN}
    page = await person.post("/app/connectors/new", form)
    assert page.status == 400
    assert "error validating action type" in page.text
    assert 'value="not a url"' in page.text and TOKEN not in page.text


async def test_testing_a_connector_shows_the_answer_or_the_services_error(api, browser, echo):
    _, connector = await api.post("/api/actions/connector", connector_body(echo.url))
    person = await browser()
    await person.get("/app/connectors")
    page = await person.post(f"/app/connectors/{connector['id']}/test", {"externalId": ""})
    assert "cannot be tested without an incident id" in page.text
    page = await person.post(f"/app/connectors/{connector['id']}/test", {"externalId": "404"})
    assert "Echo: getIncident failed:" in page.text


async def test_a_case_is_previewed_pushed_and_shown_as_needing_a_push_after_a_comment(api, browser, echo):
    _, connector = await api.post("/api/actions/connector", connector_body(echo.url))
    case = await api.create_case()
    person = await browser()
    page = await person.get(f"/app/cases/{case['id']}")
    form = {"title": case["title"], "description": case["description"], "tags": "auth, triage"}
    form |= {"status": "open", "severity": "low", "connector": connector["id"]}
    page = await person.post(f"/app/cases/{case['id']}", {**form, "version": case["version"]})
    assert "Case saved." in page.text and "Needs to be pushed" in page.text
    preview = await person.get(f"/app/cases/{case['id']}/connectors/{connector['id']}/preview")
    assert (
        "create an incident" in preview.text and "&#34;title&#34;: &#34;Suspicious login&#34;" in preview.text
    )
    assert echo.incidents == {}
    page = await person.post(f"/app/cases/{case['id']}/connectors/{connector['id']}/push")
    assert "Pushed to Echo" in page.text and "Up to date" in page.text
    assert f'href="{echo.url}/browse/1"' in page.text
    await person.post(f"/app/cases/{case['id']}/comments", {"comment": "More news.", "owner": "cases"})
    page = await person.get(f"/app/cases/{case['id']}")
    assert "Needs to be pushed" in page.text
    echo.break_all()
    page = await person.post(f"/app/cases/{case['id']}/connectors/{connector['id']}/push")
    assert "The push failed:" in page.text and "Needs to be pushed" in page.text


async def test_settings_are_saved_per_owner_with_a_version_check(api, browser):
    person = await browser()
    await person.get("/app/settings")
    page = await person.post("/app/settings/cases", {"closure_type": "close-by-pushing", "connector": "none"})
    assert "Settings of Stack Management saved." in page.text
    _, (configuration,) = await api.get("/api/cases/configure?owner=cases")
    assert configuration["closure_type"] == "close-by-pushing"
    page = await person.get("/app/settings")
    seen = re.search(r'name="version" value="([^"]*)"', page.text)[1]
    status, _ = await api.patch(
        f"/api/cases/configure/{configuration['id']}", {"version": seen, "closure_type": "close-by-user"}
    )
    assert status == 200
    stale = {"configuration_id": configuration["id"], "version": seen, "connector": "none"}
    page = await person.post("/app/settings/cases", {**stale, "closure_type": "close-by-pushing"})
    assert "Someone else changed these settings" in page.text
    _, (configuration,) = await api.get("/api/cases/configure?owner=cases")
    assert configuration["closure_type"] == "close-by-user"


async def test_pages_forbid_framing_and_foreign_scripts_and_the_stylesheet_needs_no_login(browser):
    person = await browser()
    await person.get("/app/cases")
    headers = person.last_response.headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert (headers["X-Frame-Options"], headers["Cache-Control"]) == ("DENY", "no-store")
    page = await person.get("/app/no/such/page")
    assert page.status == 404 and "There is no such page." in page.text
    anonymous = await browser(None)
    stylesheet = await anonymous.get("/app/static/ui.css")
    assert (stylesheet.status, anonymous.last_response.content_type) == (200, "text/css")


# --- automatic push ------------------------------------------------------------------------------------

#: The worker looks for due pushes every 50 ms (as in test_automatic_push.py).
FAST_AUTOMATIC_PUSH = {"automatic_push_poll_interval": 0.05, "automatic_push_backoff": 0.2}
BOTH_ALL = {"base": [], "feature": {"generalCases": ["all"], "actions": ["all"]}, "spaces": ["*"]}


class OptionsSample(msgspec.Struct, forbid_unknown_fields=True):
    open: str | list[str] | None = "To Do"
    closed: str | tuple[str, ...] = ("6", "7")
    close_code: str | None = "Solved"
    statuses: dict[str, str] = {}


def test_an_options_form_takes_lists_comma_separated_and_an_empty_input_as_none():
    fields = form_fields(OptionsSample, "options")
    assert [(f.name, f.kind, f.nullable) for f in fields] == [
        ("options.open", "list", True),
        ("options.closed", "list", False),
        ("options.close_code", "text", True),
        ("options.statuses", "json", False),
    ]
    assert [f.shown(f.default) for f in fields[:3]] == ["To Do", "6, 7", "Solved"]
    form = {"options.open": "To Do, Backlog ", "options.closed": "6", "options.close_code": " "}
    # One name is a string, unless the field's default is a list.
    assert read_form(fields, MultiDict(form), blank_is_none=True) == {
        "open": ["To Do", "Backlog"],
        "closed": ["6"],
        "close_code": None,
    }
    assert read_form(fields, MultiDict({"options.open": "Backlog"}))["open"] == "Backlog"
    # Without blank_is_none (the connector forms), an empty input is left to the type's default.
    assert read_form(fields, MultiDict(form)) == {"open": ["To Do", "Backlog"], "closed": ["6"]}


@pytest.mark.parametrize(
    ("type_id", "changed"),
    [
        (".jira", {"open": None, "closed": ["Done", "Closed"]}),
        (".servicenow", {"close_code": None, "closed": ["6"]}),
        (".servicenow-sir", {"in-progress": ["16"]}),
        (".cases-webhook", {}),
        (".echo", {"statuses": {"closed": "gone"}}),
    ],
)
async def test_each_bundled_types_options_saved_unchanged_from_their_form_stay_as_they_were(type_id, changed):
    host = await load_plugins(
        ["casepush-jira", "casepush-servicenow", "casepush-webhook"], extra=[casepush_echo]
    )
    options_type = host.types[type_id].state_options
    fields = form_fields(options_type, "options")
    for options in (options_type(), msgspec.convert(changed, options_type)):
        shown = msgspec.to_builtins(options)  # as the API's case sync settings give them
        form = MultiDict({f.name: f.shown(shown[f.key]) for f in fields})
        assert msgspec.convert(read_form(fields, form, blank_is_none=True), options_type) == options


@pytest.fixture
async def fast_api(api_with: Callable[..., Awaitable[Api]]) -> Api:
    return await api_with(**FAST_AUTOMATIC_PUSH)


async def echo_connector(api: Api, echo) -> dict:
    status, connector = await api.post("/api/actions/connector", connector_body(echo.url))
    assert status == 200, connector
    return connector


async def pushed_case(api: Api, connector: dict) -> dict:
    """A case on the echo connector, pushed once by hand (so that ``updates`` mode takes it)."""
    named = {"id": connector["id"], "name": "Echo", "type": ".echo", "fields": None}
    case = await api.create_case(connector=named)
    status, pushed = await api.post(f"/api/cases/{case['id']}/connector/{connector['id']}/_push", {})
    assert status == 200, pushed
    return case


async def turn_on(api: Api, connector: dict, **settings) -> None:
    body = {"mode": "updates", "quiet_period": 0.1, **settings}
    status, setting = await api.put(f"/api/casepush/automatic_push/cases/{connector['id']}", body)
    assert status == 200, setting


async def automatic_state(api: Api, case_id: str, until: Callable[[dict], bool]) -> dict:
    """The case's automatic push state (through the API) once ``until`` holds of it."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        status, found = await api.get(f"/api/casepush/cases/{case_id}/automatic_push")
        assert status == 200, found
        state = found["automatic_pushes"][0]
        if until(state):
            return state
        assert asyncio.get_running_loop().time() < deadline, state
        await asyncio.sleep(0.05)


def automatic_section(page: Page) -> str:
    """The case page's automatic push part, tags and blanks squeezed, for readable assertions."""
    found = re.search(r'<section class="automatic".*?</section>', page.text, re.S)
    assert found, page.text
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found[0])).strip()


async def comment_as(api: Api, case_id: str, text: str) -> None:
    status, body = await api.post(
        f"/api/cases/{case_id}/comments", {"type": "user", "comment": text, "owner": "cases"}
    )
    assert status == 200, body


async def test_the_case_page_says_when_automatic_push_is_off_and_why(api, browser, echo):
    connector = await echo_connector(api, echo)
    named = {"id": connector["id"], "name": "Echo", "type": ".echo", "fields": None}
    case = await api.create_case(connector=named)
    person = await browser()
    page = await person.get(f"/app/cases/{case['id']}")
    # Off and never used: that alone, and where to turn it on.
    assert automatic_section(page) == "Automatic push Setting Off for this connector and owner ( settings )"
    assert 'href="/app/settings#automatic-push-cases"' in page.text
    await turn_on(api, connector, quiet_period=30)
    page = await person.get(f"/app/cases/{case['id']}")
    assert "never pushed, so push it once by hand to start" in automatic_section(page)
    await turn_on(api, connector, mode="all", quiet_period=90)
    page = await person.get(f"/app/cases/{case['id']}")
    assert automatic_section(page) == (
        "Automatic push Setting On for every change, the first push too, 1 min 30 s after the latest change"
        " Now Nothing waiting Last attempt none yet Last automatic push never"
    )


async def test_the_case_page_shows_a_waiting_automatic_push_its_due_time_and_who_caused_it(fast_api, echo):
    api = fast_api
    connector = await echo_connector(api, echo)
    case = await pushed_case(api, connector)
    await turn_on(api, connector, quiet_period=60)
    await api.create_role("both", BOTH_ALL)
    bob = await api.create_user("bob", "both", full_name="Bob")
    await comment_as(bob, case["id"], "Seen again.")
    state = await automatic_state(api, case["id"], lambda s: s["state"] == "pending")

    async with browsing(api) as person:
        await person.login()
        page = await person.get(f"/app/cases/{case['id']}")
    section = automatic_section(page)
    assert (
        "Setting On for updates of cases already pushed to it once, 1 min after the latest change" in section
    )
    due = state["due_at"].replace("T", " ")[:19]
    assert f"Now Waiting to push a change by Bob: due {due} (in " in section
    assert f'<time datetime="{state["due_at"]}">' in page.text
    assert "reload it to see how it goes" in section
    assert "Needs to be pushed" in page.text


async def test_the_case_page_shows_a_failed_automatic_push_with_its_error(fast_api, echo):
    api = fast_api
    connector = await echo_connector(api, echo)
    case = await pushed_case(api, connector)
    await turn_on(api, connector)
    echo.fail(401)
    await comment_as(api, case["id"], "With a revoked token.")
    state = await automatic_state(api, case["id"], lambda s: s["state"] == "failed")

    async with browsing(api) as person:
        await person.login()
        page = await person.get(f"/app/cases/{case['id']}")
    section = automatic_section(page)
    assert (
        "Now Failed after 1 attempt to push a change by elastic; not tried again until the case changes"
        in (section)
    )
    assert "Status: 401" in state["last_error"]
    assert f'<span class="error-text">Error: {escape(state["last_error"])}</span>' in page.text
    attempted = state["last_attempt_at"].replace("T", " ")[:19]
    assert f"Last attempt {attempted} : failed Last automatic push never" in section


async def test_the_case_page_shows_a_retrying_automatic_push_its_next_attempt_and_the_error(api_with, echo):
    api = await api_with(automatic_push_poll_interval=0.05, automatic_push_backoff=60)
    connector = await echo_connector(api, echo)
    case = await pushed_case(api, connector)
    await turn_on(api, connector)
    echo.fail(503)
    await comment_as(api, case["id"], "While it is down.")
    state = await automatic_state(api, case["id"], lambda s: s["state"] == "retrying")

    async with browsing(api) as person:
        await person.login()
        page = await person.get(f"/app/cases/{case['id']}")
    section = automatic_section(page)
    due = state["due_at"].replace("T", " ")[:19]
    assert f"Now Retrying a change by elastic after 1 failed attempt: next attempt {due} (in " in section
    assert "Status: 503" in state["last_error"]
    assert f'<span class="error-text">Error: {escape(state["last_error"])}</span>' in page.text
    assert "reload it to see how it goes" in section


async def test_the_case_page_shows_an_automatic_push_done_without_a_click(fast_api, echo):
    api = fast_api
    connector = await echo_connector(api, echo)
    case = await pushed_case(api, connector)
    await turn_on(api, connector)
    await api.create_role("both", BOTH_ALL)
    bob = await api.create_user("bob", "both", full_name="Bob")
    await comment_as(bob, case["id"], "Pushed by itself.")
    state = await automatic_state(
        api, case["id"], lambda s: s["state"] == "idle" and s["last_outcome"] == "success"
    )

    async with browsing(api) as person:
        await person.login()
        page = await person.get(f"/app/cases/{case['id']}")
    section = automatic_section(page)
    pushed = state["last_pushed_at"].replace("T", " ")[:19]
    assert "Now Nothing waiting" in section and " : succeeded " in section
    assert f"Last automatic push {pushed} , a change by Bob" in section
    assert "Up to date" in page.text
    assert echo.incidents["1"]["comments"] == ["Pushed by itself.\n\nAdded by Bob."]


async def test_automatic_push_is_turned_on_and_off_on_the_settings_page(api, browser, echo):
    connector = await echo_connector(api, echo)
    person = await browser()
    page = await person.get("/app/settings")
    form_id = f'id="automatic-push-cases-{connector["id"]}"'
    assert form_id in page.text and 'placeholder="5"' in page.text
    path = f"/app/settings/cases/automatic-push/{connector['id']}"
    page = await person.post(path, {"enabled": "on", "mode": "all"}, csrf="forged")
    assert page.status == 403 and "did not come from this site" in page.text
    assert await api.get("/api/casepush/automatic_push") == (200, {"settings": []})
    await person.get("/app/settings")
    page = await person.post(path, {"enabled": "on", "mode": "all", "quiet_period": "2.5"})
    assert (
        "Automatic push of Stack Management cases to Echo is on, for every change, the first push too,"
        " 2.5 s after the latest change." in page.text
    )
    _, found = await api.get("/api/casepush/automatic_push")
    [setting] = found["settings"]
    assert (setting["enabled"], setting["mode"], setting["quiet_period"]) == (True, "all", 2.5)
    assert setting["owner"] == "cases" and setting["updated_by"]["username"] == "elastic"
    shown = page.text[page.text.index(form_id) :]
    assert 'name="enabled" checked' in shown and 'value="2.5"' in shown
    assert '<option value="all" selected>' in shown

    page = await person.post(path, {"mode": "updates", "quiet_period": ""})
    assert "Automatic push of Stack Management cases to Echo is off." in page.text
    _, found = await api.get("/api/casepush/automatic_push")
    assert [(s["enabled"], s["mode"], s["quiet_period"]) for s in found["settings"]] == [
        (False, "updates", 5.0)
    ]

    for typed, message in [
        ("-1", "quiet_period must be between 0 and 86400 seconds"),
        ("soon", "The quiet period must be a number of seconds."),
    ]:
        page = await person.post(path, {"enabled": "on", "mode": "all", "quiet_period": typed})
        assert f"Automatic push of Stack Management not saved: {message}" in page.text
    page = await person.post(path, {"enabled": "on", "mode": "sometimes"})
    assert "Automatic push of Stack Management not saved:" in page.text and "mode" in page.text
    _, found = await api.get("/api/casepush/automatic_push")
    assert [s["enabled"] for s in found["settings"]] == [False]


async def test_automatic_push_settings_are_hidden_and_refused_without_all_on_cases_and_actions(
    api, browser, echo
):
    connector = await echo_connector(api, echo)
    await turn_on(api, connector)
    await api.create_role("handler", {"base": [], "feature": {"generalCases": ["all"]}, "spaces": ["*"]})
    await api.create_user("handler", "handler")
    await read_only_user(api)
    path = f"/app/settings/cases/automatic-push/{connector['id']}"
    for username, refusal in [
        ("handler", "Unauthorized to update automatic push settings of actions"),
        ("reader", "Unauthorized to update automatic push settings"),
    ]:
        person = await browser(username)
        page = await person.get("/app/settings")
        assert "automatic-push-cases-" not in page.text, username
        assert "Changing it needs <b>all</b> on these cases and on Actions and Connectors." in page.text
        # What is set is shown, read-only.
        assert '<table class="list automatic-push-settings">' in page.text
        assert "<td>On</td>" in page.text
        page = await person.post(path, {"enabled": "on", "mode": "all", "quiet_period": "1"})
        assert page.status == 403 and refusal in page.text, (username, page.text)
    _, found = await api.get("/api/casepush/automatic_push")
    assert [(s["mode"], s["quiet_period"]) for s in found["settings"]] == [("updates", 0.1)]


async def test_case_sync_is_set_on_the_connectors_page_with_a_form_of_the_types_options(api, browser, echo):
    connector = await echo_connector(api, echo)
    person = await browser()
    page = await person.get("/app/connectors")
    sync_path = f"/app/connectors/{connector['id']}/case-sync"
    assert f'href="{sync_path}"' in page.text
    page = await person.get(f"/app/connectors/{connector['id']}")
    assert f'href="{sync_path}"' in page.text
    page = await person.get(sync_path)
    assert 'name="push_status">' in page.text and 'name="push_assignees">' in page.text
    assert "The echo service&#39;s state for each case status." in page.text
    defaults = '{"open":"new","in-progress":"active","closed":"done"}'
    assert f'<textarea name="options.statuses" rows="2">{escape(defaults)}</textarea>' in page.text

    form = {"push_status": "on", "options.statuses": '{"closed": "gone"}'}
    page = await person.post(sync_path, form, csrf="")
    assert page.status == 403 and "did not come from this site" in page.text
    await person.get(sync_path)
    page = await person.post(sync_path, form)
    assert "Case sync of Echo saved." in page.text
    assert 'name="push_status" checked>' in page.text and 'name="push_assignees">' in page.text
    _, sync = await api.get(f"/api/casepush/connectors/{connector['id']}/case_sync")
    assert (sync["push_status"], sync["push_assignees"], sync["options"]) == (
        True,
        False,
        {"statuses": {"closed": "gone"}},
    )

    for typed, message in [("{", "statuses must be JSON"), ('{"closed": 1}', "Invalid case sync options")]:
        page = await person.post(sync_path, {"push_assignees": "on", "options.statuses": typed})
        assert page.status == 400 and message in page.text, page.text
        # The form is shown as it was typed, to be corrected.
        assert f'<textarea name="options.statuses" rows="2">{escape(typed)}</textarea>' in page.text
        assert 'name="push_status">' in page.text and 'name="push_assignees" checked>' in page.text
    assert (await api.get(f"/api/casepush/connectors/{connector['id']}/case_sync"))[1] == sync


async def test_case_sync_is_read_only_and_refused_without_all_on_actions(api, browser, echo):
    connector = await echo_connector(api, echo)
    await read_only_user(api)
    reader = await browser("reader")
    sync_path = f"/app/connectors/{connector['id']}/case-sync"
    page = await reader.get(sync_path)
    assert page.status == 200 and "<fieldset disabled>" in page.text
    assert "Save case sync" not in page.text and "Changing it needs <b>all</b> on Actions" in page.text
    page = await reader.post(sync_path, {"push_status": "on"})
    assert page.status == 403 and "Unauthorized to update actions" in page.text
    _, sync = await api.get(f"/api/casepush/connectors/{connector['id']}/case_sync")
    assert sync["push_status"] is False


# --- two-way sync ---------------------------------------------------------------------------------------

INBOUND_SECRET = "inbound-secret-0123456789"


class _FormReader(HTMLParser):
    """What a browser posts of one form: its checked checkboxes, inputs and textareas, as they are shown."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id, self.inside, self.textarea = form_id, False, None
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self.inside = found.get("id") == self.form_id
        elif self.inside and tag == "input" and found.get("name") and found.get("name") != "csrf":
            if found.get("type") != "checkbox" or "checked" in found:
                self.values[found["name"]] = found.get("value") or (
                    "on" if found.get("type") == "checkbox" else ""
                )
        elif self.inside and tag == "textarea":
            self.textarea = found["name"]
            self.values[self.textarea] = ""

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.values[self.textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self.textarea = None
        elif tag == "form":
            self.inside = False


def form_as_shown(page: Page, form_id: str) -> dict[str, str]:
    reader = _FormReader(form_id)
    reader.feed(page.text)
    assert reader.values, page.text
    return reader.values


async def case_sync_of(api: Api, connector: dict) -> dict:
    status, found = await api.get(f"/api/casepush/connectors/{connector['id']}/case_sync")
    assert status == 200, found
    return found


async def set_case_sync(api: Api, connector: dict, **settings) -> dict:
    status, saved = await api.put(f"/api/casepush/connectors/{connector['id']}/case_sync", settings)
    assert status == 200, saved
    return saved


def sync_state_section(page: Page) -> str:
    found = re.search(r'<section class="card sync-state".*?</section>', page.text, re.S)
    assert found, page.text
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found[0])).strip()


async def test_the_case_sync_page_saved_unchanged_keeps_every_setting_and_the_secret(api, browser, echo):
    connector = await echo_connector(api, echo)
    before = await set_case_sync(
        api,
        connector,
        push_status=True,
        pull_comments=True,
        pull_title=False,
        poll_interval=300,
        inbound_secret=INBOUND_SECRET,
    )
    person = await browser()
    sync_path = f"/app/connectors/{connector['id']}/case-sync"
    page = await person.get(sync_path)
    shown = form_as_shown(page, "case-sync")
    assert {name: shown.get(name) for name in ("pull_status", "pull_comments", "pull_title")} == {
        "pull_status": "on",
        "pull_comments": "on",
        "pull_title": None,
    }
    assert shown["poll_interval"] == "300" and shown["inbound_secret"] == ""
    assert "a secret is set: empty keeps it" in page.text and INBOUND_SECRET not in page.text
    inbound = api.client.make_url(f"/api/casepush/connectors/{connector['id']}/inbound")
    assert f'<code class="inbound-url">{inbound}</code>' in page.text

    page = await person.post(sync_path, shown)
    assert "Case sync of Echo saved." in page.text
    assert await case_sync_of(api, connector) == before  # polling, the secret and what comes back kept

    page = await person.post(sync_path, form_as_shown(page, "case-sync") | {"remove_inbound_secret": "on"})
    assert "Case sync of Echo saved." in page.text and "none is set: the webhook is off" in page.text
    assert await case_sync_of(api, connector) == before | {"has_inbound_secret": False}
    page = await person.post(sync_path, form_as_shown(page, "case-sync") | {"poll_interval": ""})
    assert await case_sync_of(api, connector) == before | {"has_inbound_secret": False, "poll_interval": None}
    page = await person.post(sync_path, form_as_shown(page, "case-sync") | {"inbound_secret": INBOUND_SECRET})
    assert (await case_sync_of(api, connector))["has_inbound_secret"] is True
    assert INBOUND_SECRET not in page.text


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ({"poll_interval": "5"}, "[poll_interval]: must be between 10 and 86400 seconds"),
        ({"poll_interval": "soon"}, "[poll_interval]: must be a number of seconds"),
        ({"inbound_secret": "tooShort-xyz"}, "[inbound_secret]: must be at least 16 characters"),
    ],
)
async def test_refused_case_sync_settings_are_shown_as_typed_and_change_nothing(
    api, browser, echo, typed, message
):
    connector = await echo_connector(api, echo)
    before = await set_case_sync(api, connector, poll_interval=60, inbound_secret=INBOUND_SECRET)
    person = await browser()
    sync_path = f"/app/connectors/{connector['id']}/case-sync"
    form = form_as_shown(await person.get(sync_path), "case-sync")
    form = {name: value for name, value in form.items() if name != "pull_title"} | {"pull_comments": "on"}

    page = await person.post(sync_path, form | typed)

    assert page.status == 400 and str(escape(message)) in page.text, page.text
    shown = form_as_shown(page, "case-sync")
    assert "pull_title" not in shown and shown["pull_comments"] == "on"
    assert shown["poll_interval"] == typed.get("poll_interval", "60")
    assert shown["inbound_secret"] == ""  # never written into a page
    assert "tooShort-xyz" not in page.text
    assert await case_sync_of(api, connector) == before


async def test_a_read_only_user_sees_the_sync_settings_and_state_but_cannot_poll(api, browser, echo):
    connector = await echo_connector(api, echo)
    await set_case_sync(api, connector, pull_comments=True, poll_interval=60)
    await read_only_user(api)
    reader = await browser("reader")
    sync_path = f"/app/connectors/{connector['id']}/case-sync"
    page = await reader.get(sync_path)
    assert page.status == 200 and '<fieldset disabled id="bring-back">' in page.text
    assert 'name="pull_comments" checked>' in page.text and 'value="60"' in page.text
    assert "Next poll" in sync_state_section(page) and "Poll now" not in page.text
    page = await reader.post(f"{sync_path}/poll")
    assert page.status == 403 and "Unauthorized to update actions" in page.text
    page = await reader.post(sync_path, {"pull_comments": "on"})
    assert page.status == 403
    assert (await case_sync_of(api, connector))["poll_interval"] == 60


async def test_poll_now_polls_and_the_page_shows_the_polls_error(api, browser, echo):
    connector = await echo_connector(api, echo)
    person = await browser()
    sync_path = f"/app/connectors/{connector['id']}/case-sync"
    page = await person.get(sync_path)
    assert "Poll now" not in page.text and "none: not polled" in sync_state_section(page)
    page = await person.post(f"{sync_path}/poll")
    assert f"Connector {connector['id']} is not polled" in page.text

    # Polled only when something comes back: then Poll now is offered.
    await set_case_sync(
        api, connector, poll_interval=3600, pull_status=False, pull_title=False, pull_description=False
    )
    assert "Poll now" not in (await person.get(sync_path)).text
    await set_case_sync(api, connector, poll_interval=3600)
    await pushed_case(api, connector)
    echo.fail(503, path="/changes")
    page = await person.get(sync_path)
    assert "Poll now" in page.text
    page = await person.post(f"{sync_path}/poll")
    assert page.url.path == sync_path and "Echo is polled now" in page.text
    deadline = asyncio.get_running_loop().time() + 10
    while "Status: 503" not in sync_state_section(page):
        assert asyncio.get_running_loop().time() < deadline, sync_state_section(page)
        await asyncio.sleep(0.1)
        page = await person.get(sync_path)
    section = sync_state_section(page)
    assert re.search(
        r"Last poll \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(.*ago|now\) Its error \[Action\]\[Echo\]", section
    )
    assert "Last webhook call never" in section and "Changes applied 0" in section


async def test_the_case_page_marks_comments_that_came_from_the_external_system(api, browser, echo):
    connector = await echo_connector(api, echo)
    await set_case_sync(api, connector, pull_comments=True, inbound_secret=INBOUND_SECRET)
    case = await pushed_case(api, connector)
    await comment_as(api, case["id"], "Ours, from here.")
    _, found = await api.get(f"/api/cases/{case['id']}")
    incident = found["external_service"]["external_id"]
    body, headers = echo.webhook_call([echo.person_comments(incident, "Rebooted the host.")], INBOUND_SECRET)
    path = f"/api/casepush/connectors/{connector['id']}/inbound"
    assert await Api(api.client, auth=None).post(path, body, headers=headers, xsrf=False) == (
        200,
        {"applied": 1, "ignored": 0},
    )
    person = await browser()
    page = await person.get(f"/app/cases/{case['id']}")

    comments = dict(
        re.findall(
            r'<article class="comment card".*?<p class="meta">(.*?)</p>\s*<p class="text">(.*?)</p>',
            page.text,
            re.S,
        )
    )
    by_text = {
        text: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", meta)).strip() for meta, text in comments.items()
    }
    assert by_text["Rebooted the host."].startswith("Jane Doe (Echo) · ")
    assert by_text["Rebooted the host."].endswith("imported from Echo")
    assert "imported" not in by_text["Ours, from here."]
    title = found["external_service"]["external_title"]
    assert f"<b>Jane Doe (Echo)</b> brought back the comments from Echo ({title})" in page.text
    assert "<b>Jane Doe (Echo)</b> added a comment" in page.text
