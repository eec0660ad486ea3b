"""A Teltonika FMB tracker's links: TCP (IMEI handshake, then one Codec 8 packet per batch) and UDP.

One fix is a one-record packet; a backlog is a multi-record packet (which the gateway stores as
archived). The gateway answers a TCP packet with its record count, a UDP one with an
acknowledgement naming the packet, both only after the records are committed.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from device_emulator.links.base import Endpoint, LinkError, TcpStream, UdpSocket
from device_emulator.outbox import PendingBatch
from device_emulator.protocols import teltonika

# Records per UDP datagram: about 1.2 KB, so a datagram is not fragmented on a mobile network.
UDP_MAX_RECORDS = 25


class TeltonikaTcpLink:
    max_fixes = teltonika.MAX_RECORDS

    def __init__(self, imei: str, endpoint: Endpoint) -> None:
        self.imei = imei
        self._endpoint = endpoint
        self._stream: TcpStream | None = None

    async def __aenter__(self) -> Self:
        self._stream = await TcpStream.open(self._endpoint)
        try:
            await self._stream.write(teltonika.handshake(self.imei))
            accepted = await self._stream.read_exactly(1)
        except LinkError:
            await self._stream.close()
            raise
        if accepted != b"\x01":
            await self._stream.close()
            raise LinkError(f"Teltonika IMEI {self.imei} refused ({accepted.hex()})")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            await self._stream.close()
            self._stream = None

    async def send(self, batch: PendingBatch) -> bool:
        assert self._stream is not None, "send() outside `async with`"
        await self._stream.write(teltonika.tcp_packet(batch.fixes))
        return teltonika.accepted_count(await self._stream.read_exactly(4)) == len(batch.fixes)


class TeltonikaUdpLink:
    """Every datagram carries the IMEI; packet ids tell the acknowledgements apart."""

    max_fixes = UDP_MAX_RECORDS

    def __init__(self, imei: str, endpoint: Endpoint) -> None:
        self.imei = imei
        self._endpoint = endpoint
        self._socket: UdpSocket | None = None
        self._packet_id = 0

    async def __aenter__(self) -> Self:
        self._socket = await UdpSocket.open(self._endpoint)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._socket is not None:
            await self._socket.close()
            self._socket = None

    async def send(self, batch: PendingBatch) -> bool:
        assert self._socket is not None, "send() outside `async with`"
        self._packet_id = (self._packet_id + 1) & 0xFFFF
        packet_id, avl_id = self._packet_id, self._packet_id & 0xFF
        datagram = teltonika.udp_packet(self.imei, batch.fixes, packet_id, avl_id)
        reply = await self._socket.exchange(
            datagram, lambda r: teltonika.udp_accepted(r, packet_id, avl_id) is not None
        )
        return teltonika.udp_accepted(reply, packet_id, avl_id) == len(batch.fixes)
