"""Handlers of Kibana's role API and of Elasticsearch's user, API key and authenticate APIs."""

from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import web

from casepush.domain import api_keys, roles, users
from casepush.types import (
    ApiKeyList,
    Authenticated,
    ChangePassword,
    CreateApiKey,
    CreatedApiKey,
    DeleteUserResult,
    InvalidateApiKeys,
    InvalidatedApiKeys,
    PutUser,
    PutUserResult,
    Role,
    RoleBody,
    UserInfo,
)
from casepush.web import decode, elasticsearch, responses
from casepush.web.elasticsearch import ElasticsearchQuery, RefreshQuery
from casepush.web.routing import Handler, Routes
from casepush.web.state import AUTHENTICATOR, context

#: Kibana's paths (also under ``/s/{space_id}``).
routes = Routes("roles")
#: Elasticsearch's paths, which know no spaces.
elasticsearch_routes = Routes("users and API keys", spaced=False)


def _forget_credentials(request: web.Request) -> None:
    """Users, roles or keys changed: cached authentications may no longer hold."""
    request.app[AUTHENTICATOR].forget()


def _put_and_post(path: str, **details: Any) -> Callable[[Handler], Handler]:
    """Elasticsearch's write paths take PUT and POST alike."""

    def register(handler: Handler) -> Handler:
        elasticsearch_routes.put(path, **details)(handler)
        return elasticsearch_routes.post(path, **details)(handler)

    return register


# --- roles (Kibana) --------------------------------------------------------------------------


class PutRoleQuery(msgspec.Struct, forbid_unknown_fields=True):
    createOnly: bool = False


@routes.put("/api/security/role/{name}", query=PutRoleQuery, body=RoleBody, status=204, errors=(403, 409))
async def put_role(request: web.Request) -> web.Response:
    """Create or replace a role (``createOnly=true``: refuse to replace one)."""
    params = decode.query(request, PutRoleQuery, decode.config_schema_message("request query"))
    body = await decode.body(request, RoleBody, decode.config_schema_message("request body"))
    await roles.put_role(context(request), request.match_info["name"], body, params.createOnly)
    _forget_credentials(request)
    return responses.no_content()


class GetRoleQuery(msgspec.Struct, forbid_unknown_fields=True):
    #: Give privileges on deprecated features (``generalCases``, ...) as those on their replacements.
    replaceDeprecatedPrivileges: bool = False


def _get_role_query(request: web.Request) -> GetRoleQuery:
    return decode.query(request, GetRoleQuery, decode.config_schema_message("request query"))


@routes.get("/api/security/role", query=GetRoleQuery, response=list[Role], errors=(403,))
async def get_roles(request: web.Request) -> web.Response:
    """List the reserved and defined roles."""
    params = _get_role_query(request)
    return responses.json(await roles.get_roles(context(request), params.replaceDeprecatedPrivileges))


@routes.get("/api/security/role/{name}", query=GetRoleQuery, response=Role, errors=(403, 404))
async def get_role(request: web.Request) -> web.Response:
    """Get a role."""
    params = _get_role_query(request)
    role = await roles.get_role(
        context(request), request.match_info["name"], params.replaceDeprecatedPrivileges
    )
    return responses.json(role)


@routes.delete("/api/security/role/{name}", status=204, errors=(403, 404))
async def delete_role(request: web.Request) -> web.Response:
    """Delete a role."""
    await roles.delete_role(context(request), request.match_info["name"])
    _forget_credentials(request)
    return responses.no_content()


# --- users (Elasticsearch) -----------------------------------------------------------------------


class GetUsersQuery(elasticsearch.ElasticsearchQuery):
    #: Users' profile ids; casepush has no user profiles, so there is none to add.
    with_profile_uid: elasticsearch.Flag = False


_PASSWORD_CHANGE = {
    "query": RefreshQuery,
    "body": ChangePassword,
    "response": dict[str, Any],
    "errors": (403,),
}


@_put_and_post("/_security/user/_password", **_PASSWORD_CHANGE)
@_put_and_post("/_security/user/{username}/_password", **_PASSWORD_CHANGE)
async def change_password(request: web.Request) -> web.Response:
    """Change the caller's own password, or (a superuser) anyone's."""
    elasticsearch.query(request, RefreshQuery)
    body = await decode.body(request, ChangePassword, decode.elasticsearch_message("change password request"))
    await users.change_password(context(request), request.match_info.get("username"), body)
    _forget_credentials(request)
    return responses.json({})


_SET_ENABLED = {"query": RefreshQuery, "response": dict[str, Any], "errors": (403,)}


@_put_and_post("/_security/user/{username}/_enable", **_SET_ENABLED)
async def enable_user(request: web.Request) -> web.Response:
    """Let a user sign in again."""
    return await _set_enabled(request, True)


@_put_and_post("/_security/user/{username}/_disable", **_SET_ENABLED)
async def disable_user(request: web.Request) -> web.Response:
    """Stop a user (and their API keys) from signing in, keeping the account."""
    return await _set_enabled(request, False)


async def _set_enabled(request: web.Request, enabled: bool) -> web.Response:
    elasticsearch.query(request, RefreshQuery)
    await users.set_enabled(context(request), request.match_info["username"], enabled)
    _forget_credentials(request)
    return responses.json({})


@_put_and_post(
    "/_security/user/{username}", query=RefreshQuery, body=PutUser, response=PutUserResult, errors=(403,)
)
async def put_user(request: web.Request) -> web.Response:
    """Create or replace a user; a password left out keeps the current one."""
    elasticsearch.query(request, RefreshQuery)
    body = await decode.body(request, PutUser, decode.elasticsearch_message("add user request"))
    created = await users.put_user(context(request), request.match_info["username"], body)
    _forget_credentials(request)
    return responses.json(PutUserResult(created))


@elasticsearch_routes.get("/_security/user", query=GetUsersQuery, response=dict[str, UserInfo], errors=(403,))
async def get_users(request: web.Request) -> web.Response:
    """List every user."""
    elasticsearch.query(request, GetUsersQuery)
    return responses.json(await users.get_users(context(request), None))


@elasticsearch_routes.get(
    "/_security/user/{username}",
    query=GetUsersQuery,
    response=dict[str, UserInfo],
    errors=(403,),
    plain_statuses=(404,),
)
async def get_user(request: web.Request) -> web.Response:
    """Get users by name (comma-separated); a 404 with ``{}`` when none of them exists."""
    elasticsearch.query(request, GetUsersQuery)
    found = await users.get_users(context(request), request.match_info["username"].split(","))
    return responses.json(found, 200 if found else 404)


@elasticsearch_routes.delete(
    "/_security/user/{username}",
    query=RefreshQuery,
    response=DeleteUserResult,
    errors=(403,),
    plain_statuses=(404,),
)
async def delete_user(request: web.Request) -> web.Response:
    """Delete a user; a 404 with ``{"found": false}`` when there is none."""
    elasticsearch.query(request, RefreshQuery)
    found = await users.delete_user(context(request), request.match_info["username"])
    _forget_credentials(request)
    return responses.json(DeleteUserResult(found=found), 200 if found else 404)


@elasticsearch_routes.get("/_security/_authenticate", query=ElasticsearchQuery, response=Authenticated)
async def authenticate(request: web.Request) -> web.Response:
    """Who the caller is and how they signed in."""
    elasticsearch.query(request, ElasticsearchQuery)
    return responses.json(users.authenticated(context(request)))


# --- API keys (Elasticsearch) --------------------------------------------------------------------


class GetApiKeysQuery(elasticsearch.ElasticsearchQuery):
    id: str | None = None
    name: str | None = None
    username: str | None = None
    realm_name: str | None = None
    owner: elasticsearch.Flag = False
    active_only: elasticsearch.Flag = False
    #: Each key's owner's roles, which the key never goes beyond.
    with_limited_by: elasticsearch.Flag = False
    #: Owners' profile ids; casepush has no user profiles, so there is none to add.
    with_profile_uid: elasticsearch.Flag = False


@_put_and_post("/_security/api_key", query=RefreshQuery, body=CreateApiKey, response=CreatedApiKey)
async def create_api_key(request: web.Request) -> web.Response:
    """Create an API key that acts as its creator (within its role descriptors, if it has any)."""
    elasticsearch.query(request, RefreshQuery)
    body = await decode.body(request, CreateApiKey, decode.elasticsearch_message("create api key request"))
    return responses.json(await api_keys.create_api_key(context(request), body))


@elasticsearch_routes.get(
    "/_security/api_key", query=GetApiKeysQuery, response=ApiKeyList, errors=(403,), plain_statuses=(404,)
)
async def get_api_keys(request: web.Request) -> web.Response:
    """List API keys: the caller's own, or (a superuser) anyone's; a 404 when the key an ``id`` names
    is not among them."""
    params = elasticsearch.query(request, GetApiKeysQuery)
    selection = api_keys.KeySelection(
        ids=[params.id] if params.id else None,
        name=params.name,
        username=params.username,
        realm=params.realm_name,
        owner=bool(params.owner),
    )
    found = await api_keys.get_api_keys(
        context(request), selection, bool(params.active_only), bool(params.with_limited_by)
    )
    return responses.json(found, 404 if params.id and not found.api_keys else 200)


@elasticsearch_routes.delete(
    "/_security/api_key",
    query=ElasticsearchQuery,
    body=InvalidateApiKeys,
    response=InvalidatedApiKeys,
    errors=(403,),
)
async def invalidate_api_keys(request: web.Request) -> web.Response:
    """Invalidate API keys: the caller's own, or (a superuser) anyone's."""
    elasticsearch.query(request, ElasticsearchQuery)
    body = await decode.body(
        request, InvalidateApiKeys, decode.elasticsearch_message("invalidate api key request")
    )
    result = await api_keys.invalidate_api_keys(context(request), body)
    _forget_credentials(request)
    return responses.json(result)
