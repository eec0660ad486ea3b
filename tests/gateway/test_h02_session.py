"""H02 end to end over TCP and UDP: real captures to in-process listeners with the real ingest and
PostGIS; replies checked byte by byte and only after the commit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import psycopg
import pytest
from prometheus_client import REGISTRY

from gateway.handlers.h02 import H02DatagramHandler, H02Protocol
from gateway.transports.datagram import DatagramListener
from gateway.transports.stream import StreamLimits, StreamListener
from tests.gateway.harness import IngestHarness
from tests.services import free_port
from tracking.fleet import register_device, register_vehicle

# Captures from traccar/traccar src/test/java/org/traccar/protocol/H02ProtocolDecoderTest.java
V1 = b"*HQ,4210051415,V1,164549,A,0956.3869,N,08406.7068,W,000.00,000,221215,FFFFFBFF,712,01,0,0,6#"
V1_CLOCK = datetime(2015, 12, 22, 16, 47, tzinfo=UTC)
V1_OTHER_DEVICE = (
    b"*HQ,4210209006,V1,201812,A,2608.9437,N,08016.2521,W,000.80,000,150317,EFE7F9FF,310,260,0,0,6#"
)
HTBT = b"*HQ,135790246811220,HTBT,100#"
NBR = (
    b"*HQ,4109179024,NBR,103732,722,310,0,6,8106,32010,23,8101,22007,25,8106,12010,23,8106,22105,22,"
    b"8101,22012,16,8106,42010,5,100217,FFFFFBFF,5#"
)
# H02FrameDecoderTest.java: one device's binary report followed by its V1 sentence, in one read.
BINARY_THEN_V1 = bytes.fromhex("2441060116601245431311165035313006004318210e000000fffffbffff0024") + (
    b"*HQ,4106011660,V1,124552,A,5035.3129,N,00431.8211,E,000.20,000,131116,FFFFFBFF#"
)
BINARY_CLOCK = datetime(2016, 11, 13, 12, 47, tzinfo=UTC)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def registered(db: psycopg.Connection) -> Callable[..., None]:
    register_vehicle(db, "43A20002", "115-H1")

    def register(*device_ids: str, protocol: str = "h02") -> None:
        for device_id in device_ids:
            register_device(db, device_id, protocol, "43A20002")

    return register


@asynccontextmanager
async def gateway(database_url: str, clock: datetime) -> AsyncIterator[tuple[IngestHarness, int]]:
    """TCP and UDP listeners on the same port number, as in production."""
    async with IngestHarness(database_url, flush_interval_ms=200) as harness:
        harness.ingest.clock = lambda: clock  # the captures are years old
        port = free_port()
        limits = StreamLimits(idle_timeout_s=5, frame_timeout_s=1)
        tcp = StreamListener(H02Protocol(harness.ingest, harness.settings), "127.0.0.1", port, limits)
        udp = DatagramListener(H02DatagramHandler(harness.ingest, harness.settings), "127.0.0.1", port)
        tasks = [asyncio.create_task(tcp.serve()), asyncio.create_task(udp.serve())]
        await asyncio.sleep(0.1)
        try:
            yield harness, port
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def closed(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(3):
        return await reader.read()


class UdpClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.put_nowait(data)


@asynccontextmanager
async def udp_client(port: int) -> AsyncIterator[tuple[asyncio.DatagramTransport, UdpClient]]:
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(UdpClient, remote_addr=("127.0.0.1", port))
    try:
        yield transport, client
    finally:
        transport.close()


async def test_v1_over_tcp_is_answered_after_commit(
    database_url: str, registered: Callable[..., None]
) -> None:
    registered("4210051415")
    async with gateway(database_url, V1_CLOCK) as (harness, port):
        reader, writer = await connect(port)
        writer.write(V1 + b"\r\n")
        with pytest.raises(TimeoutError):  # the batch interval is 200 ms: nothing committed yet
            async with asyncio.timeout(0.1):
                await reader.readuntil(b"#")
        assert await reader.readuntil(b"#") == b"*HQ,4210051415,V4,V1,20151222164700#"
        rows = harness.stored("4210051415")  # committed before the reply was sent
        writer.close()
    [(fix_time, lat, lon, speed, course, late, attributes)] = rows
    assert fix_time == datetime(2015, 12, 22, 16, 45, 49, tzinfo=UTC)
    assert lat == pytest.approx(9.93978, abs=1e-5) and lon == pytest.approx(-84.11178, abs=1e-5)
    assert (speed, course, late) == (0.0, 0.0, False)
    assert attributes == {
        "status": 0xFFFFFBFF,
        "ignition": False,
        "io": {"1": "712", "2": "01", "3": "0", "4": "0", "5": "6"},
    }


async def test_binary_and_text_of_one_device_are_both_stored(
    database_url: str, registered: Callable[..., None]
) -> None:
    registered("4106011660")
    async with gateway(database_url, BINARY_CLOCK) as (harness, port):
        reader, writer = await connect(port)
        writer.write(BINARY_THEN_V1)
        assert await reader.readuntil(b"#") == b"*HQ,4106011660,V4,V1,20161113124700#"  # binary: no reply
        rows = harness.stored("4106011660")
        writer.close()
    assert [r[0] for r in rows] == [
        datetime(2016, 11, 13, 12, 45, 43, tzinfo=UTC),
        datetime(2016, 11, 13, 12, 45, 52, tzinfo=UTC),
    ]
    assert rows[1][3] == pytest.approx(0.2 * 1.852, abs=1e-4)  # knots to km/h


async def test_heartbeat_echo_and_nbr_reply(database_url: str, registered: Callable[..., None]) -> None:
    registered("135790246811220", "4109179024")
    async with gateway(database_url, V1_CLOCK) as (_, port):
        reader, writer = await connect(port)
        writer.write(HTBT)
        assert await reader.readuntil(b"#") == b"*HQ,135790246811220,HTBT#"
        writer.close()
        reader, writer = await connect(port)
        writer.write(NBR)
        assert await reader.readuntil(b"#") == b"*HQ,4109179024,V4,NBR,20151222164700#"
        writer.close()


async def test_unknown_id_gets_no_reply_and_is_closed(
    database_url: str, registered: Callable[..., None]
) -> None:
    registered("4210209006")
    before = sample("amb_gateway_protocol_refused_total", protocol="h02", reason="unknown_device")
    async with gateway(database_url, V1_CLOCK) as (harness, port):
        reader, writer = await connect(port)
        writer.write(V1)
        assert await closed(reader) == b""
        writer.close()
        assert harness.stored("4210051415") == []
    assert sample("amb_gateway_protocol_refused_total", protocol="h02", reason="unknown_device") == before + 1


async def test_a_second_id_on_a_connection_is_refused(
    database_url: str, registered: Callable[..., None]
) -> None:
    registered("4210051415", "4210209006")
    async with gateway(database_url, V1_CLOCK) as (harness, port):
        reader, writer = await connect(port)
        writer.write(V1 + V1_OTHER_DEVICE)
        await closed(reader)  # closed by the identity change (the first fix's reply may be lost)
        writer.close()
        await asyncio.sleep(0.4)
        assert len(harness.stored("4210051415")) == 1
        assert harness.stored("4210209006") == []


async def test_device_of_another_protocol_is_refused(
    database_url: str, registered: Callable[..., None]
) -> None:
    registered("4210051415", protocol="gt06")
    async with gateway(database_url, V1_CLOCK) as (harness, port):
        reader, writer = await connect(port)
        writer.write(V1)
        assert await closed(reader) == b""
        writer.close()
        assert harness.stored("4210051415") == []


async def test_garbage_is_skipped_and_counted(database_url: str, registered: Callable[..., None]) -> None:
    registered("4210051415")
    before = sample("amb_gateway_garbage_bytes_total", protocol="h02")
    async with gateway(database_url, V1_CLOCK) as (_, port):
        reader, writer = await connect(port)
        writer.write(b"\x00\x01GET /\r\n" + V1)
        assert await reader.readuntil(b"#") == b"*HQ,4210051415,V4,V1,20151222164700#"
        writer.close()
    assert sample("amb_gateway_garbage_bytes_total", protocol="h02") == before + 9


async def test_udp_datagram_with_two_frames_is_stored_and_answered_to_the_sender(
    database_url: str, registered: Callable[..., None]
) -> None:
    registered("4106011660")
    async with (
        gateway(database_url, BINARY_CLOCK) as (harness, port),
        udp_client(port) as (transport, client),
    ):
        transport.sendto(BINARY_THEN_V1)
        async with asyncio.timeout(3):
            assert await client.received.get() == b"*HQ,4106011660,V4,V1,20161113124700#"
        assert len(harness.stored("4106011660")) == 2


async def test_udp_unknown_id_gets_no_reply(database_url: str, registered: Callable[..., None]) -> None:
    registered("4106011660")
    async with gateway(database_url, V1_CLOCK) as (harness, port), udp_client(port) as (transport, client):
        transport.sendto(V1)
        transport.sendto(HTBT)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await client.received.get()
        assert harness.stored("4210051415") == []
