"""The emulator's GT06 encoder against the gateway's decoder: round trips of emulator fixes (login,
live and re-uploaded 0x22 locations, heartbeat), and the packets accepted by a real listener."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
from hypothesis import given
from hypothesis import strategies as st

from device_emulator.fixes import Fix
from device_emulator.protocols import gt06 as emu
from gateway.decoded import FixFields
from gateway.handlers.gt06 import Gt06Protocol
from gateway.protocols.gt06 import Gt06Splitter, Location, Login, Status, decode, encode_reply, parse_frame
from gateway.refusals import Refusal
from gateway.transports.stream import StreamListener
from tests.device_emulator import drive
from tests.gateway.harness import IngestHarness
from tests.services import free_port
from tracking.fleet import register_device, register_vehicle

IMEI = "359339075005244"


def emulator_fixes(count: int, start: datetime, seed: int = 11) -> list[Fix]:
    return drive.emulator_fixes(count, start, seed=seed)


def decoded(packet: bytes) -> FixFields:
    frames = Gt06Splitter().split(bytearray(packet))
    assert frames == [packet]
    frame = parse_frame(packet)
    assert not isinstance(frame, Refusal) and frame.checksum_ok
    message = decode(frame)
    assert isinstance(message, Location) and isinstance(message.item, FixFields)
    return message.item


def assert_same(fix: Fix, fields: FixFields) -> None:
    assert fields.fix_time == fix.time.replace(microsecond=0)  # GT06 times are whole seconds
    # 1/1 800 000 of a degree: 6 cm.
    assert abs(fields.lat - fix.lat) <= 0.5 / 1_800_000 + 1e-12
    assert abs(fields.lon - fix.lon) <= 0.5 / 1_800_000 + 1e-12
    assert fields.speed_kmh is not None and abs(fields.speed_kmh - min(fix.speed_kmh, 255)) <= 0.5
    assert (fields.course, fields.satellites) == (fix.heading, min(fix.sats, 15))
    assert fields.valid


def test_crc_matches_the_documented_login_acknowledgement() -> None:
    # PROTOCOLS.md 1.3: the acknowledgement of a login with serial 1.
    assert emu.packet(0x01, b"", 1) == bytes.fromhex("787805010001D9DC0D0A")
    assert emu.parse_ack(bytes.fromhex("787805010001D9DC0D0A")) == (0x01, 1)
    assert emu.parse_ack(bytes.fromhex("787805010001D9DD0D0A")) is None


def test_login_round_trip_reproduces_a_real_capture() -> None:
    # traccar/traccar Gt06ProtocolDecoderTest.java: the login of IMEI 123456789012345, serial 1.
    assert emu.login_packet("123456789012345", 1) == bytes.fromhex("78780D01012345678901234500018CDD0D0A")
    device = emu.Gt06Device(IMEI)
    frame = parse_frame(device.login())
    assert not isinstance(frame, Refusal) and frame.checksum_ok and frame.serial == 1
    assert decode(frame) == Login(IMEI)


def test_live_and_backlog_fixes_round_trip_with_rolling_serials() -> None:
    device = emu.Gt06Device(IMEI)
    device.login()
    fixes = emulator_fixes(5, datetime(2026, 11, 27, 8, 0, 0, 400000, tzinfo=UTC))
    for i, fix in enumerate(fixes):
        packet = device.location(fix, backlog=i < 3)
        frame = parse_frame(packet)
        assert not isinstance(frame, Refusal) and frame.serial == i + 2
        fields = decoded(packet)
        assert_same(fix, fields)
        assert fields.backlog is (i < 3)
        attrs = fields.attributes or {}
        assert attrs["ignition"] is True
        assert attrs["cell"] == {"mcc": 452, "mnc": 4, "lac": 0x2B67, "cid": 0xA1B2}
        # The gateway's acknowledgement is what the emulator waits for.
        assert emu.parse_ack(encode_reply(frame.protocol, frame.serial)) == (0x22, i + 2)


def test_serials_wrap_after_0xffff() -> None:
    device = emu.Gt06Device(IMEI, serial=0xFFFE)
    assert [device.next_serial() for _ in range(3)] == [0xFFFF, 1, 2]


def test_heartbeat_round_trip() -> None:
    frame = parse_frame(emu.Gt06Device(IMEI).heartbeat(ignition=False))
    assert not isinstance(frame, Refusal) and frame.checksum_ok
    message = decode(frame)
    assert isinstance(message, Status)
    assert message.attributes["ignition"] is False and message.attributes["charging"] is True
    assert (message.attributes["battery_pct"], message.attributes["gsm_signal"]) == (100, 4)


@given(
    st.datetimes(datetime(2001, 1, 1), datetime(2099, 12, 31), timezones=st.just(UTC)),
    st.floats(-90, 90),
    st.floats(-180, 180),
    st.floats(0, 300),
    st.integers(0, 359),
    st.integers(0, 30),
    st.booleans(),
)
def test_any_fix_round_trips(
    when: datetime, lat: float, lon: float, speed: float, heading: int, sats: int, backlog: bool
) -> None:
    fix = Fix(when, round(lat, 7), round(lon, 7), speed, heading, 5, 5, sats, "idle")
    fields = decoded(emu.location_packet(fix, 7, backlog=backlog))
    assert_same(fix, fields)
    assert fields.backlog is backlog


async def test_emulator_packets_are_stored_by_the_gateway(db: psycopg.Connection, database_url: str) -> None:
    vehicle = register_vehicle(db, "43A67891", "115-G7")
    register_device(db, IMEI, "gt06", vehicle.plate)
    start = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    fixes = emulator_fixes(5, start)
    device = emu.Gt06Device(IMEI)
    async with IngestHarness(database_url, flush_interval_ms=50) as harness:
        port = free_port()
        task = asyncio.create_task(
            StreamListener(Gt06Protocol(harness.ingest, harness.settings), "127.0.0.1", port).serve()
        )
        await asyncio.sleep(0.1)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        async with asyncio.timeout(3):
            writer.write(device.login())
            assert emu.parse_ack(await reader.readexactly(10)) == (0x01, 1)
            writer.write(b"".join(device.location(f, backlog=True) for f in fixes[:4]))  # a backlog
            for serial in range(2, 6):
                assert emu.parse_ack(await reader.readexactly(10)) == (0x22, serial)
            writer.write(device.location(fixes[4]))  # then a live fix
            assert emu.parse_ack(await reader.readexactly(10)) == (0x22, 6)
        writer.close()
        rows = harness.stored(IMEI)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [r[0] for r in rows] == [f.time for f in fixes]
    assert [r[5] for r in rows] == [True, True, True, True, False]  # late = backlog
