"""Fixtures for the tracking core: storing fixes as the gateway does, and a worker to evaluate them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from fixes.model import Fix
from fixes.positions import PartitionCache, prepare_connection, store_fixes
from tracking.settings import TrackingSettings
from tracking.worker import TrackingWorker

Put = Callable[..., Awaitable[None]]
T0 = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
async def put(database_url: str, vehicle: tuple[int, str]) -> AsyncIterator[Put]:
    """put((seconds, lat, lon, speed_kmh[, attributes[, valid]]), ...): store fixes of the test
    vehicle (`valid` False: a fix without GPS, as a tracker in a garage or a tunnel sends)."""
    vehicle_id, device_id = vehicle
    conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    await prepare_connection(conn)
    partitions = PartitionCache()

    async def store(*rows: tuple[Any, ...]) -> None:
        fixes = [
            Fix(
                device_id,
                vehicle_id,
                at(r[0]),
                at(r[0]),
                r[1],
                r[2],
                "mqtt_json",
                speed_kmh=r[3],
                attributes=r[4] if len(r) > 4 else {},
                valid=r[5] if len(r) > 5 else True,
            )
            for r in rows
        ]
        await partitions.ensure(conn, fixes)
        await store_fixes(conn, fixes)

    yield store
    await conn.close()


class RecordingWorker(TrackingWorker):
    def __init__(self, database_url: str, **settings: Any) -> None:
        self.published: list[dict[str, Any]] = []

        async def record(events: list[dict[str, Any]]) -> None:
            self.published.extend(events)

        super().__init__(database_url, TrackingSettings(**settings), record)

    async def drain(self) -> int:
        total = 0
        while (n := await self.process_once()) > 0:
            total += n
        return total


@pytest.fixture
async def worker(database_url: str, db: psycopg.Connection) -> AsyncIterator[RecordingWorker]:
    w = RecordingWorker(database_url)
    yield w
    await w.close()
