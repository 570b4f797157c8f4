"""Handlers of Kibana's role API and of Elasticsearch's user, API key and authenticate APIs."""

import msgspec
from aiohttp import web

from casepush.domain import api_keys, roles, users
from casepush.types import (
    ChangePassword,
    CreateApiKey,
    DeleteUserResult,
    InvalidateApiKeys,
    PutUser,
    PutUserResult,
    RoleBody,
)
from casepush.web import decode, responses
from casepush.web.routing import Routes
from casepush.web.state import AUTHENTICATOR, context

#: Kibana's paths (also under ``/s/{space_id}``).
routes = Routes()
#: Elasticsearch's paths, which know no spaces.
elasticsearch_routes = Routes(spaced=False)


def _forget_credentials(request: web.Request) -> None:
    """Users, roles or keys changed: cached authentications may no longer hold."""
    request.app[AUTHENTICATOR].forget()


# --- roles (Kibana) --------------------------------------------------------------------------


class PutRoleQuery(msgspec.Struct, forbid_unknown_fields=True):
    createOnly: bool = False


@routes.put("/api/security/role/{name}")
async def put_role(request: web.Request) -> web.Response:
    params = decode.query(request, PutRoleQuery, decode.config_schema_message("request query"))
    body = await decode.body(request, RoleBody, decode.config_schema_message("request body"))
    await roles.put_role(context(request), request.match_info["name"], body, params.createOnly)
    _forget_credentials(request)
    return responses.no_content()


@routes.get("/api/security/role")
async def get_roles(request: web.Request) -> web.Response:
    return responses.json(await roles.get_roles(context(request)))


@routes.get("/api/security/role/{name}")
async def get_role(request: web.Request) -> web.Response:
    return responses.json(await roles.get_role(context(request), request.match_info["name"]))


@routes.delete("/api/security/role/{name}")
async def delete_role(request: web.Request) -> web.Response:
    await roles.delete_role(context(request), request.match_info["name"])
    _forget_credentials(request)
    return responses.no_content()


# --- users (Elasticsearch) -----------------------------------------------------------------------


@elasticsearch_routes.put("/_security/user/_password")
@elasticsearch_routes.post("/_security/user/_password")
@elasticsearch_routes.put("/_security/user/{username}/_password")
@elasticsearch_routes.post("/_security/user/{username}/_password")
async def change_password(request: web.Request) -> web.Response:
    body = await decode.body(request, ChangePassword, decode.elasticsearch_message("change password request"))
    await users.change_password(context(request), request.match_info.get("username"), body.password)
    _forget_credentials(request)
    return responses.json({})


@elasticsearch_routes.put("/_security/user/{username}")
@elasticsearch_routes.post("/_security/user/{username}")
async def put_user(request: web.Request) -> web.Response:
    body = await decode.body(request, PutUser, decode.elasticsearch_message("add user request"))
    created = await users.put_user(context(request), request.match_info["username"], body)
    _forget_credentials(request)
    return responses.json(PutUserResult(created))


@elasticsearch_routes.get("/_security/user")
async def get_users(request: web.Request) -> web.Response:
    return responses.json(await users.get_users(context(request), None))


@elasticsearch_routes.get("/_security/user/{username}")
async def get_user(request: web.Request) -> web.Response:
    usernames = request.match_info["username"].split(",")
    return responses.json(await users.get_users(context(request), usernames))


@elasticsearch_routes.delete("/_security/user/{username}")
async def delete_user(request: web.Request) -> web.Response:
    await users.delete_user(context(request), request.match_info["username"])
    _forget_credentials(request)
    return responses.json(DeleteUserResult(found=True))


@elasticsearch_routes.get("/_security/_authenticate")
async def authenticate(request: web.Request) -> web.Response:
    return responses.json(users.authenticated(context(request)))


# --- API keys (Elasticsearch) --------------------------------------------------------------------


class GetApiKeysQuery(msgspec.Struct, forbid_unknown_fields=True):
    id: str | None = None
    name: str | None = None
    username: str | None = None
    realm_name: str | None = None
    owner: bool = False
    active_only: bool = False


@elasticsearch_routes.put("/_security/api_key")
@elasticsearch_routes.post("/_security/api_key")
async def create_api_key(request: web.Request) -> web.Response:
    body = await decode.body(request, CreateApiKey, decode.elasticsearch_message("create api key request"))
    return responses.json(await api_keys.create_api_key(context(request), body))


@elasticsearch_routes.get("/_security/api_key")
async def get_api_keys(request: web.Request) -> web.Response:
    params = decode.query(request, GetApiKeysQuery, decode.elasticsearch_message("get api key request"))
    selection = api_keys.KeySelection(
        ids=[params.id] if params.id else None,
        name=params.name,
        username=params.username,
        realm=params.realm_name,
        owner=params.owner,
    )
    found = await api_keys.get_api_keys(context(request), selection, params.active_only)
    return responses.json(found)


@elasticsearch_routes.delete("/_security/api_key")
async def invalidate_api_keys(request: web.Request) -> web.Response:
    body = await decode.body(
        request, InvalidateApiKeys, decode.elasticsearch_message("invalidate api key request")
    )
    result = await api_keys.invalidate_api_keys(context(request), body)
    _forget_credentials(request)
    return responses.json(result)
