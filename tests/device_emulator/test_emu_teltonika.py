"""The emulator's Teltonika encoder against the gateway's decoder: round trips of emulator fixes
(TCP handshake, live and backlog packets, UDP), and the frames accepted by a real listener."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
from hypothesis import given
from hypothesis import strategies as st

from device_emulator.fixes import Fix
from device_emulator.protocols import teltonika as emu
from gateway.decoded import FixFields
from gateway.handlers.teltonika import TeltonikaProtocol
from gateway.protocols.teltonika import (
    Datagram,
    DataPacket,
    Handshake,
    TeltonikaSplitter,
    decode_datagram,
    decode_frame,
    encode_record_count,
    encode_udp_ack,
)
from gateway.protocols.teltonika_avl import decode_avl, fixes_of
from gateway.transports.stream import StreamListener
from tests.device_emulator import drive
from tests.gateway.harness import IngestHarness
from tests.gateway.teltonika_captures import WIKI_8_ONE
from tests.services import free_port
from tracking.fleet import register_device, register_vehicle

IMEI = "356307042441013"


def emulator_fixes(count: int, start: datetime, seed: int = 7) -> list[Fix]:
    return drive.emulator_fixes(count, start, seed=seed)


def decoded(frame: bytes) -> list[FixFields]:
    frames = TeltonikaSplitter().split(bytearray(frame))
    assert len(frames) == 1
    packet = decode_frame(frames[0])
    assert isinstance(packet, DataPacket) and packet.checksum_ok
    items = fixes_of(decode_avl(packet.avl))
    assert all(isinstance(i, FixFields) for i in items)
    return items  # type: ignore[return-value]


def assert_same(fix: Fix, fields: FixFields) -> None:
    assert fields.fix_time == fix.time  # milliseconds survive (emulator times are whole ms)
    assert abs(fields.lat - fix.lat) <= 0.5e-7 and abs(fields.lon - fix.lon) <= 0.5e-7
    assert fields.speed_kmh is not None and abs(fields.speed_kmh - fix.speed_kmh) <= 0.5
    assert (fields.course, fields.altitude_m, fields.satellites) == (fix.heading, fix.alt_m, fix.sats)
    assert fields.valid


def test_encoder_crc_reproduces_the_wiki_example() -> None:
    raw = bytes.fromhex(WIKI_8_ONE)
    assert emu.crc16_ibm(raw[8:-4]).to_bytes(4, "big") == raw[-4:]


def test_handshake_round_trip() -> None:
    assert emu.handshake(IMEI) == bytes.fromhex("000F333536333037303432343431303133")  # the wiki's
    assert decode_frame(emu.handshake(IMEI)) == Handshake(IMEI)


def test_live_fix_round_trip() -> None:
    (fix,) = emulator_fixes(1, datetime(2026, 11, 27, 8, 0, 0, 250000, tzinfo=UTC))
    (fields,) = decoded(emu.tcp_packet([fix]))
    assert_same(fix, fields)
    assert not fields.backlog
    attrs = fields.attributes or {}
    assert attrs["ignition"] is True and attrs["motion"] is True
    assert (attrs["gsm_signal"], attrs["power_v"], attrs["priority"]) == (4, 13.8, 0)
    assert fields.hdop is not None and abs(fields.hdop - fix.accuracy_m / 5) <= 0.05
    assert emu.accepted_count(encode_record_count(1)) == 1


def test_backlog_round_trip() -> None:
    fixes = emulator_fixes(40, datetime(2026, 11, 27, 8, 0, tzinfo=UTC))
    decoded_fixes = decoded(emu.tcp_packet(fixes))
    assert len(decoded_fixes) == 40 and all(f.backlog for f in decoded_fixes)
    for fix, fields in zip(fixes, decoded_fixes, strict=True):
        assert_same(fix, fields)


def test_panic_priority_decodes_as_sos() -> None:
    (fix,) = emulator_fixes(1, datetime(2026, 11, 27, 8, 0, tzinfo=UTC))
    (fields,) = decoded(emu.tcp_packet([fix], priority=emu.PRIORITY_PANIC))
    assert (fields.attributes or {})["alarm"] == "sos"


def test_udp_round_trip_and_acknowledgement() -> None:
    fixes = emulator_fixes(3, datetime(2026, 11, 27, 8, 0, tzinfo=UTC))
    datagram = decode_datagram(emu.udp_packet(IMEI, fixes, packet_id=0xCAFE, avl_packet_id=0x105))
    assert isinstance(datagram, Datagram)
    assert (datagram.imei, datagram.packet_id, datagram.avl_packet_id) == (IMEI, 0xCAFE, 0x05)
    for fix, fields in zip(fixes, fixes_of(decode_avl(datagram.avl)), strict=True):
        assert isinstance(fields, FixFields)
        assert_same(fix, fields)
    ack = encode_udp_ack(datagram.packet_id, datagram.avl_packet_id, 3)
    assert emu.udp_accepted(ack, 0xCAFE, 0x105) == 3
    assert emu.udp_accepted(ack, 0xCAFF, 0x105) is None


@given(
    st.datetimes(datetime(2020, 1, 1), datetime(2040, 1, 1), timezones=st.just(UTC)),
    st.floats(-90, 90),
    st.floats(-180, 180),
    st.floats(0, 300),
    st.integers(0, 359),
    st.integers(-100, 3000),
    st.integers(1, 30),
)
def test_any_fix_round_trips(
    when: datetime, lat: float, lon: float, speed: float, heading: int, alt: int, sats: int
) -> None:
    when = when.replace(microsecond=when.microsecond // 1000 * 1000)
    fix = Fix(when, round(lat, 7), round(lon, 7), speed, heading, alt, 5, sats, "idle")
    (fields,) = decoded(emu.tcp_packet([fix]))
    assert_same(fix, fields)


async def test_emulator_frames_are_stored_by_the_gateway(db: psycopg.Connection, database_url: str) -> None:
    vehicle = register_vehicle(db, "43A67890", "115-T7")
    register_device(db, IMEI, "teltonika", vehicle.plate)
    start = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    fixes = emulator_fixes(5, start)
    async with IngestHarness(database_url, flush_interval_ms=50) as harness:
        port = free_port()
        protocol = TeltonikaProtocol(harness.ingest, harness.settings)
        task = asyncio.create_task(StreamListener(protocol, "127.0.0.1", port).serve())
        await asyncio.sleep(0.1)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(emu.handshake(IMEI))
        async with asyncio.timeout(3):
            assert await reader.readexactly(1) == b"\x01"
            writer.write(emu.tcp_packet(fixes[:4]))  # a backlog
            assert emu.accepted_count(await reader.readexactly(4)) == 4
            writer.write(emu.tcp_packet(fixes[4:]))  # then a live fix
            assert emu.accepted_count(await reader.readexactly(4)) == 1
        writer.close()
        rows = harness.stored(IMEI)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [r[0] for r in rows] == [f.time for f in fixes]
    assert [r[5] for r in rows] == [True, True, True, True, False]  # late = backlog
