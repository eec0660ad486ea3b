"""Benchmark of ETAs and hospital lookups (not a test): prints figures.

1. Keeping ETAs current for N moving vehicles at one fix per second each (tracking/eta.py:
   a route from pgRouting once, then progress along it): the work per second.
2. The hospital inbound lookup with J active journeys: p50/p99.
3. Ranking 100 units for one incident, and hospitals near a point.

On its own database (AMB_BENCH_TRACKING_DATABASE_URL, shared with bench/tracking.py), loopback only.

    .venv/bin/python bench/eta.py [--vehicles 1000] [--seconds 30] [--journeys-to-hospitals 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from admin.places import load_hospitals, load_road_lines
from bench.database import ensure_database
from bench.tracking import URL, percentile
from roads.importer import import_roads
from roads.ranking import rank_sources, rank_targets
from roads.routing import RoutePoint
from runtime.config import DEFAULT_DATA_DIR
from runtime.db import apply_schema
from tracking.eta import EtaPolicy, hospital_inbound, update_etas
from tracking.fleet import register_device, register_vehicle

NETWORK = [DEFAULT_DATA_DIR / "roads-central.geojson", DEFAULT_DATA_DIR / "haichau-central.osm.pbf"]


def prepare(vehicles: int, to_hospitals: int, rng: random.Random) -> tuple[list[int], list[int]]:
    """The make-run network, `vehicles` ambulances standing on it, each on a journey: the first
    `to_hospitals` transporting to an emergency department, the others heading to a scene."""
    ensure_database(URL)
    apply_schema(URL)
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE positions, vehicle_latest, devices, vehicles, events, journeys, journey_status_log,"
            " vehicle_state, tracking_inbox, journey_eta RESTART IDENTITY CASCADE"
        )
        load_hospitals(conn, DEFAULT_DATA_DIR / "hospitals.csv")
        load_road_lines(conn, DEFAULT_DATA_DIR / "roads-central.geojson")
        import_roads(conn, NETWORK, replace=True)
        hospitals = [
            r[0]
            for r in conn.execute(
                "SELECT h.id FROM hospitals h WHERE h.has_emergency AND EXISTS (SELECT 1 FROM road_edges e"
                " WHERE ST_DWithin(e.geom::geography, h.geom::geography, 300))"
            ).fetchall()
        ]
        spots = conn.execute(
            "SELECT ST_Y(p), ST_X(p) FROM (SELECT ST_LineInterpolatePoint(geom, random()) AS p FROM road_edges"
            " WHERE main_component ORDER BY random() LIMIT %s) q",
            (vehicles * 2,),
        ).fetchall()
        ids = []
        for i in range(vehicles):
            v = register_vehicle(conn, f"43C{i + 1:05d}", f"E-{i + 1:04d}")
            register_device(conn, f"eta-{i + 1:05d}", "mqtt_json", v.plate)
            lat, lon = spots[i]
            conn.execute(
                "INSERT INTO vehicle_latest (vehicle_id, device_id, fix_time, received_at, geom, speed_kmh, course)"
                " VALUES (%s, %s, now(), now(), ST_SetSRID(ST_MakePoint(%s, %s), 4326), 40, NULL)",
                (v.id, f"eta-{i + 1:05d}", lon, lat),
            )
            scene_lat, scene_lon = spots[vehicles + i]
            transporting = i < to_hospitals
            conn.execute(
                "INSERT INTO journeys (vehicle_id, status, incident_geom, destination_hospital_id)"
                " VALUES (%s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s)",
                (
                    v.id,
                    "transporting" if transporting else "en_route",
                    scene_lon,
                    scene_lat,
                    rng.choice(hospitals),
                ),
            )
            ids.append(v.id)
    return ids, hospitals


async def move_everyone(conn: psycopg.AsyncConnection, step: float) -> None:
    """Every vehicle one step further along its held route (one fix per vehicle)."""
    await conn.execute(
        """
        UPDATE vehicle_latest l
        SET geom = ST_LineInterpolatePoint(e.route_geom, least(1.0, ST_LineLocatePoint(e.route_geom, l.geom) + %s)),
            fix_time = now(), received_at = now()
        FROM journeys j JOIN journey_eta e ON e.journey_id = j.id
        WHERE j.vehicle_id = l.vehicle_id AND e.route_geom IS NOT NULL
        """,
        (step,),
    )


async def run(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    print(
        f"preparing {args.vehicles} vehicles on journeys ({args.journeys_to_hospitals} to hospitals) ...",
        flush=True,
    )
    vehicles, hospitals = prepare(args.vehicles, args.journeys_to_hospitals, rng)
    conn = await psycopg.AsyncConnection.connect(URL, autocommit=True)
    started = time.perf_counter()
    await update_etas(conn, vehicles, EtaPolicy(max_routes=len(vehicles)))  # every journey's first route
    first_s = time.perf_counter() - started
    per_second = []
    for _ in range(args.seconds):
        tick = time.perf_counter()
        await move_everyone(conn, 0.01)
        t0 = time.perf_counter()
        async with conn.transaction():
            await update_etas(conn, vehicles, EtaPolicy())
        per_second.append(time.perf_counter() - t0)
        await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - tick)))
    inbound_ms = []
    for _ in range(args.lookups):
        t0 = time.perf_counter()
        await hospital_inbound(conn, rng.choice(hospitals))
        inbound_ms.append((time.perf_counter() - t0) * 1000)
    cur = await conn.execute("SELECT ST_Y(geom), ST_X(geom) FROM vehicle_latest LIMIT 100")
    sources = [(i, RoutePoint(lat, lon)) for i, (lat, lon) in enumerate(await cur.fetchall())]
    rank_ms, near_ms = [], []
    cur = await conn.execute("SELECT id, ST_Y(geom), ST_X(geom) FROM hospitals")
    targets = [(h, RoutePoint(lat, lon)) for h, lat, lon in await cur.fetchall()]
    for _ in range(20):
        incident = RoutePoint(rng.uniform(16.050, 16.070), rng.uniform(108.205, 108.222))
        t0 = time.perf_counter()
        await rank_sources(conn, sources, incident, datetime.now(UTC))
        rank_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        await rank_targets(conn, incident, targets, datetime.now(UTC))
        near_ms.append((time.perf_counter() - t0) * 1000)
    await conn.close()
    print(f"\nmachine: {os.cpu_count()} cores; {args.vehicles} vehicles moving, one fix per second each")
    print(
        f"first routes for all journeys: {first_s:.1f} s ({1000 * first_s / args.vehicles:.1f} ms per journey)"
    )
    print(
        f"keeping ETAs current: p50 {1000 * statistics.median(per_second):.0f} ms, max "
        f"{1000 * max(per_second):.0f} ms of work per second ({1e6 * statistics.median(per_second) / args.vehicles:.0f} µs per fix)"
    )
    print(
        f"hospital inbound lookup ({args.journeys_to_hospitals} journeys to {len(hospitals)} hospitals): "
        f"p50 {statistics.median(inbound_ms):.1f} ms, p99 {percentile(inbound_ms, 99):.1f} ms   (target p99 < 50 ms)"
    )
    print(
        f"ranking 100 units for an incident: p50 {statistics.median(rank_ms):.0f} ms, max {max(rank_ms):.0f} ms   (target < 200 ms)"
    )
    print(f"hospitals ranked by road from a point: p50 {statistics.median(near_ms):.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vehicles", type=int, default=1000)
    parser.add_argument("--journeys-to-hospitals", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--lookups", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
