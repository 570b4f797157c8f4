"""The UI's case settings of each owner: closure type and default connector."""

from typing import Any

from aiohttp import web

from casepush.domain import configure
from casepush.errors import KibanaError
from casepush.security.authz import Level
from casepush.types import CreateConfiguration, PatchConfiguration
from casepush.web import decode
from casepush.web.state import CONNECTORS, context
from casepush.web.ui.cases import OWNER_NAMES, case_connector, connector_choices
from casepush.web.ui.render import redirect, render
from casepush.web.ui.routing import Pages

pages = Pages()

CLOSURE_TYPES = {
    "close-by-user": "Manually close cases",
    "close-by-pushing": "Close cases when they are pushed",
}


@pages.get("/app/settings")
async def show_settings(request: web.Request) -> web.Response:
    ctx = context(request)
    found = {configuration.owner: configuration for configuration in await configure.get(ctx, [])}
    return await render(
        request,
        "settings.html",
        owners=[(owner, OWNER_NAMES[owner], found.get(owner)) for owner in ctx.access.owners()],
        may_change={owner for owner in ctx.access.owners(Level.ALL)},
        connectors=await connector_choices(ctx, request.app[CONNECTORS]),
        closure_types=CLOSURE_TYPES,
    )


@pages.post("/app/settings/{owner}")
async def save_settings(request: web.Request) -> web.Response:
    """Create the owner's settings, or update them at the version the user saw (a 409 if they changed)."""
    ctx, owner = context(request), request.match_info["owner"]
    form = await request.post()
    choices = await connector_choices(ctx, request.app[CONNECTORS])
    configuration_id, version = str(form.get("configuration_id", "")), str(form.get("version", ""))
    connector_id = str(form.get("connector", ""))
    fields: dict[str, Any] = {"closure_type": form.get("closure_type", "")}
    # A connector the user may not list is the one already set: it stays.
    if not configuration_id or connector_id == "none" or connector_id in {c.id for c in choices}:
        fields["connector"] = case_connector(choices, connector_id)
    try:
        if configuration_id:
            patch = decode.convert({**fields, "version": version}, PatchConfiguration)
            await configure.update(ctx, configuration_id, patch)
        else:
            await configure.create(ctx, decode.convert({**fields, "owner": owner}, CreateConfiguration))
    except KibanaError as exc:
        if exc.status == 409:
            message = "Someone else changed these settings after you opened the page: nothing was saved."
            redirect(request, "/app/settings", ("error", f"{message} Here they are as they are now."))
        if exc.status != 400:
            raise
        redirect(request, "/app/settings", ("error", exc.message))
    redirect(request, "/app/settings", ("ok", f"Settings of {OWNER_NAMES.get(owner, owner)} saved."))
