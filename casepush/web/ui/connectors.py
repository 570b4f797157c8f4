"""The UI's connectors: the list, forms made from each type's structs (secrets write-only), a test, and
each connector's case sync settings (what its pushes send beyond Kibana's fields, with the type's options
as a form made from its ``state_options`` struct; what comes back from its system, how, and the sync
state, with a poll on demand)."""

import inspect
from typing import Any

import msgspec
from aiohttp import web

from casepush.connectors import CASES_FEATURE, ConnectorType
from casepush.domain import case_sync, connectors, one_snapshot, polling
from casepush.errors import KibanaError, bad_request
from casepush.security.authz import ACTIONS_FEATURE, Level
from casepush.types import UNSET, CaseSync, CaseSyncRequest, CreateConnector, UpdateConnector
from casepush.web import decode
from casepush.web.state import CONNECTORS, POLLER, context
from casepush.web.ui.forms import FormField, form_fields, read_form, seconds
from casepush.web.ui.render import redirect, render, secure
from casepush.web.ui.routing import Pages

pages = Pages()

#: How much of a test's answer the message after it shows.
TEST_ANSWER_SHOWN = 300


def _fields(connector_type: ConnectorType) -> list[FormField]:
    return form_fields(connector_type.config, "config") + form_fields(connector_type.secrets, "secrets")


def syncs_case_state(connector_type: ConnectorType) -> bool:
    """Whether the type's pushes can send a case's status or assignees, or its system's changes come back
    (it has case sync settings)."""
    syncs = connector_type.pushes_state or connector_type.pulls
    return bool(syncs) and CASES_FEATURE in connector_type.supported_feature_ids


@pages.get("/app/connectors")
async def list_connectors(request: web.Request) -> web.Response:
    ctx, rt = context(request), request.app[CONNECTORS]
    level = ctx.access.levels.get(ACTIONS_FEATURE)
    return await render(
        request,
        "connectors.html",
        connectors=await connectors.list_all(ctx, rt),
        types=rt.plugins.types,
        may_manage=level is Level.ALL,
        may_test=level is not None,
        unset=UNSET,
        syncs_case_state=syncs_case_state,
    )


async def _form_page(
    request: web.Request, connector_type: ConnectorType, status: int = 200, **values: Any
) -> web.Response:
    """The form of a new connector, or (``connector_id``) of an existing one; secrets always empty."""
    page: dict[str, Any] = {"connector_id": None, "name": "", "values": {}, "error": None}
    return await render(
        request,
        "connector_form.html",
        status,
        type=connector_type,
        fields=_fields(connector_type),
        case_sync=syncs_case_state(connector_type),
        **(page | values),
    )


def _part(connector_type: ConnectorType, form: Any, secrets: bool) -> dict[str, Any]:
    """The submitted config (or secrets) of the form."""
    return read_form([f for f in _fields(connector_type) if f.secret == secrets], form)


def _submitted(connector_type: ConnectorType, form: Any) -> dict[str, Any]:
    """The form as the connectors API's body (blank strings refused as the API refuses them)."""
    name = form.get("name", "")
    body = {
        "name": name if isinstance(name, str) else "",
        "config": _part(connector_type, form, secrets=False),
        "secrets": _part(connector_type, form, secrets=True),
    }
    connectors.refuse_blank_strings(body)
    return body


@pages.get("/app/connectors/new")
async def new_connector(request: web.Request) -> web.Response:
    ctx, rt = context(request), request.app[CONNECTORS]
    connector_type = connectors.registered_type(rt.plugins, request.query.get("type", ""))
    connectors.ensure_actions(ctx, Level.ALL, f'Unauthorized to create a "{connector_type.id}" action')
    return await _form_page(request, connector_type)


@pages.post("/app/connectors/new")
async def create_connector(request: web.Request) -> web.Response:
    ctx, rt = context(request), request.app[CONNECTORS]
    form = await request.post()
    connector_type = connectors.registered_type(rt.plugins, str(form.get("connector_type_id", "")))
    try:
        body = _submitted(connector_type, form)
        created = await connectors.create(
            ctx, rt, None, decode.convert({**body, "connector_type_id": connector_type.id}, CreateConnector)
        )
    except KibanaError as exc:
        if exc.status != 400:
            raise
        # What was typed comes back, but for the secrets: they are never written into a page.
        kept = _part(connector_type, form, secrets=False)
        return await _form_page(
            request, connector_type, 400, name=form.get("name", ""), values=kept, error=exc.message
        )
    redirect(request, "/app/connectors", ("ok", f"Connector {created.name} created."))


async def _existing(request: web.Request) -> tuple[Any, ConnectorType]:
    ctx, rt = context(request), request.app[CONNECTORS]
    info = await connectors.get(ctx, rt, request.match_info["connector_id"])
    if info.is_preconfigured:
        raise bad_request(f"Preconfigured action {info.id} can not be updated.")
    return info, connectors.registered_type(rt.plugins, info.connector_type_id)


@pages.get("/app/connectors/{connector_id}")
async def edit_connector(request: web.Request) -> web.Response:
    info, connector_type = await _existing(request)
    return await _form_page(request, connector_type, connector_id=info.id, name=info.name, values=info.config)


@pages.post("/app/connectors/{connector_id}")
async def update_connector(request: web.Request) -> web.Response:
    ctx, rt = context(request), request.app[CONNECTORS]
    info, connector_type = await _existing(request)
    form = await request.post()
    try:
        body = decode.convert(_submitted(connector_type, form), UpdateConnector)
        updated = await connectors.update(ctx, rt, info.id, body)
    except KibanaError as exc:
        if exc.status != 400:
            raise
        kept = _part(connector_type, form, secrets=False)
        return await _form_page(
            request,
            connector_type,
            400,
            connector_id=info.id,
            name=form.get("name", ""),
            values=kept,
            error=exc.message,
        )
    redirect(request, "/app/connectors", ("ok", f"Connector {updated.name} saved."))


def _test_params(connector_type: ConnectorType, external_id: str) -> dict[str, Any]:
    """``getIncident`` of the given incident, else ``handshake``: what the type offers to try it out."""
    if external_id and "getIncident" in connector_type.sub_actions:
        return {"subAction": "getIncident", "subActionParams": {"externalId": external_id}}
    if "handshake" in connector_type.sub_actions:
        return {"subAction": "handshake", "subActionParams": {}}
    raise bad_request(f"{connector_type.name} connectors cannot be tested without an incident id.")


@pages.post("/app/connectors/{connector_id}/test")
async def test_connector(request: web.Request) -> web.Response:
    ctx, rt = context(request), request.app[CONNECTORS]
    info = await connectors.get(ctx, rt, request.match_info["connector_id"])
    form = await request.post()
    external_id = str(form.get("externalId", "")).strip()
    params = _test_params(connectors.registered_type(rt.plugins, info.connector_type_id), external_id)
    result = await connectors.execute(ctx, rt, info.id, params)
    if result.status == "ok":
        answer = msgspec.json.encode(result.data).decode()[:TEST_ANSWER_SHOWN]
        redirect(
            request, "/app/connectors", ("ok", f"{info.name}: {params['subAction']} succeeded: {answer}")
        )
    problem = result.service_message or result.message
    redirect(request, "/app/connectors", ("error", f"{info.name}: {params['subAction']} failed: {problem}"))


# --- case sync -----------------------------------------------------------------------------------------


def _options_fields(connector_type: ConnectorType) -> list[FormField]:
    options = connector_type.state_options
    return form_fields(options, "options") if options is not None else []


def _about_options(connector_type: ConnectorType) -> list[str]:
    """The paragraphs of the options struct's docstring, for the form: what the options mean."""
    doc = connector_type.state_options.__doc__ if connector_type.state_options is not None else None
    if not doc:
        return []
    paragraphs = inspect.cleandoc(doc).replace("``", "").split("\n\n")
    return [" ".join(paragraph.split()) for paragraph in paragraphs if paragraph.strip()]


def _inbound_url(request: web.Request, sync: CaseSync) -> str | None:
    """Where the external system calls: casepush's public base URL (else as the browser reached it)."""
    if sync.inbound_path is None:
        return None
    public = request.app[CONNECTORS].public_base_url
    origin = public.rstrip("/") if public else f"{'https' if secure(request) else 'http'}://{request.host}"
    return origin + sync.inbound_path


async def _case_sync_page(request: web.Request, status: int = 200, **values: Any) -> web.Response:
    """The connector's case sync settings and sync state; ``values`` keep a refused form as it was typed
    (``typed``)."""
    ctx, rt = context(request), request.app[CONNECTORS]
    async with one_snapshot(ctx):
        info = await connectors.get(ctx, rt, request.match_info["connector_id"])
        connector_type = connectors.registered_type(rt.plugins, info.connector_type_id)
        sync = await case_sync.get_case_sync(ctx, rt, info.id)
        state = await polling.sync_state(ctx, rt, info.id) if sync.pullable else None
    page = {
        "info": info,
        "type": connector_type,
        "sync": sync,
        "state": state,
        "inbound_url": _inbound_url(request, sync),
        "pull_flags": case_sync.PULL_FLAGS,
        "fields": _options_fields(connector_type),
        "about_options": _about_options(connector_type),
        "may_manage": ctx.access.levels.get(ACTIONS_FEATURE) is Level.ALL,
        "typed": None,
        "error": None,
    }
    return await render(request, "case_sync.html", status, **(page | values))


@pages.get("/app/connectors/{connector_id}/case-sync")
async def show_case_sync(request: web.Request) -> web.Response:
    return await _case_sync_page(request)


def _sync_body(connector_type: ConnectorType, sync: CaseSync, form: Any) -> dict[str, Any]:
    """The form as the case sync API's body, every setting the page shows in it: what it does not show
    (what the type cannot do) left to the API's defaults. A blank secret keeps the one set."""
    body: dict[str, Any] = {
        "push_status": "push_status" in form,
        "push_assignees": "push_assignees" in form,
        "options": read_form(_options_fields(connector_type), form, blank_is_none=True),
    }
    body |= {case_sync.PULL_FLAGS[part]: case_sync.PULL_FLAGS[part] in form for part in sync.pullable}
    if sync.polls:
        # Empty: no polling.
        body["poll_interval"] = seconds(
            form.get("poll_interval"), "[poll_interval]: must be a number of seconds"
        )
    secret = form.get("inbound_secret", "")
    if sync.receives and "remove_inbound_secret" in form:
        body["inbound_secret"] = None
    elif sync.receives and isinstance(secret, str) and secret:
        body["inbound_secret"] = secret
    return body


@pages.post("/app/connectors/{connector_id}/case-sync")
async def save_case_sync(request: web.Request) -> web.Response:
    """Save what pushes to the connector send beyond Kibana's fields, what comes back from its system and
    how, and the type's options: an empty option that may be none is none (as the page shows it)."""
    ctx, rt = context(request), request.app[CONNECTORS]
    info = await connectors.get(ctx, rt, request.match_info["connector_id"])
    connector_type = connectors.registered_type(rt.plugins, info.connector_type_id)
    sync = await case_sync.get_case_sync(ctx, rt, info.id)
    form = await request.post()
    try:
        body = decode.convert(_sync_body(connector_type, sync, form), CaseSyncRequest)
        await case_sync.put_case_sync(ctx, rt, info.id, body)
    except KibanaError as exc:
        if exc.status != 400:
            raise
        # What was typed comes back, but the secret: it is never written into a page.
        typed = {name: value for name, value in form.items() if isinstance(value, str)}
        typed.pop("inbound_secret", None)
        return await _case_sync_page(request, 400, typed=typed, error=exc.message)
    redirect(request, f"/app/connectors/{info.id}/case-sync", ("ok", f"Case sync of {info.name} saved."))


@pages.post("/app/connectors/{connector_id}/case-sync/poll")
async def poll_now(request: web.Request) -> web.Response:
    """Poll the connector's system now, as ``POST .../sync_state/_poll`` does; its answer as a message."""
    ctx, rt = context(request), request.app[CONNECTORS]
    info = await connectors.get(ctx, rt, request.match_info["connector_id"])
    path = f"/app/connectors/{info.id}/case-sync"
    try:
        await polling.poll_now(ctx, rt, info.id, request.app.get(POLLER))
    except KibanaError as exc:
        if exc.status != 400:
            raise
        redirect(request, path, ("error", exc.message))
    redirect(request, path, ("ok", f"{info.name} is polled now: reload this page to see how it went."))
