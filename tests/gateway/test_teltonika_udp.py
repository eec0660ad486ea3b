"""Teltonika over UDP end to end: a DatagramListener in-process, real captures as real datagrams,
rows in PostGIS, the acknowledgement byte by byte and only after the commit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
import pytest

from gateway.handlers.teltonika import TeltonikaDatagramHandler
from gateway.transports.datagram import DatagramListener
from tests.gateway.harness import IngestHarness
from tests.gateway.teltonika_captures import TRACCAR_UDP, WIKI_UDP
from tests.gateway.test_teltonika_tcp import OLD_CAPTURES_OK, metric
from tests.services import free_port
from tracking.fleet import register_device, register_vehicle

TRACCAR_IMEI = "357454072713975"
WIKI_IMEI = "352093086403655"
FLUSH_MS = 200


class Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.replies.put_nowait(data)


@dataclass
class UdpGateway:
    harness: IngestHarness
    transport: asyncio.DatagramTransport
    client: Client

    def send(self, hex_capture: str) -> None:
        self.transport.sendto(bytes.fromhex(hex_capture))

    async def reply(self, timeout: float = 3.0) -> bytes:
        async with asyncio.timeout(timeout):
            return await self.client.replies.get()

    async def no_reply(self, seconds: float) -> bool:
        try:
            data = await self.reply(seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"expected no reply, got {data.hex()}")


@pytest.fixture
async def udp(db: psycopg.Connection, database_url: str) -> AsyncIterator[UdpGateway]:
    vehicle = register_vehicle(db, "43A54321", "115-T8")
    register_device(db, TRACCAR_IMEI, "teltonika", vehicle.plate)
    async with IngestHarness(
        database_url, flush_interval_ms=FLUSH_MS, max_age_days=OLD_CAPTURES_OK
    ) as harness:
        port = free_port()
        handler = TeltonikaDatagramHandler(harness.ingest, harness.settings)
        task = asyncio.create_task(DatagramListener(handler, "127.0.0.1", port).serve())
        await asyncio.sleep(0.1)
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.0.1", port))
        try:
            yield UdpGateway(harness, transport, client)
        finally:
            transport.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_traccar_capture_is_stored_then_acknowledged_with_its_ids(udp: UdpGateway) -> None:
    udp.send(TRACCAR_UDP)
    assert await udp.no_reply(FLUSH_MS / 2000)  # not before the commit
    # LEN 0005, the packet id echoed (CAFE), 01, the AVL packet id (22), 1 record accepted.
    assert await udp.reply() == bytes.fromhex("0005CAFE012201")
    ((fix_time, lat, lon, speed, course, late, attrs),) = udp.harness.stored(TRACCAR_IMEI)
    assert fix_time == datetime(2017, 7, 12, 15, 24, 41, tzinfo=UTC)
    assert (lat, lon, speed, course, late) == (51.630115, 0.4124566, 49, 109, False)
    assert attrs["motion"] is True and attrs["power_v"] == 14.364


async def test_unknown_imei_gets_no_reply(udp: UdpGateway) -> None:
    before = metric("amb_gateway_protocol_refused_total", protocol="teltonika", reason="unknown_device")
    udp.send(WIKI_UDP)  # IMEI 352093086403655 is not registered
    assert await udp.no_reply(0.5)
    after = metric("amb_gateway_protocol_refused_total", protocol="teltonika", reason="unknown_device")
    assert after == before + 1


async def test_wiki_example_reply_matches_the_vendor_documentation(
    udp: UdpGateway, db: psycopg.Connection
) -> None:
    register_device(db, WIKI_IMEI, "teltonika", "43A54321")
    udp.send(WIKI_UDP)
    # The wiki's server response; its record (no fix, 0, 0) is refused by the checks yet acknowledged.
    assert await udp.reply() == bytes.fromhex("0005CAFE010501")
    assert udp.harness.stored(WIKI_IMEI) == []


async def test_garbage_datagrams_are_refused_silently(udp: UdpGateway) -> None:
    before = metric("amb_gateway_protocol_refused_total", protocol="teltonika", reason="bad_frame")
    udp.transport.sendto(b"\x00\x05hello")
    udp.send(TRACCAR_UDP[:-6])  # truncated: its length field no longer matches
    assert await udp.no_reply(0.4)
    after = metric("amb_gateway_protocol_refused_total", protocol="teltonika", reason="bad_frame")
    assert after == before + 2
    udp.send(TRACCAR_UDP)  # the listener is still serving
    assert await udp.reply() == bytes.fromhex("0005CAFE012201")
