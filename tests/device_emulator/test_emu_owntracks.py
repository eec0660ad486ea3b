"""The emulator's OwnTracks encoder against the gateway's decoder and handler: round trips of
emulator fixes (live and queued while offline), and the topic naming the registered device."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_emulator.fixes import Fix
from device_emulator.protocols import owntracks as emu
from gateway.decoded import FixFields
from gateway.handlers.owntracks import OwnTracksHandler
from gateway.protocols.owntracks import decode, device_id_from_topic
from tests.device_emulator import drive
from tests.gateway.harness import IngestHarness
from tracking.fleet import register_device, register_vehicle

NOW = datetime(2026, 11, 27, 8, 0, 0, 400000, tzinfo=UTC)


def emulator_fixes(count: int, start: datetime) -> list[Fix]:
    return drive.emulator_fixes(
        count,
        start,
        seed=5,
        origin=(16.0611, 108.2166),
        step=(1e-4, -1e-4),
        speed_mps=9.7,
        heading=315.0,
        sats=8,
        interval=timedelta(seconds=2),
    )


def assert_same(fix: Fix, got: FixFields | object) -> None:
    assert isinstance(got, FixFields)
    assert got.fix_time == fix.time.replace(microsecond=0)  # tst is whole seconds
    assert (got.lat, got.lon) == (fix.lat, fix.lon)
    assert got.speed_kmh is not None and abs(got.speed_kmh - fix.speed_kmh) <= 0.5  # vel is an integer
    assert (got.course, got.altitude_m, got.accuracy_m) == (fix.heading, fix.alt_m, fix.accuracy_m)


def test_topic_and_device_id_agree_with_the_gateway() -> None:
    assert emu.topic("amb", "115-07") == "owntracks/amb/115-07"
    assert device_id_from_topic(emu.topic("amb", "115-07")) == emu.device_id("amb", "115-07") == "amb.115-07"
    with pytest.raises(ValueError):
        emu.topic("a.b", "phone")


def test_live_and_offline_round_trips() -> None:
    fixes = emulator_fixes(4, NOW)
    live = decode(emu.location_payload(fixes[0], "07"))
    assert_same(fixes[0], live)
    assert isinstance(live, FixFields) and not live.backlog
    assert live.attributes == {
        "battery_pct": 90.0,
        "battery_status": "charging",
        "connection": "mobile",
        "monitoring_mode": 2,
        "tid": "07",
    }
    for fix, payload in zip(fixes[1:], emu.backlog_payloads(fixes[1:]), strict=True):
        got = decode(payload)
        assert_same(fix, got)
        assert isinstance(got, FixFields) and got.backlog


@given(st.floats(-89.9, 89.9), st.floats(-179.9, 179.9), st.floats(0, 250), st.integers(0, 359))
def test_any_fix_round_trips(lat: float, lon: float, kmh: float, heading: int) -> None:
    fix = Fix(NOW, round(lat, 7), round(lon, 7), round(kmh, 1), heading, 5, 4, 8, "idle")
    assert_same(fix, decode(emu.location_payload(fix)))


async def test_the_handler_stores_the_emulator(db: psycopg.Connection, database_url: str) -> None:
    register_vehicle(db, "43A10007", "115-07")
    register_device(db, emu.device_id("amb", "115-07"), "owntracks", "43A10007")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=60)
    fixes = emulator_fixes(3, start)
    async with IngestHarness(database_url, flush_interval_ms=20) as harness:
        handler = OwnTracksHandler(harness.ingest)
        topic = emu.topic("amb", "115-07")
        await handler.handle(topic, emu.location_payload(fixes[2]), harness.recording_ack("live"))
        for i, payload in enumerate(emu.backlog_payloads(fixes[:2])):
            await handler.handle(topic, payload, harness.recording_ack(f"queued{i}"))
        await harness.writer.drain()
        rows = harness.stored("amb.115-07")
    assert harness.acked == ["live", "queued0", "queued1"]
    assert [r[0] for r in rows] == [f.time for f in fixes]
    assert [r[5] for r in rows] == [True, True, False]
