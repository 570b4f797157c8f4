"""How ``casepush serve`` runs the app: aiohttp's server with casepush's limits on what a connection
sends before a request reaches the app.

- A request line or header over aiohttp's limits (8190 bytes each, 128 headers) is a 431, and any
  request aiohttp cannot parse a 400, both in Kibana's error format and never logged with their text
  (aiohttp's answer and log line quote the request, credentials included).
- A connection has ``header_timeout`` seconds, from its opening or its previous response, to send a
  whole request line and headers (aiohttp's keep-alive timer, which more data does not restart); then
  it is closed. Bodies have their own limit (``casepush.web.limits``); one left unread after an
  early answer is drained for up to 10 s (at most ``payload_timeout``), then the connection closed.
"""

import asyncio
import logging
import signal
from http import HTTPStatus

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler

from casepush.config import Settings
from casepush.web.middleware import error_response

log = logging.getLogger("casepush.http")

#: aiohttp's default.
AIOHTTP_LINGERING_TIME = 10.0
#: The parsers' words for a request with more headers than allowed.
_TOO_MANY_HEADERS = "Too many headers received"


class KibanaRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering the requests it cannot parse as Kibana would."""

    __slots__ = ()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        status, message = 400, HTTPStatus.BAD_REQUEST.phrase
        if _head_too_large(exc):
            status = 431
            message = (
                f"The request line and each header may hold at most {self.max_field_size} bytes,"
                f" and a request at most {self.max_headers} headers"
            )
        log.info("refused a request from %s that could not be read: %s", request.remote, status)
        response = error_response(request, status, message)
        response.force_close()
        return response


def _head_too_large(exc: HttpProcessingError) -> bool:
    return isinstance(exc, LineTooLong) or (
        isinstance(exc, BadHttpMessage) and exc.message == _TOO_MANY_HEADERS
    )


class KibanaServer(web.Server):
    def __call__(self) -> RequestHandler:
        handler = super().__call__()
        # The same slots, so the class can change: only how unreadable requests are answered differs.
        handler.__class__ = KibanaRequestHandler
        return handler


class KibanaAppRunner(web.AppRunner):
    """``web.AppRunner`` whose connections are ``KibanaRequestHandler``s."""

    __slots__ = ()

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = KibanaServer
        return server


def run_app(app: web.Application, host: str, port: int, settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT, then stop listening and let requests in progress finish for up to
    ``shutdown_timeout`` seconds, as ``web.run_app`` does."""
    asyncio.run(_serve(app, host, port, settings))


async def _serve(app: web.Application, host: str, port: int, settings: Settings) -> None:
    runner = KibanaAppRunner(
        app,
        shutdown_timeout=settings.shutdown_timeout,
        keepalive_timeout=settings.header_timeout,
        # A body left unread after an early answer (401, 408, 413) is drained, so that the client gets
        # to read the answer, for no longer than a body that is read may take.
        lingering_time=min(AIOHTTP_LINGERING_TIME, settings.payload_timeout),
        # casepush.requests logs every request; aiohttp's access log would add query strings (search
        # terms) and the Referer and User-Agent headers.
        access_log=None,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        log.info("listening on %s", site.name)
        await _stop_signal()
    finally:
        await runner.cleanup()


async def _stop_signal() -> None:
    loop, stop = asyncio.get_running_loop(), asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
