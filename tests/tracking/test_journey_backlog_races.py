"""Journeys against what really happens around them (issue 11, items 4 and 7): a backlog uploaded
after a coverage gap never moves a status a dispatcher already set by hand, and a cancel plus
re-dispatch during a batch never lets the old scene move the new journey."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import psycopg
import pytest

from tests.tracking.conftest import Put, RecordingWorker, at
from tracking import journeys
from tracking import tracking_store as store

SCENE = (16.0400, 108.2400)  # away from every hospital and station area
M_PER_DEG = 111_195.0


def south_of_scene(metres: float) -> tuple[float, float]:
    return SCENE[0] - metres / M_PER_DEG, SCENE[1]


def hospital(db: psycopg.Connection) -> int:
    return int(db.execute("SELECT min(id) FROM hospitals").fetchone()[0])  # type: ignore[index]


async def dispatch(conn: psycopg.AsyncConnection, vehicle_id: int, hospital_id: int, when: datetime) -> int:
    """A journey to SCENE, dispatched at `when` (the test's past)."""
    journey, _ = await journeys.create_journey(
        conn, vehicle_id, *SCENE, "scene", 1, hospital_id, 150.0, "dispatcher-1"
    )
    await backdate(conn, journey["id"], "dispatched", when)
    return int(journey["id"])


async def backdate(conn: psycopg.AsyncConnection, journey_id: int, status: str, when: datetime) -> None:
    """Move a manual status change to `when`, as if the dispatcher had made it then."""
    await conn.execute(
        f"UPDATE journeys SET {status}_at = %s WHERE id = %s",  # status is one of ours
        (when, journey_id),
    )
    await conn.execute(
        "UPDATE journey_status_log SET at = %s WHERE journey_id = %s AND to_status = %s",
        (when, journey_id, status),
    )


async def test_backlog_never_moves_a_status_set_by_hand_after_it(
    put: Put, worker: RecordingWorker, db: psycopg.Connection, database_url: str, vehicle: tuple[int, str]
) -> None:
    vehicle_id, _ = vehicle
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        journey_id = await dispatch(conn, vehicle_id, hospital(db), at(0))
        # On the way (10:00), then the crew enters a coverage gap.
        await put(*[(s, *south_of_scene(3000 - 10 * s), 40.0) for s in range(10, 40, 2)])
        await worker.drain()
        assert (await journeys.get_journey(conn, journey_id))["status"] == "en_route"
        # 10:05: the dispatcher, told by radio, sets on_scene.
        await journeys.set_status(conn, journey_id, "on_scene", "dispatcher", "dispatcher-1")
        await backdate(conn, journey_id, "on_scene", at(300))
        # The backlog of 10:02 arrives: far from the scene, fast (over the limit for 20 s).
        await put(*[(s, *south_of_scene(2500 - 25 * (s - 120)), 90.0) for s in range(120, 142, 2)])
        await worker.drain()
        after_backlog = await journeys.get_journey(conn, journey_id)
        # Then a live fix (10:06) far from the scene: the crew really left.
        await put((360, *south_of_scene(2000), 40.0))
        await worker.drain()
        final = await journeys.get_journey(conn, journey_id)
        log = await journeys.status_log(conn, journey_id)

    assert after_backlog["status"] == "on_scene" and after_backlog["transporting_at"] is None
    # History is still filled in, at its own time.
    overspeed = [e for e in worker.published if e["kind"] == "overspeed"]
    assert [datetime.fromisoformat(e["at"]) for e in overspeed] == [at(120)]
    # A fix after the manual change moves the journey on, stamped at its own time.
    assert final["status"] == "transporting"
    assert datetime.fromisoformat(final["transporting_at"]) == at(360)
    assert [(c["to_status"], c["source"], datetime.fromisoformat(c["at"])) for c in log] == [
        ("dispatched", "dispatcher", at(0)),
        ("en_route", "rule", at(10)),
        ("on_scene", "dispatcher", at(300)),
        ("transporting", "rule", at(360)),
    ]


async def test_a_cancel_and_redispatch_during_a_batch_never_applies_the_old_scene(
    put: Put,
    db: psycopg.Connection,
    database_url: str,
    vehicle: tuple[int, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker reads the batch (with the vehicle's journey to scene A); a dispatcher cancels it
    and dispatches the vehicle to scene B, on another connection, before the worker loads the
    vehicle's memory. The fixes stop at scene A: they must never put the journey to B on scene."""
    vehicle_id, _ = vehicle
    hospital_id = hospital(db)
    dispatcher = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    first = await dispatch(dispatcher, vehicle_id, hospital_id, at(0))
    second: dict[str, Any] = {}

    async def cancel_and_redispatch() -> None:
        await journeys.set_status(dispatcher, first, "cancelled", "dispatcher", "dispatcher-1")
        journey, _ = await journeys.create_journey(
            dispatcher, vehicle_id, SCENE[0] + 0.05, SCENE[1], "scene B", 1, hospital_id, 150.0, "d"
        )
        second["id"] = journey["id"]

    real_load = store.load_memories
    pid = dispatcher.info.backend_pid

    async def load_after_the_dispatcher(*args: Any, **kwargs: Any) -> Any:
        """Between the batch query and the memory load: let the dispatcher act, until it is done
        or waits on a lock the worker holds."""
        task = asyncio.create_task(cancel_and_redispatch())
        for _ in range(200):
            if task.done():
                break
            row = db.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
            if row and row[0] == "Lock":
                break
            await asyncio.sleep(0.02)
        load_after_the_dispatcher.task = task  # type: ignore[attr-defined]
        monkeypatch.setattr(store, "load_memories", real_load)
        return await real_load(*args, **kwargs)

    # Moving, then stopped at scene A for 30 s.
    await put(
        *[(s, *south_of_scene(600 - 20 * s), 40.0) for s in range(0, 30, 2)],
        *[(s, *south_of_scene(10), 0.0) for s in range(30, 62, 2)],
    )
    monkeypatch.setattr(store, "load_memories", load_after_the_dispatcher)
    worker = RecordingWorker(database_url)
    try:
        await worker.drain()
        await asyncio.wait_for(load_after_the_dispatcher.task, 10)  # type: ignore[attr-defined]
        new = await journeys.get_journey(dispatcher, second["id"])
        old = await journeys.get_journey(dispatcher, first)
    finally:
        await worker.close()
        await dispatcher.close()
    assert new["status"] == "dispatched" and new["on_scene_at"] is None
    assert old["status"] == "cancelled"
    moved = [e for e in worker.published if e["kind"] == "status_change"]
    assert all(e["journey_id"] == first for e in moved)
