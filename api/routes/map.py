"""Map layers and map configuration: roads, hospitals, tiles."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from api import examples
from api.deps import Conn, MapReader
from api.openapi import AUTH_ERRORS, example, ok
from api.settings import ApiSettings
from tracking.vehicles import roads_geojson

router = APIRouter(prefix="/api/v1", tags=["map"], responses=AUTH_ERRORS)


@router.get(
    "/config", summary="What the dispatcher page needs to draw its map", responses=ok(examples.CONFIG)
)
async def map_config(request: Request, _: MapReader) -> dict[str, Any]:
    s: ApiSettings = request.app.state.settings
    return {
        "tile_url": s.tile_url,
        "tile_attribution": s.tile_attribution,
        "map_center": [s.map_center_lat, s.map_center_lon],
        "map_zoom": s.map_zoom,
        "offline_after_s": s.offline_after_s,
    }


@router.get(
    "/roads",
    summary="The imported road network as GeoJSON lines (© OpenStreetMap contributors, ODbL)",
    responses={200: example(examples.ROADS, media_type="application/geo+json")},
)
async def roads(conn: Conn, _: MapReader) -> Response:
    return Response(await roads_geojson(conn), media_type="application/geo+json")
