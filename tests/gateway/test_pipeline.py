"""The pipeline and the batch writer against the real PostGIS: batching, acknowledgement after
commit, de-duplication, late fixes, and refusals that lose nothing else."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from gateway.handlers.mqtt_json import MqttJsonHandler
from tests.gateway.harness import IngestHarness

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)


def fix(seconds: float, lat: float = 16.06, lon: float = 108.21, **extra: object) -> dict[str, object]:
    moment = T0 + timedelta(seconds=seconds)
    return {"time": moment.isoformat().replace("+00:00", "Z"), "lat": lat, "lon": lon, **extra}


class Harness(IngestHarness):
    """The ingest with the MQTT JSON handler on top, as the gateway wires it."""

    async def __aenter__(self) -> Harness:
        await super().__aenter__()
        self.handler = MqttJsonHandler(self.ingest)
        return self

    async def send(self, device_id: str, payload: object, name: str | None = None) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        await self.handler.handle(f"trackers/{device_id}/position", body, self.recording_ack(name))


@pytest.fixture
async def harness(db: psycopg.Connection, database_url: str) -> AsyncIterator[Harness]:
    async with Harness(database_url, flush_interval_ms=20) as h:
        yield h


def stored(db: psycopg.Connection, device_id: str) -> list[tuple[datetime, bool]]:
    return db.execute(
        "SELECT fix_time, late FROM positions WHERE device_id = %s ORDER BY fix_time", (device_id,)
    ).fetchall()


async def test_a_fix_is_stored_with_every_field_and_becomes_latest(
    harness: Harness, db: psycopg.Connection, vehicle: tuple[int, str]
) -> None:
    vehicle_id, device = vehicle
    await harness.send(
        device, fix(0, speed_kmh=42.5, heading=180, alt_m=5, accuracy_m=4, sats=9, attrs={"a": 1})
    )
    await harness.writer.drain()
    row = db.execute(
        "SELECT vehicle_id, ST_Y(geom), ST_X(geom), speed_kmh, course, altitude_m, accuracy_m, satellites,"
        " valid, late, protocol, attributes, fix_time FROM positions WHERE device_id = %s",
        (device,),
    ).fetchone()
    assert row == (
        vehicle_id,
        16.06,
        108.21,
        42.5,
        180.0,
        5.0,
        4.0,
        9,
        True,
        False,
        "mqtt_json",
        {"a": 1},
        T0,
    )
    assert db.execute(
        "SELECT fix_time FROM vehicle_latest WHERE vehicle_id = %s", (vehicle_id,)
    ).fetchone() == (T0,)
    assert [s.latest for s in harness.relayed] == [True]


async def test_acknowledged_only_after_commit(harness: Harness, vehicle: tuple[int, str]) -> None:
    _, device = vehicle
    for i in range(5):
        await harness.send(device, fix(i), name=f"msg{i}")
    await harness.writer.drain()
    assert harness.acked == [f"msg{i}" for i in range(5)]  # in arrival order
    assert all(rows == 5 for rows in harness.rows_at_ack)  # each ack saw the whole committed batch


async def test_batches_commit_on_size(
    db: psycopg.Connection, database_url: str, vehicle: tuple[int, str]
) -> None:
    _, device = vehicle
    async with Harness(database_url, flush_interval_ms=60_000, batch_max_fixes=10) as h:
        for i in range(25):
            await h.send(device, fix(i))
        await asyncio.sleep(0.5)
        # Two full batches committed without waiting for the (one minute) interval; five wait.
        assert len(stored(db, device)) == 20
        assert len(h.acked) == 20


async def test_batch_commits_after_the_interval(
    db: psycopg.Connection, database_url: str, vehicle: tuple[int, str]
) -> None:
    _, device = vehicle
    async with Harness(database_url, flush_interval_ms=300, batch_max_fixes=1000) as h:
        await h.send(device, fix(0))
        await asyncio.sleep(0.1)
        assert stored(db, device) == [] and h.acked == []
        await asyncio.sleep(0.6)
        assert len(stored(db, device)) == 1 and len(h.acked) == 1


async def test_duplicates_are_stored_once(
    harness: Harness, db: psycopg.Connection, vehicle: tuple[int, str]
) -> None:
    _, device = vehicle
    await harness.send(device, [fix(0), fix(0), fix(1)])
    await harness.send(device, fix(1))
    await harness.writer.drain()
    assert len(stored(db, device)) == 2
    assert len(harness.acked) == 2


async def test_redelivery_after_restart_is_stored_once(
    db: psycopg.Connection, database_url: str, vehicle: tuple[int, str]
) -> None:
    """A fresh gateway (empty memory) meeting an already-stored fix: the primary key drops it."""
    _, device = vehicle
    for _ in range(2):
        async with Harness(database_url, flush_interval_ms=10) as h:
            await h.send(device, fix(0))
            await h.writer.drain()
            assert len(h.acked) == 1
    assert len(stored(db, device)) == 1


async def test_late_fixes_are_stored_late_and_never_move_latest_back(
    harness: Harness, db: psycopg.Connection, vehicle: tuple[int, str]
) -> None:
    vehicle_id, device = vehicle
    await harness.send(device, fix(100, lat=16.07))
    await harness.writer.drain()
    await harness.send(device, [fix(10, lat=16.01), fix(20, lat=16.02)])  # a backlog upload
    await harness.writer.drain()
    assert stored(db, device) == [
        (T0 + timedelta(seconds=10), True),
        (T0 + timedelta(seconds=20), True),
        (T0 + timedelta(seconds=100), False),
    ]
    latest = db.execute(
        "SELECT fix_time, ST_Y(geom) FROM vehicle_latest WHERE vehicle_id = %s", (vehicle_id,)
    )
    assert latest.fetchone() == (T0 + timedelta(seconds=100), 16.07)
    assert [s.latest for s in harness.relayed] == [True, False, False]


async def test_bad_fixes_in_an_array_lose_nothing_beside_them(
    harness: Harness, db: psycopg.Connection, vehicle: tuple[int, str]
) -> None:
    _, device = vehicle
    await harness.send(device, [fix(0), {"lat": 1}, fix(1, lat=95), "junk", fix(2)])
    await harness.send(device, b"{broken")
    await harness.send(device, fix(3))
    await harness.writer.drain()
    assert [t for t, _ in stored(db, device)] == [T0, T0 + timedelta(seconds=2), T0 + timedelta(seconds=3)]
    assert len(harness.acked) == 3  # refused messages are acknowledged too: redelivery cannot fix them


async def test_unknown_device_is_refused_and_stores_nothing(harness: Harness, db: psycopg.Connection) -> None:
    await harness.send("stranger", fix(0))
    await harness.writer.drain()
    assert db.execute("SELECT count(*) FROM positions").fetchone() == (0,)
    assert len(harness.acked) == 1


async def test_newly_registered_device_is_accepted_without_restart(
    harness: Harness, db: psycopg.Connection, unique: str
) -> None:
    from tracking.fleet import register_device

    await harness.send(f"new-{unique}", fix(0))
    register_device(db, f"new-{unique}")
    await asyncio.sleep(0.05)  # the registry reloads on a miss at most every 10 ms here
    await harness.send(f"new-{unique}", fix(1))
    await harness.writer.drain()
    assert len(stored(db, f"new-{unique}")) == 1


async def test_fixes_on_several_days_create_their_partitions(
    harness: Harness, db: psycopg.Connection, vehicle: tuple[int, str]
) -> None:
    _, device = vehicle
    old = datetime.now(UTC) - timedelta(days=30)
    await harness.send(device, {"time": old.isoformat(), "lat": 16.0, "lon": 108.2})
    await harness.writer.drain()
    part = f"positions_{old:%Y%m%d}"
    assert db.execute("SELECT count(*) FROM " + part).fetchone() == (1,)


async def test_an_impossible_jump_is_stored_flagged_and_backlog_is_not_judged(
    harness: Harness, db: psycopg.Connection, vehicle: tuple[int, str]
) -> None:
    _, device = vehicle
    await harness.send(device, fix(0, lat=16.000))
    await harness.send(device, fix(10, lat=16.100))  # 11 km in 10 s: ~4,000 km/h
    await harness.send(device, fix(20, lat=16.001))  # 110 m in 20 s from the last trusted fix
    await harness.send(device, [fix(5, lat=16.05), fix(6, lat=16.0505)])  # late backlog: kept
    await harness.writer.drain()
    assert [t for t, _ in stored(db, device)] == [T0 + timedelta(seconds=s) for s in (0, 5, 6, 10, 20)]
    jump = db.execute(
        "SELECT valid, attributes->>'suspect' FROM positions WHERE device_id = %s AND fix_time = %s",
        (device, T0 + timedelta(seconds=10)),
    ).fetchone()
    assert jump == (False, "impossible_jump")  # stored, never the latest position


async def test_a_backlog_array_is_late_and_its_newest_fix_may_become_latest(
    harness: Harness, db: psycopg.Connection, vehicle: tuple[int, str]
) -> None:
    vehicle_id, device = vehicle
    await harness.send(device, [fix(2), fix(0), fix(1)])  # any order in the array
    await harness.writer.drain()
    assert stored(db, device) == [(T0 + timedelta(seconds=s), True) for s in (0, 1, 2)]
    latest = db.execute("SELECT fix_time FROM vehicle_latest WHERE vehicle_id = %s", (vehicle_id,)).fetchone()
    assert latest == (T0 + timedelta(seconds=2),)
    assert [(s.fix.fix_time, s.latest) for s in harness.relayed] == [
        (T0, False),
        (T0 + timedelta(seconds=1), False),
        (T0 + timedelta(seconds=2), True),
    ]


async def test_a_fix_the_database_rejects_never_stalls_the_others(
    harness: Harness, db: psycopg.Connection, vehicle: tuple[int, str]
) -> None:
    """Past every check, a value the table refuses (here a course of 400°) costs only its own fix."""
    from fixes.model import Fix

    vehicle_id, device = vehicle
    good = [
        Fix(device, vehicle_id, T0 + timedelta(seconds=i), T0, 16.06, 108.21, "mqtt_json") for i in range(3)
    ]
    poison = Fix(device, vehicle_id, T0 + timedelta(seconds=10), T0, 16.06, 108.21, "mqtt_json", course=400.0)
    await harness.writer.add([good[0], poison], harness.recording_ack("with poison"))
    await harness.writer.add(good[1:], harness.recording_ack("after"))
    async with asyncio.timeout(10):
        await harness.writer.drain()
    assert harness.acked == ["with poison", "after"]
    assert [t for t, _ in stored(db, device)] == [f.fix_time for f in good]
