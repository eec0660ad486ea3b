"""ETAs never delay alarms (issue 11, item 6): while an ETA round is held up (here by a lock on
`journey_eta` that it needs, taken by another connection), the worker still evaluates the next
batch and publishes its SOS at once; the ETAs follow when the round can go on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import psycopg

from tests.tracking.conftest import Put
from tests.tracking.test_eta import scene_journey
from tracking.settings import TrackingSettings
from tracking.worker import TrackingWorker

SON_TRA = (16.0570921, 108.2355425)  # on the routable network


async def until(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def waiting_on_a_lock(db: psycopg.Connection, besides: int) -> bool:
    row = db.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> %s"
        " AND wait_event_type = 'Lock'",
        (besides,),
    ).fetchone()
    return bool(row and row[0])


async def test_an_sos_is_published_while_an_eta_round_waits(
    put: Put, db: psycopg.Connection, database_url: str, vehicle: tuple[int, str]
) -> None:
    vehicle_id, _ = vehicle
    hospital_id = db.execute("SELECT min(id) FROM hospitals").fetchone()[0]  # type: ignore[index]
    events: list[dict[str, Any]] = []
    etas: list[dict[str, Any]] = []

    async def on_events(batch: list[dict[str, Any]]) -> None:
        events.extend(batch)

    async def on_etas(batch: list[dict[str, Any]]) -> None:
        etas.extend(batch)

    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await scene_journey(conn, vehicle_id, hospital_id)
    worker = TrackingWorker(database_url, TrackingSettings(batch_interval_ms=10), on_events, on_etas)
    locker = psycopg.connect(database_url)  # a transaction holds the lock until its commit
    runner = asyncio.create_task(worker.run())
    try:
        locker.execute("LOCK TABLE journey_eta IN ACCESS EXCLUSIVE MODE")
        # Seconds after the fixtures' clock (3 h ago): moments ago. An ETA round starts, and waits.
        await put((10800 - 5, *SON_TRA, 40.0))
        worker.wake()
        assert await until(lambda: worker.evaluated >= 1, 5)
        assert await until(lambda: waiting_on_a_lock(db, locker.info.backend_pid), 5)
        await put((10800 - 4, *SON_TRA, 0.0, {"alarm": "sos"}))
        worker.wake()
        started = time.monotonic()
        sos_published = await until(lambda: any(e["kind"] == "sos" for e in events), 2)
        latency = time.monotonic() - started
        assert sos_published, "the SOS waited for the ETA round"
        assert latency < 1.0 and not etas
        locker.commit()  # the ETA round goes on
        assert await until(lambda: bool(etas), 10)
        assert etas[-1]["target"] == "scene" and etas[-1]["vehicle_id"] == vehicle_id
    finally:
        locker.rollback()
        locker.close()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await worker.close()


async def test_an_sos_is_not_held_by_an_eta_round_that_wrote_its_journeys_eta(
    put: Put, db: psycopg.Connection, database_url: str, vehicle: tuple[int, str]
) -> None:
    """Measured by bench/pipeline.py --scenario alarms: SOS p99 7.7 s. An ETA round is one
    transaction; each journey_eta row it writes holds a FOR KEY SHARE lock on its journey (the
    foreign key) until the round commits. The batch locked its vehicles' open journeys FOR UPDATE,
    which waits for KEY SHARE: every SOS of a vehicle on a journey waited for the whole round."""
    vehicle_id, _ = vehicle
    hospital_id = db.execute("SELECT min(id) FROM hospitals").fetchone()[0]  # type: ignore[index]
    events: list[dict[str, Any]] = []

    async def on_events(batch: list[dict[str, Any]]) -> None:
        events.extend(batch)

    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        journey = await scene_journey(conn, vehicle_id, hospital_id)
    worker = TrackingWorker(database_url, TrackingSettings(), on_events)  # no ETAs of its own
    eta_round = psycopg.connect(database_url)  # an ETA round under way: its row written, not committed
    runner = asyncio.create_task(worker.run())
    try:
        eta_round.execute(
            "INSERT INTO journey_eta (journey_id, target_kind, route_distance_m, route_duration_s,"
            " computed_at, fix_time, remaining_m, remaining_s, arrival_at)"
            " VALUES (%s, 'scene', 1000, 100, now(), now(), 1000, 100, now())",
            (journey["id"],),
        )
        await put((10800 - 4, *SON_TRA, 0.0, {"alarm": "sos"}))
        worker.wake()
        sos_published = await until(lambda: any(e["kind"] == "sos" for e in events), 20)
        assert sos_published, "the SOS waited for the ETA round's commit"
    finally:
        eta_round.rollback()
        eta_round.close()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await worker.close()
