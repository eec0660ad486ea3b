"""Benchmark of the tracking stage (not a test): prints figures.

1. Geofence evaluation: the batch query alone, 1,000 fixes against 1,000 geofences (target < 50 ms).
2. The whole tracking stage on such a batch: query, rules, writes, inbox removal, commit.
3. Sustained 1,000 fixes/s: each second the fleet's new fixes are stored (as the gateway stores
   them) and the worker evaluates them; prints the worker's wall time per second and per fix.

Runs on its own database (AMB_BENCH_TRACKING_DATABASE_URL), loopback only, and stops by itself.

    .venv/bin/python bench/tracking.py [--geofences 1000] [--batch 1000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from admin.places import load_hospitals, load_road_lines
from bench.database import ensure_database
from fixes.model import Fix
from fixes.positions import PartitionCache, prepare_connection, store_fixes
from runtime.config import DEFAULT_DATA_DIR
from runtime.db import apply_schema, query
from tracking.fleet import register_device, register_vehicle
from tracking.geofences import create_geofence
from tracking.settings import TrackingSettings
from tracking.worker import TrackingWorker

URL = os.environ.get(
    "AMB_BENCH_TRACKING_DATABASE_URL", "postgresql://amb:amb@127.0.0.1:5488/ambulance_bench_tracking"
)
BBOX = (16.02, 108.16, 16.10, 108.26)  # south, west, north, east: central Da Nang
RESULTS = Path(__file__).resolve().parent / "results" / "tracking.json"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def random_point(rng: random.Random) -> tuple[float, float]:
    return rng.uniform(BBOX[0], BBOX[2]), rng.uniform(BBOX[1], BBOX[3])


def prepare(geofences: int, vehicles: int, rng: random.Random) -> list[tuple[int, str]]:
    ensure_database(URL)
    apply_schema(URL)
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE positions, vehicle_latest, devices, vehicles, events, journeys, journey_status_log,"
            " vehicle_state, tracking_inbox, geofences RESTART IDENTITY CASCADE"
        )
        load_hospitals(conn, DEFAULT_DATA_DIR / "hospitals.csv")
        load_road_lines(conn, DEFAULT_DATA_DIR / "roads-central.geojson")
        fleet = []
        for i in range(1, vehicles + 1):
            v = register_vehicle(conn, f"43B{i:05d}", f"B-{i:04d}")
            register_device(conn, f"tb-{i:05d}", "mqtt_json", v.plate)
            fleet.append((v.id, f"tb-{i:05d}"))
    return fleet


async def _make_geofences(count: int, rng: random.Random) -> None:
    async with await psycopg.AsyncConnection.connect(URL, autocommit=True) as conn:
        for i in range(count):
            lat, lon = random_point(rng)
            kind = rng.choices(["circle", "polygon", "corridor"], [0.7, 0.2, 0.1])[0]
            if kind == "circle":
                shape = {"type": "circle", "center": [lon, lat], "radius_m": rng.uniform(80, 600)}
            elif kind == "polygon":
                d = rng.uniform(0.002, 0.007)
                ring = [
                    [lon - d, lat - d],
                    [lon + d, lat - d * 0.8],
                    [lon + d * 0.9, lat + d],
                    [lon - d, lat + d * 1.1],
                ]
                shape = {"type": "polygon", "coordinates": [[*ring, ring[0]]]}
            else:
                shape = {
                    "type": "corridor",
                    "coordinates": [[lon, lat], [lon + 0.01, lat + 0.004]],
                    "width_m": 40,
                }
            fence_kind = rng.choice(["service_area", "scene", "restricted_zone", "speed_zone"])
            limit = 40.0 if fence_kind == "speed_zone" else None
            await create_geofence(conn, f"bench {i}", fence_kind, shape, 15.0, limit)


class Fleet:
    """Vehicles wandering at ambulance speeds; each call gives every vehicle its next fix."""

    def __init__(self, vehicles: list[tuple[int, str]], rng: random.Random, start: datetime) -> None:
        self.vehicles = vehicles
        self.rng = rng
        self.where = {v: random_point(rng) for v, _ in vehicles}
        self.clock = start

    def fixes(self, count: int, dt: float) -> list[Fix]:
        """`count` fixes spread over the fleet, `dt` seconds after the previous ones."""
        self.clock += timedelta(seconds=dt)
        out = []
        for i in range(count):
            vehicle_id, device = self.vehicles[i % len(self.vehicles)]
            lat, lon = self.where[vehicle_id]
            lat, lon = lat + self.rng.uniform(-1.5e-4, 1.5e-4), lon + self.rng.uniform(-1.5e-4, 1.5e-4)
            self.where[vehicle_id] = (lat, lon)
            when = self.clock + timedelta(milliseconds=i // len(self.vehicles))
            out.append(
                Fix(device, vehicle_id, when, when, lat, lon, "mqtt_json", speed_kmh=self.rng.uniform(0, 90))
            )
        return out


async def run(args: argparse.Namespace) -> dict[str, object]:
    rng = random.Random(args.seed)
    print(
        f"preparing {args.geofences} geofences and {args.vehicles} vehicles on {URL.rsplit('/', 1)[-1]} ...",
        flush=True,
    )
    vehicles = prepare(args.geofences, args.vehicles, rng)
    await _make_geofences(args.geofences, rng)
    fleet = Fleet(vehicles, rng, datetime.now(UTC) - timedelta(hours=2))
    conn = await psycopg.AsyncConnection.connect(URL, autocommit=True)
    await prepare_connection(conn)
    partitions = PartitionCache()

    async def put(fixes: list[Fix]) -> None:
        await partitions.ensure(conn, fixes)
        await store_fixes(conn, fixes)

    worker = TrackingWorker(URL, TrackingSettings(batch_size=max(args.batch, args.rate)))
    # 1. the geofence query alone, on the same waiting batch, rolled back each time
    await put(fleet.fixes(args.batch, 1.0))
    query_ms = []
    for _ in range(args.repeat):
        async with conn.transaction(force_rollback=True):
            await conn.execute("SET LOCAL jit = off")  # as the worker runs it
            started = time.perf_counter()
            cur = await conn.execute(query("tracking/evaluate_batch"), {"limit": args.batch})
            rows = await cur.fetchall()
            query_ms.append((time.perf_counter() - started) * 1000)
    hits = sum(len(r[8]) for r in rows)  # seen_ids
    # 2. the whole stage on fresh batches
    stage_ms = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        evaluated = await worker.process_once()
        stage_ms.append((time.perf_counter() - started) * 1000)
        assert evaluated == args.batch, evaluated
        await put(fleet.fixes(args.batch, 1.0))
    await worker.process_once()
    # 3. sustained: every second store `rate` fixes and evaluate them
    per_second_ms = []
    started_all = time.perf_counter()
    for _ in range(args.seconds):
        tick = time.perf_counter()
        await put(fleet.fixes(args.rate, 1.0))
        started = time.perf_counter()
        await worker.process_once()
        per_second_ms.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - tick)))
    wall = time.perf_counter() - started_all
    await worker.close()
    async with conn.cursor() as cur:
        await cur.execute("SELECT count(*) FROM events")
        events = (await cur.fetchone() or (0,))[0]
    await conn.close()
    return {
        "geofences": args.geofences,
        "batch": args.batch,
        "geofence_hits_in_batch": hits,
        "query_ms_p50": statistics.median(query_ms),
        "query_ms_p95": percentile(query_ms, 95),
        "stage_ms_p50": statistics.median(stage_ms),
        "stage_ms_p95": percentile(stage_ms, 95),
        "sustained_rate": args.rate,
        "sustained_seconds": args.seconds,
        "sustained_worker_ms_per_s_p50": statistics.median(per_second_ms),
        "sustained_worker_ms_per_s_max": max(per_second_ms),
        "sustained_worker_us_per_fix": statistics.median(per_second_ms) * 1000 / args.rate,
        "sustained_wall_s": wall,
        "events": events,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--geofences", type=int, default=1000)
    parser.add_argument("--vehicles", type=int, default=500)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--rate", type=int, default=1000, help="fixes per second in the sustained part")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    load = os.getloadavg()
    result = asyncio.run(run(args))
    print(f"\nmachine: {os.cpu_count()} cores, load average before the run {load[0]:.2f}")
    print(
        f"geofence query, {result['batch']} fixes x {result['geofences']} geofences "
        f"({result['geofence_hits_in_batch']} fix-geofence hits): "
        f"p50 {result['query_ms_p50']:.1f} ms, p95 {result['query_ms_p95']:.1f} ms   (target < 50 ms)"
    )
    print(
        f"whole tracking stage per {result['batch']}-fix batch: p50 {result['stage_ms_p50']:.1f} ms, "
        f"p95 {result['stage_ms_p95']:.1f} ms"
    )
    print(
        f"sustained {result['sustained_rate']} fixes/s for {result['sustained_seconds']} s: worker busy "
        f"{result['sustained_worker_ms_per_s_p50']:.0f} ms per second (max {result['sustained_worker_ms_per_s_max']:.0f}), "
        f"{result['sustained_worker_us_per_fix']:.0f} µs per fix; {result['events']} events"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({**result, "at": datetime.now(UTC).isoformat()}, indent=2))


if __name__ == "__main__":
    main()
