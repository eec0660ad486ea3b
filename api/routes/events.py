"""Events: geofence enter/exit, status changes, overspeed, long stops, device offline, driving
limits, SOS and other alarms. Hospital accounts see those about their hospital and its inbound journeys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from api import examples
from api.deps import AnyUser, Conn, hospital_scope
from api.openapi import AUTH_ERRORS, ok
from tracking.events import list_events

router = APIRouter(prefix="/api/v1/events", tags=["events"], responses=AUTH_ERRORS)


@router.get("", summary="Stored events, newest first", responses=ok(examples.EVENTS))
async def list_all(
    conn: Conn,
    principal: AnyUser,
    vehicle_id: int | None = None,
    journey_id: int | None = None,
    kind: Annotated[
        list[Annotated[str, Field(pattern=r"^[a-z_]{1,40}$")]] | None,
        Query(description="repeatable, e.g. kind=sos&kind=overspeed"),
    ] = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> dict[str, Any]:
    rows = await list_events(
        conn,
        vehicle_id=vehicle_id,
        journey_id=journey_id,
        kinds=kind,
        start=start,
        end=end,
        hospital_id=hospital_scope(principal),
        limit=limit,
    )
    return {"events": rows}
