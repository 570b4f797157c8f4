"""The web UI in headless Chromium (Debian's ``chromium``, driven by Playwright) against a real server
process and a fake Jira: a person's way from logging in to pushing a case twice, automatic push turned on
and seen to push by itself (and to fail), two-way sync turned on and a Jira comment brought back, and a
read-only user's. The screenshots of docs/ui/ are taken here (``make screenshots`` writes them there)."""

import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path

import pytest
from fake_jira import API_TOKEN, EMAIL, PROJECT, ZONE, FakeJira, jira_error, start_jira
from playwright.async_api import Browser, Page, async_playwright, expect

from casepush.config import Settings
from tests.processes import call, start, stop

CHROMIUM = "/usr/bin/chromium"
#: Where the pages are photographed: docs/ui/ with ``make screenshots``, else a folder of the test run's, so
#: that running the tests leaves the repository as it was.
SCREENSHOTS_ENV = "CASEPUSH_SCREENSHOTS"
PASSWORD = "changeme"
SYNC_SECRET = "It's a secret to everybody"


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[str]:
    """casepush with the Jira plugin, as ``python -m casepush serve`` runs it (its automatic push worker
    looking for due pushes every 0.2 s)."""
    process, url = await start(
        settings,
        CASEPUSH_ELASTIC_PASSWORD=PASSWORD,
        CASEPUSH_LOAD_PLUGINS="casepush-jira",
        CASEPUSH_AUTOMATIC_PUSH_POLL_INTERVAL="0.2",
    )
    yield url
    await stop(process)


@pytest.fixture
async def jira(fake_service) -> FakeJira:
    return await start_jira(fake_service())


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    assert Path(CHROMIUM).exists(), "install Debian's chromium package (.ci/run does)"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        await browser.close()


async def signed_in(chromium: Browser, url: str, username: str, password: str, shot: bool = False) -> Page:
    page = await (await chromium.new_context(viewport={"width": 1280, "height": 800})).new_page()
    page.set_default_timeout(10_000)
    await page.goto(f"{url}/app/cases")
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    if shot:
        await screenshot(page, "login")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Cases")).to_be_visible()
    return page


async def screenshot(page: Page, name: str) -> None:
    chosen = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(chosen) if chosen else Path(tempfile.gettempdir()) / "casepush-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=folder / f"{name}.png", full_page=True)


async def see(page: Page, message: str) -> None:
    await expect(page.locator(".flash")).to_contain_text(message)


async def comment(page: Page, text: str) -> None:
    await page.locator("#add-comment textarea").fill(text)
    await page.get_by_role("button", name="Add comment").click()
    await see(page, "Comment added.")


async def create_jira_connector(page: Page, jira: FakeJira) -> None:
    await page.get_by_role("link", name="Connectors").click()
    await page.get_by_label("Connector type").select_option(".jira")
    await page.get_by_role("button", name="Create connector").click()
    await page.get_by_label("Name").fill("Team Jira")
    for field, value in {
        "config.apiUrl": jira.url,
        "config.projectKey": PROJECT,
        "secrets.email": EMAIL,
        "secrets.apiToken": API_TOKEN,
    }.items():
        await page.locator(f'[name="{field}"]').fill(value)
    await screenshot(page, "connector-form")
    await page.get_by_role("button", name="Create connector").click()
    await see(page, "Connector Team Jira created.")
    await page.get_by_label("Incident id to look up").fill("CK-404")
    await page.get_by_role("button", name="Test").click()
    await see(page, "Team Jira: getIncident failed: [Action][Jira]:")
    await screenshot(page, "connectors")


async def test_a_case_is_created_commented_previewed_and_pushed_twice_to_jira(server, jira, chromium):
    page = await signed_in(chromium, server, "elastic", PASSWORD, shot=True)
    await page.get_by_role("link", name="Create case").click()
    await page.get_by_label("Title").fill("Suspicious login on web-01")
    await page.get_by_label("Description").fill("Several failed logins, then a success.")
    await page.get_by_label("Tags").fill("auth, web")
    await page.get_by_label("Severity").select_option("high")
    await page.get_by_role("button", name="Create case").click()
    await see(page, "Case created.")
    case_url = page.url
    await comment(page, "Password reset requested.")

    await create_jira_connector(page, jira)
    await page.goto(case_url)
    await page.get_by_label("External connector").select_option(label="Team Jira (.jira)")
    await page.get_by_role("button", name="Save case").click()
    await see(page, "Case saved.")
    await expect(page.locator(".push .state")).to_have_text("Needs to be pushed")

    calls = jira.calls()
    await page.get_by_role("link", name="Preview").click()
    await expect(page.locator(".payload")).to_contain_text('"summary": "Suspicious login on web-01"')
    await expect(page.locator("main")).to_contain_text("create an incident")
    await screenshot(page, "preview")
    assert jira.calls() == calls  # a preview sends nothing
    await page.get_by_role("link", name="Back to the case").click()

    await page.get_by_role("button", name="Push", exact=True).click()
    await see(page, "Pushed to Team Jira: CK-1.")
    link = page.locator("a.external")
    await expect(link).to_have_text("CK-1")
    assert await link.get_attribute("href") == f"{jira.url}/browse/CK-1"
    await expect(page.locator(".push .state")).to_have_text("Up to date")

    await comment(page, "The user confirmed it was not them.")
    await expect(page.locator(".push .state")).to_have_text("Needs to be pushed")
    await page.get_by_role("button", name="Update incident").click()
    await see(page, "Pushed to Team Jira: CK-1.")
    await expect(page.locator(".push .state")).to_have_text("Up to date")
    await screenshot(page, "case")
    assert [c["body"].split("\n")[0] for c in jira.comments["10000"]] == [
        "Password reset requested.",
        "The user confirmed it was not them.",
    ]

    await page.get_by_role("navigation").get_by_role("link", name="Cases").click()
    await expect(page.locator("table.list")).to_contain_text("Suspicious login on web-01")
    await screenshot(page, "cases")
    await page.get_by_role("link", name="Settings").click()
    await expect(page.get_by_role("heading", name="Case settings")).to_be_visible()


async def test_a_read_only_user_sees_no_push_button_and_is_refused_when_posting_anyway(server, chromium):
    reader_role = {"base": [], "feature": {"generalCases": ["read"], "actions": ["read"]}, "spaces": ["*"]}
    connector = {"name": "Team Jira", "connector_type_id": ".jira"}
    connector |= {"config": {"apiUrl": "http://127.0.0.1:9", "projectKey": PROJECT}}
    connector |= {"secrets": {"email": EMAIL, "apiToken": API_TOKEN}}
    for method, path, body in [
        ("PUT", "/api/security/role/reader", {"elasticsearch": {}, "kibana": [reader_role]}),
        ("PUT", "/_security/user/reader", {"password": "reader-password", "roles": ["reader"]}),
        ("POST", "/api/actions/connector/team-jira", connector),
    ]:
        status, answer = await call(server, method, path, body)
        assert status in (200, 204), answer
    case = {"title": "Read me", "description": "Only read.", "tags": [], "owner": "cases"}
    case |= {"settings": {"syncAlerts": False}}
    case |= {"connector": {"id": "team-jira", "name": "Team Jira", "type": ".jira", "fields": None}}
    status, created = await call(server, "POST", "/api/cases", case)
    assert status == 200, created

    page = await signed_in(chromium, server, "reader", "reader-password")
    await page.get_by_role("link", name="Read me").click()
    await expect(page.locator(".push .state")).to_have_text("Needs to be pushed")
    for name in ("Push", "Save case", "Add comment"):
        await expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)
    token = await page.locator('input[name="csrf"]').first.get_attribute("value")
    refused = await page.request.post(
        f"{server}/app/cases/{created['id']}/connectors/team-jira/push", form={"csrf": token}
    )
    assert refused.status == 403
    assert "Unauthorized to push case" in await refused.text()


async def reload_until(
    page: Page, selector: str, holds: str | Callable[[str], bool], timeout: float = 20
) -> None:
    """Reload the page (it does not change by itself) until ``selector`` shows ``holds`` (a text in it,
    or a test of it)."""
    deadline = time.monotonic() + timeout
    while True:
        await page.reload()
        shown = await page.locator(selector).inner_text()
        if (holds in shown) if isinstance(holds, str) else holds(shown):
            return
        assert time.monotonic() < deadline, f"{selector} never showed what was waited for: {shown!r}"
        await asyncio.sleep(0.3)


async def case_on_team_jira(server: str, jira: FakeJira, title: str, description: str) -> dict:
    """A connector ``team-jira`` to the fake Jira, and a case on it (made through the API)."""
    connector = {"name": "Team Jira", "connector_type_id": ".jira"}
    connector |= {"config": {"apiUrl": jira.url, "projectKey": PROJECT}}
    connector |= {"secrets": {"email": EMAIL, "apiToken": API_TOKEN}}
    status, answer = await call(server, "POST", "/api/actions/connector/team-jira", connector)
    assert status == 200, answer
    case = {"title": title, "description": description, "tags": [], "owner": "cases"}
    case |= {"settings": {"syncAlerts": False}}
    case |= {"connector": {"id": "team-jira", "name": "Team Jira", "type": ".jira", "fields": None}}
    status, created = await call(server, "POST", "/api/cases", case)
    assert status == 200, created
    return created


async def on_case_sync_page(chromium: Browser, server: str) -> Page:
    """``elastic`` signed in, on the case sync page of Team Jira (reached from the connectors)."""
    page = await signed_in(chromium, server, "elastic", PASSWORD)
    await page.get_by_role("link", name="Connectors").click()
    await page.get_by_role("link", name="Case sync of Team Jira").click()
    return page


async def test_automatic_push_turned_on_in_the_settings_pushes_an_edited_case_by_itself(
    server, jira, chromium
):
    created = await case_on_team_jira(server, jira, "Malware on laptop-7", "The scanner found a trojan.")
    page = await on_case_sync_page(chromium, server)

    # The connector's pushes send the case's status too.
    await page.get_by_label("The case's status").check()
    await expect(page.locator('[name="options.in-progress"]')).to_have_value("In Progress")
    await page.get_by_role("button", name="Save case sync").click()
    await see(page, "Case sync of Team Jira saved.")

    # Automatic push on for Stack Management's cases on Team Jira, their first push too.
    await page.get_by_role("link", name="Settings").click()
    form = page.locator("#automatic-push-cases-team-jira")
    await form.get_by_label("Push automatically").check()
    await form.get_by_label("Mode").select_option("all")
    await form.get_by_label("Quiet period").fill("2")
    await form.get_by_role("button", name="Save").click()
    await see(page, "Automatic push of Stack Management cases to Team Jira is on, for every change")
    await expect(form.get_by_label("Push automatically")).to_be_checked()
    await screenshot(page, "settings")

    # An edit, and nothing else: the case is pushed by itself after the quiet period.
    await page.goto(f"{server}/app/cases/{created['id']}")
    state = page.locator(".push .automatic-state")
    await expect(page.locator(".push .switch")).to_contain_text("On for every change, the first push too")
    await expect(state).to_have_text("Nothing waiting")
    await page.get_by_label("Status").select_option("in-progress")
    await page.get_by_role("button", name="Save case").click()
    await see(page, "Case saved.")
    await expect(state).to_contain_text("Waiting to push a change by elastic: due")
    await reload_until(page, ".push .outcome", "succeeded")
    await expect(state).to_have_text("Nothing waiting")
    # The page reads the automatic push's state apart from the case's pushes (the push may have saved
    # between the two reads): the first push of the case shows once the page is read again.
    await reload_until(page, ".push .state", "Up to date")
    await expect(page.locator(".push .last-push")).to_contain_text("a change by elastic")
    await expect(page.locator("a.external")).to_have_text("CK-1")
    assert jira.status_of("10000") == "In Progress"
    await screenshot(page, "automatic-push")

    # Jira refuses the next push: the case page says so, with Jira's error.
    jira.break_all(jira_error(400, "Issue is locked for maintenance."))
    await comment(page, "The trojan came in a mail attachment.")
    await reload_until(page, ".push .automatic-state", "Failed after 1 attempt")
    await expect(state).to_contain_text("Issue is locked for maintenance.")
    await expect(page.locator(".push .state")).to_have_text("Needs to be pushed")
    await screenshot(page, "automatic-push-failed")


async def test_two_way_sync_set_on_the_case_sync_page_brings_a_jira_comment_back_to_the_case(
    server, jira, chromium
):
    created = await case_on_team_jira(server, jira, "Phishing mail to finance", "A fake invoice.")
    page = await on_case_sync_page(chromium, server)

    # Comments come back too, by Jira's webhook (its secret set here) and by polls every 5 minutes.
    await expect(page.get_by_label("The status (by the reverse of the status mapping)")).to_be_checked()
    await page.get_by_label("New and edited comments").check()
    await page.get_by_label("Poll every").fill("300")
    await page.get_by_label("Inbound webhook secret").fill(SYNC_SECRET)
    await page.get_by_role("button", name="Save case sync").click()
    await see(page, "Case sync of Team Jira saved.")
    await expect(page.get_by_label("Inbound webhook secret")).to_have_value("")
    await expect(page.get_by_label("Remove the secret (turns the webhook off)")).not_to_be_checked()
    inbound_url = await page.locator(".inbound-url").inner_text()
    assert inbound_url == f"{server}/api/casepush/connectors/team-jira/inbound"
    jira.register_webhook(inbound_url, SYNC_SECRET)

    await page.goto(f"{server}/app/cases/{created['id']}")
    await page.get_by_role("button", name="Push", exact=True).click()
    await see(page, "Pushed to Team Jira: CK-1.")
    jira.now = datetime.now(ZONE)  # its webhooks say when they were sent: now, not a replay
    await jira.comment_as(
        jira.add_user("Ann Lee", "ann@acme.com"), "10000", "The sender's domain is blocked."
    )
    assert [delivery.statuses for delivery in jira.deliveries] == [[200], [200]]

    await page.reload()
    imported = page.locator(".comment", has_text="The sender's domain is blocked.")
    await expect(imported.locator(".meta")).to_contain_text("Ann Lee (Jira)")
    await expect(imported.locator(".badge.imported")).to_have_text("imported from Team Jira")
    await expect(page.locator(".activity")).to_contain_text(
        "Ann Lee (Jira) brought back the comments from Team Jira (CK-1)"
    )
    await screenshot(page, "case-synced")

    # The sync state: the webhook's call, and a poll asked now.
    await page.goto(f"{server}/app/connectors/team-jira/case-sync")
    await expect(page.locator(".changes-applied")).to_have_text("1")
    await expect(page.locator(".last-inbound")).not_to_have_text("never")
    polled_before = await page.locator(".last-poll").inner_text()
    await page.get_by_role("button", name="Poll now").click()
    await see(page, "Team Jira is polled now")
    await reload_until(page, ".last-poll", lambda shown: shown != polled_before)
    await expect(page.locator(".sync-state")).not_to_contain_text("Its error")
    await expect(page.locator(".changes-applied")).to_have_text("1")  # the poll saw it already applied
    await screenshot(page, "case-sync")
