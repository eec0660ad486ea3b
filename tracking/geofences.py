"""Geofences: validated shapes (polygon, circle, corridor) stored as polygons, with per-geofence
hysteresis; defaults around hospitals and stations."""

from __future__ import annotations

import json
import math
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from shapely.geometry import LineString, Polygon
from shapely.validation import explain_validity

from tracking.tracking_store import MAX_HYSTERESIS_M

KINDS = ("hospital_area", "station", "scene", "service_area", "restricted_zone", "speed_zone")
MIN_AREA_M2 = 50.0
MAX_AREA_M2 = 2_000e6  # 2,000 km²: bigger than the whole merged city's urban area
DEFAULT_HOSPITAL_RADIUS_M = 300.0  # hospital points are building centroids: the area covers the grounds
DEFAULT_STATION_RADIUS_M = 150.0

# The polygon stored for each shape, built in PostGIS on the geography (metres) where it needs one.
_GEOM_SQL = {
    "polygon": "ST_SetSRID(ST_GeomFromGeoJSON(%(geojson)s), 4326)",
    "circle": "ST_Buffer(ST_SetSRID(ST_GeomFromGeoJSON(%(geojson)s), 4326)::geography, %(metres)s, 'quad_segs=16')::geometry",
    "corridor": "ST_Buffer(ST_SetSRID(ST_GeomFromGeoJSON(%(geojson)s), 4326)::geography, %(metres)s, 'quad_segs=8')::geometry",
}
# Enter this far inside, exit this far outside: the default, but at most a quarter of the
# geofence's inscribed radius, so a small geofence can still be entered.
_HYSTERESIS_SQL = "least(%(hysteresis)s, %(cap)s, 0.25 * (ST_MaximumInscribedCircle(g)).radius * 111320 * cos(radians(ST_Y(ST_Centroid(g)))))"


class GeofenceError(ValueError):
    """A geofence definition that cannot be accepted (invalid shape, absurd size...)."""


class GeofenceNotFoundError(LookupError):
    """No active geofence has this id."""


def _local_xy(lon: float, lat: float, lat0: float) -> tuple[float, float]:
    return math.radians(lon) * 6_371_000 * math.cos(math.radians(lat0)), math.radians(lat) * 6_371_000


def _coords(raw: Any, what: str) -> list[tuple[float, float]]:
    try:
        points = [(float(p[0]), float(p[1])) for p in raw]
    except (TypeError, ValueError, IndexError) as exc:
        raise GeofenceError(f"{what}: expected [[lon, lat], ...]") from exc
    for lon, lat in points:
        if not (-180 <= lon <= 180 and -90 <= lat <= 90) or not (math.isfinite(lon) and math.isfinite(lat)):
            raise GeofenceError(f"{what}: ({lon}, {lat}) is not a WGS84 longitude, latitude")
    return points


def validate_shape(shape: dict[str, Any]) -> tuple[str, dict[str, Any], float | None]:
    """Check a shape; returns (kind of shape, GeoJSON of its base geometry, metres to buffer by)."""
    kind = shape.get("type")
    if kind == "polygon":
        rings = shape.get("coordinates")
        if not isinstance(rings, list) or not rings:
            raise GeofenceError("polygon: coordinates must be a list of rings")
        outer = _coords(rings[0], "polygon")
        lat0 = outer[0][1]
        poly = Polygon(
            [_local_xy(*p, lat0) for p in outer],
            [[_local_xy(*p, lat0) for p in _coords(r, "hole")] for r in rings[1:]],
        )
        if not poly.is_valid:
            raise GeofenceError(f"polygon is not valid: {explain_validity(poly)}")
        _check_area(poly.area)
        ring = [list(p) for p in outer] + ([list(outer[0])] if outer[0] != outer[-1] else [])
        holes = [[list(p) for p in _coords(r, "hole")] for r in rings[1:]]
        return "polygon", {"type": "Polygon", "coordinates": [ring, *holes]}, None
    if kind == "circle":
        (centre,) = _coords([shape.get("center")], "circle center")
        radius = _number(shape.get("radius_m"), "circle radius_m", 10, 50_000)
        return "circle", {"type": "Point", "coordinates": list(centre)}, radius
    if kind == "corridor":
        line = _coords(shape.get("coordinates"), "corridor")
        width = _number(shape.get("width_m"), "corridor width_m", 5, 2_000)
        if len(line) < 2:
            raise GeofenceError("corridor: at least two points")
        length = LineString([_local_xy(*p, line[0][1]) for p in line]).length
        if length > 200_000:
            raise GeofenceError(f"corridor: {length / 1000:.0f} km long, at most 200 km")
        return "corridor", {"type": "LineString", "coordinates": [list(p) for p in line]}, width / 2
    raise GeofenceError("shape type must be polygon, circle or corridor")


def _number(value: Any, what: str, low: float, high: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise GeofenceError(f"{what} must be a number from {low} to {high}")
    return float(value)


def _check_area(area_m2: float) -> None:
    if not MIN_AREA_M2 <= area_m2 <= MAX_AREA_M2:
        raise GeofenceError(
            f"area {area_m2:,.0f} m² is outside {MIN_AREA_M2:,.0f} m² .. {MAX_AREA_M2 / 1e6:,.0f} km²"
        )


def _geom_params(shape: dict[str, Any], hysteresis_m: float) -> tuple[str, dict[str, Any]]:
    shape_kind, geojson, metres = validate_shape(shape)
    params = {
        "geojson": json.dumps(geojson),
        "metres": metres,
        "hysteresis": hysteresis_m,
        "cap": MAX_HYSTERESIS_M,
    }
    return _GEOM_SQL[shape_kind], params


GEOFENCE_COLUMNS = (
    "id, name, kind, shape, speed_limit_kmh, hospital_id, station_id, journey_id, hysteresis_m, active,"
    " ST_AsGeoJSON(geom, 6)::json AS geometry, created_at, updated_at"
)


async def create_geofence(
    conn: AsyncConnection,
    name: str,
    kind: str,
    shape: dict[str, Any],
    hysteresis_m: float,
    speed_limit_kmh: float | None = None,
    hospital_id: int | None = None,
    station_id: int | None = None,
) -> dict[str, Any]:
    if kind not in KINDS:
        raise GeofenceError(f"kind must be one of {', '.join(KINDS)}")
    geom_sql, params = _geom_params(shape, hysteresis_m)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""
            WITH g AS (SELECT {geom_sql} AS g)
            INSERT INTO geofences (name, kind, shape, geom, hysteresis_m, speed_limit_kmh, hospital_id, station_id)
            SELECT %(name)s, %(kind)s, %(shape)s, g.g, {_HYSTERESIS_SQL}, %(limit)s, %(hospital_id)s, %(station_id)s FROM g
            RETURNING {GEOFENCE_COLUMNS}
            """,
            {
                **params,
                "name": name,
                "kind": kind,
                "shape": Jsonb(shape),
                "limit": speed_limit_kmh,
                "hospital_id": hospital_id,
                "station_id": station_id,
            },
        )
        row = await cur.fetchone()
    assert row is not None
    return row


async def update_geofence(
    conn: AsyncConnection, geofence_id: int, changes: dict[str, Any], hysteresis_m: float
) -> dict[str, Any]:
    current = await get_geofence(conn, geofence_id)
    name = changes.get("name", current["name"])
    kind = changes.get("kind", current["kind"])
    if kind not in KINDS:
        raise GeofenceError(f"kind must be one of {', '.join(KINDS)}")
    shape = changes.get("shape", current["shape"])
    limit = changes.get("speed_limit_kmh", current["speed_limit_kmh"])
    geom_sql, params = _geom_params(shape, hysteresis_m)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""
            WITH g AS (SELECT {geom_sql} AS g)
            UPDATE geofences SET name = %(name)s, kind = %(kind)s, shape = %(shape)s, geom = g.g,
                   hysteresis_m = {_HYSTERESIS_SQL}, speed_limit_kmh = %(limit)s, updated_at = now()
            FROM g WHERE id = %(id)s AND active
            RETURNING {GEOFENCE_COLUMNS}
            """,
            {**params, "name": name, "kind": kind, "shape": Jsonb(shape), "limit": limit, "id": geofence_id},
        )
        row = await cur.fetchone()
    if row is None:
        raise GeofenceNotFoundError(f"no geofence with id {geofence_id}")
    return row


async def get_geofence(conn: AsyncConnection, geofence_id: int) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {GEOFENCE_COLUMNS} FROM geofences WHERE id = %s AND active", (geofence_id,)
        )
        row = await cur.fetchone()
    if row is None:
        raise GeofenceNotFoundError(f"no geofence with id {geofence_id}")
    return row


async def list_geofences(conn: AsyncConnection, kind: str | None = None) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {GEOFENCE_COLUMNS} FROM geofences WHERE active AND (%(kind)s::text IS NULL OR kind = %(kind)s) ORDER BY id",
            {"kind": kind},
        )
        return list(await cur.fetchall())


async def deactivate_geofence(conn: AsyncConnection, geofence_id: int) -> None:
    """Retire a geofence (kept for the history of its events; vehicles inside it get an exit)."""
    cur = await conn.execute(
        "UPDATE geofences SET active = false, updated_at = now() WHERE id = %s AND active", (geofence_id,)
    )
    if cur.rowcount != 1:
        raise GeofenceNotFoundError(f"no geofence with id {geofence_id}")


def ensure_default_geofences(conn: psycopg.Connection, hysteresis_m: float) -> int:
    """A circle around each hospital and station that has none yet; returns how many were created."""
    created = 0
    for table, kind, radius, key, name_col in (
        ("hospitals", "hospital_area", DEFAULT_HOSPITAL_RADIUS_M, "hospital_id", "name_vi"),
        ("stations", "station", DEFAULT_STATION_RADIUS_M, "station_id", "name"),
    ):
        rows = conn.execute(
            f"SELECT t.id, t.{name_col}, ST_X(t.geom), ST_Y(t.geom) FROM {table} t"
            f" WHERE NOT EXISTS (SELECT 1 FROM geofences g WHERE g.{key} = t.id AND g.kind = %s)",
            (kind,),
        ).fetchall()
        for place_id, name, lon, lat in rows:
            shape = {"type": "circle", "center": [lon, lat], "radius_m": radius}
            geom_sql, params = _geom_params(shape, hysteresis_m)
            conn.execute(
                f"""
                WITH g AS (SELECT {geom_sql} AS g)
                INSERT INTO geofences (name, kind, shape, geom, hysteresis_m, {key})
                SELECT %(name)s, %(kind)s, %(shape)s, g.g, {_HYSTERESIS_SQL}, %(place)s FROM g
                """,
                {**params, "name": name, "kind": kind, "shape": Jsonb(shape), "place": place_id},
            )
            created += 1
    return created
