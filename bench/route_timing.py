"""Benchmark (not a test) of what costing a route at the time each edge is reached adds to a
routing call (roads/timing.py): prints figures.

100 random routes on the `make run` network (bench/routing.py's database), each routed 4 times in
one process: the first pass finds the streets' hourly costs out of the process's cache (one query
per route), the next three in it, as the tracker does routing its vehicles over the same streets
all day. Reports the routing call and, inside it, the re-costing, p50 and mean.

    .venv/bin/python bench/route_timing.py [--routes 100] [--passes 4] [--seed 5]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.routing import URL, prepare
from roads import routing
from roads.routing import RoutePoint, route


async def run(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    spent: dict[str, list[float]] = {"re-costing, cache cold": [], "re-costing, cache warm": [], "route": []}
    phase = ["re-costing, cache cold"]
    timed = routing.timed_pieces

    async def measured(*a: Any, **k: Any) -> list[float]:
        started = time.perf_counter()
        try:
            return await timed(*a, **k)
        finally:
            spent[phase[0]].append(time.perf_counter() - started)

    routing.timed_pieces = measured  # type: ignore[assignment]
    async with await psycopg.AsyncConnection.connect(URL, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT ST_Y(ST_LineInterpolatePoint(geom, 0.5)), ST_X(ST_LineInterpolatePoint(geom, 0.5))"
            " FROM road_edges WHERE main_component ORDER BY id"
        )
        spots = [RoutePoint(lat, lon) for lat, lon in await cur.fetchall()]
        pairs = [rng.sample(spots, 2) for _ in range(args.routes)]
        at = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
        for n in range(args.passes):
            phase[0] = "re-costing, cache cold" if n == 0 else "re-costing, cache warm"
            for a, b in pairs:
                started = time.perf_counter()
                await route(conn, a, b, at)
                if n:
                    spent["route"].append(time.perf_counter() - started)
    for what, values in spent.items():
        print(
            f"   {what:<24} n={len(values):<4} p50 {1000 * statistics.median(values):6.2f} ms"
            f"   mean {1000 * statistics.mean(values):6.2f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--routes", type=int, default=100)
    parser.add_argument("--passes", type=int, default=4)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    prepare()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
