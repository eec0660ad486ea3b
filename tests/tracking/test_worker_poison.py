"""The tracking worker against inbox rows it can never evaluate ("acknowledged means stored"), on
the real database: the good rows of the same batch are evaluated, the poison rows end up in
quarantine after `quarantine_attempts` attempts alone, transient errors are only retried, and
`run()` keeps going through all of it.

The poison is genuine, not injected: fixes of a vehicle deleted while they waited in the inbox
(its vehicle_state row cannot be created: a foreign-key violation, a psycopg error), and a vehicle
whose stored rule memory is corrupt (RuleMemory.from_json raises ValueError, a Python error).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import pytest
from prometheus_client import REGISTRY

from fixes.model import Fix
from fixes.positions import PartitionCache, prepare_connection, store_fixes
from tests.tracking.conftest import Put, at
from tracking.fleet import register_device, register_vehicle
from tracking.settings import TrackingSettings
from tracking.worker import LEADER_LOCK, TrackingWorker, WorkerRetrySettings

CENTRE = (16.0400, 108.2400)
FAST = WorkerRetrySettings(batch_retries=3, quarantine_attempts=3, retry_first_s=0.01, retry_max_s=0.05)


async def store_for(database_url: str, vehicle_id: int, device_id: str, *seconds: float) -> None:
    """Store fixes of another vehicle as the gateway does (positions + inbox in one transaction)."""
    fixes = [Fix(device_id, vehicle_id, at(s), at(s), *CENTRE, "mqtt_json", speed_kmh=20.0) for s in seconds]
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await prepare_connection(conn)
        await PartitionCache().ensure(conn, fixes)
        await store_fixes(conn, fixes)


def second_vehicle(db: psycopg.Connection, plate: str, device_id: str) -> int:
    v = register_vehicle(db, plate, f"115-{plate[-2:]}")
    register_device(db, device_id, "mqtt_json", v.plate)
    return v.id


class Running:
    """A worker whose `run()` goes on in a task, with what it published."""

    def sos(self) -> int:
        """SOS events published (the fixes are hours old: device-offline events come too)."""
        return sum(e["kind"] == "sos" for e in self.published)

    def __init__(self, database_url: str) -> None:
        self.published: list[dict[str, Any]] = []

        async def record(events: list[dict[str, Any]]) -> None:
            self.published.extend(events)

        self.worker = TrackingWorker(database_url, TrackingSettings(batch_interval_ms=10), record, retry=FAST)
        self.task = asyncio.create_task(self.worker.run())

    async def until(self, done: Callable[[], bool], what: str, timeout: float = 30.0) -> float:
        started = time.monotonic()
        while not done():
            assert not self.task.done(), f"run() ended: {self.task.exception()!r}"
            assert time.monotonic() - started < timeout, f"timed out waiting for {what}"
            await asyncio.sleep(0.05)
        return time.monotonic() - started


@pytest.fixture
async def running(database_url: str, db: psycopg.Connection) -> AsyncIterator[Running]:
    # A worker another test left behind would keep the leader lock: this one must lead (in this
    # database only: `make run`'s tracker may lead its own on the same server).
    db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_locks"
        " WHERE locktype = 'advisory' AND objid = %s AND pid <> pg_backend_pid()"
        "   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (LEADER_LOCK,),
    )
    r = Running(database_url)
    yield r
    r.task.cancel()
    await asyncio.gather(r.task, return_exceptions=True)
    await r.worker.close()


def count(db: psycopg.Connection, sql: str, *params: object) -> int:
    row = db.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_poison_rows_are_quarantined_and_the_good_rows_of_their_batch_go_on(
    put: Put, vehicle: tuple[int, str], db: psycopg.Connection, database_url: str, running: Running
) -> None:
    good_id, _ = vehicle
    # Read before storing: the running worker is woken by each commit (tracking.inbox_wake).
    batch_failures = metric("amb_tracking_evaluation_failures_total", kind="batch")
    quarantined = metric("amb_tracking_quarantined_total")
    gone_id = second_vehicle(db, "43A10002", "dev-gone")
    corrupt_id = second_vehicle(db, "43A10003", "dev-corrupt")
    # Poison 1: the vehicle is deleted while its two fixes wait in the inbox.
    await store_for(database_url, gone_id, "dev-gone", 1, 2)
    db.execute("DELETE FROM vehicles WHERE id = %s", (gone_id,))
    # Poison 2: rule memory that cannot be read back (a stored time that is not a time).
    db.execute(
        "INSERT INTO vehicle_state (vehicle_id, rules) VALUES (%s, %s)",
        (corrupt_id, '{"stopped_since": "soon"}'),
    )
    await store_for(database_url, corrupt_id, "dev-corrupt", 3)
    # The good vehicle's fixes, in the same batch: an SOS among them.
    await put((0, *CENTRE, 20.0), (4, *CENTRE, 0.0, {"alarm": "sos"}), (5, *CENTRE, 0.0))
    assert count(db, "SELECT count(*) FROM tracking_inbox") == 6

    took = await running.until(
        lambda: count(db, "SELECT count(*) FROM tracking_inbox") == 0, "the inbox to empty"
    )
    print(f"\nbatch failed, isolated, 3 rows quarantined after {took:.2f} s")

    # The good rows were evaluated (state moved on, the SOS raised and published).
    assert (
        count(
            db,
            "SELECT count(*) FROM vehicle_state WHERE vehicle_id = %s AND evaluated_until = %s",
            good_id,
            at(5),
        )
        == 1
    )
    assert running.sos() == 1
    assert running.worker.evaluated == 3 and running.worker.quarantined == 3
    # The poison rows: in quarantine, each after 3 attempts alone, with the inbox row and the error.
    rows = db.execute(
        "SELECT stage, vehicle_id, device_id, fix_time, attempts, payload, error FROM quarantine ORDER BY fix_time"
    ).fetchall()
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [
        ("tracker", gone_id, "dev-gone", at(1), 3),
        ("tracker", gone_id, "dev-gone", at(2), 3),
        ("tracker", corrupt_id, "dev-corrupt", at(3), 3),
    ]
    payload = rows[0][5]
    assert payload["device_id"] == "dev-gone" and payload["lat"] == pytest.approx(CENTRE[0])
    assert payload["speed_kmh"] == 20.0 and payload["attributes"] == {}
    assert "ForeignKeyViolation" in rows[0][6] and "ValueError" in rows[2][6]
    assert (
        metric("amb_tracking_evaluation_failures_total", kind="batch") - batch_failures == FAST.batch_retries
    )
    assert metric("amb_tracking_quarantined_total") - quarantined == 3

    # Still running, and back to whole batches: new fixes are evaluated at once.
    await put((70, *CENTRE, 0.0, {"alarm": "sos"}))  # past the 60 s alarm repeat
    await running.until(lambda: running.sos() == 2, "the next SOS")
    assert not running.worker._isolating
    assert count(db, "SELECT count(*) FROM quarantine") == 3


async def test_a_transient_error_is_retried_and_nothing_is_quarantined(
    put: Put, vehicle: tuple[int, str], db: psycopg.Connection, running: Running
) -> None:
    """The worker's connection is killed (a failover, a restarted PostgreSQL): it reconnects."""
    await put((0, *CENTRE, 0.0, {"alarm": "sos"}))
    await running.until(lambda: running.sos() == 1, "the first SOS")
    transient = metric("amb_tracking_failed_rounds_total", cause="transient")
    killed = count(
        db,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE application_name = 'amb-tracking-worker' AND pid <> pg_backend_pid()"
        "   AND datname = current_database()",  # never `make run`'s tracker on the same server
    )
    assert killed == 1
    await put((1, *CENTRE, 0.0), (70, *CENTRE, 0.0, {"alarm": "sos"}))  # past the 60 s repeat
    await running.until(lambda: running.sos() == 2, "the SOS after the reconnection")
    assert metric("amb_tracking_failed_rounds_total", cause="transient") - transient >= 1
    assert count(db, "SELECT count(*) FROM quarantine") == 0
    assert count(db, "SELECT count(*) FROM tracking_inbox") == 0


async def test_process_once_raises_the_failing_batch_then_isolates_it(
    vehicle: tuple[int, str], db: psycopg.Connection, database_url: str
) -> None:
    """Without run(): a failing batch is raised `batch_retries` times (run() backs off between),
    then the next call evaluates vehicle by vehicle and returns what left the inbox."""
    gone_id = second_vehicle(db, "43A10004", "dev-gone2")
    await store_for(database_url, gone_id, "dev-gone2", 1)
    db.execute("DELETE FROM vehicles WHERE id = %s", (gone_id,))
    worker = TrackingWorker(database_url, TrackingSettings(), retry=FAST)
    try:
        for _ in range(FAST.batch_retries):
            with pytest.raises(psycopg.errors.ForeignKeyViolation):
                await worker.process_once()
        assert [await worker.process_once() for _ in range(FAST.quarantine_attempts)] == [0, 0, 1]
        assert count(db, "SELECT count(*) FROM quarantine") == 1
        assert await worker.process_once() == 0 and not worker._isolating
    finally:
        await worker.close()
