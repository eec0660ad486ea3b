"""GT06 end to end: real captures over a real socket to a StreamListener with the real ingest and
PostGIS; replies checked byte by byte and only after the commit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import psycopg
import pytest
from prometheus_client import REGISTRY

from gateway.handlers.gt06 import Gt06Protocol
from gateway.protocols.gt06 import crc16_x25
from gateway.transports.stream import StreamLimits, StreamListener
from tests.gateway.harness import IngestHarness
from tests.services import free_port
from tracking.fleet import register_device, register_vehicle

IMEI = "123456789012345"
# Captures from traccar/traccar src/test/java/org/traccar/protocol/Gt06ProtocolDecoderTest.java
LOGIN = bytes.fromhex("78780D01012345678901234500018CDD0D0A")  # IMEI 123456789012345, serial 1
# Two reports of one device in Shenzhen on 2015-12-29: a buffered 0x22 fix (serial 8, 02:51:05) and a
# vibration alarm 0x16 (serial 0x1C, 10:43:33).
BACKLOG_0x22 = bytes.fromhex("787822220F0C1D023305C9027AC8180C46586000140001CC00287D001F71000001000820860D0A")
ALARM_0x16 = bytes.fromhex(
    "787825160F0C1D0A2B21C8027AC8040C46581000146F0901CC00287D001F714804040301001C84CF0D0A"
)
HEARTBEAT = bytes.fromhex("78780a13c40604000201298f5b0d0a")  # serial 0x0129
TIME_REQUEST = bytes.fromhex("7878058A000688290D0A")  # serial 6
# 0x12 of 2011-08-29 17:46:16 whose CRC is wrong as captured (Traccar decodes it: no check).
BAD_CRC_0x12 = bytes.fromhex("78781F120B081D112E10CC027AC7EB0C46584900148F01CC00287D001FB8000380810D0A")
# Gt06FrameDecoderTest.java: a heartbeat whose LEN (08) is two short of the frame (0A).
HEARTBEAT_LEN_SHORT = bytes.fromhex("787808134606020002044dc5050d0a")  # serial 0x044D

CLOCK_2015 = datetime(2015, 12, 29, 10, 45, tzinfo=UTC)
CLOCK_2011 = datetime(2011, 8, 29, 17, 47, tzinfo=UTC)


def ack(protocol: int, serial: int) -> bytes:
    """The 5-byte acknowledgement, built here from PROTOCOLS.md 1.3 (not by the gateway's encoder)."""
    body = bytes([0x05, protocol]) + serial.to_bytes(2, "big")
    return b"\x78\x78" + body + crc16_x25(body).to_bytes(2, "big") + b"\r\n"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@asynccontextmanager
async def gateway(
    database_url: str, clock: datetime, **settings: object
) -> AsyncIterator[tuple[IngestHarness, int]]:
    async with IngestHarness(database_url, flush_interval_ms=200, **settings) as harness:
        harness.ingest.clock = lambda: clock  # the captures are years old
        port = free_port()
        limits = StreamLimits(idle_timeout_s=5, frame_timeout_s=1)
        listener = StreamListener(Gt06Protocol(harness.ingest, harness.settings), "127.0.0.1", port, limits)
        task = asyncio.create_task(listener.serve())
        await asyncio.sleep(0.1)
        try:
            yield harness, port
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
def registered(db: psycopg.Connection) -> Callable[[str, str], None]:
    register_vehicle(db, "43A20001", "115-G1")

    def register(device_id: str = IMEI, protocol: str = "gt06") -> None:
        register_device(db, device_id, protocol, "43A20001")

    return register


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def nothing_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            await reader.read(100)
    except TimeoutError:
        return True
    return False


async def closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sent before closing."""
    async with asyncio.timeout(3):
        return await reader.read()


async def test_login_then_fixes_acknowledged_only_after_commit(
    database_url: str, registered: Callable[..., None]
) -> None:
    registered()
    async with gateway(database_url, CLOCK_2015) as (harness, port):
        reader, writer = await connect(port)
        writer.write(LOGIN)
        async with asyncio.timeout(0.15):  # at once, well before the 200 ms batch interval
            assert await reader.readexactly(10) == bytes.fromhex("787805010001D9DC0D0A")
        writer.write(BACKLOG_0x22 + ALARM_0x16)
        assert await nothing_within(reader, 0.1)  # nothing is committed yet
        assert await reader.readexactly(10) == ack(0x22, 0x0008)
        assert await reader.readexactly(10) == ack(0x16, 0x001C)
        rows = harness.stored(IMEI)  # committed before the acknowledgements were sent
        writer.close()
    assert len(rows) == 2
    (
        (t1, lat1, lon1, speed1, course1, late1, attrs1),
        (t2, lat2, lon2, speed2, course2, late2, attrs2),
    ) = rows
    assert t1 == datetime(2015, 12, 29, 2, 51, 5, tzinfo=UTC)
    assert lat1 == pytest.approx(0x027AC818 / 1_800_000, abs=1e-7)
    assert lon1 == pytest.approx(0x0C465860 / 1_800_000, abs=1e-7)
    assert (speed1, course1, late1) == (0.0, 0.0, True)  # the re-upload flag: stored as late
    assert attrs1 == {
        "cell": {"mcc": 460, "mnc": 0, "lac": 10365, "cid": 8049},
        "ignition": False,
        "upload_mode": 0,
    }
    assert t2 == datetime(2015, 12, 29, 10, 43, 33, tzinfo=UTC)
    assert lat2 == pytest.approx(0x027AC804 / 1_800_000, abs=1e-7)
    assert lon2 == pytest.approx(0x0C465810 / 1_800_000, abs=1e-7)
    assert (speed2, course2, late2) == (0.0, 111.0, False)
    assert attrs2["alarm"] == "vibration" and attrs2["battery_pct"] == 67 and attrs2["gsm_signal"] == 4


async def test_heartbeat_and_time_request_are_answered(
    database_url: str, db: psycopg.Connection, registered: Callable[..., None]
) -> None:
    registered()
    async with gateway(database_url, CLOCK_2015) as (harness, port):
        reader, writer = await connect(port)
        writer.write(LOGIN + HEARTBEAT + HEARTBEAT_LEN_SHORT + TIME_REQUEST)
        assert await reader.readexactly(10) == ack(0x01, 1)
        assert await reader.readexactly(10) == ack(0x13, 0x0129)
        assert await reader.readexactly(10) == ack(0x13, 0x044D)
        time_body = bytes.fromhex("0B8A0F0C1D0A2D000006")  # 15-12-29 10:45:00, serial 6
        assert (
            await reader.readexactly(16)
            == b"\x78\x78" + time_body + crc16_x25(time_body).to_bytes(2, "big") + b"\r\n"
        )
        writer.close()
        # The heartbeats say the tracker is connected (issue 11, item 5): noted once, stored apart
        # from the fixes, for the tracker's offline check and the map.
        assert await harness.contact.flush() == 1
    row = db.execute(
        "SELECT c.heard_at, c.vehicle_id = v.id FROM device_contact c JOIN vehicles v ON v.plate = '43A20001'"
        " WHERE c.device_id = %s",
        (IMEI,),
    ).fetchone()
    assert row == (CLOCK_2015, True)
    assert harness.stored(IMEI) == []  # a heartbeat is not a fix


async def test_unknown_imei_gets_no_reply_and_is_closed(
    database_url: str, registered: Callable[..., None]
) -> None:
    registered("864717003664467")  # another device is registered, not this one
    before = sample("amb_gateway_protocol_refused_total", protocol="gt06", reason="unknown_device")
    async with gateway(database_url, CLOCK_2015) as (_, port):
        reader, writer = await connect(port)
        writer.write(LOGIN)
        assert await closed(reader) == b""
        writer.close()
    assert (
        sample("amb_gateway_protocol_refused_total", protocol="gt06", reason="unknown_device") == before + 1
    )


async def test_device_of_another_protocol_is_refused(
    database_url: str, registered: Callable[..., None]
) -> None:
    registered(IMEI, "teltonika")
    before = sample("amb_gateway_protocol_refused_total", protocol="gt06", reason="wrong_protocol")
    async with gateway(database_url, CLOCK_2015) as (_, port):
        reader, writer = await connect(port)
        writer.write(LOGIN)
        assert await closed(reader) == b""
        writer.close()
    assert (
        sample("amb_gateway_protocol_refused_total", protocol="gt06", reason="wrong_protocol") == before + 1
    )


async def test_frames_before_login_are_refused_and_close_the_connection(
    database_url: str, registered: Callable[..., None]
) -> None:
    registered()
    async with gateway(database_url, CLOCK_2015) as (harness, port):
        reader, writer = await connect(port)
        writer.write(ALARM_0x16 + LOGIN)
        assert await closed(reader) == b""
        writer.close()
        assert harness.stored(IMEI) == []


async def test_strict_checksum_refuses_without_reply_and_keeps_the_connection(
    database_url: str, registered: Callable[..., None]
) -> None:
    registered()
    errors = sample("amb_gateway_checksum_errors_total", protocol="gt06")
    async with gateway(database_url, CLOCK_2011, checksum_mode="strict") as (harness, port):
        reader, writer = await connect(port)
        writer.write(LOGIN + BAD_CRC_0x12 + HEARTBEAT)
        assert await reader.readexactly(10) == ack(0x01, 1)
        assert await reader.readexactly(10) == ack(0x13, 0x0129)  # the 0x12 got no reply
        writer.close()
        assert harness.stored(IMEI) == []
    assert sample("amb_gateway_checksum_errors_total", protocol="gt06") == errors + 1


async def test_lenient_checksum_counts_then_stores(
    database_url: str, registered: Callable[..., None]
) -> None:
    registered()
    errors = sample("amb_gateway_checksum_errors_total", protocol="gt06")
    async with gateway(database_url, CLOCK_2011, checksum_mode="lenient") as (harness, port):
        reader, writer = await connect(port)
        writer.write(LOGIN + BAD_CRC_0x12)
        assert await reader.readexactly(10) == ack(0x01, 1)
        assert await reader.readexactly(10) == ack(0x12, 0x0003)
        rows = harness.stored(IMEI)
        writer.close()
    assert [r[0] for r in rows] == [datetime(2011, 8, 29, 17, 46, 16, tzinfo=UTC)]
    assert sample("amb_gateway_checksum_errors_total", protocol="gt06") == errors + 1


async def test_garbage_is_skipped_and_counted(database_url: str, registered: Callable[..., None]) -> None:
    registered()
    garbage = b"\x00\xffHELLO\r\n"
    before = sample("amb_gateway_garbage_bytes_total", protocol="gt06")
    async with gateway(database_url, CLOCK_2015) as (harness, port):
        reader, writer = await connect(port)
        writer.write(garbage + LOGIN + garbage + ALARM_0x16)
        assert await reader.readexactly(10) == ack(0x01, 1)
        assert await reader.readexactly(10) == ack(0x16, 0x001C)
        assert len(harness.stored(IMEI)) == 1
        writer.close()
    assert sample("amb_gateway_garbage_bytes_total", protocol="gt06") == before + 2 * len(garbage)
