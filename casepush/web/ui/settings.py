"""The UI's settings of each owner: closure type and default connector, and automatic push per
connector."""

from typing import Any, cast, get_args

from aiohttp import web

from casepush.domain import automatic_push, configure
from casepush.errors import KibanaError, bad_request
from casepush.security.authz import Level
from casepush.types import (
    AutomaticPushRequest,
    Configuration,
    CreateConfiguration,
    Owner,
    PatchConfiguration,
)
from casepush.web import decode
from casepush.web.state import CONNECTORS, SETTINGS, context
from casepush.web.ui.cases import (
    AUTOMATIC_PUSH_MODE_CHOICES,
    AUTOMATIC_PUSH_MODES,
    OWNER_NAMES,
    case_connector,
    connector_choices,
    may_run_connectors,
)
from casepush.web.ui.forms import seconds
from casepush.web.ui.render import duration, redirect, render
from casepush.web.ui.routing import Pages

pages = Pages()

CLOSURE_TYPES = {
    "close-by-user": "Manually close cases",
    "close-by-pushing": "Close cases when they are pushed",
}


@pages.get("/app/settings")
async def show_settings(request: web.Request) -> web.Response:
    ctx = context(request)
    found: dict[str, Configuration] = {c.owner: c for c in await configure.get(ctx, [])}
    may_change = set(ctx.access.owners(Level.ALL))
    automatic: dict[str, dict[str, Any]] = {}
    for setting in await automatic_push.list_settings(ctx):
        automatic.setdefault(setting.owner, {})[setting.connector_id] = setting
    return await render(
        request,
        "settings.html",
        owners=[(owner, OWNER_NAMES[owner], found.get(owner)) for owner in ctx.access.owners()],
        may_change=may_change,
        # Automatic push pushes as the user who changed the case: setting it needs what a push needs.
        may_automate=may_change if may_run_connectors(ctx) else set(),
        connectors=await connector_choices(ctx, request.app[CONNECTORS]),
        closure_types=CLOSURE_TYPES,
        automatic=automatic,
        mode_choices=AUTOMATIC_PUSH_MODE_CHOICES,
        default_quiet_period=request.app[SETTINGS].automatic_push_quiet_period,
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


@pages.post("/app/settings/{owner}/automatic-push/{connector_id}")
async def save_automatic_push(request: web.Request) -> web.Response:
    """Turn automatic push on or off for the owner's cases that use the connector, with its mode and
    quiet period."""
    ctx, owner = context(request), request.match_info["owner"]
    connector_id = request.match_info["connector_id"]
    if owner not in get_args(Owner):
        raise bad_request(f"Unknown owner {owner!r}")
    form = await request.post()
    owner_name = OWNER_NAMES[owner]
    try:
        body = decode.convert(
            {
                "enabled": "enabled" in form,
                "mode": form.get("mode", ""),
                # Empty: the server's default.
                "quiet_period": seconds(
                    form.get("quiet_period"), "The quiet period must be a number of seconds."
                ),
            },
            AutomaticPushRequest,
        )
        setting = await automatic_push.put_setting(
            ctx,
            request.app[CONNECTORS],
            request.app[SETTINGS],
            cast(Owner, owner),
            connector_id,
            body,
        )
    except KibanaError as exc:
        if exc.status != 400:
            raise
        redirect(
            request, "/app/settings", ("error", f"Automatic push of {owner_name} not saved: {exc.message}")
        )
    names = {c.id: c.name for c in await connector_choices(ctx, request.app[CONNECTORS])}
    where = f"{owner_name} cases to {names.get(connector_id, connector_id)}"
    if setting.enabled:
        done = (
            f"Automatic push of {where} is on, for {AUTOMATIC_PUSH_MODES[setting.mode]},"
            f" {duration(setting.quiet_period)} after the latest change."
        )
    else:
        done = f"Automatic push of {where} is off."
    redirect(request, "/app/settings", ("ok", done))
