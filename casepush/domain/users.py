"""Users (Elasticsearch's ``/_security/user``) and who is calling (``/_security/_authenticate``)."""

from msgspec import UnsetType

from casepush.domain import Context
from casepush.domain.security import (
    API_KEY_REALM,
    STORED_CHECKS,
    ensure_superuser,
    name_rule,
    realm_of,
    valid_name,
    validation_failed,
)
from casepush.errors import bad_request
from casepush.security.auth import SUPERUSER
from casepush.security.passwords import HASH_ALGORITHMS, hash_password_async, is_password_hash
from casepush.store import StoredUser
from casepush.types import (
    UNSET,
    ApiKeyName,
    Authenticated,
    ChangePassword,
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


async def _new_hash(password: str | UnsetType, password_hash: str | UnsetType) -> str | None:
    """The hash to store from a request's ``password`` or ``password_hash`` (None: neither came), with
    Elasticsearch's refusals, which come before any other check (they happen as the body is read)."""
    if password is not UNSET and password_hash is not UNSET:
        raise validation_failed(["only one of [password, passwordHash] can be provided"], STORED_CHECKS)
    if password_hash is not UNSET:
        if not is_password_hash(password_hash):
            raise bad_request(
                "The provided password hash is not a hash or it could not be resolved to a supported hash"
                f" algorithm. The supported password hash algorithms are [{', '.join(HASH_ALGORITHMS)}]"
            )
        return password_hash
    if password is UNSET:
        return None
    if problems := _password_problems(password):
        raise validation_failed(problems, STORED_CHECKS)
    return await hash_password_async(password)


async def put_user(ctx: Context, username: str, body: PutUser) -> bool:
    """Create or replace a user; True when created. A password left out keeps the current one."""
    ensure_superuser(ctx, "user/put")
    if body.username is not UNSET and body.username != username:
        raise bad_request(
            f"[username] in source does not match the username provided [{username}]", "parse_exception"
        )
    new_hash = await _new_hash(body.password, body.password_hash)
    problems = [] if valid_name(username) else [name_rule("User")]
    if username == ctx.user.username and not body.enabled:
        problems.append(
            "native and reserved realm users may not update the enabled status of their own account"
        )
    if username == SUPERUSER:
        problems.append(f"user [{username}] is reserved and only the password can be changed")
    if body.roles is UNSET:
        problems.append("roles are missing")
    if any(key.startswith("_") for key in body.metadata):
        problems.append("metadata keys may not start with [_]")
    if problems:
        raise validation_failed(problems)
    async with ctx.store.write() as tx:
        current = await tx.get_user(username)
        if new_hash is None:
            if current is None:
                raise validation_failed(
                    ["password must be specified unless you are updating an existing user"], STORED_CHECKS
                )
            new_hash = current.password_hash
        user = StoredUser(
            username=username,
            password_hash=new_hash,
            full_name=body.full_name,
            email=body.email,
            roles=list(body.roles or []),
            metadata=body.metadata,
            enabled=body.enabled,
        )
        return await tx.put_user(user)


async def get_users(ctx: Context, usernames: list[str] | None) -> dict[str, UserInfo]:
    """Every user, or those of the named ones that exist."""
    ensure_superuser(ctx, "user/get")
    async with ctx.read() as tx:
        users = await tx.list_users()
    return {u.username: user_info(u) for u in users if usernames is None or u.username in usernames}


async def delete_user(ctx: Context, username: str) -> bool:
    """Delete a user (their API keys stop working with them); False if there was none."""
    ensure_superuser(ctx, "user/delete")
    if username == SUPERUSER:
        raise bad_request(f"user [{username}] is reserved and cannot be deleted")
    async with ctx.store.write() as tx:
        return await tx.delete_user(username)


async def set_enabled(ctx: Context, username: str, enabled: bool) -> None:
    """Enable or disable a user (``elastic`` too); nobody changes their own account."""
    ensure_superuser(ctx, "user/set_enabled")
    if username == ctx.user.username:
        raise bad_request("users may not update the enabled status of their own account")
    async with ctx.store.write() as tx:
        current = await tx.get_user(username)
        if current is None:
            problem = f"only existing users can be {'enabled' if enabled else 'disabled'}"
            raise validation_failed([problem], STORED_CHECKS)
        current.enabled = enabled
        await tx.put_user(current)


async def change_password(ctx: Context, username: str | None, body: ChangePassword) -> None:
    """A user changes their own password; a superuser anyone's. Never through an API key, which
    would let whoever holds a key take over its owner's account."""
    username = username or ctx.user.username
    if username != ctx.user.username or ctx.principal.api_key is not None:
        ensure_superuser(ctx, "user/change_password")
    new_hash = await _new_hash(body.password, body.password_hash)
    if new_hash is None:
        raise validation_failed(["password must be specified"])
    async with ctx.store.write() as tx:
        current = await tx.get_user(username) if username else None
        if current is None:
            raise validation_failed(["user must exist in order to change password"], STORED_CHECKS)
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
