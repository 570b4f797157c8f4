"""Users, roles and API keys, with Elasticsearch's and Kibana's rules and messages.

Only a superuser manages users and roles, and other users' API keys; every user may create,
list and invalidate their own keys (Elasticsearch's ``manage_own_api_key``).
"""

import base64
import fnmatch
import re
import secrets
from collections.abc import Iterable

from casepush.domain import Context
from casepush.domain.spaces import SPACE_ID, SPACE_ID_RULE
from casepush.errors import KibanaError, bad_request, conflict, forbidden, not_found, relayed
from casepush.security.auth import SUPERUSER, api_key_digest, now_ms, usable
from casepush.security.authz import ALL_SPACES, LEVEL_NAMES
from casepush.security.passwords import hash_password_async
from casepush.security.roles import RESERVED_ROLES
from casepush.store import StoredApiKey, StoredUser
from casepush.types import (
    UNSET,
    ApiKeyInfo,
    ApiKeyList,
    ApiKeyName,
    Authenticated,
    CreateApiKey,
    CreatedApiKey,
    InvalidateApiKeys,
    InvalidatedApiKeys,
    KibanaPrivilege,
    PutUser,
    Realm,
    Role,
    RoleBody,
    UserInfo,
)

MIN_PASSWORD_LENGTH = 6
MAX_NAME_LENGTH = 507
MAX_ROLE_PARAM_LENGTH = 1024
MAX_API_KEY_NAME_LENGTH = 256
#: Printable ASCII without leading or trailing whitespace, as Elasticsearch's native realm allows.
_NAME = re.compile(r"^[!-~]([ -~]*[!-~])?$")
_FEATURE_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
_FEATURE_NAME_RULE = "only a-z, A-Z, 0-9, '_', and '-' are allowed"
_TIME_UNITS = {
    "nanos": 1e-6,
    "micros": 1e-3,
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
}
_TIME_VALUE = re.compile(r"^(?P<number>\d+)\s*(?P<unit>nanos|micros|ms|s|m|h|d)$")

NATIVE_REALM = Realm(name="default_native", type="native")
RESERVED_REALM = Realm(name="reserved", type="reserved")
API_KEY_REALM = Realm(name="_es_api_key", type="_es_api_key")
_ID_OR_NAME = "the api key id or api key name"


def name_rule(kind: str) -> str:
    return (
        f"{kind} names must be at least 1 and no more than {MAX_NAME_LENGTH} characters. They can contain"
        " alphanumeric characters (a-z, A-Z, 0-9), spaces, punctuation, and printable symbols in the Basic"
        " Latin (ASCII) block. Leading or trailing whitespace is not allowed."
    )


def _valid_name(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and bool(_NAME.match(name))


def validation_failed(problems: list[str]) -> KibanaError:
    """Elasticsearch's numbered list of everything wrong with a request."""
    return bad_request("Validation Failed: " + "".join(f"{n}: {p};" for n, p in enumerate(problems, 1)))


#: Cluster privileges short of ``manage_security`` that grant an action, least first, as Elasticsearch
#: lists them in its 403.
_ALSO_GRANTED_BY = {
    "user/get": ("read_security",),
    "role/get": ("read_security",),
    "api_key/get": ("read_security", "manage_api_key"),
    "api_key/invalidate": ("manage_api_key",),
}


def ensure_superuser(ctx: Context, action: str) -> None:
    """Elasticsearch's 403 for a cluster action that needs ``manage_security``: it names an API key
    (which has no roles of its own) or the user and their roles, sorted."""
    if not ctx.principal.superuser:
        api_key, user = ctx.principal.api_key, f"user [{ctx.user.username}]"
        who = (
            f"API key id [{api_key.id}] of {user}"
            if api_key
            else f"{user} with effective roles [{','.join(sorted(ctx.principal.roles))}]"
        )
        privileges = ",".join([*_ALSO_GRANTED_BY.get(action, ()), "manage_security", "all"])
        raise forbidden(
            f"action [cluster:admin/xpack/security/{action}] is unauthorized for {who},"
            f" this action is granted by the cluster privileges [{privileges}]"
        )


# --- users ---------------------------------------------------------------------------------


def user_info(user: StoredUser) -> UserInfo:
    return UserInfo(
        username=user.username,
        roles=user.roles,
        full_name=user.full_name,
        email=user.email,
        metadata=user.metadata,
        enabled=user.enabled,
    )


def _password_problems(password: str) -> list[str]:
    if len(password) < MIN_PASSWORD_LENGTH:
        return [f"passwords must be at least [{MIN_PASSWORD_LENGTH}] characters long"]
    return []


async def put_user(ctx: Context, username: str, body: PutUser) -> bool:
    """Create or replace a user; True when created. A password left out keeps the current one."""
    ensure_superuser(ctx, "user/put")
    if body.username is not UNSET and body.username != username:
        raise bad_request(f"[username] in source does not match the username provided [{username}]")
    problems = [] if _valid_name(username) else [name_rule("User")]
    if username == SUPERUSER:
        problems.append(f"user [{username}] is reserved and only the password can be changed")
    if body.roles is UNSET:
        problems.append("roles are missing")
    if any(key.startswith("_") for key in body.metadata):
        problems.append("metadata keys may not start with [_]")
    if body.password is not UNSET:
        problems += _password_problems(body.password)
    if problems:
        raise validation_failed(problems)
    new_hash = await hash_password_async(body.password) if body.password is not UNSET else None
    async with ctx.store.write() as tx:
        current = await tx.get_user(username)
        if current is None and new_hash is None:
            raise validation_failed(["password must be specified unless you are updating an existing user"])
        user = StoredUser(
            username=username,
            password_hash=new_hash or current.password_hash,
            full_name=body.full_name,
            email=body.email,
            roles=list(body.roles or []),
            metadata=body.metadata,
            enabled=body.enabled,
        )
        return await tx.put_user(user)


async def get_users(ctx: Context, usernames: list[str] | None) -> dict[str, UserInfo]:
    """Every user, or the named ones (a 404 when none of them exists)."""
    ensure_superuser(ctx, "user/get")
    async with ctx.store.read() as tx:
        users = await tx.list_users()
    found = {u.username: user_info(u) for u in users if usernames is None or u.username in usernames}
    if usernames is not None and not found:
        raise not_found(f"user [{','.join(usernames)}] not found")
    return found


async def delete_user(ctx: Context, username: str) -> None:
    """Delete a user; their API keys stop working with them."""
    ensure_superuser(ctx, "user/delete")
    if username == SUPERUSER:
        raise bad_request(f"user [{username}] is reserved and cannot be deleted")
    async with ctx.store.write() as tx:
        if not await tx.delete_user(username):
            raise not_found(f"user [{username}] not found")


async def change_password(ctx: Context, username: str | None, password: str) -> None:
    """A user changes their own password; a superuser anyone's. Never through an API key, which
    would let whoever holds a key take over its owner's account."""
    username = username or ctx.user.username
    if username != ctx.user.username or ctx.principal.api_key is not None:
        ensure_superuser(ctx, "user/change_password")
    if problems := _password_problems(password):
        raise validation_failed(problems)
    new_hash = await hash_password_async(password)
    async with ctx.store.write() as tx:
        current = await tx.get_user(username)
        if current is None:
            raise validation_failed(["user must exist in order to change password"])
        current.password_hash = new_hash
        await tx.put_user(current)


def authenticated(ctx: Context) -> Authenticated:
    principal, user = ctx.principal, ctx.user
    api_key = principal.api_key
    realm = API_KEY_REALM if api_key else RESERVED_REALM if user.username == SUPERUSER else NATIVE_REALM
    return Authenticated(
        username=user.username or "",
        # Elasticsearch shows an API key's roles as none: its privileges come from its owner.
        roles=[] if api_key else list(principal.roles),
        full_name=user.full_name,
        email=user.email,
        metadata=principal.metadata,
        enabled=True,
        authentication_realm=realm,
        lookup_realm=realm,
        authentication_type="api_key" if api_key else "realm",
        api_key=ApiKeyName(api_key.id, api_key.name) if api_key else UNSET,
    )


# --- roles ---------------------------------------------------------------------------------


def validate_role(name: str, role: RoleBody) -> None:
    """Kibana's role schema (``[request body.kibana.N...]`` messages), then Elasticsearch's name rules."""
    if len(name) > MAX_ROLE_PARAM_LENGTH:
        raise bad_request(
            f"[request params.name]: value has length [{len(name)}] but it must have a maximum length of"
            f" [{MAX_ROLE_PARAM_LENGTH}]."
        )
    for index, privilege in enumerate(role.kibana):
        if problem := _privilege_problem(privilege, f"request body.kibana.{index}"):
            raise bad_request(problem)
    if overlap := _overlapping_spaces(role.kibana):
        raise bad_request(
            f"[request body.kibana]: more than one privilege is applied to the following spaces: [{overlap}]"
        )
    if name in RESERVED_ROLES:
        reason = f"Validation Failed: 1: Role [{name}] is reserved and may not be used.;"
        raise bad_request(relayed("action_request_validation_exception", reason))
    if not _valid_name(name):
        reason = f"Validation Failed: 1: {name_rule('Role')};"
        raise bad_request(relayed("action_request_validation_exception", reason))


def _privilege_problem(privilege: KibanaPrivilege, at: str) -> str | None:
    spaces = privilege.spaces
    if spaces != [ALL_SPACES] and not all(SPACE_ID.match(s) for s in spaces):
        first_not_all = next((i for i, s in enumerate(spaces) if s != ALL_SPACES), 0)
        first_invalid = next(i for i, s in enumerate(spaces) if not SPACE_ID.match(s))
        return (
            f"[{at}.spaces]: types that failed validation:\n"
            f"- [{at}.spaces.0.{first_not_all}]: expected value to equal [{ALL_SPACES}]\n"
            f"- [{at}.spaces.1.{first_invalid}]: {SPACE_ID_RULE}"
        )
    scope = "global" if spaces == [ALL_SPACES] else "space"
    for i, base in enumerate(privilege.base):
        if base not in LEVEL_NAMES:
            return f'[{at}.base.{i}]: unknown {scope} privilege "{base}", must be one of [all,read]'
    for feature, names in privilege.feature.items():
        if not _FEATURE_NAME.match(feature):
            return f'[{at}.feature.key("{feature}")]: {_FEATURE_NAME_RULE}'
        for i, value in enumerate(names):
            if not _FEATURE_NAME.match(value):
                return f"[{at}.feature.{feature}.{i}]: {_FEATURE_NAME_RULE}"
    has_features = any(privilege.feature.values())
    if not privilege.base and not has_features:
        return f"[{at}]: either [base] or [feature] is expected, but none of them specified"
    if privilege.base and privilege.feature:
        return f"[{at}]: definition of [feature] isn't allowed when non-empty [base] is defined."
    return None


def _overlapping_spaces(privileges: list[KibanaPrivilege]) -> str | None:
    for index, first in enumerate(privileges):
        for second in privileges[index + 1 :]:
            if shared := [s for s in first.spaces if s in second.spaces]:
                return ",".join(shared)
    return None


def role_view(name: str, body: RoleBody) -> Role:
    return Role(
        name=name,
        description=body.description or UNSET,
        metadata=body.metadata,
        transient_metadata={"enabled": True},
        elasticsearch=body.elasticsearch,
        kibana=body.kibana,
    )


async def put_role(ctx: Context, name: str, role: RoleBody, create_only: bool) -> None:
    validate_role(name, role)
    ensure_superuser(ctx, "role/put")
    async with ctx.store.write() as tx:
        if create_only and await tx.get_roles([name]):
            raise conflict(f"Role already exists and cannot be created: {name}")
        await tx.put_role(name, role)


async def get_roles(ctx: Context) -> list[Role]:
    """Reserved and defined roles, by name."""
    ensure_superuser(ctx, "role/get")
    async with ctx.store.read() as tx:
        stored = await tx.list_roles()
    return [role_view(name, body) for name, body in sorted({**stored, **RESERVED_ROLES}.items())]


async def get_role(ctx: Context, name: str) -> Role:
    ensure_superuser(ctx, "role/get")
    if name in RESERVED_ROLES:
        return role_view(name, RESERVED_ROLES[name])
    async with ctx.store.read() as tx:
        found = await tx.get_roles([name])
    if not found:
        raise not_found("Not Found")
    return role_view(name, found[name])


async def delete_role(ctx: Context, name: str) -> None:
    ensure_superuser(ctx, "role/delete")
    if name in RESERVED_ROLES:
        raise bad_request(
            relayed("illegal_argument_exception", f"role [{name}] is reserved and cannot be deleted")
        )
    async with ctx.store.write() as tx:
        if not await tx.delete_role(name):
            raise not_found("Not Found")


# --- API keys ------------------------------------------------------------------------------


def _expiration_ms(expiration: str) -> int:
    match = _TIME_VALUE.match(expiration.strip())
    if match is None:
        raise bad_request(
            f"failed to parse setting [expiration] with value [{expiration}] as a time value:"
            " unit is missing or unrecognized"
        )
    return int(int(match["number"]) * _TIME_UNITS[match["unit"]])


def _api_key_problems(body: CreateApiKey) -> list[str]:
    problems = []
    if body.name is UNSET or not body.name:
        problems.append("api key name is required")
    elif len(body.name) > MAX_API_KEY_NAME_LENGTH:
        problems.append(f"api key name may not be more than [{MAX_API_KEY_NAME_LENGTH}] characters long")
    elif body.name.startswith("_"):
        problems.append("api key name may not begin with an underscore")
    if any(key.startswith("_") for key in body.metadata):
        problems.append("API key metadata keys may not start with [_]")
    return problems


async def create_api_key(ctx: Context, body: CreateApiKey) -> CreatedApiKey:
    """A key that acts as its creator; the secret is shown here once and only its digest is kept."""
    if problems := _api_key_problems(body):
        raise validation_failed(problems)
    if ctx.principal.api_key is not None:
        raise bad_request(
            "creating derived api keys requires an explicit role descriptor that is empty (has no privileges)"
        )
    if body.role_descriptors:
        # Honouring only part of a restriction would hand out a key stronger than asked for.
        raise bad_request("role_descriptors are not supported: give the key's owner the roles it needs")
    created = now_ms()
    expires = created + _expiration_ms(body.expiration) if body.expiration else None
    key_id, secret = secrets.token_urlsafe(15), secrets.token_urlsafe(16)
    async with ctx.store.write() as tx:
        await tx.insert_api_key(
            StoredApiKey(
                id=key_id,
                name=body.name,
                username=ctx.user.username or "",
                secret_hash=api_key_digest(secret),
                created_ms=created,
                expires_ms=expires,
                metadata=body.metadata,
            )
        )
    return CreatedApiKey(
        id=key_id,
        name=body.name,
        expiration=expires if expires is not None else UNSET,
        api_key=secret,
        encoded=base64.b64encode(f"{key_id}:{secret}".encode()).decode(),
    )


def _realm_of(key: StoredApiKey) -> Realm:
    """The realm of the key's creator."""
    return RESERVED_REALM if key.username == SUPERUSER else NATIVE_REALM


def key_info(key: StoredApiKey) -> ApiKeyInfo:
    realm = _realm_of(key)
    return ApiKeyInfo(
        id=key.id,
        name=key.name,
        creation=key.created_ms,
        expiration=key.expires_ms if key.expires_ms is not None else UNSET,
        invalidated=key.invalidated_ms is not None,
        invalidation=key.invalidated_ms if key.invalidated_ms is not None else UNSET,
        username=key.username,
        realm=realm.name,
        realm_type=realm.type,
        metadata=key.metadata,
    )


async def _keys_in_reach(ctx: Context, owner: bool, username: str | None, action: str) -> list[StoredApiKey]:
    """The caller's own keys (``owner``, or whenever the caller is no superuser), or anyone's."""
    me = ctx.user.username
    if username is not None and username != me:
        ensure_superuser(ctx, action)
    if owner or not ctx.principal.superuser:
        username = me
    async with ctx.store.read() as tx:
        return await tx.list_api_keys(username)


def _selected(keys: Iterable[StoredApiKey], ids: list[str] | None, name: str | None) -> list[StoredApiKey]:
    return [
        key
        for key in keys
        if (ids is None or key.id in ids) and (name is None or fnmatch.fnmatchcase(key.name, name))
    ]


async def get_api_keys(
    ctx: Context, key_id: str | None, name: str | None, username: str | None, owner: bool, active_only: bool
) -> ApiKeyList:
    checks = [
        (
            (key_id or name) and username,
            f"username or realm name must not be specified when {_ID_OR_NAME} is specified",
        ),
        (
            owner and username,
            "neither username nor realm-name may be specified when retrieving owned API keys",
        ),
        (key_id and name, "only one of [api key id, api key name] can be specified"),
    ]
    if problems := [message for failed, message in checks if failed]:
        raise validation_failed(problems)
    keys = await _keys_in_reach(ctx, owner, username, "api_key/get")
    found = [
        key for key in _selected(keys, [key_id] if key_id else None, name) if not active_only or usable(key)
    ]
    if key_id and not found:
        raise not_found(f"unable to find apikey with id {key_id}")
    return ApiKeyList([key_info(key) for key in found])


def _invalidation_problems(
    body: InvalidateApiKeys, ids: list[str] | None, name: str | None, owner_named: bool
) -> list[str]:
    """Elasticsearch's checks of an invalidation request: bad ``ids`` alone, else every failed rule."""
    if ids is not None and not ids:
        return ["Field [ids] cannot be an empty array"]
    if blanks := [i for i, key_id in enumerate(ids or []) if not key_id.strip()]:
        many = len(blanks) > 1
        return [
            f"Field [ids] must not contain blank id, but got blank {'ids' if many else 'id'}"
            f" at index {'positions' if many else 'position'}: [{', '.join(map(str, blanks))}]"
        ]
    checks = [
        (
            not body.owner and ids is None and name is None and not owner_named,
            "One of [api key id(s), api key name, username, realm name]"
            " must be specified if [owner] flag is false",
        ),
        (
            (ids is not None or name is not None) and owner_named,
            "username or realm name must not be specified"
            " when the api key id(s) or api key name are specified",
        ),
        (
            body.owner and owner_named,
            "neither username nor realm-name may be specified when invalidating owned API keys",
        ),
        (ids is not None and name is not None, "only one of [api key id(s), api key name] can be specified"),
    ]
    return [message for failed, message in checks if failed]


async def invalidate_api_keys(ctx: Context, body: InvalidateApiKeys) -> InvalidatedApiKeys:
    ids = body.ids if body.ids is not UNSET else ([body.id] if body.id is not UNSET else None)
    name = body.name or None
    username = body.username or None
    realm = body.realm_name or None
    if problems := _invalidation_problems(body, ids, name, username is not None or realm is not None):
        raise validation_failed(problems)
    keys = [
        key
        for key in _selected(await _keys_in_reach(ctx, body.owner, username, "api_key/invalidate"), ids, name)
        if realm is None or _realm_of(key).name == realm
    ]
    fresh = [key.id for key in keys if key.invalidated_ms is None]
    async with ctx.store.write() as tx:
        at = now_ms()
        for key_id in fresh:
            await tx.invalidate_api_key(key_id, at)
    return InvalidatedApiKeys(
        invalidated_api_keys=fresh,
        previously_invalidated_api_keys=[key.id for key in keys if key.invalidated_ms is not None],
    )
