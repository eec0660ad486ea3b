"""The tracking worker against PostGIS: one set-based query per batch, geofence events with
hysteresis, alarms, speed zones, late fixes, device offline and back online."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.tracking.conftest import Put, RecordingWorker, at
from tracking.geofences import create_geofence

CENTRE = (16.0400, 108.2400)  # away from every hospital and station area
M_PER_DEG = 111_195.0


def south_of_centre(metres: float) -> tuple[float, float]:
    return CENTRE[0] - metres / M_PER_DEG, CENTRE[1]


async def circle(database_url: str, radius_m: float = 200, **kw: object) -> int:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        row = await create_geofence(
            conn,
            kw.pop("name", "test circle"),
            kw.pop("kind", "service_area"),  # type: ignore[arg-type]
            {"type": "circle", "center": [CENTRE[1], CENTRE[0]], "radius_m": radius_m},
            15.0,
            **kw,  # type: ignore[arg-type]
        )
    return int(row["id"])


def events(db: psycopg.Connection, *kinds: str) -> list[tuple[str, float]]:
    rows = db.execute(
        "SELECT kind, at FROM events WHERE kind = ANY(%s) ORDER BY at, id", (list(kinds),)
    ).fetchall()
    return [(kind, (when - at(0)).total_seconds()) for kind, when in rows]


async def test_border_noise_makes_one_enter_and_one_exit(
    put: Put, worker: RecordingWorker, db: psycopg.Connection, database_url: str
) -> None:
    fence = await circle(database_url)
    # Metres south of the centre; the border is at 200, the hysteresis 15.
    path = [300, 210, 190, 205, 180, 195, 100, 0, -190, -205, -230, -205, -300]
    await put(*[(i, *south_of_centre(d), 20.0) for i, d in enumerate(path)])
    assert await worker.drain() == len(path)
    assert events(db, "geofence_enter", "geofence_exit") == [("geofence_enter", 4), ("geofence_exit", 10)]
    enter = next(e for e in worker.published if e["kind"] == "geofence_enter")
    assert enter["geofence_id"] == fence and enter["details"]["geofence"] == "test circle"
    assert db.execute("SELECT count(*) FROM tracking_inbox").fetchone() == (0,)


async def test_batches_carry_state_across_transactions(
    put: Put, worker: RecordingWorker, db: psycopg.Connection, database_url: str
) -> None:
    await circle(database_url)
    await put((0, *south_of_centre(300), 20.0), (1, *south_of_centre(100), 20.0))
    await worker.drain()
    await put((2, *south_of_centre(195), 20.0))  # border: still inside
    await worker.drain()
    await put((3, *south_of_centre(400), 20.0))
    await worker.drain()
    assert events(db, "geofence_enter", "geofence_exit") == [("geofence_enter", 1), ("geofence_exit", 3)]


async def test_sos_becomes_a_critical_event_at_once(
    put: Put, worker: RecordingWorker, db: psycopg.Connection
) -> None:
    await put((0, *CENTRE, 0.0, {"alarm": "sos"}))
    await worker.drain()
    (sos,) = [e for e in worker.published if e["kind"] == "sos"]
    assert sos["severity"] == "critical" and sos["lat"] == pytest.approx(CENTRE[0])


async def test_speed_zone_sets_the_limit(
    put: Put, worker: RecordingWorker, db: psycopg.Connection, database_url: str
) -> None:
    await circle(database_url, 400, kind="speed_zone", name="school", speed_limit_kmh=30.0)
    await put(*[(s, *south_of_centre(100 - s), 50.0) for s in range(0, 30, 2)])
    await worker.drain()
    (event,) = [e for e in worker.published if e["kind"] == "overspeed"]
    assert event["details"] == {"speed_kmh": 50.0, "limit_kmh": 30.0}


async def test_late_fixes_raise_their_alarms_but_never_move_state(
    put: Put, worker: RecordingWorker, db: psycopg.Connection, database_url: str
) -> None:
    await circle(database_url)
    await put((100, *south_of_centre(500), 20.0))
    await worker.drain()
    await put((50, *CENTRE, 20.0), (60, *CENTRE, 0.0, {"alarm": "sos"}))  # late: deep inside, and an SOS
    await worker.drain()
    assert events(db, "geofence_enter", "sos") == [("sos", 60)]


async def test_device_offline_then_online(
    put: Put, worker: RecordingWorker, db: psycopg.Connection, vehicle: tuple[int, str]
) -> None:
    vehicle_id, _ = vehicle
    await put((0, *CENTRE, 0.0))  # three hours ago: past the 15 minutes of a parked vehicle
    await worker.drain()
    assert await worker.check_offline() == 1
    assert await worker.check_offline() == 0  # one event per outage
    await put((3 * 3600 - 60, *CENTRE, 0.0))  # it speaks again, a minute ago
    await worker.drain()
    kinds = [e["kind"] for e in worker.published if e["kind"].startswith("device")]
    assert kinds == ["device_offline", "device_online"]
    online = next(e for e in worker.published if e["kind"] == "device_online")
    assert online["details"]["silent_s"] == 3 * 3600 - 60
    assert db.execute(
        "SELECT offline_since FROM vehicle_state WHERE vehicle_id = %s", (vehicle_id,)
    ).fetchone() == (None,)


async def test_evaluation_is_set_based_one_query_per_batch(
    put: Put, db: psycopg.Connection, database_url: str
) -> None:
    """A batch of 2,000 fixes goes through in one pass of the batch query."""
    w = RecordingWorker(database_url, batch_size=5000)
    try:
        await put(*[(s * 0.5, *south_of_centre(s % 400), 30.0) for s in range(2000)])
        assert await w.process_once() == 2000
        assert await w.process_once() == 0
    finally:
        await w.close()


def test_times_are_utc() -> None:
    assert at(0).tzinfo is UTC and at(1) - at(0) == timedelta(seconds=1) and isinstance(at(0), datetime)
