# ruff: noqa: E402  (the repository goes on sys.path before the project imports)
"""Measurements on the year of history of bench/history.py (issue 14, item 2). Prints JSON.

    .venv/bin/python bench/history_queries.py [--database-url URL] [--retention]

1. Size: rows, heap and each index of the `positions` partitions -> bytes per million fixes;
   and what a coarser store of one old day would take (one LineStringM per vehicle-day).
2. Queries through the API's own functions, for random vehicles and journeys across the year:
   a journey's track, a whole day's track, replay, report, a vehicle's and a journey's events,
   the hospital inbound lookup and the fleet snapshot: p50/p99 over `--repeat` each.
3. Ingest: the gateway's `store_fixes` in 200-fix batches into today's partition.
4. `--retention`: the nightly drop of the oldest day partition (DETACH CONCURRENTLY, DROP)
   while a writer stores 200-fix batches: its commit times before, during and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == REPO / "bench":
    sys.path[0] = str(REPO)

import psycopg

from bench import baseline
from bench.cpu import MachineCpu, load_average
from bench.figures import percentile
from bench.history import URL
from fixes.positions import maintain_partitions, prepare_connection, store_fixes
from tracking.eta import hospital_inbound
from tracking.events import list_events
from tracking.reports import journey_replay, journey_report
from tracking.vehicles import vehicle_track, vehicles_with_latest


def sizes(conn: psycopg.Connection) -> dict[str, Any]:
    rows = conn.execute(
        """
        SELECT count(*), sum(c.reltuples)::bigint, sum(pg_relation_size(c.oid)),
               sum(pg_indexes_size(c.oid)), sum(pg_total_relation_size(c.oid))
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'positions'::regclass
        """
    ).fetchone()
    assert rows is not None
    parts, fixes, heap, indexes, total = (int(v or 0) for v in rows)
    by_index = conn.execute(
        """
        SELECT regexp_replace(ic.relname, '^positions_[0-9]{8}_?', ''), sum(pg_relation_size(ic.oid))
        FROM pg_inherits i JOIN pg_index x ON x.indrelid = i.inhrelid JOIN pg_class ic ON ic.oid = x.indexrelid
        WHERE i.inhparent = 'positions'::regclass GROUP BY 1 ORDER BY 2 DESC
        """
    ).fetchall()
    per_m = 1e6 / fixes if fixes else 0.0
    return {
        "partitions": parts,
        "fixes": fixes,
        "heap_gb": round(heap / 1e9, 2),
        "indexes_gb": round(indexes / 1e9, 2),
        "total_gb": round(total / 1e9, 2),
        "mb_per_million_fixes": {
            "heap": round(heap * per_m / 1e6, 1),
            "indexes": round(indexes * per_m / 1e6, 1),
            "total": round(total * per_m / 1e6, 1),
            **{f"index {name}": round(int(size) * per_m / 1e6, 1) for name, size in by_index},
        },
        "other_tables_mb": {
            t: round(int(conn.execute("SELECT pg_total_relation_size(%s)", (t,)).fetchone()[0]) / 1e6, 1)  # type: ignore[index]
            for t in ("journeys", "journey_status_log", "events")
        },
    }


def coarse(conn: psycopg.Connection) -> dict[str, Any]:
    """One old day stored as one LineStringM per vehicle (M = epoch seconds): its size against
    the day's partition, and against keeping one fix in five."""
    day = conn.execute(
        "SELECT min(c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'positions'::regclass"
    ).fetchone()[0]  # type: ignore[index]
    conn.execute("DROP TABLE IF EXISTS bench_coarse_day")
    conn.execute(
        f"""
        CREATE TABLE bench_coarse_day AS
        SELECT vehicle_id, min(fix_time) AS first, max(fix_time) AS last, count(*) AS fixes,
               ST_MakeLine(ST_MakePointM(ST_X(geom), ST_Y(geom), extract(epoch FROM fix_time)) ORDER BY fix_time) AS track,
               array_agg(speed_kmh::smallint ORDER BY fix_time) AS speeds
        FROM {day} GROUP BY vehicle_id
        """
    )
    conn.execute("VACUUM ANALYZE bench_coarse_day")
    line = int(conn.execute("SELECT pg_total_relation_size('bench_coarse_day')").fetchone()[0])  # type: ignore[index]
    full = int(conn.execute("SELECT pg_total_relation_size(%s)", (day,)).fetchone()[0])  # type: ignore[index]
    conn.execute("DROP TABLE bench_coarse_day")
    return {
        "day": day,
        "partition_mb": round(full / 1e6, 2),
        "one_linestringm_per_vehicle_mb": round(line / 1e6, 2),
        "ratio": round(full / line, 1) if line else None,
    }


async def timed(calls: list[Callable[[], Awaitable[Any]]]) -> dict[str, float | None]:
    took = []
    for call in calls:
        started = time.perf_counter()
        await call()
        took.append((time.perf_counter() - started) * 1000)
    took.sort()
    return {
        "n": len(took),
        "p50_ms": round(statistics.median(took), 1),
        "p99_ms": round(percentile(took, 99) or 0.0, 1),
        "max_ms": round(took[-1], 1),
    }


async def queries(url: str, repeat: int, rng: random.Random) -> dict[str, Any]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        journeys = [
            r[0]
            for r in await (
                await conn.execute("SELECT id FROM journeys WHERE status = 'completed'")
            ).fetchall()
        ]
        vehicles = [r[0] for r in await (await conn.execute("SELECT id FROM vehicles")).fetchall()]
        hospitals = [
            r[0]
            for r in await (await conn.execute("SELECT id FROM hospitals WHERE has_emergency")).fetchall()
        ]
        picks = [rng.choice(journeys) for _ in range(repeat)]
        windows = []
        for j in picks:
            row = await (
                await conn.execute(
                    "SELECT vehicle_id, dispatched_at, completed_at FROM journeys WHERE id = %s", (j,)
                )
            ).fetchone()
            assert row is not None
            windows.append(row)
        out: dict[str, Any] = {"journeys": len(journeys)}
        out["journey_track"] = await timed(
            [lambda w=w: vehicle_track(conn, w[0], w[1], w[2], 20_000) for w in windows]
        )
        out["day_track"] = await timed(
            [
                lambda w=w: vehicle_track(
                    conn,
                    w[0],
                    w[1].replace(hour=0, minute=0, second=0),
                    w[1].replace(hour=0, minute=0, second=0) + timedelta(days=1),
                    20_000,
                )
                for w in windows
            ]
        )
        out["journey_replay"] = await timed([lambda j=j: journey_replay(conn, j) for j in picks])
        out["journey_report"] = await timed([lambda j=j: journey_report(conn, j) for j in picks])
        out["vehicle_events"] = await timed(
            [lambda: list_events(conn, vehicle_id=rng.choice(vehicles), limit=200) for _ in range(repeat)]
        )
        out["journey_events"] = await timed([lambda j=j: list_events(conn, journey_id=j) for j in picks])
        out["hospital_inbound"] = await timed(
            [lambda: hospital_inbound(conn, rng.choice(hospitals)) for _ in range(repeat)]
        )
        out["fleet_snapshot"] = await timed([lambda: vehicles_with_latest(conn) for _ in range(repeat)])
    return out


def ingest(url: str, fixes: int = 40_000) -> dict[str, Any]:
    devices = baseline.vehicle_devices(url)
    rate = baseline.batched_store(url, baseline.make_fixes(devices, fixes, seed=int(time.time())), 200)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE tracking_inbox")
    return {"fixes": fixes, "batch": 200, "fixes_per_s": round(rate.fixes_per_s)}


async def retention_under_ingest(url: str, seconds: float = 30.0) -> dict[str, Any]:
    """Store 200-fix batches for `seconds` (paced at ~1,000 fixes/s); a third of the way in,
    expire the oldest day and run the maintenance that drops it."""
    devices = baseline.vehicle_devices(url)
    with psycopg.connect(url, autocommit=True) as conn:
        oldest = conn.execute(
            "SELECT min(c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'positions'::regclass"
        ).fetchone()[0]  # type: ignore[index]
        age = (datetime.now(UTC).date() - datetime.strptime(oldest[10:], "%Y%m%d").date()).days
    commits: list[tuple[float, float]] = []
    drop: dict[str, Any] = {}

    async def writer() -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await prepare_connection(conn)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                batch = baseline.make_fixes(devices, 200, seed=int(time.monotonic() * 1000))
                started = time.monotonic()
                await store_fixes(conn, batch)
                commits.append((started, (time.monotonic() - started) * 1000))
                await asyncio.sleep(max(0.0, 0.2 - (time.monotonic() - started)))

    async def dropper() -> None:
        await asyncio.sleep(seconds / 3)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute(
                "UPDATE amb_settings SET value = %s WHERE key = 'positions_retention_days'", (str(age - 1),)
            )
            drop["started"] = time.monotonic()
            report = await maintain_partitions(conn)
            drop["ended"] = time.monotonic()
            drop["dropped"] = report.dropped
            await conn.execute("UPDATE amb_settings SET value = '400' WHERE key = 'positions_retention_days'")

    await asyncio.gather(writer(), dropper())
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE tracking_inbox")

    def summary(values: list[float]) -> dict[str, float | None]:
        values = sorted(values)
        return {"n": len(values), "p50_ms": percentile(values, 50), "max_ms": values[-1] if values else None}

    s, e = drop["started"], drop["ended"]
    return {
        "dropped": drop["dropped"],
        "drop_s": round(e - s, 2),
        "commit_before": summary([ms for t, ms in commits if t < s]),
        "commit_during": summary([ms for t, ms in commits if s <= t <= e]),
        "commit_after": summary([ms for t, ms in commits if t > e]),
    }


def open_work(conn: psycopg.Connection, open_journeys: int = 20) -> None:
    """Today's side of the history: each vehicle's latest position (its last stored fix) and a
    few journeys open toward hospitals (what the inbound lookup and the snapshot read)."""
    conn.execute(
        """
        INSERT INTO vehicle_latest (vehicle_id, device_id, fix_time, received_at, geom, speed_kmh, course, valid)
        SELECT DISTINCT ON (vehicle_id) vehicle_id, device_id, fix_time, received_at, geom, speed_kmh, course, valid
        FROM positions WHERE fix_time > now() - interval '3 days' ORDER BY vehicle_id, fix_time DESC
        ON CONFLICT (vehicle_id) DO NOTHING
        """
    )
    if conn.execute("SELECT 1 FROM journeys WHERE status = 'transporting' LIMIT 1").fetchone():
        return
    conn.execute(
        """
        INSERT INTO journeys (vehicle_id, status, incident_geom, destination_hospital_id, created_by,
                              dispatched_at, en_route_at, on_scene_at, transporting_at)
        SELECT v.id, 'transporting', ST_SetSRID(ST_MakePoint(108.22, 16.06), 4326),
               (SELECT id FROM hospitals WHERE has_emergency ORDER BY id OFFSET v.id %% 5 LIMIT 1), 'history',
               now() - interval '20 min', now() - interval '19 min', now() - interval '10 min', now() - interval '5 min'
        FROM vehicles v ORDER BY v.id LIMIT %s
        """,
        (open_journeys,),
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=URL)
    p.add_argument("--repeat", type=int, default=100)
    p.add_argument("--retention", action="store_true", help="also drop the oldest day under ingest")
    p.add_argument("--no-coarse", action="store_true")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    machine = MachineCpu.now()
    result: dict[str, Any] = {"load_before": load_average()}
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        open_work(conn)
        result["size"] = sizes(conn)
        if not args.no_coarse:
            result["coarse"] = coarse(conn)
    result["queries"] = asyncio.run(queries(args.database_url, args.repeat, random.Random(5)))
    result["ingest"] = ingest(args.database_url)
    if args.retention:
        result["retention"] = asyncio.run(retention_under_ingest(args.database_url))
    result["machine_busy_pct"] = round(100 * MachineCpu.now().busy_share_since(machine), 1)
    print(json.dumps(result, indent=2, default=str))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
