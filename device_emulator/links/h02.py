"""An H02 tracker's links: V1 sentences over TCP or UDP, each answered by a V4 reply once committed.

H02 has no login and no backlog flag: a buffered fix is a V1 sentence with its own, older time.
Over TCP a batch of sentences is written at once and counted back by their V4 replies (one per
sentence, in order); over UDP each sentence is its own datagram. A V4 reply does not say which
sentence it answers, so a UDP sentence left unanswered is not sent again on the same socket:
the link fails and the runner reconnects from a new port, where no late reply can arrive.
"""

from __future__ import annotations

from device_emulator.links.base import DatagramLink, Endpoint, StreamLink
from device_emulator.outbox import PendingBatch
from device_emulator.protocols import h02

MAX_IN_FLIGHT = 32


class H02TcpLink(StreamLink):
    max_fixes = MAX_IN_FLIGHT

    def __init__(self, device_id: str, endpoint: Endpoint) -> None:
        super().__init__(endpoint)
        self.device_id = device_id

    async def send(self, batch: PendingBatch) -> bool:
        await self.stream.write(b"".join(h02.v1_sentence(self.device_id, fix) for fix in batch.fixes))
        waiting = len(batch.fixes)
        while waiting:
            if h02.acknowledged_id(await self.stream.read_until(b"#")) == self.device_id:
                waiting -= 1
        return True


class H02UdpLink(DatagramLink):
    max_fixes = 1

    def __init__(self, device_id: str, endpoint: Endpoint) -> None:
        super().__init__(endpoint)
        self.device_id = device_id

    async def send(self, batch: PendingBatch) -> bool:
        device_id = self.device_id
        await self.socket.exchange(
            h02.v1_sentence(device_id, batch.fixes[0]),
            lambda r: h02.acknowledged_id(r) == device_id,
            attempts=1,
        )
        return True
