"""HTTP listener for tracker protocols spoken over HTTP (OsmAnd / Traccar Client): an ASGI app
served by uvicorn inside the gateway process, on the gateway's event loop.

uvicorn runs with lifespan off, no access log (one line per fix would drown the log; the app
counts requests in metrics), the pure-Python h11 parser so that the header size limit is
explicit, a connection cap, and no `X-Forwarded-*` trust: the peer is the socket's. It does not
touch the process's signals: the gateway owns them, and stops the listener by cancelling it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)


class ListenError(OSError):
    """The listener could not start (the port is taken, the address is not local...)."""


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_header_bytes: int = 16 * 1024  # request line + headers; larger requests get a 431
    max_connections: int = 2_000  # open connections and requests in flight; beyond: 503
    keep_alive_s: int = 75  # phones reuse the connection between fixes
    shutdown_grace_s: float = 2.0


class _InProcessServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the gateway handles SIGINT/SIGTERM and cancels us


class HeaderLimit:
    """Refuses requests whose target and headers exceed `max_bytes` (431). h11 itself only bounds
    a request head that has not fully arrived; a complete one of any size would get through."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app, self._max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
            size += sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            if size > self._max_bytes:
                response = PlainTextResponse("request header fields too large\n", 431)
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)


class HttpListener:
    """Serves one ASGI app on one TCP port (body-size limits are the app's, it reads the body)."""

    def __init__(self, app: ASGIApp, host: str, port: int, limits: HttpLimits | None = None) -> None:
        self._limits = limits or HttpLimits()
        self._config = uvicorn.Config(
            HeaderLimit(app, self._limits.max_header_bytes),
            host=host,
            port=port,
            lifespan="off",
            access_log=False,
            log_config=None,
            http="h11",
            ws="none",
            h11_max_incomplete_event_size=self._limits.max_header_bytes,
            limit_concurrency=self._limits.max_connections,
            timeout_keep_alive=self._limits.keep_alive_s,
            proxy_headers=False,
            server_header=False,
        )
        self._server = _InProcessServer(self._config)

    @property
    def started(self) -> bool:
        return self._server.started

    async def serve(self) -> None:
        log.info("HTTP listening on %s:%d", self._config.host, self._config.port)
        try:
            await self._server.serve()
        except SystemExit as exc:  # uvicorn exits the process when it cannot bind: fail this task only
            raise ListenError(f"cannot listen on {self._config.host}:{self._config.port}") from exc
        except asyncio.CancelledError:
            # Stop accepting, close idle connections, give requests in flight a moment.
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self._limits.shutdown_grace_s):
                    await self._server.shutdown()
            raise
