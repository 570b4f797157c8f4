"""The web UI as a person's browser uses it, without JavaScript: its own cookies, signed in, posting its
forms with the CSRF token of the page it last loaded."""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from casepush.testing.client import PASSWORD, Api
from casepush.web.ui.session import SESSION_COOKIE

_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


@dataclass
class Page:
    status: int
    url: URL
    text: str

    @property
    def csrf(self) -> str:
        """The CSRF token the page's forms carry."""
        found = _CSRF.search(self.text)
        assert found, "the page has no form with a CSRF token"
        return found[1]

    @property
    def checked_boxes(self) -> dict[str, str]:
        """The checkboxes the page shows checked, as its forms post them."""
        boxes = {}
        for tag in re.findall(r"<input\b[^>]*>", self.text):
            name = re.search(r'name="([^"]*)"', tag)
            if name and 'type="checkbox"' in tag and re.search(r"\schecked\b", tag):
                boxes[name[1]] = "on"
        return boxes


class Browser:
    """One person's browser: its own cookies; a form is posted with the CSRF token of the last page."""

    def __init__(self, api: Api):
        self.api = api
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.page: Page | None = None

    async def _load(self, method: str, path: str, **kwargs: Any) -> Page:
        async with self.session.request(method, self.api.client.make_url(path), **kwargs) as response:
            self.last_response = response
            page = Page(response.status, response.url, await response.text())
        if response.content_type == "text/html" and _CSRF.search(page.text):
            self.page = page
        return page

    async def get(self, path: str, **kwargs: Any) -> Page:
        return await self._load("GET", path, **kwargs)

    async def post(self, path: str, form: dict | None = None, csrf: str | None = None) -> Page:
        if csrf is None:
            assert self.page is not None, "no page with a form was loaded"
            csrf = self.page.csrf
        data = {"csrf": csrf, **(form or {})}
        return await self._load("POST", path, data=data)

    async def login(self, username: str = "elastic", password: str = PASSWORD) -> Page:
        await self.get("/app/login")
        return await self.post("/app/login", {"username": username, "password": password})

    @property
    def session_cookie(self) -> str | None:
        found = [cookie.value for cookie in self.session.cookie_jar if cookie.key == SESSION_COOKIE]
        return found[0] if found else None


@asynccontextmanager
async def browsing(api: Api) -> AsyncIterator[Browser]:
    """A browser of that app, closed afterwards."""
    person = Browser(api)
    try:
        yield person
    finally:
        await person.session.close()
