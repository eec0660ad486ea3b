"""Fastest unit: the available ambulances ranked by road travel time to an incident."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection

from roads.ranking import rank_sources
from roads.routing import RoutePoint
from tracking.vehicles import vehicles_with_latest


async def fastest_units(
    conn: AsyncConnection, lat: float, lon: float, fresh_s: float, limit: int = 10
) -> list[dict[str, Any]]:
    """Available vehicles with a fix younger than `fresh_s`, fastest first (one routing query)."""
    candidates = {
        v["id"]: v
        for v in await vehicles_with_latest(conn)
        if v["status"] == "available" and v["position"] is not None and (v["age_s"] or 0) <= fresh_s
    }
    sources = [
        (vid, RoutePoint(v["position"]["lat"], v["position"]["lon"], v["position"]["heading"]))
        for vid, v in candidates.items()
    ]
    ranked = await rank_sources(conn, sources, RoutePoint(lat, lon), datetime.now(UTC))
    return [
        {**candidates[r.key], "duration_s": round(r.duration_s), "distance_m": round(r.distance_m)}
        for r in ranked[:limit]
    ]
