"""Salted, slow password hashes (scrypt) compared in constant time."""

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _N, _R, _P)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


#: The algorithms of the hashes casepush stores (and takes as a user's ``password_hash``).
HASH_ALGORITHMS = ("scrypt",)


def _parsed(stored: str) -> tuple[bytes, int, int, int, bytes] | None:
    """Salt, cost parameters and digest of a stored hash; None if it is not one."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        cost, block, lanes = int(n), int(r), int(p)
        if scheme != "scrypt" or not _feasible(cost, block, lanes):
            return None
        return (
            base64.b64decode(salt, validate=True),
            cost,
            block,
            lanes,
            base64.b64decode(digest, validate=True),
        )
    except (ValueError, binascii.Error):
        return None


def _feasible(n: int, r: int, p: int) -> bool:
    """Parameters scrypt takes within its default memory limit (a given hash cannot exhaust memory)."""
    return n > 1 and n & (n - 1) == 0 and r > 0 and 0 < p <= 16 and 128 * r * (n + p + 1) < _MAX_MEMORY


_MAX_MEMORY = 32 * 1024 * 1024


def is_password_hash(stored: str) -> bool:
    return _parsed(stored) is not None


def verify_password(password: str, stored: str) -> bool:
    parsed = _parsed(stored)
    if parsed is None:
        return False
    salt, n, r, p, digest = parsed
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), digest)


async def verify_password_async(password: str, stored: str) -> bool:
    """scrypt costs tens of milliseconds: keep it off the event loop."""
    return await asyncio.to_thread(verify_password, password, stored)


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
