"""Hospital lookups, the contract hospital systems integrate with: hospitals ranked by road time,
the ambulances inbound to a hospital, and ETAs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from api import examples
from api.deps import AnyUser, Conn, FleetReader, MapReader, hospital_scope
from api.openapi import AUTH_ERRORS, NOT_FOUND, ok
from api.schemas import coordinate
from fixes.model import iso_utc
from roads.ranking import rank_targets
from roads.routing import NoRouteError, RoutePoint, route
from tracking.eta import hospital_inbound
from tracking.eta_calibration import cached_calibration
from tracking.vehicles import hospitals, vehicle_position

router = APIRouter(prefix="/api/v1", tags=["hospitals"], responses=AUTH_ERRORS)


def _point(text: str) -> RoutePoint:
    try:
        lat, lon = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise HTTPException(422, "expected `lat,lon`, e.g. 16.0612,108.2240") from exc
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise HTTPException(422, "lat,lon out of range")
    return RoutePoint(coordinate(lat), coordinate(lon))


@router.get(
    "/hospitals",
    summary="Hospitals; with `near=lat,lon`, ranked by road travel time from there",
    responses=ok(examples.HOSPITALS),
)
async def list_hospitals(
    conn: Conn,
    _: MapReader,
    near: Annotated[str | None, Query(description="lat,lon: rank by road time from this point")] = None,
    emergency: Annotated[bool, Query(description="only hospitals with an emergency department")] = False,
) -> dict[str, Any]:
    rows = [h for h in await hospitals(conn) if h["has_emergency"] or not emergency]
    if near is None:
        return {"hospitals": rows}
    origin = _point(near)
    ranked = await rank_targets(
        conn, origin, [(h["id"], RoutePoint(h["lat"], h["lon"])) for h in rows], datetime.now(UTC)
    )
    by_id = {h["id"]: h for h in rows}
    return {
        "from": {"lat": origin.lat, "lon": origin.lon},
        "hospitals": [
            {**by_id[r.key], "duration_s": round(r.duration_s), "distance_m": round(r.distance_m)}
            for r in ranked
        ],
    }


@router.get(
    "/hospitals/{hospital_id}/inbound",
    summary="Ambulances whose open journey ends at this hospital, with ETAs",
    responses=ok(examples.INBOUND),
)
async def inbound(hospital_id: int, conn: Conn, principal: AnyUser) -> dict[str, Any]:
    scope = hospital_scope(principal)
    if scope is not None and scope != hospital_id:
        raise HTTPException(403, "a hospital account sees only its own hospital")
    return {"hospital_id": hospital_id, "inbound": await hospital_inbound(conn, hospital_id)}


@router.get(
    "/eta",
    summary="Road ETA from a vehicle's latest position to a hospital or a point",
    responses=ok(examples.ETA, NOT_FOUND),
)
async def eta(
    conn: Conn,
    _: FleetReader,
    vehicle_id: int,
    hospital_id: int | None = None,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
) -> dict[str, Any]:
    if (hospital_id is None) == (lat is None or lon is None):
        raise HTTPException(422, "give either hospital_id, or lat and lon")
    position = await vehicle_position(conn, vehicle_id)
    if position is None:
        raise HTTPException(409, f"vehicle {vehicle_id} has no position yet")
    if hospital_id is not None:
        target_row = next((h for h in await hospitals(conn) if h["id"] == hospital_id), None)
        if target_row is None:
            raise HTTPException(404, f"no hospital with id {hospital_id}")
        target = RoutePoint(target_row["lat"], target_row["lon"])
    else:
        assert lat is not None and lon is not None
        target = RoutePoint(coordinate(lat), coordinate(lon))
    start = RoutePoint(position["lat"], position["lon"], position["heading"])
    now = datetime.now(UTC)
    try:
        r = await route(conn, start, target, now)
    except NoRouteError as exc:
        raise HTTPException(422, f"no route: {exc}") from exc
    fix_time = datetime.fromisoformat(position["time"])
    # Calibrated by the fleet's recent arrivals: the expected arrival and its p10-p90 window.
    target_kind = "hospital" if hospital_id is not None else None  # else a point: both targets' bands
    expected_s, low_s, high_s = (await cached_calibration(conn)).window(
        fix_time, r.duration_s, vehicle_id, target_kind
    )
    return {
        "vehicle_id": vehicle_id,
        "from": position,
        "to": {"lat": target.lat, "lon": target.lon, "hospital_id": hospital_id},
        "distance_m": round(r.distance_m),
        "duration_s": round(r.duration_s),
        "arrival_at": iso_utc(fix_time + timedelta(seconds=expected_s)),
        "arrival_window": {
            "early_at": iso_utc(fix_time + timedelta(seconds=low_s)),
            "late_at": iso_utc(fix_time + timedelta(seconds=high_s)),
        },
        "route": {"type": "LineString", "coordinates": [list(p) for p in r.geometry]},
    }
