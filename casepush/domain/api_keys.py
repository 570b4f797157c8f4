"""API keys (Elasticsearch's ``/_security/api_key``): created by anyone for themselves, shown once."""

import base64
import fnmatch
import re
import secrets
from dataclasses import dataclass

from msgspec import UnsetType

from casepush.domain import Context
from casepush.domain.security import ensure_superuser, realm_of, validation_failed
from casepush.errors import bad_request
from casepush.security.auth import api_key_digest, now_ms, usable
from casepush.security.roles import grants_anything, named_role_bodies, role_descriptor
from casepush.store import StoredApiKey, Tx
from casepush.types import (
    UNSET,
    ApiKeyInfo,
    ApiKeyList,
    CreateApiKey,
    CreatedApiKey,
    InvalidateApiKeys,
    InvalidatedApiKeys,
    RoleDescriptor,
)

MAX_API_KEY_NAME_LENGTH = 256
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


def _expiration_ms(expiration: str) -> int:
    match = _TIME_VALUE.match(expiration.strip())
    if match is None:
        raise bad_request(
            f"failed to parse setting [expiration] with value [{expiration}] as a time value:"
            " unit is missing or unrecognized",
            "parse_exception",
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
    name = body.name
    assert isinstance(name, str)  # _api_key_problems refuses a key without one
    # A key may make another only with no privilege at all: it could not restrict its copy otherwise.
    descriptors = body.role_descriptors.values()
    if ctx.principal.api_key is not None and (not descriptors or any(map(grants_anything, descriptors))):
        raise bad_request(
            "creating derived api keys requires an explicit role descriptor that is empty (has no privileges)"
        )
    created = now_ms()
    expires = created + _expiration_ms(body.expiration) if body.expiration else None
    key_id, secret = secrets.token_urlsafe(15), secrets.token_urlsafe(16)
    async with ctx.store.write() as tx:
        await tx.insert_api_key(
            StoredApiKey(
                id=key_id,
                name=name,
                username=ctx.user.username or "",
                secret_hash=api_key_digest(secret),
                created_ms=created,
                expires_ms=expires,
                metadata=body.metadata,
                role_descriptors=body.role_descriptors,
            )
        )
    return CreatedApiKey(
        id=key_id,
        name=name,
        expiration=expires if expires is not None else UNSET,
        api_key=secret,
        encoded=base64.b64encode(f"{key_id}:{secret}".encode()).decode(),
    )


def key_info(
    key: StoredApiKey, limited_by: list[dict[str, RoleDescriptor]] | UnsetType = UNSET
) -> ApiKeyInfo:
    realm = realm_of(key.username)
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
        role_descriptors=key.role_descriptors,
        limited_by=limited_by,
    )


@dataclass(frozen=True)
class KeySelection:
    """Which keys a get or invalidate request names, as Elasticsearch's requests do."""

    ids: list[str] | None = None
    name: str | None = None
    username: str | None = None
    realm: str | None = None
    owner: bool = False

    @property
    def names_an_owner(self) -> bool:
        return self.username is not None or self.realm is not None

    def problems(self, invalidating: bool) -> list[str]:
        """Elasticsearch's checks (worded for get or for invalidate): every failed one."""
        id_word, verb = ("api key id(s)", "invalidating") if invalidating else ("api key id", "retrieving")
        named = self.ids is not None or self.name is not None
        checks = [
            (
                invalidating and not self.owner and not named and not self.names_an_owner,
                "One of [api key id(s), api key name, username, realm name]"
                " must be specified if [owner] flag is false",
            ),
            (
                named and self.names_an_owner,
                f"username or realm name must not be specified when the {id_word} or api key name"
                f" {'are' if invalidating else 'is'} specified",
            ),
            (
                self.owner and self.names_an_owner,
                f"neither username nor realm-name may be specified when {verb} owned API keys",
            ),
            (
                named and self.ids is not None and self.name is not None,
                f"only one of [{id_word}, api key name] can be specified",
            ),
        ]
        return [message for failed, message in checks if failed]

    def picks(self, key: StoredApiKey) -> bool:
        return (
            (self.ids is None or key.id in self.ids)
            and (self.name is None or fnmatch.fnmatchcase(key.name, self.name))
            and (self.realm is None or realm_of(key.username).name == self.realm)
        )


async def _select(ctx: Context, selection: KeySelection, action: str) -> list[StoredApiKey]:
    """The selected keys among those in reach: the caller's own (``owner``, or whenever the caller is
    no superuser), or anyone's."""
    me, username = ctx.user.username, selection.username
    if username is not None and username != me:
        ensure_superuser(ctx, action)
    if selection.owner or not ctx.principal.superuser:
        username = me
    async with ctx.read() as tx:
        keys = await tx.list_api_keys(username)
    return [key for key in keys if selection.picks(key)]


async def get_api_keys(
    ctx: Context, selection: KeySelection, active_only: bool, with_limited_by: bool = False
) -> ApiKeyList:
    """The selected keys; ``with_limited_by``: each with its owner's roles, which it never goes beyond."""
    if problems := selection.problems(invalidating=False):
        raise validation_failed(problems)
    found = [key for key in await _select(ctx, selection, "api_key/get") if not active_only or usable(key)]
    if not with_limited_by:
        return ApiKeyList([key_info(key) for key in found])
    async with ctx.read() as tx:
        owners = {key.username: await _roles_of(tx, key.username) for key in found}
    return ApiKeyList([key_info(key, [owners[key.username]]) for key in found])


async def _roles_of(tx: Tx, username: str) -> dict[str, RoleDescriptor]:
    user = await tx.get_user(username)
    bodies = await named_role_bodies(tx, user.roles if user else [])
    return {name: role_descriptor(body) for name, body in bodies.items()}


def _blank_ids_problem(ids: list[str] | None) -> str | None:
    if ids is not None and not ids:
        return "Field [ids] cannot be an empty array"
    if blanks := [i for i, key_id in enumerate(ids or []) if not key_id.strip()]:
        many = len(blanks) > 1
        return (
            f"Field [ids] must not contain blank id, but got blank {'ids' if many else 'id'}"
            f" at index {'positions' if many else 'position'}: [{', '.join(map(str, blanks))}]"
        )
    return None


async def invalidate_api_keys(ctx: Context, body: InvalidateApiKeys) -> InvalidatedApiKeys:
    ids = body.ids if body.ids is not UNSET else ([body.id] if body.id is not UNSET else None)
    selection = KeySelection(
        ids=ids,
        name=body.name or None,
        username=body.username or None,
        realm=body.realm_name or None,
        owner=body.owner,
    )
    # Bad ids are reported alone; otherwise every failed rule is.
    if problems := [p for p in [_blank_ids_problem(ids)] if p] or selection.problems(invalidating=True):
        raise validation_failed(problems)
    keys = await _select(ctx, selection, "api_key/invalidate")
    fresh = [key.id for key in keys if key.invalidated_ms is None]
    async with ctx.store.write() as tx:
        at = now_ms()
        for key_id in fresh:
            await tx.invalidate_api_key(key_id, at)
    return InvalidatedApiKeys(
        invalidated_api_keys=fresh,
        previously_invalidated_api_keys=[key.id for key in keys if key.invalidated_ms is not None],
    )
