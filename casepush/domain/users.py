"""Users (Elasticsearch's ``/_security/user``) and who is calling (``/_security/_authenticate``)."""

from casepush.domain import Context
from casepush.domain.security import (
    API_KEY_REALM,
    ensure_superuser,
    name_rule,
    realm_of,
    valid_name,
    validation_failed,
)
from casepush.errors import bad_request, not_found
from casepush.security.auth import SUPERUSER
from casepush.security.passwords import hash_password_async
from casepush.store import StoredUser
from casepush.types import (
    UNSET,
    ApiKeyName,
    Authenticated,
    PutUser,
    UserInfo,
)

MIN_PASSWORD_LENGTH = 6


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
    problems = [] if valid_name(username) else [name_rule("User")]
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
    realm = API_KEY_REALM if api_key else realm_of(user.username)
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
