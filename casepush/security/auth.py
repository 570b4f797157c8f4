"""Authentication: an ``Authorization`` header (Basic or ApiKey) to a Principal, and the ``elastic`` user."""

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

from casepush.security.authz import ApiKeyRef, Grants, Principal
from casepush.security.passwords import (
    generate_password,
    hash_password,
    hash_password_async,
    verify_password_async,
)
from casepush.security.roles import SUPERUSER_ROLE, descriptor_privileges, role_bodies
from casepush.security.throttle import LoginThrottle, MemoryThrottle, Throttled
from casepush.store import Store, StoredApiKey, StoredUser, Tx
from casepush.types import User

log = logging.getLogger(__name__)

SUPERUSER = "elastic"
#: Compared against when a user or key does not exist, so that the answer takes as long as for a
#: wrong secret and does not tell which names exist.
_DUMMY_PASSWORD_HASH = hash_password(secrets.token_urlsafe(16))
_DUMMY_SECRET_HASH = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class Failure:
    """Credentials were sent but refused: by user name, or (``username`` None) as an API key."""

    username: str | None

    def reason(self, path: str) -> str:
        """Elasticsearch's words, which Kibana shows in its 401."""
        if self.username is None:
            return (
                "unable to authenticate with provided credentials"
                " and anonymous access is not allowed for this request"
            )
        return f"unable to authenticate user [{self.username}] for REST request [{path}]"


def now_ms() -> int:
    return int(time.time() * 1000)


def api_key_digest(secret: str) -> str:
    """API key secrets are random and long, so one SHA-256 is enough (no slow hash needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


class Authenticator:
    """Checks credentials against stored hashes and resolves the caller's roles.

    A slow hash on every request would cap throughput, so a verified credential is remembered for
    a short while under a keyed digest (never the secret itself), as Elasticsearch's realm and API key
    caches do. Any change to users, roles or keys empties the cache at once: made here, or heard from
    another instance; and the cache is not used while changes elsewhere cannot be heard.

    Failed checks are throttled per account and client address (``casepush.security.throttle``).
    """

    def __init__(
        self,
        store: Store,
        cache_ttl: float = 60.0,
        cache_size: int = 1024,
        throttle: LoginThrottle | None = None,
    ):
        self.store = store
        self.throttle = throttle or MemoryThrottle()
        self.cache_ttl = cache_ttl
        self.cache_size = cache_size
        self._cache: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()
        self._cache_key = secrets.token_bytes(32)
        #: Counts ``forget`` calls: a check that read the store before one must not be remembered.
        self._generation = 0
        #: Checks in progress, by credential digest.
        self._checks: dict[bytes, asyncio.Future[Principal | Failure | Throttled]] = {}
        store.on_security_change(self.forget)

    def forget(self) -> None:
        """Drop cached credentials, e.g. after a password, role or key change."""
        self._generation += 1
        self._cache.clear()

    async def authenticate(
        self, authorization: str | None, client: str | None = None
    ) -> Principal | Failure | Throttled | None:
        """The caller, a Failure for wrong credentials, Throttled after too many failures of the account
        or of the ``client`` address, or None when no credentials were sent."""
        if not authorization:
            return None
        scheme, _, value = authorization.partition(" ")
        try:
            name, sep, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            name, sep, secret = "", "", ""
        scheme = scheme.lower()
        if scheme not in ("basic", "apikey"):
            return None
        if not sep:
            return Failure(None if scheme == "apikey" else name)
        return await self._verified(scheme, name, secret, client)

    async def login(
        self, username: str, password: str, client: str | None
    ) -> Principal | Failure | Throttled:
        """A user name and password from a login form: checked, cached and throttled as Basic ones."""
        return await self._verified("basic", username, password, client)

    async def _verified(
        self, scheme: str, name: str, secret: str, client: str | None
    ) -> Principal | Failure | Throttled:
        if "\x00" in name or "\x00" in secret:  # no such user or key can exist (nor be looked up)
            return Failure(None)
        # Before the cache: while throttled, even the right credential is not tried.
        if throttled := self.throttle.blocked(name, client, scheme):
            return throttled
        digest = hmac.new(self._cache_key, f"{scheme}\0{name}\0{secret}".encode(), hashlib.sha256).digest()
        cached = self._cache.get(digest)
        if (
            cached
            and cached[0] > time.monotonic()
            and self.store.hears_changes
            and self.throttle.clean(name, client, scheme)  # else checked, so that its success resets
        ):
            self._cache.move_to_end(digest)
            return cached[1]
        # One check per credential at a time: the requests that arrive while it runs (a client's burst
        # when its cache entry expires) share its result rather than each paying a 16 MB scrypt.
        check = self._checks.get(digest)
        if check is None:
            check = asyncio.ensure_future(self._check(scheme, name, secret, digest, client))
            self._checks[digest] = check
            check.add_done_callback(lambda _: self._checks.pop(digest, None))
        return await asyncio.shield(check)

    async def _check(
        self, scheme: str, name: str, secret: str, digest: bytes, client: str | None
    ) -> Principal | Failure | Throttled:
        # Counted before the check, in one step with the test of the limits (which may have been reached
        # since ``blocked``): concurrent guesses cannot all start before the first one fails.
        if throttled := await self.throttle.attempted(name, client, scheme):
            return throttled
        generation = self._generation
        try:
            if scheme == "basic":
                principal, expires = await self._basic(name, secret), None
            else:
                principal, expires = await self._api_key(name, secret)
        except BaseException:  # no answer (the database failed) is no failed login
            await self.throttle.abandoned(name, client, scheme)
            raise
        if isinstance(principal, Principal):
            await self.throttle.succeeded(name, client, scheme)
            if generation == self._generation:
                self._remember(digest, principal, expires)
        return principal

    def _remember(self, digest: bytes, principal: Principal, expires_ms: int | None) -> None:
        ttl = self.cache_ttl
        if expires_ms is not None:
            ttl = min(ttl, (expires_ms - now_ms()) / 1000)
        self._cache[digest] = (time.monotonic() + ttl, principal)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    async def _basic(self, username: str, password: str) -> Principal | Failure:
        async with self.store.read() as tx:
            stored = await tx.get_user(username)
        verified = await verify_password_async(
            password, stored.password_hash if stored else _DUMMY_PASSWORD_HASH
        )
        if stored is None or not verified or not stored.enabled:
            return Failure(username)
        async with self.store.read() as tx:
            return await principal_for(tx, stored)

    async def _api_key(self, key_id: str, secret: str) -> tuple[Principal | Failure, int | None]:
        async with self.store.read() as tx:
            key = await tx.get_api_key(key_id)
            matches = hmac.compare_digest(
                api_key_digest(secret), key.secret_hash if key else _DUMMY_SECRET_HASH
            )
            if key is None or not matches or not usable(key):
                return Failure(None), None
            owner = await tx.get_user(key.username)
            if owner is None or not owner.enabled:
                return Failure(None), None
            return await principal_for(tx, owner, key), key.expires_ms


def usable(key: StoredApiKey) -> bool:
    return key.invalidated_ms is None and (key.expires_ms is None or key.expires_ms > now_ms())


async def principal_for(tx: Tx, stored: StoredUser, api_key: StoredApiKey | None = None) -> Principal:
    """A user's identity and grants; an API key acts as its owner with the owner's current roles, within
    its role descriptors if it has any."""
    bodies = await role_bodies(tx, stored.roles)
    grants = Grants.of(
        (privilege for body in bodies for privilege in body.kibana), superuser=SUPERUSER_ROLE in stored.roles
    )
    if api_key is not None and api_key.role_descriptors:
        descriptors = api_key.role_descriptors.values()
        grants = grants.within(Grants.of(p for d in descriptors for p in descriptor_privileges(d)))
    return Principal(
        user=User(email=stored.email, full_name=stored.full_name, username=stored.username),
        roles=tuple(stored.roles),
        grants=grants,
        api_key=ApiKeyRef(api_key.id, api_key.name) if api_key else None,
        metadata=stored.metadata,
    )


# --- the web UI's sessions: each keeps its user's name and a tag of the password it was made with ------


def password_tag(stored: StoredUser) -> str:
    """A digest of the user's password hash: a session made with it ends when the password changes."""
    return hashlib.sha256(stored.password_hash.encode()).hexdigest()


async def current_password_tag(store: Store, username: str) -> str | None:
    async with store.read() as tx:
        stored = await tx.get_user(username)
    return None if stored is None else password_tag(stored)


async def session_principal(store: Store, username: str, tag: str) -> Principal | None:
    """The user's identity and current grants, if the user is enabled and the password still has ``tag``."""
    async with store.read() as tx:
        stored = await tx.get_user(username)
        if stored is None or not stored.enabled or not hmac.compare_digest(password_tag(stored), tag):
            return None
        return await principal_for(tx, stored)


async def ensure_superuser(store: Store, password: str | None) -> str | None:
    """Create ``elastic`` on first start; a configured password always wins over the stored one.

    Returns the password when it was generated here, so that the caller can show it once.
    """
    # scrypt runs before the write transaction, never while it holds the write lock.
    async with store.read() as tx:
        stored = await tx.get_user(SUPERUSER)
    if stored is not None and (
        password is None or await verify_password_async(password, stored.password_hash)
    ):
        return None
    generated = None
    if password is None:
        password = generated = generate_password()
    password_hash = await hash_password_async(password)
    async with store.write() as tx:
        await tx.lock("ensure-superuser")  # instances starting together generate one password
        if generated is not None and await tx.get_user(SUPERUSER) is not None:
            return None  # another instance made it first
        await tx.put_user(
            StoredUser(
                username=SUPERUSER,
                password_hash=password_hash,
                roles=[SUPERUSER_ROLE],
                metadata={"_reserved": True},
            )
        )
        log.info("%s the password of the %s user", "generated" if generated else "set", SUPERUSER)
        return generated
