"""HTTP over raw sockets, for what ordinary clients cannot send: slow, oversized or broken requests."""

import asyncio
import json
from typing import Any

from yarl import URL


def request_head(method: str, path: str, *headers: str) -> bytes:
    """A request line and headers (``Host`` first), ending with the blank line."""
    return "\r\n".join([f"{method} {path} HTTP/1.1", "Host: casepush", *headers, "", ""]).encode()


async def connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(URL(url).host, URL(url).port)


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], Any]:
    """One HTTP response: status, headers (lower-case names) and the JSON body."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    fields = (line.partition(":") for line in head[1:] if line)
    headers = {name.lower(): value.strip() for name, _, value in fields}
    body = await reader.readexactly(int(headers.get("content-length", 0)))
    return int(head[0].split()[1]), headers, json.loads(body) if body else None


async def exchange(url: str, request: bytes) -> tuple[int, dict[str, str], Any]:
    """Send the bytes on a connection of their own and read the answer."""
    reader, writer = await connect(url)
    try:
        writer.write(request)
        return await asyncio.wait_for(read_answer(reader), 10)
    finally:
        writer.close()
