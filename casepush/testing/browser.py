"""The web UI as a person's browser uses it: logged in, with its cookie, posting its forms."""

import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp

from casepush.testing.client import PASSWORD, Api

#: ``await page(method, path, form=None)``: the page's HTML (a 200 is asserted).
Page = Callable[..., Awaitable[str]]


@contextlib.asynccontextmanager
async def browser(api: Api, username: str = "elastic", password: str = PASSWORD) -> AsyncIterator[Page]:
    """A browser session of the app ``api`` calls, logged in to the UI as ``username``."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:

        async def page(method: str, path: str, form: dict | None = None) -> str:
            async with session.request(method, api.client.make_url(path), data=form) as response:
                text = await response.text()
                assert response.status == 200, text
                return text

        login = await page("GET", "/app/login")
        await page("POST", "/app/login", {"csrf": csrf_of(login), "username": username, "password": password})
        yield page


def csrf_of(page: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf" value="([^"]*)"', page)
    assert found, "the page has no form with a CSRF token"
    return found[1]


def checked_boxes(page: str) -> dict[str, str]:
    """The checkboxes a page shows checked, as its form posts them."""
    boxes = {}
    for tag in re.findall(r"<input\b[^>]*>", page):
        name = re.search(r'name="([^"]*)"', tag)
        if name and 'type="checkbox"' in tag and re.search(r"\schecked\b", tag):
            boxes[name[1]] = "on"
    return boxes
