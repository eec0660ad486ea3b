"""What every device link is: a connection a tracker opens to the gateway and sends batches over."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from device_emulator.outbox import PendingBatch


class LinkError(Exception):
    """The link failed (refused, reset, timed out): the tracker keeps its fixes and reconnects.
    `retry_after_s` is the least wait the gateway asked for (HTTP 429/503), else 0."""

    def __init__(self, message: str, retry_after_s: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class DeviceLink(Protocol):
    """One tracker's connection to the gateway, in its protocol.

    `async with link:` connects (and logs in where the protocol has a login); a link is entered
    again after a failure, so each entry makes a new connection. `send` returns True once every
    fix of the batch is acknowledged, False when the other end answered without acknowledging
    them; failures raise LinkError. The gateway's listeners acknowledge only what they committed;
    for MQTT devices the PUBACK is the broker's, which queues the message in the gateways'
    persistent session until a gateway commits it.
    """

    @property
    def max_fixes(self) -> int:
        """The most fixes one `send` takes (1 where every fix is its own message)."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    async def send(self, batch: PendingBatch) -> bool: ...


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a socket link connects, and how long it waits for each answer."""

    host: str
    port: int
    ack_timeout_s: float = 10.0


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Socket failures of `what` as LinkError: the runner's reconnect loop handles only that."""
    try:
        yield
    except (OSError, EOFError) as exc:  # includes TimeoutError, resets, IncompleteReadError
        raise LinkError(f"{what}: {exc.__class__.__name__} {exc}".rstrip()) from exc


class TcpStream:
    """A TCP connection with reads that give up after the endpoint's timeout."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout_s: float) -> None:
        self._reader = reader
        self._writer = writer
        self._timeout_s = timeout_s

    @classmethod
    async def open(cls, endpoint: Endpoint) -> TcpStream:
        with translated(f"connect {endpoint.host}:{endpoint.port}"):
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(endpoint.host, endpoint.port), endpoint.ack_timeout_s
            )
        return cls(reader, writer, endpoint.ack_timeout_s)

    async def write(self, data: bytes) -> None:
        with translated("write"):
            self._writer.write(data)
            await asyncio.wait_for(self._writer.drain(), self._timeout_s)

    async def read_exactly(self, size: int) -> bytes:
        with translated("read"):
            return await asyncio.wait_for(self._reader.readexactly(size), self._timeout_s)

    async def read_until(self, separator: bytes) -> bytes:
        with translated("read"):
            return await asyncio.wait_for(self._reader.readuntil(separator), self._timeout_s)

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


class _DatagramProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.replies.put_nowait(data)


class UdpSocket:
    """A connected UDP socket: send a datagram, wait for the reply that answers it, resend on silence."""

    def __init__(self, transport: asyncio.DatagramTransport, protocol: _DatagramProtocol, timeout_s: float):
        self._transport = transport
        self._protocol = protocol
        self._timeout_s = timeout_s

    @classmethod
    async def open(cls, endpoint: Endpoint) -> UdpSocket:
        loop = asyncio.get_running_loop()
        with translated(f"udp {endpoint.host}:{endpoint.port}"):
            transport, protocol = await loop.create_datagram_endpoint(
                _DatagramProtocol, remote_addr=(endpoint.host, endpoint.port)
            )
        return cls(transport, protocol, endpoint.ack_timeout_s)

    async def exchange(self, datagram: bytes, answers: Callable[[bytes], bool], attempts: int = 3) -> bytes:
        """Send `datagram` (again after each silent timeout, up to `attempts` times) and return the
        first reply `answers` accepts; other replies (late answers to earlier datagrams) are skipped."""
        loop = asyncio.get_running_loop()
        while not self._protocol.replies.empty():  # answers to datagrams given up on
            self._protocol.replies.get_nowait()
        for _ in range(attempts):
            self._transport.sendto(datagram)
            deadline = loop.time() + self._timeout_s / attempts
            with contextlib.suppress(TimeoutError):
                while True:
                    reply = await asyncio.wait_for(self._protocol.replies.get(), deadline - loop.time())
                    if answers(reply):
                        return reply
        raise LinkError(f"no answer to a {len(datagram)}-byte datagram after {attempts} tries")

    async def close(self) -> None:
        self._transport.close()


class StreamLink:
    """A link over one TCP connection: opened (then `login`) on entry, closed on exit."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._stream: TcpStream | None = None

    async def login(self, stream: TcpStream) -> None:
        """Say who the device is, if its protocol has a login (raise LinkError when refused)."""

    @property
    def stream(self) -> TcpStream:
        assert self._stream is not None, "send() outside `async with`"
        return self._stream

    async def __aenter__(self) -> Self:
        self._stream = await TcpStream.open(self._endpoint)
        try:
            await self.login(self._stream)
        except LinkError:
            await self._stream.close()
            self._stream = None
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._stream is not None:
            await self._stream.close()
            self._stream = None


class DatagramLink:
    """A link over one UDP socket, opened on entry and closed on exit."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._socket: UdpSocket | None = None

    @property
    def socket(self) -> UdpSocket:
        assert self._socket is not None, "send() outside `async with`"
        return self._socket

    async def __aenter__(self) -> Self:
        self._socket = await UdpSocket.open(self._endpoint)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._socket is not None:
            await self._socket.close()
            self._socket = None
