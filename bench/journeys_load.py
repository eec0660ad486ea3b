"""Journeys for the pipeline benchmark, so that amb-tracker keeps ETAs current while fixes and
alarms flow (issue 11, item 6: an SOS must not wait for routing), and the alarm figures.

The emulated ambulances drive freely (bench/motion.py), not along their routes: every fix of a
vehicle on a journey is soon off its route, so each ETA round routes as many as its budget allows
(`EtaPolicy.max_routes`, pgRouting) — the heaviest ETA load there is."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import psycopg

from bench.figures import latency_summary_ms
from bench.publisher import PublisherResult
from roads.importer import import_roads
from runtime.config import DEFAULT_DATA_DIR

NETWORK = [DEFAULT_DATA_DIR / "roads-central.geojson", DEFAULT_DATA_DIR / "haichau-central.osm.pbf"]


def ensure_road_graph(url: str) -> None:
    """The routing graph `make run` builds (once per benchmark database: kept between runs)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM road_edges").fetchone()
        if row and row[0]:
            return
        print("   importing the road graph for ETAs (once) ...", flush=True)
        import_roads(conn, NETWORK, replace=True)


def dispatch_journeys(url: str, vehicles: int, seed: int = 7) -> int:
    """Put the first `vehicles` ambulances of the fleet on a journey (en route to a scene on the
    road network, an emergency department as destination); returns how many."""
    rng = random.Random(seed)
    with psycopg.connect(url) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM vehicles ORDER BY id LIMIT %s", (vehicles,))]
        hospitals = [r[0] for r in conn.execute("SELECT id FROM hospitals WHERE has_emergency ORDER BY id")]
        scenes = conn.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_LineInterpolatePoint(geom, random()) AS p"
            " FROM road_edges WHERE main_component ORDER BY random() LIMIT %s) q",
            (len(ids),),
        ).fetchall()
        for vehicle_id, (lon, lat) in zip(ids, scenes, strict=False):
            conn.execute(
                "INSERT INTO journeys (vehicle_id, status, incident_geom, destination_hospital_id, created_by)"
                " VALUES (%s, 'en_route', ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s, 'bench')",
                (vehicle_id, lon, lat, rng.choice(hospitals)),
            )
        return min(len(ids), len(scenes))


def alarm_figures(
    url: str, published: Sequence[PublisherResult], alarms_seen: dict[tuple[int, str], float], etas: int
) -> dict[str, Any]:
    """SOS publish -> websocket: each SOS the broker acknowledged, matched with the `sos` event the
    websocket client received for that vehicle at that fix time."""
    with psycopg.connect(url) as conn:
        vehicle_of = dict(conn.execute("SELECT id, vehicle_id FROM devices").fetchall())
    latencies, missing = [], 0
    for p in published:
        for device_id, fix_time, sent_at in p.alarms:
            arrived = alarms_seen.get((vehicle_of.get(device_id, -1), fix_time))
            if arrived is None:
                missing += 1
            else:
                latencies.append(arrived - sent_at)
    return {
        "sos_published": len(latencies) + missing,
        "sos_missing_on_websocket": missing,
        "sos_latency_ms": latency_summary_ms(latencies),
        "eta_updates_received": etas,
    }
