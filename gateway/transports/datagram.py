"""UDP listeners for tracker protocols (Teltonika and H02 also speak UDP on their TCP port).

Datagrams are queued to one worker task, so a flood never blocks the event loop. The queue is
bounded in datagrams and in bytes (a flood of 64 KB datagrams cannot take the memory): past either
bound they are dropped, counted (`amb_gateway_datagrams_dropped_total`, and refused as
`queue_full`) and never processed. Each datagram is a whole message: no framing, and the
reply (if any) goes back to the sender's address. A datagram whose handling raises is refused as
`decode_error` (counted, logged without its bytes) and the worker goes on with the next one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from gateway import metrics
from gateway.refusals import TRANSPORT_REFUSALS, Reason, Refusal

log = logging.getLogger(__name__)

Reply = Callable[[bytes], None]
MAX_DATAGRAM_BYTES = 65_507


class DatagramHandler(Protocol):
    name: str

    async def on_datagram(self, data: bytes, peer: str, reply: Reply) -> None:
        """Decode one datagram and submit its fixes; `reply` sends bytes back to the peer."""
        ...


class DatagramQueue:
    """A FIFO of datagrams bounded in count and in bytes."""

    def __init__(self, max_datagrams: int, max_bytes: int) -> None:
        self._queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue(max_datagrams)
        self._max_bytes = max_bytes
        self.bytes = 0

    def put(self, data: bytes, addr: tuple[str, int]) -> bool:
        """Queue a datagram; False (dropped) when either bound is reached."""
        if self.bytes + len(data) > self._max_bytes:
            return False
        try:
            self._queue.put_nowait((data, addr))
        except asyncio.QueueFull:
            return False
        self.bytes += len(data)
        return True

    async def get(self) -> tuple[bytes, tuple[str, int]]:
        data, addr = await self._queue.get()
        self.bytes -= len(data)
        return data, addr

    def qsize(self) -> int:
        return self._queue.qsize()


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, name: str, queue: DatagramQueue) -> None:
        self._name = name
        self._queue = queue

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        metrics.FRAMES.labels(self._name).inc()
        metrics.BYTES.labels(self._name).inc(len(data))
        if not self._queue.put(data, addr):
            metrics.DATAGRAMS_DROPPED.labels(self._name).inc()
            detail = f"{self._queue.qsize()} datagrams, {self._queue.bytes} bytes waiting"
            TRANSPORT_REFUSALS.refused(Refusal(Reason.QUEUE_FULL, detail), self._name, f"{addr[0]}:{addr[1]}")


class DatagramListener:
    """Serves one protocol on one UDP port."""

    def __init__(
        self,
        handler: DatagramHandler,
        host: str,
        port: int,
        queue_size: int = 2_000,
        queue_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        self._handler = handler
        self._host, self._port = host, port
        self._queue = DatagramQueue(queue_size, queue_bytes)
        self.bound: tuple[str, int] | None = None  # the local address once listening

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Receiver(self._handler.name, self._queue), local_addr=(self._host, self._port)
        )
        self.bound = transport.get_extra_info("sockname")[:2]
        log.info("%s listening on %s:%d (udp)", self._handler.name, self._host, self._port)
        try:
            while True:
                data, addr = await self._queue.get()

                def reply(payload: bytes, addr: tuple[str, int] = addr) -> None:
                    if not transport.is_closing():
                        transport.sendto(payload, addr)

                await self._on_datagram(data, f"{addr[0]}:{addr[1]}", reply)
        finally:
            transport.close()

    async def _on_datagram(self, data: bytes, peer: str, reply: Reply) -> None:
        """The error boundary of one datagram: one poison datagram never stops the listener."""
        try:
            await self._handler.on_datagram(data, peer, reply)
        except Exception as exc:
            TRANSPORT_REFUSALS.failed(exc, self._handler.name, peer)
