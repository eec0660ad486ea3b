# ruff: noqa: E402  (the repository goes on sys.path before the project imports)
"""A year of history for the scale benchmark (issue 14, item 2), written with COPY.

    .venv/bin/python bench/history.py --days 365 --vehicles 300       # the generator (resumable)
    .venv/bin/python bench/history_queries.py                          # the measurements

On its own database (AMB_BENCH_HISTORY_DATABASE_URL, default ambulance_scale_year). Each vehicle,
each day, drives one journey (`--journey-s` seconds at 1 Hz: dispatched, en route, on scene,
transporting, at hospital, completed; the emulator's smooth drive in central Da Nang) and sends
a fix every `--parked-every-s` seconds the rest of the day. Each day is COPYed into its own
table without indexes, indexed afterwards (sorted builds, as fast as PostgreSQL builds them),
then attached as the partition of `positions` — the table ends as the live one is: same
indexes, same constraints. Journeys, their status log and their events follow in SQL.

The size chosen for this machine and the real one: see docs/benchmarks.md ("A year of history").
"""

from __future__ import annotations

import argparse
import io
import os
import random
import struct
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == REPO / "bench":
    sys.path[0] = str(REPO)

import psycopg
from psycopg import sql

from bench.database import device_ids, ensure_database, prepare_database, register_fleet
from bench.motion import Motion

URL = os.environ.get(
    "AMB_BENCH_HISTORY_DATABASE_URL", "postgresql://amb:amb@127.0.0.1:5488/ambulance_scale_year"
)
COLUMNS = (
    "device_id, vehicle_id, fix_time, received_at, stored_at, geom, speed_kmh, course, valid, late, protocol"
)
# Share of the journey's seconds at which each status begins (dispatched at 0).
PHASES = (("en_route_at", 0.02), ("on_scene_at", 0.35), ("transporting_at", 0.55), ("at_hospital_at", 0.9))


def ewkb_hex(lon: float, lat: float) -> str:
    """A point as PostGIS's hex EWKB with SRID 4326 (what COPY reads fastest for geometry)."""
    return struct.pack("<BIidd", 1, 0x20000001, 4326, lon, lat).hex()


def day_rows(
    day: date, vehicles: list[tuple[int, str]], args: argparse.Namespace, rng: random.Random
) -> tuple[io.StringIO, list[tuple[int, datetime]]]:
    """One day's fixes as COPY text, and when each vehicle's journey started."""
    out = io.StringIO()
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    stamp = day.isoformat()
    starts = []
    for vehicle_id, device_id in vehicles:
        motion = Motion.somewhere(rng)
        start_s = rng.randrange(6 * 3600, 20 * 3600)  # a journey between 06:00 and 20:00 UTC
        starts.append((vehicle_id, midnight + timedelta(seconds=start_s)))
        prefix = f"{device_id}\t{vehicle_id}\t{stamp} "
        moving = range(start_s, start_s + args.journey_s)
        parked = [
            s
            for s in range(rng.randrange(args.parked_every_s), 86400, args.parked_every_s)
            if s not in moving
        ]
        for s in sorted([*parked, *moving]):
            if s in moving:
                motion.advance(rng, 1.0)
                speed, course = motion.speed_kmh, int(motion.heading) % 360
            else:
                speed, course = 0.0, 0.0
            t = f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00"
            out.write(
                f"{prefix}{t}\t{stamp} {t}\t{stamp} {t}\t{ewkb_hex(motion.lon, motion.lat)}\t"
                f"{speed:.1f}\t{course:.0f}\tt\tf\tmqtt_json\n"
            )
    out.seek(0)
    return out, starts


def load_day(
    conn: psycopg.Connection, day: date, vehicles: list[tuple[int, str]], args: argparse.Namespace
) -> int:
    name = f"positions_{day:%Y%m%d}"
    rng = random.Random(day.toordinal())
    data, starts = day_rows(day, vehicles, args, rng)
    table = sql.Identifier(name)
    with conn.transaction():
        conn.execute(
            sql.SQL("CREATE TABLE {} (LIKE positions INCLUDING DEFAULTS INCLUDING CONSTRAINTS)").format(table)
        )
        with (
            conn.cursor() as cur,
            cur.copy(sql.SQL("COPY {} (" + COLUMNS + ") FROM STDIN").format(table)) as copy,
        ):
            while chunk := data.read(1 << 20):
                copy.write(chunk)
        conn.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (device_id, fix_time)").format(table))
        conn.execute(sql.SQL("CREATE INDEX ON {} (vehicle_id, fix_time)").format(table))
        conn.execute(sql.SQL("CREATE INDEX ON {} USING gist (geom)").format(table))
        conn.execute(sql.SQL("CREATE INDEX ON {} USING brin (fix_time)").format(table))
        lo, hi = datetime(day.year, day.month, day.day, tzinfo=UTC), None
        hi = lo + timedelta(days=1)
        conn.execute(
            sql.SQL("ALTER TABLE positions ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
                table, sql.Literal(lo), sql.Literal(hi)
            )
        )
        add_journeys(conn, starts, args.journey_s, rng)
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
    return int(row[0]) if row else 0


def add_journeys(
    conn: psycopg.Connection, starts: list[tuple[int, datetime]], journey_s: int, rng: random.Random
) -> None:
    """The day's journeys (completed), their status log and a status_change event per transition."""
    hospitals = [r[0] for r in conn.execute("SELECT id FROM hospitals WHERE has_emergency")]
    rows = []
    for vehicle_id, start in starts:
        times = {"dispatched_at": start}
        times |= {k: start + timedelta(seconds=journey_s * share) for k, share in PHASES}
        times["completed_at"] = start + timedelta(seconds=journey_s)
        rows.append((vehicle_id, rng.choice(hospitals), *times.values()))
    conn.cursor().executemany(
        "INSERT INTO journeys (vehicle_id, status, incident_geom, destination_hospital_id, created_by,"
        " dispatched_at, en_route_at, on_scene_at, transporting_at, at_hospital_at, completed_at, updated_at)"
        " VALUES (%s, 'completed', ST_SetSRID(ST_MakePoint(108.22, 16.06), 4326), %s, 'history',"
        " %s, %s, %s, %s, %s, %s, now())",
        rows,
    )
    conn.execute(
        """
        WITH j AS (SELECT * FROM journeys WHERE dispatched_at >= %(lo)s AND dispatched_at < %(hi)s),
        steps AS (
            SELECT j.id, j.vehicle_id, j.destination_hospital_id, s.from_status, s.to_status, s.at
            FROM j CROSS JOIN LATERAL (VALUES
                (NULL, 'dispatched', j.dispatched_at), ('dispatched', 'en_route', j.en_route_at),
                ('en_route', 'on_scene', j.on_scene_at), ('on_scene', 'transporting', j.transporting_at),
                ('transporting', 'at_hospital', j.at_hospital_at), ('at_hospital', 'completed', j.completed_at)
            ) AS s(from_status, to_status, at)
        ),
        logged AS (
            INSERT INTO journey_status_log (journey_id, from_status, to_status, at, source, rule)
            SELECT id, from_status, to_status, at, 'rule', 'history' FROM steps
        )
        INSERT INTO events (at, kind, severity, vehicle_id, journey_id, hospital_id, details)
        SELECT at, 'status_change', 'info', vehicle_id, id, destination_hospital_id,
               jsonb_build_object('from', from_status, 'to', to_status, 'by', 'history')
        FROM steps
        """,
        {"lo": min(s for _, s in starts), "hi": max(s for _, s in starts) + timedelta(seconds=1)},
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--days", type=int, default=365, help="days ending yesterday")
    p.add_argument("--vehicles", type=int, default=300)
    p.add_argument("--journey-s", type=int, default=300, help="seconds of driving at 1 Hz per vehicle-day")
    p.add_argument("--parked-every-s", type=int, default=900, help="a fix this often otherwise")
    p.add_argument("--database-url", default=URL)
    args = p.parse_args()
    ensure_database(args.database_url)
    prepare_database(args.database_url)
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute("UPDATE amb_settings SET value = '400' WHERE key = 'positions_retention_days'")
        if not conn.execute("SELECT 1 FROM vehicles LIMIT 1").fetchone():
            register_fleet(args.database_url, device_ids(args.vehicles))
        vehicles = [
            (int(v), str(d))
            for v, d in conn.execute("SELECT vehicle_id, id FROM devices ORDER BY vehicle_id")
        ]
        today = datetime.now(UTC).date()
        total, started = 0, time.monotonic()
        for n in range(args.days, 0, -1):
            day = today - timedelta(days=n)
            name = f"positions_{day:%Y%m%d}"
            exists = conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()
            if exists and exists[0]:
                if conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(sql.Identifier(name))).fetchone():
                    continue  # resumable: a day is loaded in one transaction
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))  # made empty ahead
            t0 = time.monotonic()
            rows = load_day(conn, day, vehicles, args)
            total += rows
            print(
                f"{day}: {rows:,} fixes in {time.monotonic() - t0:.1f} s; {total:,} so far,"
                f" {total / (time.monotonic() - started):,.0f} fixes/s",
                flush=True,
            )
        conn.execute("SELECT * FROM amb_maintain_position_partitions()")
        conn.execute("ANALYZE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
