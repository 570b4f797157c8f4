"""Authentication: the ``Authorization`` header to a Principal, and the built-in ``elastic`` superuser."""

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict

from casepush.security.authz import Principal
from casepush.security.passwords import generate_password, hash_password, verify_password_async
from casepush.store import Store, StoredUser
from casepush.types import User

log = logging.getLogger(__name__)

SUPERUSER = "elastic"
SUPERUSER_ROLE = "superuser"


class Authenticator:
    """Checks Basic credentials against stored hashes.

    A slow hash on every request would cap throughput, so a verified credential is remembered for
    a short while under a keyed digest (never the password itself), as Elasticsearch's realm cache does.
    """

    def __init__(self, store: Store, cache_ttl: float = 300.0, cache_size: int = 1024):
        self.store = store
        self.cache_ttl = cache_ttl
        self.cache_size = cache_size
        self._cache: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()
        self._cache_key = secrets.token_bytes(32)

    def forget(self) -> None:
        """Drop cached credentials, e.g. after a password change."""
        self._cache.clear()

    async def authenticate(self, authorization: str | None) -> Principal | None:
        if not authorization:
            return None
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            username, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if not sep:
            return None
        return await self._basic(username, password)

    async def _basic(self, username: str, password: str) -> Principal | None:
        digest = hmac.new(self._cache_key, f"{username}\0{password}".encode(), hashlib.sha256).digest()
        cached = self._cache.get(digest)
        if cached and cached[0] > time.monotonic():
            self._cache.move_to_end(digest)
            return cached[1]
        async with self.store.read() as tx:
            stored = await tx.get_user(username)
        if stored is None or not await verify_password_async(password, stored.password_hash):
            return None
        principal = principal_for(stored)
        self._cache[digest] = (time.monotonic() + self.cache_ttl, principal)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return principal


def principal_for(stored: StoredUser) -> Principal:
    user = User(email=stored.email, full_name=stored.full_name, username=stored.username)
    return Principal(user=user, superuser=SUPERUSER_ROLE in stored.roles)


async def ensure_superuser(store: Store, password: str | None) -> str | None:
    """Create ``elastic`` on first start; a configured password always wins over the stored one.

    Returns the password when it was generated here, so that the caller can show it once.
    """
    async with store.write() as tx:
        stored = await tx.get_user(SUPERUSER)
        generated = None
        if password is None:
            if stored is not None:
                return None
            password = generated = generate_password()
        elif stored is not None and await verify_password_async(password, stored.password_hash):
            return None
        await tx.put_user(
            StoredUser(username=SUPERUSER, password_hash=hash_password(password), roles=[SUPERUSER_ROLE])
        )
        log.info("%s the password of the %s user", "generated" if generated else "set", SUPERUSER)
        return generated
