"""The naive way to store fixes, for comparison: one INSERT per fix, each its own transaction
(autocommit), on one connection. Then the project's way without MQTT: `store_fixes` (COPY and one
statement in one transaction) on batches of the same fixes. Same positions table, same fix shape."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from bench.motion import LAT_RANGE, LON_RANGE
from fixes.model import Fix
from fixes.positions import PartitionCache, prepare_connection, store_fixes

NAIVE_INSERT = """
INSERT INTO positions (device_id, vehicle_id, fix_time, received_at, geom, speed_kmh, course, protocol)
VALUES (%s, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s, %s, 'mqtt_json')
"""


@dataclass(frozen=True, slots=True)
class StoreRate:
    fixes: int
    seconds: float

    @property
    def fixes_per_s(self) -> float:
        return self.fixes / self.seconds if self.seconds > 0 else 0.0


def make_fixes(devices: list[tuple[str, int]], count: int, seed: int = 1) -> list[Fix]:
    """`count` fixes spread round robin over (device id, vehicle id), 1 ms apart per device, ending now."""
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(milliseconds=count)
    return [
        Fix(
            device_id=devices[i % len(devices)][0],
            vehicle_id=devices[i % len(devices)][1],
            fix_time=start + timedelta(milliseconds=i),
            received_at=datetime.now(UTC),
            lat=rng.uniform(*LAT_RANGE),
            lon=rng.uniform(*LON_RANGE),
            protocol="mqtt_json",
            speed_kmh=float(rng.randint(0, 80)),
            course=float(rng.randint(0, 359)),
        )
        for i in range(count)
    ]


def naive_inserts(url: str, fixes: list[Fix], max_seconds: float) -> StoreRate:
    """One autocommit INSERT per fix until the fixes or the time run out."""
    done = 0
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        deadline = started + max_seconds
        for f in fixes:
            conn.execute(
                NAIVE_INSERT,
                (f.device_id, f.vehicle_id, f.fix_time, f.received_at, f.lon, f.lat, f.speed_kmh, f.course),
                prepare=True,
            )
            done += 1
            if done % 100 == 0 and time.perf_counter() > deadline:
                break
        return StoreRate(done, time.perf_counter() - started)


def batched_store(url: str, fixes: list[Fix], batch_size: int) -> StoreRate:
    """The gateway's storage path alone: `store_fixes` per batch of `batch_size`."""

    async def run() -> StoreRate:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await prepare_connection(conn)
            await PartitionCache().ensure(conn, fixes)
            started = time.perf_counter()
            for start in range(0, len(fixes), batch_size):
                await store_fixes(conn, fixes[start : start + batch_size])
            return StoreRate(len(fixes), time.perf_counter() - started)

    return asyncio.run(run())


def vehicle_devices(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, vehicle_id FROM devices ORDER BY id").fetchall()
    return [(r[0], r[1]) for r in rows]
