"""The UI's cases: the list, a new case, and the case page with its edits, comments and pushes.

Every action calls the domain function its API handler calls, so the checks, user actions and
messages are the API's.
"""

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import msgspec
from aiohttp import web

from casepush.domain import (
    Context,
    automatic_push,
    case_connectors,
    cases,
    comments,
    connectors,
    one_snapshot,
    push,
    sync,
    user_actions,
)
from casepush.domain.connectors import ConnectorRuntime
from casepush.errors import KibanaError, bad_request
from casepush.security.authz import ACTIONS_FEATURE, Level
from casepush.types import (
    SEVERITIES,
    STATUSES,
    AddUserComment,
    AlertComment,
    AutomaticPushSetting,
    Case,
    CaseAutomaticPush,
    CaseConnectorEntry,
    CaseConnectorInfo,
    CasePatch,
    CreateCase,
    FindCasesQuery,
    UpdateUserComment,
    UserAction,
    UserComment,
    as_list,
    encode,
)
from casepush.web import decode
from casepush.web.state import CONNECTORS, context
from casepush.web.ui.render import duration, redirect, render
from casepush.web.ui.routing import Pages

pages = Pages()

OWNER_NAMES = {"cases": "Stack Management", "observability": "Observability", "securitySolution": "Security"}
NO_CONNECTOR = {"id": "none", "name": "none", "type": ".none", "fields": None}
PER_PAGE = 20
#: The list's query parameters, as ``GET /api/cases/_find`` names them.
FILTERS = ("search", "status", "severity", "tags", "owner", "sortField", "sortOrder", "page")
SORT_FIELDS = {"createdAt": "Created", "updatedAt": "Updated", "title": "Title", "severity": "Severity"}
#: How many of a case's latest user actions its page shows.
ACTIVITY_SHOWN = 100
#: Where pushed descriptions link to (Kibana's apps): they lead to the case page here.
KIBANA_CASE_PATHS = (
    "/app/security/cases/{case_id}",
    "/app/observability/cases/{case_id}",
    "/app/management/insightsAndAlerting/cases/{case_id}",
)


def may_run_connectors(ctx: Context) -> bool:
    return ctx.access.levels.get(ACTIONS_FEATURE) is Level.ALL


async def connector_choices(ctx: Context, rt: ConnectorRuntime) -> list[CaseConnectorInfo]:
    """The connectors a case (or an owner's settings) may name; none if the user may not list them."""
    try:
        return await connectors.for_cases(ctx, rt)
    except KibanaError:
        return []


def case_connector(choices: list[CaseConnectorInfo], connector_id: str) -> dict[str, Any]:
    """A case's ``connector`` for the chosen id (``none``: no connector); its fields left to the type."""
    if connector_id in ("", "none"):
        return NO_CONNECTOR
    for choice in choices:
        if choice.id == connector_id:
            return {"id": choice.id, "name": choice.name, "type": choice.actionTypeId, "fields": None}
    raise bad_request(f"Unknown connector {connector_id}")


def split_tags(text: str) -> list[str]:
    return [tag.strip() for tag in text.split(",") if tag.strip()]


def _text(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


# --- the list ------------------------------------------------------------------------------------------


@pages.get("/app/cases")
async def list_cases(request: web.Request) -> web.Response:
    ctx = context(request)
    chosen = {name: request.query[name] for name in FILTERS if request.query.get(name)}
    params = decode.convert(chosen, FindCasesQuery, strict=False)
    params.perPage = PER_PAGE
    found = await cases.find(ctx, params)
    return await render(
        request,
        "cases.html",
        found=found,
        chosen=chosen,
        pages=max(1, math.ceil(found.total / PER_PAGE)),
        page_query=lambda number: "?" + urlencode({**chosen, "page": number}),
        tags=await cases.tags(ctx, []),
        owners={owner: OWNER_NAMES[owner] for owner in ctx.access.owners()},
        may_create=bool(ctx.access.owners(Level.ALL)),
        statuses=STATUSES,
        severities=SEVERITIES,
        sort_fields=SORT_FIELDS,
    )


# --- a new case ----------------------------------------------------------------------------------------


async def _new_case_page(request: web.Request, status: int = 200, **values: Any) -> web.Response:
    ctx = context(request)
    return await render(
        request,
        "new_case.html",
        status,
        owners={owner: OWNER_NAMES[owner] for owner in ctx.access.owners(Level.ALL)},
        connectors=await connector_choices(ctx, request.app[CONNECTORS]),
        severities=SEVERITIES,
        **({"form": {}, "error": None} | values),
    )


@pages.get("/app/cases/new")
async def new_case(request: web.Request) -> web.Response:
    return await _new_case_page(request)


@pages.post("/app/cases/new")
async def create_case(request: web.Request) -> web.Response:
    ctx = context(request)
    form = await request.post()
    submitted = {name: _text(form, name) for name in ("title", "description", "tags", "severity", "owner")}
    submitted["connector"] = _text(form, "connector")
    try:
        choices = await connector_choices(ctx, request.app[CONNECTORS])
        body = decode.convert(
            {
                **submitted,
                "tags": split_tags(submitted["tags"]),
                "connector": case_connector(choices, submitted["connector"]),
                "settings": {"syncAlerts": False},
            },
            CreateCase,
        )
        case = await cases.create(ctx, body)
    except KibanaError as exc:
        if exc.status != 400:
            raise
        return await _new_case_page(request, 400, form=submitted, error=exc.message)
    redirect(request, f"/app/cases/{case.id}", ("ok", "Case created."))


# --- the case page -------------------------------------------------------------------------------------


def describe(action: UserAction) -> str:
    """A user action in words, for the case's activity."""
    payload, verb = action.payload, {"create": "added", "add": "added", "update": "edited"}
    match action.type:
        case "create_case":
            return "created the case"
        case "comment":
            kind = "alerts" if payload.get("comment", {}).get("type") == "alert" else "a comment"
            return f"{verb.get(action.action, 'deleted')} {kind}"
        case "pushed":
            service = payload["externalService"]
            return f"pushed the case to {service['connector_name']} ({service['external_title']})"
        case "tags":
            return f"{verb.get(action.action, 'removed')} tags {', '.join(payload['tags'])}"
        case "connector":
            return f"chose the connector {payload['connector']['name']}"
        case "status" | "severity" | "title" | "category":
            return f"set the {action.type} to {payload[action.type]}"
        case "sync":
            return _synced(payload["sync"])
    return f"changed the {action.type}"


def _synced(synced: dict[str, Any]) -> str:
    """Kibana's ``sync`` user action in words: what came back from which incident, what kept the case's
    value because it changed here later."""
    source = synced.get("connector_name") or "the external incident"
    if synced.get("external_title"):
        source = f"{source} ({synced['external_title']})"
    updated = ", ".join(synced.get("updated_fields") or [])
    words = f"brought back the {updated} from {source}" if updated else f"synced from {source}: no change"
    if conflicted := synced.get("conflicted_fields"):
        words += f"; kept the case's {', '.join(conflicted)}, changed here later"
    return words


#: What each automatic push mode pushes, in words.
AUTOMATIC_PUSH_MODES = {
    "updates": "updates of cases already pushed to it once",
    "all": "every change, the first push too",
}
#: The modes as the settings' form offers them.
AUTOMATIC_PUSH_MODE_CHOICES = {
    "updates": "Updates only (of cases pushed once by hand)",
    "all": "All (the first push too)",
}


@dataclass(frozen=True)
class AutomaticPushView:
    """A case's automatic push to one connector, for its card on the case page: the state as the API
    gives it, and whether it is on (``switch``, in words)."""

    state: CaseAutomaticPush
    on: bool
    switch: str


def _switch(
    case: Case, connector_id: str, state: CaseAutomaticPush, setting: AutomaticPushSetting | None
) -> str:
    """Whether automatic push is on for the case and the connector, in words, and why not when it is off."""
    if state.enabled and setting is not None:
        return (
            f"On for {AUTOMATIC_PUSH_MODES[setting.mode]}, {duration(setting.quiet_period)} after the latest"
            " change"
        )
    if setting is None or not setting.enabled:
        return "Off for this connector and owner"
    if connector_id != case.connector.id:
        return "Off: this is no longer the case's connector"
    return (
        "On for updates of cases already pushed to this connector: this case's latest push went"
        " elsewhere or it was never pushed, so push it once by hand to start"
    )


async def _automatic_pushes(ctx: Context, case: Case) -> dict[str, AutomaticPushView]:
    """The case's automatic push state by connector id."""
    settings = {
        setting.connector_id: setting
        for setting in await automatic_push.list_settings(ctx)
        if setting.owner == case.owner
    }
    return {
        state.connector_id: AutomaticPushView(
            state,
            state.enabled,
            _switch(case, state.connector_id, state, settings.get(state.connector_id)),
        )
        for state in await automatic_push.case_pushes(ctx, case.id)
    }


def _imported(imported: dict[str, str], pushes: dict[str, CaseConnectorEntry]) -> dict[str, str]:
    """The name of the connector each comment that came from an external system came by, by comment id."""
    return {
        comment_id: pushes[connector_id].name if connector_id in pushes else "the external system"
        for comment_id, connector_id in imported.items()
    }


def _case_form(case: Case) -> dict[str, str]:
    return {
        "title": case.title,
        "description": case.description,
        "tags": ", ".join(case.tags),
        "status": case.status,
        "severity": case.severity,
        "connector": case.connector.id,
        "version": case.version,
    }


async def _case_page(request: web.Request, status: int = 200, **values: Any) -> web.Response:
    """The case with its comments, alerts, activity and push state, as one snapshot shows them; ``values``
    override the forms (an edit that was refused is shown as it was typed)."""
    ctx, rt = context(request), request.app[CONNECTORS]
    case_id = request.match_info["case_id"]
    async with one_snapshot(ctx):
        case = await cases.get(ctx, case_id, include_comments=True)
        activity = await user_actions.find(ctx, case_id, [], "desc", 1, ACTIVITY_SHOWN)
        may_edit = ctx.access.may(case.owner, Level.ALL)
        pushes = await case_connectors.get(ctx, rt, case_id)
        page = {
            "case": case,
            "owner_name": OWNER_NAMES[case.owner],
            "user_comments": [c for c in case.comments if isinstance(c, UserComment)],
            "alerts": [
                (c, alert_id)
                for c in case.comments
                if isinstance(c, AlertComment)
                for alert_id in as_list(c.alertId)
            ],
            "activity": [(action, describe(action)) for action in activity.userActions],
            "pushes": list(pushes.values()),
            "imported": _imported(await sync.imported_comments(ctx, case), pushes),
            "automatic": await _automatic_pushes(ctx, case),
            "may_edit": may_edit,
            "may_push": may_edit and may_run_connectors(ctx),
            "connectors": await connector_choices(ctx, rt) if may_edit else [],
            "statuses": STATUSES,
            "severities": SEVERITIES,
            "form": _case_form(case),
            "error": None,
            "conflict": None,
            "drafts": {},
        }
    return await render(request, "case.html", status, **(page | values))


@pages.get("/app/cases/{case_id}")
async def show_case(request: web.Request) -> web.Response:
    return await _case_page(request)


def _case_path(request: web.Request) -> str:
    return f"/app/cases/{request.match_info['case_id']}"


@pages.post("/app/cases/{case_id}")
async def update_case(request: web.Request) -> web.Response:
    """Save the case's form: its fields as the version the user saw them at (a 409 if it changed since)."""
    ctx, case_id = context(request), request.match_info["case_id"]
    form = await request.post()
    submitted = {name: _text(form, name) for name in ("title", "description", "tags", "status", "severity")}
    submitted |= {"connector": _text(form, "connector"), "version": _text(form, "version")}
    try:
        current = await cases.get(ctx, case_id, include_comments=False)
        patch: dict[str, Any] = {**submitted, "id": case_id, "tags": split_tags(submitted["tags"])}
        if patch.pop("connector") != current.connector.id:
            choices = await connector_choices(ctx, request.app[CONNECTORS])
            patch["connector"] = case_connector(choices, submitted["connector"])
        await cases.bulk_update(ctx, [decode.convert(patch, CasePatch)])
    except KibanaError as exc:
        if exc.status == 406:
            redirect(request, _case_path(request), ("ok", "Nothing to save: the case already reads so."))
        if exc.status == 409:
            # The user's edit stays in the form, at the version of the case as it is now.
            latest = await cases.get(ctx, case_id, include_comments=False)
            return await _case_page(request, 409, form=submitted | {"version": latest.version}, conflict=True)
        if exc.status != 400:
            raise
        return await _case_page(request, 400, form=submitted, error=exc.message)
    redirect(request, _case_path(request), ("ok", "Case saved."))


@pages.post("/app/cases/{case_id}/comments")
async def add_comment(request: web.Request) -> web.Response:
    ctx, case_id = context(request), request.match_info["case_id"]
    form = await request.post()
    text = _text(form, "comment")
    try:
        body = decode.convert(
            {"type": "user", "comment": text, "owner": _text(form, "owner")}, AddUserComment
        )
        await comments.add(ctx, case_id, body)
    except KibanaError as exc:
        if exc.status != 400:
            raise
        return await _case_page(request, 400, error=exc.message, drafts={"new": text})
    redirect(request, _case_path(request), ("ok", "Comment added."))


@pages.post("/app/cases/{case_id}/comments/{comment_id}")
async def update_comment(request: web.Request) -> web.Response:
    ctx, case_id, comment_id = (
        context(request),
        request.match_info["case_id"],
        request.match_info["comment_id"],
    )
    form = await request.post()
    text = _text(form, "comment")
    fields = {
        "type": "user",
        "comment": text,
        "owner": _text(form, "owner"),
        "version": _text(form, "version"),
    }
    try:
        await comments.update(ctx, case_id, decode.convert({**fields, "id": comment_id}, UpdateUserComment))
    except KibanaError as exc:
        if exc.status not in (400, 409):
            raise
        message = (
            "Someone else changed this comment after you opened the page. Nothing was saved: your text is"
            " kept below; compare it with the comment as it is now and save again."
            if exc.status == 409
            else exc.message
        )
        return await _case_page(request, exc.status, error=message, drafts={comment_id: text})
    redirect(request, _case_path(request), ("ok", "Comment saved."))


@pages.post("/app/cases/{case_id}/comments/{comment_id}/delete")
async def delete_comment(request: web.Request) -> web.Response:
    await comments.delete(context(request), request.match_info["case_id"], request.match_info["comment_id"])
    redirect(request, _case_path(request), ("ok", "Comment deleted."))


# --- pushing -------------------------------------------------------------------------------------------


@pages.get("/app/cases/{case_id}/connectors/{connector_id}/preview")
async def preview_push(request: web.Request) -> web.Response:
    """What a push would send (a dry run: nothing is sent nor written)."""
    ctx, case_id = context(request), request.match_info["case_id"]
    connector_id = request.match_info["connector_id"]
    dry_run = await push.dry_run(ctx, request.app[CONNECTORS], case_id, connector_id)
    case = await cases.get(ctx, case_id, include_comments=False)
    payload = msgspec.json.format(encode(dry_run), indent=2).decode()
    return await render(request, "preview.html", case=case, dry_run=dry_run, payload=payload)


@pages.post("/app/cases/{case_id}/connectors/{connector_id}/push")
async def push_case(request: web.Request) -> web.Response:
    ctx = context(request)
    try:
        pushed = await push.push(
            ctx, request.app[CONNECTORS], request.match_info["case_id"], request.match_info["connector_id"]
        )
    except KibanaError as exc:
        if exc.status in (403, 404):
            raise
        redirect(request, _case_path(request), ("error", f"The push failed: {exc.message}"))
    service = pushed.case.external_service
    assert service is not None  # a pushed case names its incident
    done = f"Pushed to {service.connector_name}: {service.external_title}."
    if pushed.state_failure is not None:
        redirect(
            request,
            _case_path(request),
            ("error", f"{done} Its status or assignees were not: {pushed.state_failure.message}"),
        )
    redirect(request, _case_path(request), ("ok", done))


async def _to_case_page(request: web.Request) -> web.Response:
    redirect(request, _case_path(request))


for _path in KIBANA_CASE_PATHS:
    pages.get(_path)(_to_case_page)
