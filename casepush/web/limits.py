"""What a client may send, and who the client is: the body's size and time limits (Kibana's
``server.maxPayload`` and ``server.payloadTimeout``), and the client address that failed logins are
counted by. The limits on request lines, headers and the time to send them are the server's
(``casepush.web.server``)."""

import asyncio
import ipaddress
from functools import lru_cache

from aiohttp import web

from casepush.errors import KibanaError
from casepush.web.routing import Handler, is_inbound_path
from casepush.web.state import SETTINGS

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@web.middleware
async def bounded_body(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Read the body before the handler, within the size and time limits.

    It runs after authentication, where hapi parses payloads too: a caller without credentials never
    makes the server read (or wait for) a body. Handlers then read it from memory.
    """
    # An inbound webhook reads its body itself, with its own limit, once it knows the call may go on.
    if (
        request.body_exists
        and request.match_info.http_exception is None
        and not is_inbound_path(request.path)
    ):
        settings = request.app[SETTINGS]
        await read_body(request, settings.max_payload_bytes, settings.payload_timeout)
    return await handler(request)


async def read_body(request: web.Request, max_bytes: int, timeout: float) -> bytes:
    too_large = KibanaError(413, f"Payload content length greater than maximum allowed: {max_bytes}")
    # A declared length is refused before a byte is read; a chunked body once it grows too long.
    if (request.content_length or 0) > max_bytes:
        raise too_large
    try:
        async with asyncio.timeout(timeout):
            body = await request.read()
    except TimeoutError:
        raise KibanaError(408, "Request Timeout") from None
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None
    if len(body) > max_bytes:
        raise too_large
    return body


def client_address(request: web.Request) -> str | None:
    """The caller's address: the peer's, or, when the peer is a trusted proxy, the last address of
    ``X-Forwarded-For`` that is not a trusted proxy's (the earlier ones are the client's to invent)."""
    trusted = _networks(tuple(request.app[SETTINGS].trusted_proxies))
    peer = request.remote
    if peer is None or not _is_trusted(peer, trusted):
        return peer
    forwarded = [
        address.strip()
        for header in request.headers.getall("X-Forwarded-For", [])
        for address in header.split(",")
        if address.strip()
    ]
    for address in reversed(forwarded):
        if not _is_trusted(address, trusted):
            return address
    return forwarded[0] if forwarded else peer


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _is_trusted(address: str, trusted: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
