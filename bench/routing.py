"""Benchmark of road routing (not a test): prints figures.

On the network `make run` loads (central main roads + the Hải Châu extract), from one connection:
1. One-to-one routes between random points near the roads (half of them moving, with a heading).
2. Many-to-one: 100 random units ranked by road time to a random incident (target < 200 ms).
3. One-to-many: a random point to the 27 hospitals (those off the loaded roads are left out).

Runs on its own database (AMB_BENCH_ROUTING_DATABASE_URL), created when missing.

    .venv/bin/python bench/routing.py [--routes 300] [--rankings 60] [--units 100] [--seed 5]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from admin.places import load_hospitals
from bench.database import ensure_database
from roads.importer import import_roads
from roads.ranking import rank_sources, rank_targets
from roads.routing import NoRouteError, RoutePoint, route
from runtime.config import DEFAULT_DATA_DIR
from runtime.db import apply_schema

URL = os.environ.get(
    "AMB_BENCH_ROUTING_DATABASE_URL", "postgresql://amb:amb@127.0.0.1:5488/ambulance_bench_routing"
)
NETWORK = [DEFAULT_DATA_DIR / "roads-central.geojson", DEFAULT_DATA_DIR / "haichau-central.osm.pbf"]
AT = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)  # 08:30 in Da Nang


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


def prepare() -> list[tuple[float, float, float]]:
    """The database with the make-run network; returns (lat, lon, bearing) spots along its edges."""
    ensure_database(URL)
    apply_schema(URL)
    with psycopg.connect(URL, autocommit=True) as conn:
        load_hospitals(conn, DEFAULT_DATA_DIR / "hospitals.csv")
        report = import_roads(conn, NETWORK, replace=True)
        print(f"   {report.summary()}")
        rows = conn.execute(
            """
            SELECT ST_Y(p), ST_X(p), degrees(ST_Azimuth(ST_StartPoint(geom_merc), ST_EndPoint(geom_merc)))
            FROM (SELECT geom_merc, ST_LineInterpolatePoint(geom, random()) AS p
                  FROM road_edges WHERE main_component AND length_m > 20) e
            """
        ).fetchall()
    return [(float(lat), float(lon), float(az or 0.0)) for lat, lon, az in rows]


def random_point(spots: list[tuple[float, float, float]], rng: random.Random) -> RoutePoint:
    """A point up to ~30 m off a road; half of them moving along it (GPS heading ± 20°)."""
    lat, lon, bearing = rng.choice(spots)
    lat += rng.uniform(-0.00027, 0.00027)
    lon += rng.uniform(-0.00027, 0.00027)
    heading = (bearing + rng.uniform(-20, 20)) % 360 if rng.random() < 0.5 else None
    return RoutePoint(lat, lon, heading)


async def timed(runs: int, call: Callable[[], Awaitable[Any]]) -> tuple[list[float], int]:
    """Milliseconds of each run, and how many found no route."""
    times, failures = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        try:
            await call()
        except NoRouteError:
            failures += 1
        times.append((time.perf_counter() - started) * 1000)
    return times, failures


def report(name: str, times: list[float], failures: int, extra: str = "") -> None:
    print(
        f"   {name:<34} n={len(times):<4} p50 {percentile(times, 50):6.1f} ms   p99 {percentile(times, 99):6.1f} ms"
        f"   mean {statistics.fmean(times):6.1f} ms   no route {failures}{extra}"
    )


async def run(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    print(f"== routing benchmark on {URL}")
    spots = prepare()
    with (DEFAULT_DATA_DIR / "hospitals.csv").open(encoding="utf-8") as fh:
        hospitals = [(r["name_vi"], RoutePoint(float(r["lat"]), float(r["lon"]))) for r in csv.DictReader(fh)]
    async with await psycopg.AsyncConnection.connect(URL, autocommit=True) as conn:
        for _ in range(10):  # warm-up: plans, caches
            await route(conn, random_point(spots, rng), random_point(spots, rng), AT)

        lengths: list[float] = []

        async def one_route() -> None:
            r = await route(conn, random_point(spots, rng), random_point(spots, rng), AT)
            lengths.append(r.distance_m)

        times, failures = await timed(args.routes, one_route)
        report("one-to-one route", times, failures, f"   median {statistics.median(lengths) / 1000:.1f} km")

        ranked_counts: list[int] = []

        async def many_to_one() -> None:
            units = [(i, random_point(spots, rng)) for i in range(args.units)]
            ranked_counts.append(len(await rank_sources(conn, units, random_point(spots, rng), AT)))

        times, failures = await timed(args.rankings, many_to_one)
        report(
            f"many-to-one, {args.units} units",
            times,
            failures,
            f"   ranked {min(ranked_counts)}-{max(ranked_counts)}",
        )

        reached: list[int] = []

        async def to_hospitals() -> None:
            reached.append(len(await rank_targets(conn, random_point(spots, rng), hospitals, AT)))

        times, failures = await timed(args.rankings, to_hospitals)
        report(
            f"one-to-many, {len(hospitals)} hospitals",
            times,
            failures,
            f"   reached {min(reached)}-{max(reached)}",
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--routes", type=int, default=300)
    parser.add_argument("--rankings", type=int, default=60)
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--seed", type=int, default=5)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
