"""The tracking worker in its own process (amb-tracker, no gateway to wake it) evaluates a fix as
soon as its commit is notified, not at its next poll (issue 14: the tracker's group commit)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from tests.tracking.conftest import Put
from tracking import worker as worker_module
from tracking.settings import TrackingSettings
from tracking.worker import TrackingWorker


async def until(condition: Callable[[], bool]) -> None:
    """Wait for `condition`; 30 s is only a bound against hanging (the poll alone would take 1 h)."""
    async with asyncio.timeout(30):
        while True:
            if condition():
                return
            await asyncio.sleep(0.02)


def listening(db: psycopg.Connection) -> bool:
    row = db.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = 'amb-tracking-listen' AND query LIKE 'LISTEN%'"
    ).fetchone()
    return bool(row and row[0])


async def test_a_committed_sos_wakes_a_worker_that_would_not_poll_for_an_hour(
    put: Put, db: psycopg.Connection, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "POLL_S", 3600.0)  # only the notification can wake it
    events: list[dict[str, Any]] = []

    async def on_events(batch: list[dict[str, Any]]) -> None:
        events.extend(batch)

    worker = TrackingWorker(database_url, TrackingSettings(), on_events)
    runner = asyncio.create_task(worker.run())
    try:
        await until(lambda: listening(db))
        await put((10, 16.04, 108.24, 0.0, {"alarm": "sos"}))  # stored as the gateway stores: notified
        await until(lambda: any(e["kind"] == "sos" for e in events))
        assert worker.evaluated == 1
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await worker.close()
