"""A GT06 tracker's TCP link: login (waits for its acknowledgement), then 0x22 locations.

Serial numbers run on across reconnections, as a device's do. A batch is written at once and each
of its packets is acknowledged by the gateway (after the commit) with its serial; fixes the device
buffered carry the re-upload flag.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from device_emulator.links.base import Endpoint, LinkError, TcpStream
from device_emulator.outbox import PendingBatch
from device_emulator.protocols import gt06

ACK_SIZE = 10  # 78 78 05 PROTO SERIAL(2) CRC(2) 0D 0A
# Packets written before waiting for their acknowledgements (well inside the gateway's burst).
MAX_IN_FLIGHT = 32


class Gt06Link:
    max_fixes = MAX_IN_FLIGHT

    def __init__(self, imei: str, endpoint: Endpoint) -> None:
        self._device = gt06.Gt06Device(imei)
        self._endpoint = endpoint
        self._stream: TcpStream | None = None

    async def __aenter__(self) -> Self:
        self._stream = await TcpStream.open(self._endpoint)
        try:
            await self._stream.write(self._device.login())
            ack = gt06.parse_ack(await self._stream.read_exactly(ACK_SIZE))
        except LinkError:
            await self._stream.close()
            raise
        if ack != (gt06.LOGIN, self._device.serial):
            await self._stream.close()
            raise LinkError(f"GT06 login of {self._device.imei} not acknowledged: {ack}")
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
        packets, waiting = [], set()
        for fix in batch.fixes:
            packets.append(self._device.location(fix, backlog=batch.backlog))
            waiting.add(self._device.serial)
        await self._stream.write(b"".join(packets))
        while waiting:  # acknowledgements come in order; anything else is not ours to count
            ack = gt06.parse_ack(await self._stream.read_exactly(ACK_SIZE))
            if ack is not None and ack[0] == gt06.GPS_LBS_2:
                waiting.discard(ack[1])
        return True
