"""Registers the UI: its pages and its static files (a stylesheet and a little script, no CDN)."""

from pathlib import Path

from aiohttp import web

from casepush.errors import not_found
from casepush.web.ui import account, cases, connectors, settings
from casepush.web.ui.routing import Pages

STATIC = Path(__file__).parent / "static"
unknown = Pages()


@unknown.get("/app/{path:.*}")
async def no_such_page(request: web.Request) -> web.Response:
    raise not_found("There is no such page.")


#: In the order the router tries them: ``/app/cases/new`` before ``/app/cases/{case_id}``, and the
#: catch-all for unknown pages last.
PAGES = (account.pages, cases.pages, connectors.pages, settings.pages, unknown)


def install(app: web.Application) -> None:
    app.router.add_static("/app/static", STATIC)
    for group in PAGES:
        group.apply(app)
