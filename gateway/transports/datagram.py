"""UDP listeners for tracker protocols (Teltonika and H02 also speak UDP on their TCP port).

Datagrams are queued (bounded) to one worker task, so a flood never blocks the event loop; past
the bound they are dropped and counted. Each datagram is a whole message: no framing, and the
reply (if any) goes back to the sender's address. A datagram whose handling raises is refused as
`decode_error` (counted, logged without its bytes) and the worker goes on with the next one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from gateway import metrics
from gateway.refusals import TRANSPORT_REFUSALS

log = logging.getLogger(__name__)

Reply = Callable[[bytes], None]
MAX_DATAGRAM_BYTES = 65_507


class DatagramHandler(Protocol):
    name: str

    async def on_datagram(self, data: bytes, peer: str, reply: Reply) -> None:
        """Decode one datagram and submit its fixes; `reply` sends bytes back to the peer."""
        ...


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, name: str, queue: asyncio.Queue[tuple[bytes, tuple[str, int]]]) -> None:
        self._name = name
        self._queue = queue

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        metrics.FRAMES.labels(self._name).inc()
        metrics.BYTES.labels(self._name).inc(len(data))
        try:
            self._queue.put_nowait((data, addr))
        except asyncio.QueueFull:
            metrics.CLOSED.labels(self._name, "udp queue full").inc()


class DatagramListener:
    """Serves one protocol on one UDP port."""

    def __init__(self, handler: DatagramHandler, host: str, port: int, queue_size: int = 10_000) -> None:
        self._handler = handler
        self._host, self._port = host, port
        self._queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue(queue_size)

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Receiver(self._handler.name, self._queue), local_addr=(self._host, self._port)
        )
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
