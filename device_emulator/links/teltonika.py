"""A Teltonika FMB tracker's links: TCP (IMEI handshake, then one Codec 8 packet per batch) and UDP.

One fix is a one-record packet; a backlog is a multi-record packet (which the gateway stores as
late). The gateway answers a TCP packet with its record count, a UDP one with an
acknowledgement naming the packet, both only after the records are committed.
"""

from __future__ import annotations

from device_emulator.links.base import DatagramLink, Endpoint, LinkError, StreamLink, TcpStream
from device_emulator.outbox import PendingBatch
from device_emulator.protocols import teltonika

# Records per UDP datagram: about 1.2 KB, so a datagram is not fragmented on a mobile network.
UDP_MAX_RECORDS = 25


class TeltonikaTcpLink(StreamLink):
    max_fixes = teltonika.MAX_RECORDS

    def __init__(self, imei: str, endpoint: Endpoint) -> None:
        super().__init__(endpoint)
        self.imei = imei

    async def login(self, stream: TcpStream) -> None:
        await stream.write(teltonika.handshake(self.imei))
        accepted = await stream.read_exactly(1)
        if accepted != b"\x01":
            raise LinkError(f"Teltonika IMEI {self.imei} refused ({accepted.hex()})")

    async def send(self, batch: PendingBatch) -> bool:
        await self.stream.write(teltonika.tcp_packet(batch.fixes))
        return teltonika.accepted_count(await self.stream.read_exactly(4)) == len(batch.fixes)


class TeltonikaUdpLink(DatagramLink):
    """Every datagram carries the IMEI; packet ids tell the acknowledgements apart."""

    max_fixes = UDP_MAX_RECORDS

    def __init__(self, imei: str, endpoint: Endpoint) -> None:
        super().__init__(endpoint)
        self.imei = imei
        self._packet_id = 0

    async def send(self, batch: PendingBatch) -> bool:
        self._packet_id = (self._packet_id + 1) & 0xFFFF
        packet_id, avl_id = self._packet_id, self._packet_id & 0xFF
        datagram = teltonika.udp_packet(self.imei, batch.fixes, packet_id, avl_id)
        reply = await self.socket.exchange(
            datagram, lambda r: teltonika.udp_accepted(r, packet_id, avl_id) is not None
        )
        return teltonika.udp_accepted(reply, packet_id, avl_id) == len(batch.fixes)
