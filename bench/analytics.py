"""Benchmark of the analytics queries over a year of journeys (not a test): prints figures.

1. Back-fills a year of demo journeys (`--days`, `--per-day`; default 365 x 100 ≈ 36,500) over the
   network `make run` loads, with `--units` ambulances, and refreshes the summary table
   (journey_intervals) from the status log.
2. Times, each `--repeat` times on one connection, what the /analytics page asks for a year and for
   a month (summary, unit utilisation, incidents), the CSV export of the year, the monthly PDF
   report, the stations' 8-minute reach, the tracker's periodic refresh (nothing changed, and 100
   journeys changed), and — for comparison — the year's percentiles computed straight from the
   status log without the summary table.

Runs on its own database (AMB_BENCH_ANALYTICS_DATABASE_URL), created when missing; it is emptied
of journeys and vehicles.

    .venv/bin/python bench/analytics.py [--days 365] [--per-day 100] [--units 40] [--repeat 7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from admin.places import load_hospitals, load_stations
from analytics import export, report, stats
from analytics.backfill import backfill_demo
from analytics.intervals import refresh_intervals
from bench.database import ensure_database
from bench.machine import describe_machine
from roads.importer import import_roads
from runtime.config import DEFAULT_DATA_DIR
from runtime.db import apply_schema
from tracking.fleet import seed_demo_fleet

URL = os.environ.get(
    "AMB_BENCH_ANALYTICS_DATABASE_URL", "postgresql://amb:amb@127.0.0.1:5488/ambulance_bench_analytics"
)
NETWORK = [DEFAULT_DATA_DIR / "roads-central.geojson", DEFAULT_DATA_DIR / "haichau-central.osm.pbf"]
END = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
# The year's percentiles straight from the log: what each page view would cost without the summary.
FROM_LOG = """
WITH firsts AS (
    SELECT l.journey_id,
           min(l.at) FILTER (WHERE l.to_status = 'dispatched') AS dispatched,
           min(l.at) FILTER (WHERE l.to_status = 'on_scene') AS on_scene
    FROM journey_status_log l GROUP BY l.journey_id
)
SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY r), percentile_cont(0.9) WITHIN GROUP (ORDER BY r)
FROM (SELECT extract(epoch FROM f.on_scene - coalesce(j.call_received_at, f.dispatched)) AS r
      FROM firsts f JOIN journeys j ON j.id = f.journey_id
      WHERE f.on_scene IS NOT NULL AND j.dispatched_at >= %(start)s AND j.dispatched_at < %(end)s) x
"""


def prepare(days: int, per_day: float, units: int) -> None:
    ensure_database(URL)
    apply_schema(URL)
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE journeys, journey_status_log, journey_intervals, unit_status_log, vehicles RESTART IDENTITY CASCADE"
        )
        load_hospitals(conn, DEFAULT_DATA_DIR / "hospitals.csv")
        load_stations(conn, DEFAULT_DATA_DIR / "stations.csv")
        if not conn.execute("SELECT count(*) FROM road_edges").fetchone()[0]:  # type: ignore[index]
            import_roads(conn, NETWORK, replace=True)
        seed_demo_fleet(conn, units)
    started = time.perf_counter()
    print(backfill_demo(URL, days, per_day, seed=2026, end=END))
    print(f"   back-fill with refresh: {time.perf_counter() - started:.1f} s")
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE journey_intervals")
        conn.execute("VACUUM ANALYZE journeys")
        conn.execute("VACUUM ANALYZE journey_status_log")


async def timed(repeat: int, call: Callable[[], Awaitable[Any]]) -> tuple[float, float, float]:
    """(median, min, max) milliseconds over `repeat` calls after one warm-up."""
    await call()
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs), min(runs), max(runs)


async def measure(repeat: int, days: int) -> list[tuple[str, tuple[float, float, float]]]:
    year = stats.period_filter(date(2025, 12, 1), date(2026, 11, 30)) if days >= 365 else None
    year = year or stats.period_filter(date(2026, 11, 30) - timedelta(days=days - 1), date(2026, 11, 30))
    month = stats.period_filter(date(2026, 11, 1), date(2026, 11, 30))
    weekly = stats.Filter(year.start, year.end, priority=1, bucket="week")
    rows: list[tuple[str, tuple[float, float, float]]] = []
    async with await psycopg.AsyncConnection.connect(URL, autocommit=True) as conn:

        async def page(f: stats.Filter) -> None:
            await stats.response_summary(conn, f)
            await stats.interval_stats(conn, f)
            await stats.histogram(conn, f)
            await stats.handover_by_hospital(conn, f)
            await stats.unit_utilisation(conn, f)
            await stats.incidents(conn, f)

        async def refresh_after_changes() -> None:
            await conn.execute(
                "UPDATE journeys SET updated_at = now() WHERE id IN (SELECT id FROM journeys ORDER BY random() LIMIT 100)"
            )
            await refresh_intervals(conn)

        async def pdf() -> None:
            data = await report.report_data(conn, date(2026, 11, 1))
            await asyncio.to_thread(report.render_pdf, data)

        plan: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("page, the year (every query of /analytics)", lambda: page(year)),
            ("page, one month", lambda: page(month)),
            ("summary (grouping sets), the year, per day", lambda: stats.response_summary(conn, year)),
            ("summary, the year, per week, priority 1", lambda: stats.response_summary(conn, weekly)),
            ("every interval's p50/p90, the year", lambda: stats.interval_stats(conn, year)),
            ("unit utilisation, the year", lambda: stats.unit_utilisation(conn, year)),
            ("incidents (newest 5,000), the year", lambda: stats.incidents(conn, year)),
            ("handover per hospital, the year", lambda: stats.handover_by_hospital(conn, year)),
            ("stations' 8-minute reach (pgr_drivingDistance)", lambda: stats.station_reach(conn, 480)),
            ("CSV export, the year", lambda: export.journeys_csv(conn, year)),
            ("monthly PDF report (queries + matplotlib)", pdf),
            ("tracker refresh, nothing changed", lambda: refresh_intervals(conn)),
            ("tracker refresh, 100 journeys changed", refresh_after_changes),
            ("without the summary: year's p50/p90 from the log", lambda: conn.execute(FROM_LOG, {"start": year.start, "end": year.end})),
        ]  # fmt: skip
        for label, call in plan:
            rows.append((label, await timed(repeat, call)))
            print(f"   {label:<52} {rows[-1][1][0]:9.1f} ms")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--per-day", type=float, default=100.0)
    parser.add_argument("--units", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"1. back-filling {args.days} days x ~{args.per_day:g} journeys with {args.units} units")
    prepare(args.days, args.per_day, args.units)
    with psycopg.connect(URL) as conn:
        counts = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE response_s IS NOT NULL), (SELECT count(*) FROM journey_status_log)"
            " FROM journey_intervals"
        ).fetchone()
    print(f"   {counts[0]:,} journeys ({counts[1]:,} reached the scene), {counts[2]:,} status-log rows")  # type: ignore[index]
    print(f"2. queries, median of {args.repeat} after a warm-up (min-max)")
    rows = asyncio.run(measure(args.repeat, args.days))
    print("\n| query | median ms | min-max ms |\n|---|---:|---:|")
    for label, (median, low, high) in rows:
        print(f"| {label} | {median:,.1f} | {low:,.1f}-{high:,.1f} |")
    machine = describe_machine(URL)
    print(
        f"\nmachine: {machine['cores']} cores ({machine['cpu']}), {machine['memory_gib']} GiB, {machine['os']},"
        f" PostgreSQL {machine['postgresql']}, PostGIS {machine['postgis']}, Python {machine['python']},"
        f" commit {machine['commit']}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


if __name__ == "__main__":
    main()
