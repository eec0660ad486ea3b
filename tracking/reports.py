"""Journey report, GeoJSON export and replay: the breadcrumb trail with what happened on it."""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from fixes.geodesy import haversine_m
from fixes.model import iso_utc
from tracking.incidents import incident_units
from tracking.journeys import TIMESTAMPS, get_journey, status_log
from tracking.reassign import journey_legs

MIN_STOP_S = 60.0
STOPPED_KMH = 5.0
MAX_POINTS = 50_000


@dataclass(frozen=True, slots=True)
class TrailPoint:
    time: datetime
    lat: float
    lon: float
    speed_kmh: float
    heading: float | None


async def trail(conn: AsyncConnection, vehicle_id: int, start: datetime, end: datetime) -> list[TrailPoint]:
    cur = await conn.execute(
        "SELECT fix_time, ST_Y(geom), ST_X(geom), coalesce(speed_kmh, 0), course FROM positions"
        " WHERE vehicle_id = %s AND fix_time >= %s AND fix_time <= %s AND valid ORDER BY fix_time LIMIT %s",
        (vehicle_id, start, end, MAX_POINTS),
    )
    return [TrailPoint(*row) for row in await cur.fetchall()]


def _seconds(a: str | None, b: str | None) -> float | None:
    if a is None or b is None:
        return None
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def stops(points: list[TrailPoint], min_s: float = MIN_STOP_S) -> list[dict[str, Any]]:
    """Runs of fixes slower than 5 km/h lasting at least `min_s`."""
    found, run = [], []
    for p in [*points, None]:
        if p is not None and p.speed_kmh < STOPPED_KMH:
            run.append(p)
            continue
        if run and (run[-1].time - run[0].time).total_seconds() >= min_s:
            found.append(
                {
                    "start": iso_utc(run[0].time),
                    "end": iso_utc(run[-1].time),
                    "duration_s": round((run[-1].time - run[0].time).total_seconds()),
                    "lat": run[0].lat,
                    "lon": run[0].lon,
                }
            )
        run = []
    return found


async def journey_trail(conn: AsyncConnection, j: dict[str, Any]) -> list[TrailPoint]:
    """The fixes of a journey's vehicle from its dispatch to its close (or now, while open)."""
    start = datetime.fromisoformat(j["dispatched_at"])
    closed = j["completed_at"] or j["cancelled_at"]
    end = datetime.fromisoformat(closed) if closed else datetime.now(UTC)
    return await trail(conn, j["vehicle_id"], start, end)


async def journey_report(conn: AsyncConnection, journey_id: int) -> dict[str, Any]:
    return (await _report_and_trail(conn, journey_id))[0]


async def _report_and_trail(
    conn: AsyncConnection, journey_id: int
) -> tuple[dict[str, Any], list[TrailPoint]]:
    j = await get_journey(conn, journey_id)
    points = await journey_trail(conn, j)
    distance = sum(haversine_m(a.lat, a.lon, b.lat, b.lon) for a, b in itertools.pairwise(points))
    moving = [p.speed_kmh for p in points if p.speed_kmh >= STOPPED_KMH]
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT at, kind, details FROM events WHERE journey_id = %s AND kind IN ('overspeed', 'overspeed_end') ORDER BY at",
            (journey_id,),
        )
        overspeed = [
            {"at": iso_utc(r["at"]), "kind": r["kind"], **r["details"]} for r in await cur.fetchall()
        ]
    t = j
    report = {
        "journey": j,
        "timestamps": {k: j[k] for k in TIMESTAMPS},
        "intervals_s": {
            "response": _seconds(t["dispatched_at"], t["on_scene_at"]),
            "turnout": _seconds(t["dispatched_at"], t["en_route_at"]),
            "on_scene": _seconds(t["on_scene_at"], t["transporting_at"] or t["returning_at"]),
            "transport": _seconds(t["transporting_at"], t["at_hospital_at"]),
            "at_hospital": _seconds(t["at_hospital_at"], t["returning_at"]),
            "total": _seconds(t["dispatched_at"], t["completed_at"] or t["cancelled_at"]),
        },
        "distance_m": round(distance),
        "max_speed_kmh": round(max((p.speed_kmh for p in points), default=0.0), 1),
        "avg_moving_speed_kmh": round(sum(moving) / len(moving), 1) if moving else None,
        "fix_count": len(points),
        "stops": stops(points),
        "overspeed": overspeed,
        "status_log": await status_log(conn, journey_id),
        # Vehicles replaced on the way (breakdown, accident, diverted), each with its own times;
        # the journey's own times above are the current vehicle's.
        "legs": await journey_legs(conn, journey_id),
        # Every unit sent to the same incident (several for a mass-casualty call), this one included.
        "incident_units": await incident_units(conn, journey_id),
    }
    return report, points


async def journey_geojson(conn: AsyncConnection, journey_id: int) -> dict[str, Any]:
    """RFC 7946: the path (with per-vertex times), the incident, the stops and each status change."""
    report, points = await _report_and_trail(conn, journey_id)
    j = report["journey"]
    features: list[dict[str, Any]] = [
        _point(j["incident_lon"], j["incident_lat"], {"kind": "incident", "address": j["incident_address"]})
    ]
    if len(points) >= 2:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [[p.lon, p.lat] for p in points]},
                "properties": {
                    "kind": "path",
                    "times": [iso_utc(p.time) for p in points],
                    "speeds_kmh": [p.speed_kmh for p in points],
                },
            }
        )
    times = [p.time for p in points]
    for change in report["status_log"]:
        at = datetime.fromisoformat(change["at"])
        if points:
            p = points[min(bisect.bisect_left(times, at), len(points) - 1)]
            features.append(_point(p.lon, p.lat, {"kind": "status", **change}))
    features += [_point(s["lon"], s["lat"], {"kind": "stop", **s}) for s in report["stops"]]
    summary = {
        k: report[k]
        for k in ("timestamps", "intervals_s", "distance_m", "max_speed_kmh", "avg_moving_speed_kmh")
    }
    return {
        "type": "FeatureCollection",
        "features": features,
        "properties": {"journey_id": journey_id, **summary},
    }


def _point(lon: float, lat: float, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": properties,
    }


async def journey_replay(conn: AsyncConnection, journey_id: int) -> dict[str, Any]:
    """Every fix of the journey with the status in force at its time."""
    j = await get_journey(conn, journey_id)
    log = await status_log(conn, journey_id)
    changes = [(datetime.fromisoformat(c["at"]), c["to_status"]) for c in log]
    change_times = [c[0] for c in changes]
    frames = []
    for p in await journey_trail(conn, j):
        i = bisect.bisect_right(change_times, p.time) - 1
        frames.append(
            {
                "time": iso_utc(p.time),
                "lat": p.lat,
                "lon": p.lon,
                "speed_kmh": p.speed_kmh,
                "heading": p.heading,
                "status": changes[i][1] if i >= 0 else "dispatched",
            }
        )
    return {"journey": j, "status_log": log, "frames": frames}
