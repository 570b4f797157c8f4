"""Handlers of casepush's own automatic push settings, and of a case's automatic push state
(``/api/casepush/...``): nothing Kibana has, so no Kibana body changes."""

from aiohttp import web

from casepush.domain import automatic_push
from casepush.errors import bad_request
from casepush.types import (
    OWNERS,
    AutomaticPushRequest,
    AutomaticPushSetting,
    AutomaticPushSettings,
    CaseAutomaticPushes,
    Owner,
    is_owner,
)
from casepush.web import decode, responses
from casepush.web.routing import Routes
from casepush.web.state import CONNECTORS, SETTINGS, context

routes = Routes("automatic push")

SETTING_PATH = "/api/casepush/automatic_push/{owner}/{connector_id}"


def _owner(request: web.Request) -> Owner:
    owner = request.match_info["owner"]
    if not is_owner(owner):
        raise bad_request(f"Unknown owner {owner!r}: one of {', '.join(OWNERS)}")
    return owner


@routes.get("/api/casepush/automatic_push", response=AutomaticPushSettings, errors=(403,))
async def list_settings(request: web.Request) -> web.Response:
    """List the automatic push settings of the space, for the owners the caller may read."""
    return responses.json(AutomaticPushSettings(await automatic_push.list_settings(context(request))))


@routes.put(SETTING_PATH, body=AutomaticPushRequest, response=AutomaticPushSetting, errors=(403, 404))
async def put_setting(request: web.Request) -> web.Response:
    """Turn automatic push on or off for an owner's cases that use a connector."""
    owner = _owner(request)
    body = await decode.body(request, AutomaticPushRequest)
    setting = await automatic_push.put_setting(
        context(request),
        request.app[CONNECTORS],
        request.app[SETTINGS],
        owner,
        request.match_info["connector_id"],
        body,
    )
    return responses.json(setting)


@routes.delete(SETTING_PATH, status=204, errors=(403, 404))
async def delete_setting(request: web.Request) -> web.Response:
    """Forget an automatic push setting (automatic push is then off)."""
    await automatic_push.delete_setting(context(request), _owner(request), request.match_info["connector_id"])
    return responses.no_content()


@routes.get("/api/casepush/cases/{case_id}/automatic_push", response=CaseAutomaticPushes, errors=(403, 404))
async def case_pushes(request: web.Request) -> web.Response:
    """A case's automatic push: whether it is on, what waits and when, and how the last attempt went."""
    found = await automatic_push.case_pushes(context(request), request.match_info["case_id"])
    return responses.json(CaseAutomaticPushes(found))
