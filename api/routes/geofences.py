"""Geofences: hospital areas, stations, scenes, service areas, restricted and speed zones."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from api import examples
from api.deps import AnyUser, Conn, Editor
from api.openapi import AUTH_ERRORS, NOT_FOUND, ok
from api.schemas import GeofenceCreate, GeofenceUpdate
from fixes.model import iso_utc
from tracking.geofences import (
    create_geofence,
    deactivate_geofence,
    get_geofence,
    list_geofences,
    update_geofence,
)

router = APIRouter(prefix="/api/v1/geofences", tags=["geofences"], responses=AUTH_ERRORS)


def feature(row: dict[str, Any]) -> dict[str, Any]:
    """A geofence as a GeoJSON Feature (RFC 7946)."""
    properties = {k: v for k, v in row.items() if k not in ("geometry", "created_at", "updated_at")}
    properties.update(created_at=iso_utc(row["created_at"]), updated_at=iso_utc(row["updated_at"]))
    return {"type": "Feature", "id": row["id"], "geometry": row["geometry"], "properties": properties}


def _hysteresis(request: Request) -> float:
    return float(request.app.state.tracking.hysteresis_m)


@router.get("", summary="Active geofences as a GeoJSON FeatureCollection", responses=ok(examples.GEOFENCES))
async def list_all(conn: Conn, _: AnyUser, kind: str | None = None) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [feature(r) for r in await list_geofences(conn, kind)]}


@router.post(
    "",
    status_code=201,
    summary="Create a geofence (polygon, circle or corridor)",
    responses=ok(examples.GEOFENCE, status=201),
)
async def create(body: GeofenceCreate, conn: Conn, _: Editor, request: Request) -> dict[str, Any]:
    row = await create_geofence(
        conn, body.name, body.kind, body.shape, _hysteresis(request), body.speed_limit_kmh
    )
    return feature(row)


@router.get("/{geofence_id}", summary="One geofence", responses=ok(examples.GEOFENCE, NOT_FOUND))
async def get_one(geofence_id: int, conn: Conn, _: AnyUser) -> dict[str, Any]:
    return feature(await get_geofence(conn, geofence_id))


@router.patch(
    "/{geofence_id}",
    summary="Change a geofence's name, kind, shape or speed limit",
    responses=ok(examples.GEOFENCE, NOT_FOUND),
)
async def update(
    geofence_id: int, body: GeofenceUpdate, conn: Conn, _: Editor, request: Request
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    return feature(await update_geofence(conn, geofence_id, changes, _hysteresis(request)))


@router.delete(
    "/{geofence_id}",
    status_code=204,
    summary="Retire a geofence (its events are kept)",
    responses={204: {"description": "Retired"}, **NOT_FOUND},
)
async def delete(geofence_id: int, conn: Conn, _: Editor) -> Response:
    await deactivate_geofence(conn, geofence_id)
    return Response(status_code=204)
