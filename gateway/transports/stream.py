"""TCP listeners for tracker protocols: one task per connection, framing separate from decoding,
and limits that keep one bad client from hurting the others.

A protocol plugs in with a `StreamProtocol` (a name and a session factory). Each connection gets
its own `StreamSession`, whose `splitter` cuts the byte stream into frames (pure, per protocol)
and whose `on_frame` decodes one frame and submits its fixes. The listener enforces:
- a maximum frame size (a splitter raises `FrameError` for an absurd length) and buffer size;
- caps on open connections, in total and per source address (beyond, a new connection is closed
  at once and counted in `amb_gateway_connections_refused_total`);
- a login timeout (a connection that has not identified a registered device within
  `login_timeout_s` is closed), an idle timeout (no byte at all) and a frame timeout (a frame
  begun must complete: a client trickling one byte a second is closed);
- a frame-rate limit per connection (a token bucket);
and closes the offending connection with a logged, counted reason. A frame whose handling raises
(a poison frame, a decoder bug) is refused as `decode_error` (counted, logged without its bytes)
and closes its own connection, whose session state can no longer be trusted: the other
connections and the listener never notice. Any other failure closes only its connection too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Protocol

from gateway import metrics
from gateway.refusals import TRANSPORT_REFUSALS, Reason, Refusal

log = logging.getLogger(__name__)


class FrameError(ValueError):
    """The byte stream cannot be framed (absurd length...): the connection is closed."""


@dataclass(frozen=True, slots=True)
class StreamLimits:
    idle_timeout_s: float = 600.0  # trackers send heartbeats every few minutes
    login_timeout_s: float = 15.0  # until the session has identified its device (conn.device_id)
    max_connections: int = 5000  # open connections of the listener
    max_connections_per_address: int = 64  # from one source address (trackers behind a carrier NAT)
    frame_timeout_s: float = 30.0  # a frame begun must be complete within this
    max_buffer_bytes: int = 64 * 1024
    frames_per_second: float = 50.0
    frame_burst: int = 500  # a backlog upload comes as a burst of frames


class Splitter(Protocol):
    def split(self, buffer: bytearray, /) -> list[bytes]:
        """Remove and return the complete frames at the start of `buffer` (skipping garbage);
        leave a partial frame in place; raise FrameError when the stream cannot be framed."""
        ...


class StreamSession(Protocol):
    @property
    def splitter(self) -> Splitter: ...

    async def on_frame(self, frame: bytes, /) -> None: ...

    async def on_close(self) -> None: ...


class StreamProtocol(Protocol):
    name: str

    def new_session(self, conn: Connection, /) -> StreamSession: ...


class Connection:
    """One client connection, as sessions see it: who it is, replies, closing."""

    def __init__(self, protocol: str, writer: asyncio.StreamWriter) -> None:
        self.protocol = protocol
        self._writer = writer
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.address = str(peer[0]) if isinstance(peer, tuple) else str(peer)  # the source IP
        self.device_id: str | None = None  # set by the session once the device identified itself
        self.close_reason: str | None = None
        self.last_seen = time.monotonic()  # when the last bytes arrived

    @property
    def open(self) -> bool:
        return self.close_reason is None and not self._writer.is_closing()

    def reply(self, data: bytes) -> None:
        """Send bytes now if the connection is still open (a late acknowledgement to a closed
        connection is dropped: the device resends what it did not see acknowledged)."""
        if self.open:
            self._writer.write(data)

    def close(self, reason: str) -> None:
        if self.close_reason is None:
            self.close_reason = reason
        self._writer.close()

    def __str__(self) -> str:
        return f"{self.protocol} {self.device_id or '?'}@{self.peer}"


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self._rate, self._burst = rate, float(burst)
        self._tokens, self._at = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class StreamListener:
    """Serves one protocol on one TCP port."""

    def __init__(
        self, protocol: StreamProtocol, host: str, port: int, limits: StreamLimits | None = None
    ) -> None:
        self._protocol = protocol
        self._host, self._port = host, port
        self._limits = limits or StreamLimits()
        self._connections: set[asyncio.Task[None]] = set()
        self._per_address: dict[str, int] = {}

    async def serve(self) -> None:
        server = await asyncio.start_server(
            self._accept, self._host, self._port, limit=self._limits.max_buffer_bytes
        )
        log.info("%s listening on %s:%d (tcp)", self._protocol.name, self._host, self._port)
        try:
            async with server:
                await server.serve_forever()
        finally:
            for task in list(self._connections):
                task.cancel()

    def _over_cap(self, conn: Connection) -> str | None:
        if len(self._connections) >= self._limits.max_connections:
            return "total"
        if self._per_address.get(conn.address, 0) >= self._limits.max_connections_per_address:
            return "per_address"
        return None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(self._protocol.name, writer)
        name = self._protocol.name
        cap = self._over_cap(conn)
        if cap is not None:  # closed before any byte is read: a flood costs a socket, briefly
            metrics.CONNECTIONS_REFUSED.labels(name, cap).inc()
            refusal = Refusal(Reason.TOO_MANY_CONNECTIONS, f"{cap} cap")
            TRANSPORT_REFUSALS.refused(refusal, name, conn.peer)
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self._per_address[conn.address] = self._per_address.get(conn.address, 0) + 1
        metrics.CONNECTIONS.labels(name).inc()
        metrics.CONNECTIONS_OPEN.labels(name).inc()
        session = self._protocol.new_session(conn)
        try:
            await self._serve_connection(conn, session, reader)
        except (ConnectionError, asyncio.IncompleteReadError):
            conn.close_reason = conn.close_reason or "connection reset"
        except asyncio.CancelledError:
            conn.close_reason = "gateway stopping"
            raise
        except Exception:  # a session bug closes its own connection only
            log.exception("%s: session failed", conn)
            conn.close_reason = "internal error"
        finally:
            reason = conn.close_reason or "closed by peer"
            metrics.CONNECTIONS_OPEN.labels(name).dec()
            metrics.CLOSED.labels(name, reason.split(":")[0]).inc()
            log.info("%s: connection closed (%s)", conn, reason)
            with contextlib.suppress(Exception):
                await session.on_close()
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2)
            self._connections.discard(task)
            left = self._per_address.pop(conn.address, 1) - 1
            if left > 0:
                self._per_address[conn.address] = left

    async def _serve_connection(
        self, conn: Connection, session: StreamSession, reader: asyncio.StreamReader
    ) -> None:
        limits, name = self._limits, self._protocol.name
        buffer = bytearray()
        bucket = TokenBucket(limits.frames_per_second, limits.frame_burst)
        partial_since: float | None = None
        login_by = time.monotonic() + limits.login_timeout_s
        while conn.open:
            now = time.monotonic()
            timeout, why = limits.idle_timeout_s, "idle timeout"
            if partial_since is not None and partial_since + limits.frame_timeout_s - now < timeout:
                timeout, why = max(0.0, partial_since + limits.frame_timeout_s - now), "frame timeout"
            if conn.device_id is None and login_by - now < timeout:
                timeout, why = max(0.0, login_by - now), "login timeout"
            try:
                data = await asyncio.wait_for(reader.read(4096), timeout)
            except TimeoutError:
                conn.close(why)
                return
            if not data:
                return
            conn.last_seen = time.monotonic()
            metrics.BYTES.labels(name).inc(len(data))
            buffer += data
            try:
                frames = session.splitter.split(buffer)
            except FrameError as exc:
                metrics.FRAME_ERRORS.labels(name).inc()
                TRANSPORT_REFUSALS.refused(Refusal(Reason.BAD_FRAME, str(exc)[:120]), name, str(conn))
                conn.close(f"bad framing: {exc}")
                return
            if len(buffer) > limits.max_buffer_bytes:
                conn.close("frame too large")
                return
            if not buffer:
                partial_since = None
            elif frames or partial_since is None:  # a new frame has begun
                partial_since = time.monotonic()
            for frame in frames:
                if not bucket.take():
                    conn.close("rate limit")
                    return
                metrics.FRAMES.labels(name).inc()
                await self._on_frame(conn, session, frame)
                if not conn.open:
                    return

    async def _on_frame(self, conn: Connection, session: StreamSession, frame: bytes) -> None:
        """The error boundary of one frame: what it raises refuses that frame (no reply, as for
        any undecodable frame: the protocol's acknowledgement cannot be built from it)."""
        try:
            await session.on_frame(frame)
        except (ConnectionError, asyncio.IncompleteReadError):
            raise
        except Exception as exc:
            TRANSPORT_REFUSALS.failed(exc, self._protocol.name, str(conn))
            conn.close("decode error")
