"""Read side of the fleet: vehicles with their latest position, tracks, map layers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from fixes.model import iso_utc
from runtime.db import query


class VehicleNotFoundError(LookupError):
    """No vehicle has this id."""


@dataclass(frozen=True, slots=True)
class TrackPoint:
    fix_time: datetime
    lon: float
    lat: float
    speed_kmh: float | None
    course: float | None
    late: bool
    device_id: str


async def vehicles_with_latest(conn: AsyncConnection, vehicle_id: int | None = None) -> list[dict[str, Any]]:
    """The fleet (or one vehicle) in its public JSON form: each with `position` (or None) and `age_s`."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query("tracking/vehicles_with_latest"), {"vehicle": vehicle_id})
        rows = await cur.fetchall()
    return [_vehicle_json(r) for r in rows]


def _vehicle_json(r: dict[str, Any]) -> dict[str, Any]:
    position = None
    if r["fix_time"] is not None:
        position = {
            "time": iso_utc(r["fix_time"]),
            "received_at": iso_utc(r["received_at"]),
            "lat": r["lat"],
            "lon": r["lon"],
            "speed_kmh": r["speed_kmh"],
            "heading": r["course"],
            "accuracy_m": r["accuracy_m"],
            "satellites": r["satellites"],
        }
    return {
        "id": r["id"],
        "plate": r["plate"],
        "call_sign": r["call_sign"],
        "kind": r["kind"],
        "device_id": r["device_id"],
        "position": position,
        "age_s": None if r["age_s"] is None else round(r["age_s"], 1),
        # Connected without a GPS fix (`gps_fix` false, since `no_fix_since`) is not offline:
        # `heard_age_s` is the age of the tracker's last message of any kind.
        "heard_age_s": None if r["heard_age_s"] is None else round(r["heard_age_s"], 1),
        "gps_fix": r["no_fix_since"] is None,
        "no_fix_since": None if r["no_fix_since"] is None else iso_utc(r["no_fix_since"]),
        # What a dispatcher colours by: the open journey's status, else the unit's own.
        "status": r["journey_status"] or r["unit_status"],
        "journey_id": r["journey_id"],
    }


async def vehicle_position(conn: AsyncConnection, vehicle_id: int) -> dict[str, Any] | None:
    """A vehicle's latest position (public form), None when it has none; VehicleNotFoundError if unknown."""
    found = await vehicles_with_latest(conn, vehicle_id)
    if not found:
        raise VehicleNotFoundError(f"no vehicle with id {vehicle_id}")
    position: dict[str, Any] | None = found[0]["position"]
    return position


async def vehicle_track(
    conn: AsyncConnection, vehicle_id: int, start: datetime, end: datetime, limit: int
) -> list[TrackPoint]:
    """A vehicle's stored fixes in [start, end); raises VehicleNotFoundError for an unknown id."""
    cur = await conn.execute("SELECT 1 FROM vehicles WHERE id = %s", (vehicle_id,))
    if await cur.fetchone() is None:
        raise VehicleNotFoundError(f"no vehicle with id {vehicle_id}")
    cur = await conn.execute(
        query("tracking/vehicle_track"), {"vehicle_id": vehicle_id, "from": start, "to": end, "limit": limit}
    )
    return [TrackPoint(*row) for row in await cur.fetchall()]


def track_geojson(
    vehicle_id: int, points: list[TrackPoint], start: datetime, end: datetime
) -> dict[str, Any]:
    """RFC 7946 FeatureCollection: the path as a LineString (with per-vertex times), then each fix as a Point."""
    features: list[dict[str, Any]] = []
    if len(points) >= 2:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [[p.lon, p.lat] for p in points]},
                "properties": {
                    "kind": "path",
                    "vehicle_id": vehicle_id,
                    "times": [iso_utc(p.fix_time) for p in points],
                },
            }
        )
    features.extend(
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]},
            "properties": {
                "kind": "fix",
                "time": iso_utc(p.fix_time),
                "speed_kmh": p.speed_kmh,
                "heading": p.course,
                "late": p.late,
                "device_id": p.device_id,
            },
        }
        for p in points
    )
    return {
        "type": "FeatureCollection",
        "features": features,
        "properties": {
            "vehicle_id": vehicle_id,
            "from": iso_utc(start),
            "to": iso_utc(end),
            "count": len(points),
        },
    }


async def roads_geojson(conn: AsyncConnection) -> str:
    """The road lines as GeoJSON text, built in PostGIS."""
    cur = await conn.execute(query("tracking/roads_geojson"))
    row = await cur.fetchone()
    return row[0] if row else '{"type":"FeatureCollection","features":[]}'


async def hospitals(conn: AsyncConnection) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query("tracking/hospitals"))
        return list(await cur.fetchall())
