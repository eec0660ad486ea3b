"""Vehicles: the fleet with latest positions, and each vehicle's track."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse

from api import examples
from api.deps import Conn, Editor, FleetReader
from api.openapi import AUTH_ERRORS, NOT_FOUND, example, ok
from api.schemas import UnitStatusChange
from tracking import journeys
from tracking.vehicles import track_geojson, vehicle_track, vehicles_with_latest


class GeoJSONResponse(JSONResponse):
    media_type = "application/geo+json"


router = APIRouter(prefix="/api/v1/vehicles", tags=["vehicles"], responses=AUTH_ERRORS)
MAX_TRACK_SPAN = timedelta(days=7)


@router.get(
    "",
    summary="Every vehicle with its latest position and the age of that fix",
    responses=ok(examples.VEHICLES),
)
async def list_vehicles(conn: Conn, _: FleetReader) -> dict[str, Any]:
    return {"vehicles": await vehicles_with_latest(conn)}


@router.get(
    "/{vehicle_id}/track",
    summary="A vehicle's stored fixes as GeoJSON (RFC 7946)",
    response_class=GeoJSONResponse,
    responses={200: example(examples.TRACK, media_type="application/geo+json"), **NOT_FOUND},
)
async def get_track(
    vehicle_id: int,
    conn: Conn,
    _: FleetReader,
    start: Annotated[
        datetime | None, Query(alias="from", description="ISO 8601; default: `to` minus 1 h")
    ] = None,
    end: Annotated[datetime | None, Query(alias="to", description="ISO 8601; default: now")] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 20_000,
) -> dict[str, Any]:
    end = _aware(end) if end else datetime.now(UTC)
    start = _aware(start) if start else end - timedelta(hours=1)
    if start >= end:
        raise HTTPException(422, "`from` must be before `to`")
    if end - start > MAX_TRACK_SPAN:
        raise HTTPException(422, f"at most {MAX_TRACK_SPAN.days} days per request")
    points = await vehicle_track(conn, vehicle_id, start, end, limit)
    return track_geojson(vehicle_id, points, start, end)


@router.put(
    "/{vehicle_id}/status",
    summary="Take a vehicle out of service, or back in service",
    responses=ok(examples.UNIT_STATUS, NOT_FOUND),
)
async def set_unit_status(vehicle_id: int, body: UnitStatusChange, conn: Conn, _: Editor) -> dict[str, Any]:
    await journeys.set_unit_status(conn, vehicle_id, body.status)
    return {"vehicle_id": vehicle_id, "unit_status": body.status}


def _aware(moment: datetime) -> datetime:
    # A time without an offset is taken as UTC, the storage time zone.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
