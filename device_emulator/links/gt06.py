"""A GT06 tracker's TCP link: login (waits for its acknowledgement), then 0x22 locations.

Serial numbers run on across reconnections, as a device's do. A batch is written at once and each
of its packets is acknowledged by the gateway (after the commit) with its serial; fixes the device
buffered carry the re-upload flag.
"""

from __future__ import annotations

from device_emulator.links.base import Endpoint, LinkError, StreamLink, TcpStream
from device_emulator.outbox import PendingBatch
from device_emulator.protocols import gt06

ACK_SIZE = 10  # 78 78 05 PROTO SERIAL(2) CRC(2) 0D 0A
# Packets written before waiting for their acknowledgements (well inside the gateway's burst).
MAX_IN_FLIGHT = 32


class Gt06Link(StreamLink):
    max_fixes = MAX_IN_FLIGHT

    def __init__(self, imei: str, endpoint: Endpoint) -> None:
        super().__init__(endpoint)
        self._device = gt06.Gt06Device(imei)

    async def login(self, stream: TcpStream) -> None:
        await stream.write(self._device.login())
        ack = gt06.parse_ack(await stream.read_exactly(ACK_SIZE))
        if ack != (gt06.LOGIN, self._device.serial):
            raise LinkError(f"GT06 login of {self._device.imei} not acknowledged: {ack}")

    async def send(self, batch: PendingBatch) -> bool:
        packets, waiting = [], set()
        for fix in batch.fixes:
            packets.append(self._device.location(fix, backlog=batch.backlog))
            waiting.add(self._device.serial)
        await self.stream.write(b"".join(packets))
        while waiting:  # acknowledgements come in order; anything else is not ours to count
            ack = gt06.parse_ack(await self.stream.read_exactly(ACK_SIZE))
            if ack is not None and ack[0] == gt06.GPS_LBS_2:
                waiting.discard(ack[1])
        return True
