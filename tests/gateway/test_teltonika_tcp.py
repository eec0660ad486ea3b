"""Teltonika over TCP end to end: a StreamListener in-process, real captures over a real socket, rows
in PostGIS, replies byte by byte and only after the commit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
import pytest
from prometheus_client import REGISTRY

from gateway.handlers.teltonika import TeltonikaProtocol
from gateway.protocols.teltonika import crc16_arc
from gateway.transports.stream import StreamLimits, StreamListener
from tests.gateway.harness import IngestHarness
from tests.gateway.teltonika_captures import (
    IMEI_TRACCAR,
    IMEI_WIKI,
    TRACCAR_8_NEWEST_FIRST,
    TRACCAR_8_ONE,
    TRACCAR_8E_VIN,
    TRACCAR_16_BAD_CRC,
    TRACCAR_16_ONE,
    WIKI_8_ONE,
    WIKI_8_TWO,
)
from tests.services import free_port
from tracking.fleet import register_device, register_vehicle

IMEI = "123456789012345"  # the IMEI of Traccar's handshake capture
FLUSH_MS = 200
# The captures are from 2013-2022: let the age check through so they are stored.
OLD_CAPTURES_OK = 20_000


@dataclass
class Gateway:
    harness: IngestHarness
    port: int

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)

    async def logged_in(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await self.connect()
        writer.write(bytes.fromhex(IMEI_TRACCAR))
        assert await read(reader, 1) == b"\x01"
        return reader, writer


async def read(reader: asyncio.StreamReader, n: int, timeout: float = 3.0) -> bytes:
    async with asyncio.timeout(timeout):
        return await reader.readexactly(n)


async def silent(reader: asyncio.StreamReader, seconds: float) -> bool:
    """True if nothing arrives (and the connection stays open) for `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            data = await reader.read(1)
    except TimeoutError:
        return True
    raise AssertionError(f"expected silence, got {data!r}")


async def closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sent before closing the connection."""
    async with asyncio.timeout(3):
        return await reader.read()


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def serve(database_url: str, **settings: object) -> AsyncIterator[Gateway]:
    async with IngestHarness(
        database_url, flush_interval_ms=FLUSH_MS, max_age_days=OLD_CAPTURES_OK, **settings
    ) as harness:
        port = free_port()
        protocol = TeltonikaProtocol(harness.ingest, harness.settings)
        limits = StreamLimits(idle_timeout_s=10, frame_timeout_s=2)
        task = asyncio.create_task(StreamListener(protocol, "127.0.0.1", port, limits).serve())
        await asyncio.sleep(0.1)
        try:
            yield Gateway(harness, port)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
def device(db: psycopg.Connection) -> str:
    vehicle = register_vehicle(db, "43A12345", "115-T9")
    register_device(db, IMEI, "teltonika", vehicle.plate)
    return IMEI


@pytest.fixture
async def gateway(db: psycopg.Connection, database_url: str) -> AsyncIterator[Gateway]:
    async for g in serve(database_url):
        yield g


@pytest.fixture
async def lenient_gateway(db: psycopg.Connection, database_url: str) -> AsyncIterator[Gateway]:
    async for g in serve(database_url, checksum_mode="lenient"):
        yield g


async def test_backlog_packet_is_stored_in_time_order_and_acknowledged_after_commit(
    gateway: Gateway, device: str
) -> None:
    reader, writer = await gateway.logged_in()
    writer.write(bytes.fromhex(TRACCAR_8_NEWEST_FIRST))
    assert await silent(reader, FLUSH_MS / 2000)  # the batch has not committed yet
    assert await read(reader, 4) == bytes.fromhex("00000003")
    rows = gateway.harness.stored(device)  # committed before the reply went out
    assert [r[0] for r in rows] == [
        datetime(2021, 6, 4, 3, 19, 23, 160000, tzinfo=UTC),
        datetime(2022, 3, 28, 4, 52, 53, 270000, tzinfo=UTC),
        datetime(2022, 3, 28, 4, 53, 34, 230000, tzinfo=UTC),
    ]
    _, lat, lon, speed, course, late, attrs = rows[0]
    assert (lat, lon, speed, course, late) == (24.893493, 67.0457151, 97, 241, True)
    assert attrs["din1"] is True and attrs["power_v"] == 13.556 and attrs["trip_odometer_m"] == 327
    assert all(r[5] for r in rows)  # the whole packet is backlog
    writer.close()


async def test_codecs_8_8e_16_over_one_connection(gateway: Gateway, device: str) -> None:
    reader, writer = await gateway.logged_in()
    for capture in (TRACCAR_8_ONE, TRACCAR_8E_VIN, TRACCAR_16_ONE):
        writer.write(bytes.fromhex(capture))
        assert await read(reader, 4) == bytes.fromhex("00000001")
    rows = {r[0]: r for r in gateway.harness.stored(device)}
    live = rows[datetime(2017, 9, 25, 3, 17, 54, tzinfo=UTC)]
    assert live[1:6] == (56.8255366, 60.4544333, 95, 95, False)
    assert live[6]["ignition"] is True and live[6]["hdop"] == 0.6 and live[6]["battery_v"] == 3.927
    extended = rows[datetime(2021, 4, 8, 10, 52, 26, tzinfo=UTC)]
    assert extended[1:3] == (52.0296716, 6.7877833)
    assert bytes.fromhex(extended[6]["io"]["256"]) == b"WV1ZZZ2EZ86015388"
    codec16 = rows[datetime(2018, 7, 26, 20, 43, 43, tzinfo=UTC)]
    assert codec16[1:3] == (-33.4379166, -70.64967)
    assert codec16[6]["generation"] == 7
    with psycopg.connect(gateway.harness.database_url) as conn:
        row = conn.execute(
            "SELECT protocol, satellites, altitude_m, valid FROM positions WHERE device_id = %s"
            " AND fix_time = '2018-07-26T20:43:43Z'",
            (device,),
        ).fetchone()
    assert row == ("teltonika", 6, 571, True)
    writer.close()


async def test_unknown_imei_is_refused_with_00_and_closed(gateway: Gateway, device: str) -> None:
    before = metric("amb_gateway_protocol_refused_total", protocol="teltonika", reason="unknown_device")
    reader, writer = await gateway.connect()
    writer.write(bytes.fromhex(IMEI_WIKI))  # 356307042441013: not registered
    assert await closed(reader) == b"\x00"
    after = metric("amb_gateway_protocol_refused_total", protocol="teltonika", reason="unknown_device")
    assert after == before + 1
    writer.close()


async def test_data_before_the_handshake_closes_without_reply(gateway: Gateway, device: str) -> None:
    reader, writer = await gateway.connect()
    writer.write(bytes.fromhex(TRACCAR_8_ONE))
    assert await closed(reader) == b""
    assert gateway.harness.stored(device) == []
    writer.close()


async def test_bad_crc_strict_gets_no_reply_and_the_connection_goes_on(gateway: Gateway, device: str) -> None:
    errors = metric("amb_gateway_checksum_errors_total", protocol="teltonika")
    reader, writer = await gateway.logged_in()
    writer.write(bytes.fromhex(TRACCAR_16_BAD_CRC))
    assert await silent(reader, 0.3)  # the device will send it again
    assert metric("amb_gateway_checksum_errors_total", protocol="teltonika") == errors + 1
    writer.write(bytes.fromhex(TRACCAR_8_ONE))
    assert await read(reader, 4) == bytes.fromhex("00000001")
    assert len(gateway.harness.stored(device)) == 1
    writer.close()


async def test_bad_crc_lenient_is_counted_and_stored(lenient_gateway: Gateway, device: str) -> None:
    errors = metric("amb_gateway_checksum_errors_total", protocol="teltonika")
    reader, writer = await lenient_gateway.logged_in()
    writer.write(bytes.fromhex(TRACCAR_16_BAD_CRC))
    assert await read(reader, 4) == bytes.fromhex("00000002")
    assert metric("amb_gateway_checksum_errors_total", protocol="teltonika") == errors + 1
    assert [r[1:3] for r in lenient_gateway.harness.stored(device)] == [
        (54.6990336, 25.2618832),
        (54.6670383, 25.2558416),
    ]
    writer.close()


async def test_records_refused_by_checks_are_still_acknowledged(gateway: Gateway, device: str) -> None:
    # The wiki examples have no fix and (0, 0) coordinates: refused, but acknowledged, or the
    # device would send them forever.
    before = metric("amb_gateway_protocol_refused_total", protocol="teltonika", reason="zero_coordinates")
    reader, writer = await gateway.logged_in()
    writer.write(bytes.fromhex(WIKI_8_TWO))
    assert await read(reader, 4) == bytes.fromhex("00000002")
    after = metric("amb_gateway_protocol_refused_total", protocol="teltonika", reason="zero_coordinates")
    assert after == before + 2
    assert gateway.harness.stored(device) == []
    writer.close()


async def test_garbage_and_pings_are_skipped(gateway: Gateway, device: str) -> None:
    garbage = b"\x16\x03\x01\x02junk from a scanner"
    skipped = metric("amb_gateway_garbage_bytes_total", protocol="teltonika")
    reader, writer = await gateway.logged_in()
    writer.write(b"\xff" + garbage + bytes.fromhex(TRACCAR_8_ONE) + b"\xff")
    assert await read(reader, 4) == bytes.fromhex("00000001")
    assert await silent(reader, 0.2)  # nothing for the pings
    assert metric("amb_gateway_garbage_bytes_total", protocol="teltonika") == skipped + len(garbage)
    writer.close()


async def test_record_count_mismatch_is_refused_without_reply(gateway: Gateway, device: str) -> None:
    # The wiki's first example with N2 = 2 (the C# Codec8DecoderTests mismatch case), its CRC
    # recomputed so that only the counts are wrong.
    raw = bytearray(bytes.fromhex(WIKI_8_ONE))
    raw[-5] = 2
    raw[-4:] = crc16_arc(bytes(raw[8:-4])).to_bytes(4, "big")
    before = metric("amb_gateway_protocol_refused_total", protocol="teltonika", reason="bad_frame")
    reader, writer = await gateway.logged_in()
    writer.write(bytes(raw))
    assert await silent(reader, 0.3)
    after = metric("amb_gateway_protocol_refused_total", protocol="teltonika", reason="bad_frame")
    assert after == before + 1
    writer.close()


async def test_absurd_length_and_identity_change_close_the_connection(gateway: Gateway, device: str) -> None:
    reader, writer = await gateway.logged_in()
    writer.write(bytes.fromhex("000000007FFFFFFF08"))
    assert await closed(reader) == b""
    reader, writer = await gateway.logged_in()
    writer.write(bytes.fromhex(IMEI_WIKI))  # another device's IMEI on this connection
    assert await closed(reader) == b""
    writer.close()


async def test_an_imei_registered_for_another_protocol_is_refused(
    gateway: Gateway, db: psycopg.Connection
) -> None:
    register_device(db, IMEI, "gt06")
    before = metric("amb_gateway_protocol_refused_total", protocol="teltonika", reason="wrong_protocol")
    reader, writer = await gateway.connect()
    writer.write(bytes.fromhex(IMEI_TRACCAR))
    assert await closed(reader) == b"\x00"
    after = metric("amb_gateway_protocol_refused_total", protocol="teltonika", reason="wrong_protocol")
    assert after == before + 1
    writer.close()
