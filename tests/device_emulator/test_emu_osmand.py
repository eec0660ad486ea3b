"""The emulator's OsmAnd encoder against the gateway's decoders: round trips of emulator fixes in
the query, form and JSON forms (live and backlog), and requests accepted by a real listener."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_emulator.fixes import Fix
from device_emulator.fleet import Phase
from device_emulator.protocols import osmand as emu
from gateway.decoded import FixFields
from gateway.protocols.osmand import OsmAndMessage, decode_query
from gateway.protocols.osmand_json import decode_json
from tests.device_emulator import drive
from tests.gateway.harness import IngestHarness
from tests.gateway.test_osmand_http import serving
from tracking.fleet import issue_device_token, register_device, register_vehicle

DEVICE = "phone-115-07"
NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def emulator_fixes(count: int, start: datetime, speed_mps: float = 12.5) -> list[Fix]:
    return drive.emulator_fixes(
        count,
        start,
        seed=11,
        speed_mps=speed_mps,
        phase=Phase.TO_HOSPITAL,
        sats=3,
        offset=timedelta(milliseconds=250),
    )


def decoded(message: OsmAndMessage | object) -> list[FixFields]:
    assert isinstance(message, OsmAndMessage) and message.device_id == DEVICE
    assert all(isinstance(i, FixFields) for i in message.items)
    return [i for i in message.items if isinstance(i, FixFields)]


def assert_same(fix: Fix, got: FixFields, time_step: timedelta) -> None:
    assert abs(got.fix_time - fix.time) < time_step
    assert got.lat == pytest.approx(fix.lat, abs=1e-7) and got.lon == pytest.approx(fix.lon, abs=1e-7)
    assert got.speed_kmh == pytest.approx(fix.speed_kmh, abs=0.02)
    assert (got.course, got.altitude_m, got.accuracy_m) == (fix.heading, fix.alt_m, fix.accuracy_m)


@pytest.mark.parametrize("unit", ["knots", "kmh", "mps"])
def test_query_round_trip(unit: str) -> None:
    for fix in emulator_fixes(5, NOW):
        url = emu.query_url("http://gw:5055", fix, DEVICE, "amb_dev_t", unit)
        message = decode_query(parse_qsl(urlsplit(url).query), NOW, unit)
        [got] = decoded(message)
        assert isinstance(message, OsmAndMessage) and message.token == "amb_dev_t"
        assert_same(fix, got, timedelta(seconds=1))  # epoch seconds
        assert got.fix_time == fix.time.replace(microsecond=0)
        assert got.satellites == fix.sats and got.attributes == {"state": "to_hospital"}


def test_query_in_milliseconds_and_as_a_form() -> None:
    fix = emulator_fixes(1, NOW)[0]
    [got] = decoded(decode_query(emu.query_params(fix, DEVICE, epoch_ms=True), NOW))
    assert got.fix_time == fix.time  # to the millisecond
    body = emu.form_body(fix, DEVICE).decode()
    [form] = decoded(decode_query(parse_qsl(body), NOW))
    assert_same(fix, form, timedelta(seconds=1))


def test_json_round_trip_live_and_backlog() -> None:
    fixes = emulator_fixes(4, NOW)
    [live] = decoded(decode_json(emu.json_body(fixes[0], DEVICE), 1000))
    assert_same(fixes[0], live, timedelta(milliseconds=1))
    assert live.fix_time == fixes[0].time and not live.backlog
    assert live.attributes == {
        "motion": True,
        "event": "location",
        "activity": "in_vehicle",
        "battery_pct": 90,
        "charging": True,
        "state": "to_hospital",
    }
    backlog = decode_json(emu.json_backlog(fixes, DEVICE), 1000)
    assert isinstance(backlog, OsmAndMessage) and backlog.batch
    got = decoded(backlog)
    assert [g.backlog for g in got] == [True] * 4
    for fix, g in zip(fixes, got, strict=True):
        assert_same(fix, g, timedelta(milliseconds=1))
    with pytest.raises(ValueError, match="1-1000"):
        emu.json_backlog([], DEVICE)


@given(
    st.floats(-89.9, 89.9),
    st.floats(-179.9, 179.9),
    st.floats(0, 250),
    st.integers(0, 359),
    st.integers(-100, 3000),
    st.integers(1, 500),
)
def test_any_fix_round_trips(lat: float, lon: float, kmh: float, heading: int, alt: int, acc: int) -> None:
    fix = Fix(NOW, round(lat, 7), round(lon, 7), round(kmh, 1), heading, alt, acc, 8, "idle")
    for message in (
        decode_query(emu.query_params(fix, DEVICE), NOW),
        decode_json(emu.json_body(fix, DEVICE), 1000),
    ):
        [got] = decoded(message)
        assert_same(fix, got, timedelta(seconds=1))


async def test_a_real_listener_accepts_the_emulator(db: psycopg.Connection, database_url: str) -> None:
    register_vehicle(db, "43A10007", "115-07")
    register_device(db, DEVICE, "osmand", "43A10007")
    token = issue_device_token(db, DEVICE)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=60)
    fixes = emulator_fixes(6, start)
    async with IngestHarness(database_url, flush_interval_ms=30) as harness, serving(harness) as client:
        response = await client.get(emu.query_url("", fixes[0], DEVICE, token))
        assert response.status_code == 200
        response = await client.post(
            "/",
            content=emu.json_body(fixes[1], DEVICE),
            headers={"Content-Type": "application/json", **emu.auth_headers(token)},
        )
        assert response.status_code == 200
        response = await client.post(
            "/",
            content=emu.json_backlog(fixes[2:], DEVICE),
            headers={"Content-Type": "application/json", **emu.auth_headers(token)},
        )
        assert response.status_code == 200
        rows = harness.stored(DEVICE)
    assert len(rows) == 6
    assert [r[5] for r in rows] == [False, False, True, True, True, True]
    for fix, row in zip(fixes, rows, strict=True):
        assert abs(row[0] - fix.time) < timedelta(seconds=1)
        assert row[3] == pytest.approx(fix.speed_kmh, abs=0.02) and row[4] == fix.heading
