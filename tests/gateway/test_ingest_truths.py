"""The ingest tells the truth under real device behaviour (issue 11, items 1 and 2), against the real
PostGIS and the real tracking worker:

- an alarm is never de-duplicated away: a GT06 alarm with the GPS block of that second's location
  report (or a unit repeating its last block without a fix) raises its `sos` exactly once, the
  position being stored once; a heartbeat alarm is raised at the last known position;
- one glitch is never trusted over the truth: an impossible jump is stored flagged (`suspect`, not
  valid), whether it comes first after a restart or in the middle of a track, and the genuine
  fixes around it are all stored valid.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from gateway.handlers.gt06 import Gt06Protocol
from gateway.handlers.mqtt_json import MqttJsonHandler
from gateway.protocols.gt06 import crc16_x25
from gateway.transports.stream import StreamLimits, StreamListener
from tests.gateway.harness import IngestHarness, recent_utc
from tests.services import free_port
from tracking.fleet import register_device, register_vehicle
from tracking.settings import TrackingSettings
from tracking.worker import TrackingWorker

IMEI = "358899051234567"
LAT, LON = 16.0544, 108.2022  # Đà Nẵng


# --- GT06 frames, built from PROTOCOLS.md 1.x (not by the gateway's code) ---------------------


def gps_block(t: datetime, lat: float = LAT, lon: float = LON, valid: bool = True) -> bytes:
    flags = (0x1000 if valid else 0) | 0x0400  # positioned, north, east, course 0
    return (
        bytes([t.year - 2000, t.month, t.day, t.hour, t.minute, t.second, 0xC9])
        + round(lat * 1_800_000).to_bytes(4, "big")
        + round(lon * 1_800_000).to_bytes(4, "big")
        + bytes([0])
        + flags.to_bytes(2, "big")
    )


LBS = bytes.fromhex("01CC00287D001F71")  # MCC 460, MNC 0, LAC 10365, CID 8049


def frame(protocol: int, content: bytes, serial: int) -> bytes:
    body = bytes([len(content) + 5, protocol]) + content + serial.to_bytes(2, "big")
    return b"\x78\x78" + body + crc16_x25(body).to_bytes(2, "big") + b"\r\n"


def ack(protocol: int, serial: int) -> bytes:
    return frame(protocol, b"", serial)


LOGIN = frame(0x01, bytes.fromhex("0" + IMEI), 1)


def location(t: datetime, serial: int, valid: bool = True) -> bytes:
    return frame(0x12, gps_block(t, valid=valid) + LBS, serial)


def sos_alarm(t: datetime, serial: int, valid: bool = True) -> bytes:
    # LBS length 9, then terminal info, voltage level, GSM signal, alarm 0x01 (SOS), language
    return frame(0x16, gps_block(t, valid=valid) + bytes([9]) + LBS + bytes.fromhex("0406040102"), serial)


def sos_heartbeat(serial: int) -> bytes:
    return frame(0x13, bytes.fromhex("2006040002"), serial)  # terminal info bits 3-5 = 100: SOS


# --- the gateway, the tracker and what they stored ----------------------------------------------


@pytest.fixture
def vehicle_id(db: psycopg.Connection) -> int:
    v = register_vehicle(db, "43A20011", "115-G11")
    register_device(db, IMEI, "gt06", v.plate)
    return v.id


@asynccontextmanager
async def gt06_gateway(database_url: str) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    async with IngestHarness(database_url, flush_interval_ms=20) as harness:
        port = free_port()
        limits = StreamLimits(idle_timeout_s=5, frame_timeout_s=1)
        listener = StreamListener(Gt06Protocol(harness.ingest, harness.settings), "127.0.0.1", port, limits)
        task = asyncio.create_task(listener.serve())
        await asyncio.sleep(0.1)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(LOGIN)
        assert await reader.readexactly(10) == ack(0x01, 1)
        try:
            yield reader, writer
        finally:
            writer.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def tracked_alarms(database_url: str, vehicle_id: int) -> list[tuple[str, datetime, dict[str, Any]]]:
    """Run the real tracking worker over everything waiting; the alarm events of the vehicle."""
    worker = TrackingWorker(database_url, TrackingSettings())
    try:
        while await worker.process_once() > 0:
            pass
    finally:
        await worker.close()
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT kind, at, details FROM events WHERE vehicle_id = %s AND kind IN ('sos', 'alarm') ORDER BY at",
            (vehicle_id,),
        ).fetchall()


def rows(db: psycopg.Connection, device_id: str) -> list[tuple[datetime, float, float, bool, dict[str, Any]]]:
    return db.execute(
        "SELECT fix_time, ST_Y(geom), ST_X(geom), valid, attributes FROM positions"
        " WHERE device_id = %s ORDER BY fix_time",
        (device_id,),
    ).fetchall()


# --- 1. alarms are never de-duplicated away -------------------------------------------------------


@pytest.mark.parametrize("gps_fix", [True, False], ids=["same-second-block", "repeated-block-without-fix"])
async def test_an_alarm_with_an_already_seen_gps_block_raises_its_sos_once(
    database_url: str, db: psycopg.Connection, vehicle_id: int, gps_fix: bool
) -> None:
    t = recent_utc(30)
    async with gt06_gateway(database_url) as (reader, writer):
        writer.write(location(t, 2, gps_fix))
        assert await reader.readexactly(10) == ack(0x12, 2)
        writer.write(sos_alarm(t, 3, gps_fix))  # the GPS block of the report of that second
        assert await reader.readexactly(10) == ack(0x16, 3)
        writer.write(sos_alarm(t, 4, gps_fix))  # the unit repeats its alarm: nothing new
        assert await reader.readexactly(10) == ack(0x16, 4)
    stored = rows(db, IMEI)
    assert [(r[0], r[3]) for r in stored] == [(t, gps_fix), (t + timedelta(microseconds=1), False)]
    assert "alarm" not in stored[0][4]  # the position, stored once
    assert stored[1][4]["alarm"] == "sos" and stored[1][4]["alarm_only"] is True
    assert stored[1][1:3] == pytest.approx((LAT, LON))
    alarms = await tracked_alarms(database_url, vehicle_id)
    assert [(kind, details["alarm"]) for kind, _, details in alarms] == [("sos", "sos")]


async def test_a_heartbeat_alarm_is_raised_at_the_last_known_position(
    database_url: str, db: psycopg.Connection, vehicle_id: int
) -> None:
    t = recent_utc(30)
    async with gt06_gateway(database_url) as (reader, writer):
        writer.write(location(t, 2))
        assert await reader.readexactly(10) == ack(0x12, 2)
        writer.write(sos_heartbeat(3))
        assert await reader.readexactly(10) == ack(0x13, 3)
    stored = rows(db, IMEI)
    assert len(stored) == 2
    at, lat, lon, valid, attributes = stored[1]
    assert at > t and (lat, lon) == pytest.approx((LAT, LON)) and valid is False
    assert attributes["alarm"] == "sos" and attributes["position_from_last_known"] is True
    assert attributes["last_fix_time"] == t.isoformat()
    alarms = await tracked_alarms(database_url, vehicle_id)
    assert [(kind, when) for kind, when, _ in alarms] == [("sos", at)]


async def test_a_heartbeat_alarm_after_a_restart_uses_the_stored_position(
    database_url: str, db: psycopg.Connection, vehicle_id: int
) -> None:
    t = recent_utc(30)
    async with gt06_gateway(database_url) as (reader, writer):
        writer.write(location(t, 2))
        assert await reader.readexactly(10) == ack(0x12, 2)
    async with gt06_gateway(database_url) as (reader, writer):  # a new gateway process
        writer.write(sos_heartbeat(3))
        assert await reader.readexactly(10) == ack(0x13, 3)
    assert rows(db, IMEI)[-1][1:3] == pytest.approx((LAT, LON))
    assert [kind for kind, _, _ in await tracked_alarms(database_url, vehicle_id)] == ["sos"]


# --- 2. one glitch is never trusted over the truth ------------------------------------------------

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
GLITCH = (16.1444, 108.2022)  # 10 km north


def genuine(seconds: int) -> tuple[float, float]:
    """A vehicle driving east at ~36 km/h."""
    return LAT, LON + seconds * 10 / 107_000


class JsonGateway(IngestHarness):
    async def send(self, device_id: str, seconds: int, place: tuple[float, float]) -> None:
        moment = (T0 + timedelta(seconds=seconds)).isoformat()
        body = json.dumps({"time": moment, "lat": place[0], "lon": place[1]}).encode()
        await MqttJsonHandler(self.ingest).handle(f"trackers/{device_id}/position", body, lambda: None)


def judged(db: psycopg.Connection, device_id: str) -> dict[int, tuple[bool, str | None]]:
    """Seconds after T0 -> (valid, suspect) of every stored fix."""
    return {
        round((t - T0).total_seconds()): (valid, attributes.get("suspect"))
        for t, _, _, valid, attributes in rows(db, device_id)
    }


async def test_a_glitch_first_after_a_restart_is_flagged_and_locks_nothing_out(
    database_url: str, db: psycopg.Connection, vehicle: tuple[int, str]
) -> None:
    vehicle_id, device = vehicle
    async with JsonGateway(database_url, flush_interval_ms=20) as before_restart:
        for s in range(0, 10, 2):
            await before_restart.send(device, s, genuine(s))
        await before_restart.writer.drain()
    async with JsonGateway(database_url, flush_interval_ms=20) as gateway:  # memory cold
        await gateway.send(device, 20, GLITCH)
        for s in range(21, 82, 2):  # 60 s of genuine fixes
            await gateway.send(device, s, genuine(s))
        await gateway.writer.drain()
    fixes = judged(db, device)
    assert fixes.pop(20) == (False, "impossible_jump")
    assert set(fixes) == {*range(0, 10, 2), *range(21, 82, 2)}
    assert all(f == (True, None) for f in fixes.values())
    latest = db.execute("SELECT fix_time FROM vehicle_latest WHERE vehicle_id = %s", (vehicle_id,)).fetchone()
    assert latest == (T0 + timedelta(seconds=81),)


async def test_a_gateway_warms_every_registered_device_before_its_first_message(
    database_url: str, db: psycopg.Connection, vehicle: tuple[int, str]
) -> None:
    """At start the gateway reads what is stored of every registered device in a few queries
    (issue 14: no device's first message waits for its own): after that it judges a device's
    first fix against its stored position without the database, here with its pool closed."""
    _, device = vehicle
    others = [f"{device}-{i}" for i in range(3)]
    for i, other in enumerate(others):
        plate = register_vehicle(db, f"43A2009{i}", f"115-W{i}").plate
        register_device(db, other, "mqtt_json", plate)
    async with JsonGateway(database_url, flush_interval_ms=20) as before_restart:
        for s in range(0, 10, 2):
            await before_restart.send(device, s, genuine(s))
        await before_restart.writer.drain()
    async with JsonGateway(database_url, flush_interval_ms=20) as gateway:
        assert await gateway.registry.reload()
        warmed = await gateway.ingest.warm(gateway.registry.entries())
        assert warmed == 1 + len(others)
        assert await gateway.ingest.warm(gateway.registry.entries()) == 0  # once
        await gateway.pool.close()  # nothing more is read of the devices
        await gateway.send(device, 20, GLITCH)  # first: judged against the stored position
        await gateway.send(device, 22, genuine(22))
        await gateway.writer.drain()
    fixes = judged(db, device)
    assert fixes.pop(20) == (False, "impossible_jump")
    assert set(fixes) == {*range(0, 10, 2), 22}
    assert all(f == (True, None) for f in fixes.values())


async def test_one_glitch_in_a_track_is_flagged_and_the_rest_is_valid(
    database_url: str, db: psycopg.Connection, vehicle: tuple[int, str]
) -> None:
    _, device = vehicle
    async with JsonGateway(database_url, flush_interval_ms=20) as gateway:
        for s in range(0, 41, 2):
            await gateway.send(device, s, GLITCH if s == 20 else genuine(s))
        await gateway.writer.drain()
    fixes = judged(db, device)
    assert fixes.pop(20) == (False, "impossible_jump")
    assert set(fixes) == set(range(0, 41, 2)) - {20}
    assert all(f == (True, None) for f in fixes.values())


async def test_without_any_history_a_first_glitch_is_outvoted_within_a_few_fixes(
    database_url: str, db: psycopg.Connection, vehicle: tuple[int, str]
) -> None:
    """Nothing stored to judge the very first fix against: it is kept, and as soon as the fixes after
    it agree with each other (3 of them) they are trusted over it."""
    _, device = vehicle
    async with JsonGateway(database_url, flush_interval_ms=20) as gateway:
        await gateway.send(device, 0, GLITCH)
        for s in range(2, 31, 2):
            await gateway.send(device, s, genuine(s))
        await gateway.writer.drain()
    fixes = judged(db, device)
    assert [s for s, (valid, _) in fixes.items() if not valid] == [2, 4]
    assert all(fixes[s] == (True, None) for s in range(6, 31, 2))
