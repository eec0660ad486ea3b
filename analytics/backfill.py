"""`amb-admin backfill-demo`: a realistic stretch of past journeys, marked `demo`, so the
analytics page is full on a fresh install.

Road times come from pgRouting over the imported network (from each station, to each station and
emergency hospital: one search each); the model in `demo_model` turns calls into journeys. The
journeys and their status logs are written with COPY, in one transaction per day, with progress on
the terminal; earlier demo journeys (and demo out-of-service spells) are replaced, real ones are
never touched. Fixes are not generated: replaying a demo journey shows no track.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import psycopg

from analytics import demo_model
from analytics.intervals import refresh_intervals_sync
from runtime.db import query
from runtime.progress import Progress

DEMO_NOTE = "DEMO — dữ liệu mẫu / demo data (amb-admin backfill-demo)"
DEMO_ACTOR = "demo back-fill"
RULES = {
    "en_route": "started moving",
    "on_scene": "stopped at the scene",
    "transporting": "left the scene",
    "at_hospital": "stopped at the destination hospital",
    "returning": "left the hospital",
    "completed": "back at a station",
}


class BackfillError(RuntimeError):
    """The database lacks what the back-fill needs (roads, stations, vehicles)."""


def load_network(conn: psycopg.Connection) -> demo_model.Network:
    from_station: dict[int, dict[int, float]] = {}
    to_station: dict[int, dict[int, float]] = {}
    to_hospital: dict[int, dict[int, float]] = {}
    for kind, place, direction, node, cost in conn.execute(query("analytics/backfill_costs")).fetchall():
        target = from_station if direction == "from" else to_station if kind == "station" else to_hospital
        target.setdefault(place, {})[node] = cost
    hospital_nodes = {h: next(n for n, c in times.items() if c == 0) for h, times in to_hospital.items()}
    reachable = {n for times in from_station.values() for n in times}
    junctions = [
        (node, lat, lon)
        for node, lat, lon in conn.execute(query("analytics/backfill_candidates")).fetchall()
        if node in reachable and any(node in t for t in to_hospital.values())
    ]
    if not junctions or not from_station:
        raise BackfillError("no routable roads or stations: run load-danang and import-roads first")
    return demo_model.Network(from_station, to_station, to_hospital, junctions, hospital_nodes)


def backfill_demo(
    conninfo: str, days: float, per_day: float = 60.0, seed: int = 115, end: datetime | None = None
) -> str:
    """Replace the demo journeys with `days` of them ending at `end` (default: 2 hours ago)."""
    rng = random.Random(seed)
    end = end or datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    start = end - timedelta(days=days)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        network = load_network(conn)
        vehicles = [r[0] for r in conn.execute("SELECT id FROM vehicles ORDER BY id").fetchall()]
        if not vehicles:
            raise BackfillError("no vehicles: register some first (amb-admin seed-fleet)")
        stations = sorted(network.from_station)
        units = [
            demo_model.Unit(
                v, stations[k % len(stations)], start, demo_model.out_of_service_spells(rng, start, end)
            )
            for k, v in enumerate(vehicles)
        ]
        calls = demo_model.call_times(rng, start, end, per_day)
        journeys = demo_model.simulate(rng, network, units, calls)
        removed = _remove_demo(conn)
        _write(conn, journeys, units, start)
    written = refresh_intervals_sync(conninfo)
    return (
        f"back-filled {len(journeys)} demo journeys over {days:g} days ({start:%Y-%m-%d} .. {end:%Y-%m-%d} UTC)"
        f" for {len(vehicles)} units; {removed} earlier demo journeys replaced; {written} analytics rows refreshed"
    )


def _remove_demo(conn: psycopg.Connection) -> int:
    with conn.transaction():
        cur = conn.execute("DELETE FROM journeys WHERE demo")
        conn.execute("DELETE FROM unit_status_log WHERE demo")
    return cur.rowcount


def _write(
    conn: psycopg.Connection,
    journeys: list[demo_model.DemoJourney],
    units: list[demo_model.Unit],
    start: datetime,
) -> None:
    by_day: dict[int, list[demo_model.DemoJourney]] = {}
    for j in journeys:
        by_day.setdefault(int((j.call_at - start).total_seconds() // 86400), []).append(j)
    progress = Progress("back-fill", len(by_day), "days")
    for day in sorted(by_day):
        batch = by_day[day]
        with conn.transaction():
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT nextval(pg_get_serial_sequence('journeys', 'id')) FROM generate_series(1, %s)",
                    (len(batch),),
                ).fetchall()
            ]
            _copy_journeys(conn, ids, batch)
        progress.advance(1, f"{len(batch)} journeys on {batch[0].call_at:%Y-%m-%d}")
    with (
        conn.transaction(),
        conn.cursor() as cur,
        cur.copy("COPY unit_status_log (vehicle_id, status, at, demo) FROM STDIN") as copy,
    ):
        for unit in units:
            for begin, finish in unit.out_of_service:
                copy.write_row((unit.vehicle_id, "out_of_service", begin, True))
                copy.write_row((unit.vehicle_id, "available", finish, True))
    progress.done(f"{len(journeys)} journeys")


def _copy_journeys(conn: psycopg.Connection, ids: list[int], batch: list[demo_model.DemoJourney]) -> None:
    stamp_columns = [
        f"{s}_at"
        for s in (
            "dispatched",
            "en_route",
            "on_scene",
            "transporting",
            "at_hospital",
            "returning",
            "completed",
            "cancelled",
        )
    ]
    columns = ["id", "vehicle_id", "status", "priority", "incident_geom", "incident_address", "destination_hospital_id",
               "note", "created_by", "call_received_at", "demo", "updated_at", *stamp_columns]  # fmt: skip
    with conn.cursor() as cur:
        with cur.copy(f"COPY journeys ({', '.join(columns)}) FROM STDIN") as copy:
            for journey_id, j in zip(ids, batch, strict=True):
                stamps = dict(j.stamps)
                copy.write_row(
                    (
                        journey_id, j.vehicle_id, j.stamps[-1][0], j.priority,
                        f"SRID=4326;POINT({j.lon:.6f} {j.lat:.6f})", "Địa chỉ mẫu / demo address",
                        j.hospital_id, DEMO_NOTE, DEMO_ACTOR, j.call_at, True, j.stamps[-1][1],
                        *(stamps.get(c.removesuffix("_at")) for c in stamp_columns),
                    )
                )  # fmt: skip
        with cur.copy(
            "COPY journey_status_log (journey_id, from_status, to_status, at, source, rule) FROM STDIN"
        ) as copy:
            for journey_id, j in zip(ids, batch, strict=True):
                previous = None
                for status, at in j.stamps:
                    manual = status in ("dispatched", "cancelled")
                    source = "dispatcher" if manual else "rule"
                    copy.write_row(
                        (journey_id, previous, status, at, source, DEMO_ACTOR if manual else RULES[status])
                    )
                    previous = status
