"""Which ambulance gets there first: the available units ranked by road time to an incident."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api import examples
from api.deps import Conn, FleetReader
from api.openapi import AUTH_ERRORS, ok
from api.schemas import Coordinate
from tracking.units import fastest_units

router = APIRouter(prefix="/api/v1/units", tags=["units"], responses=AUTH_ERRORS)


@router.get(
    "/fastest",
    summary="Available ambulances ranked by road travel time to a point (one routing query)",
    responses=ok(examples.FASTEST),
)
async def fastest(
    conn: Conn,
    _: FleetReader,
    request: Request,
    lat: Annotated[float, Query(ge=-90, le=90), Coordinate],
    lon: Annotated[float, Query(ge=-180, le=180), Coordinate],
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    fresh_s = request.app.state.settings.offline_after_s
    return {"to": {"lat": lat, "lon": lon}, "units": await fastest_units(conn, lat, lon, fresh_s, limit)}
