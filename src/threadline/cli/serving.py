"""The HTTP server around the app: one configuration for ``threadline serve`` and the tests."""

import socket
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

from threadline.cli.http_protocol import header_limited_protocol
from threadline.settings import Settings

# The app as uvicorn calls it: (scope, receive, send).
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]
# On every answer, uvicorn's own (400, 431, 500) included: browsers must not guess a type.
_RESPONSE_HEADERS = [("x-content-type-options", "nosniff")]


# How long an idle keep-alive connection stays open: longer than clients keep theirs (httpx, and
# so the OpenAI Python SDK, 5 s, as uvicorn's own default), so that a client never sends a
# request on a connection the server is closing at that moment (a ReadError the client cannot
# tell from a dropped request). nginx's default.
KEEP_ALIVE_SECONDS = 75


def server_config(
    app: ASGIApp, settings: Settings, *, host: str, port: int, log_level: str = "info"
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        access_log=settings.log_requests,
        # Client addresses are not taken from X-Forwarded-For here: the gateway decides which
        # proxies to believe (THREADLINE_TRUSTED_PROXIES).
        proxy_headers=False,
        # No "server: uvicorn": what runs here is nobody's business.
        server_header=False,
        headers=_RESPONSE_HEADERS,
        http=header_limited_protocol(settings.max_header_bytes, settings.max_header_count),
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 10,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


class ThreadlineServer(uvicorn.Server):
    async def shutdown(self, sockets: Any = None) -> None:
        # Uvicorn waits for open connections before the app's own shutdown, and a stream stays
        # open as long as its run goes. So the worker stops first: runs finish within the grace
        # period or end as failed, every stream gets its last events and closes.
        app = self.config.app
        state = getattr(getattr(app, "state", None), "threadline", None)
        if state is not None:
            await state.worker.stop()
        await super().shutdown(sockets)


def listen(host: str, port: int, *, shared_port: bool = False) -> socket.socket:
    """A socket bound before the server starts, so that the address it serves (the port the
    system chose for port 0 included) is known before the app starts. As uvicorn binds one.

    ``shared_port``: with ``SO_REUSEPORT``, so that each worker process binds a listening socket
    of its own to the same port and the kernel spreads new connections over them evenly. (One
    socket shared by all would hand each connection to whichever worker wakes first: a burst of
    keep-alive connections all to one worker, the other idle.)"""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family=family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def base_url(host: str, port: int) -> str:
    """The API's address as a client would write it (an IPv6 host in brackets)."""
    return f"http://[{host}]:{port}/v1" if ":" in host else f"http://{host}:{port}/v1"
