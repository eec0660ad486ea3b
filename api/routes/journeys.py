"""Journeys: dispatch, destination changes, status overrides, report, GeoJSON export, replay.

Hospital accounts see only the journeys whose destination is their hospital.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status

from accounts.access import Principal
from api import examples
from api.deps import AnyUser, Conn, Editor, hospital_scope
from api.openapi import AUTH_ERRORS, CONFLICT, NOT_FOUND, example, ok
from api.relay import CommittedFixRelay
from api.routes.vehicles import GeoJSONResponse
from api.schemas import AddUnit, DestinationUpdate, JourneyCreate, Reassign, StatusChange
from tracking import incidents, journeys, reassign, reports
from tracking.units import fastest_units

router = APIRouter(prefix="/api/v1/journeys", tags=["journeys"], responses=AUTH_ERRORS)


async def _share(request: Request, events: list[dict[str, Any]]) -> None:
    relay: CommittedFixRelay = request.app.state.relay
    await relay.publish_events(events)


async def _fastest_to_incident(conn: Conn, journey_id: int, request: Request) -> int:
    """The available ambulance that reaches the journey's incident soonest by road (409 if none)."""
    journey = await journeys.get_journey(conn, journey_id)
    fastest = await fastest_units(
        conn, journey["incident_lat"], journey["incident_lon"], request.app.state.settings.offline_after_s, 1
    )
    if not fastest:
        raise journeys.JourneyConflictError("no available ambulance can reach the incident")
    return int(fastest[0]["id"])


async def _visible(conn: Conn, journey_id: int, principal: Principal) -> dict[str, Any]:
    journey = await journeys.get_journey(conn, journey_id)
    scope = hospital_scope(principal)
    if scope is not None and journey["destination_hospital_id"] != scope:
        # Not "forbidden": a hospital must not learn which journeys exist elsewhere.
        raise journeys.JourneyNotFoundError(f"no journey with id {journey_id}")
    return journey


@router.get("", summary="Journeys, newest first (open ones by default)", responses=ok(examples.JOURNEYS))
async def list_all(
    conn: Conn, principal: AnyUser, open: bool = True, vehicle_id: int | None = None, limit: int = 200
) -> dict[str, Any]:
    scope = hospital_scope(principal)
    rows = await journeys.list_journeys(conn, open, vehicle_id, scope, min(max(limit, 1), 1000))
    return {"journeys": rows}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Dispatch an ambulance to an incident",
    responses=ok(examples.JOURNEY, CONFLICT, status=201),
)
async def create(body: JourneyCreate, conn: Conn, principal: Editor, request: Request) -> dict[str, Any]:
    vehicle_id = body.vehicle_id
    if vehicle_id is None:
        fastest = await fastest_units(
            conn, body.incident.lat, body.incident.lon, request.app.state.settings.offline_after_s, 1
        )
        if not fastest:
            raise journeys.JourneyConflictError("no available ambulance can reach the incident")
        vehicle_id = fastest[0]["id"]
    journey, events = await journeys.create_journey(
        conn,
        vehicle_id,
        body.incident.lat,
        body.incident.lon,
        body.incident.address,
        body.priority,
        body.destination_hospital_id,
        body.scene_radius_m,
        principal.name,
        body.note,
        body.call_received_at,
    )
    await _share(request, events)
    return journey


@router.get(
    "/{journey_id}",
    summary="One journey with its NEMSIS-style timestamps",
    responses=ok(examples.JOURNEY_DETAIL, NOT_FOUND),
)
async def get_one(journey_id: int, conn: Conn, principal: AnyUser) -> dict[str, Any]:
    journey = await _visible(conn, journey_id, principal)
    units = await incidents.incident_units(conn, journey_id) if hospital_scope(principal) is None else []
    return {**journey, "status_log": await journeys.status_log(conn, journey_id), "incident_units": units}


@router.patch(
    "/{journey_id}",
    summary="Change the destination hospital (both hospitals are told)",
    responses=ok(examples.JOURNEY, NOT_FOUND, CONFLICT),
)
async def change_destination(
    journey_id: int, body: DestinationUpdate, conn: Conn, principal: Editor, request: Request
) -> dict[str, Any]:
    journey, events = await journeys.set_destination(
        conn, journey_id, body.destination_hospital_id, principal.name
    )
    await _share(request, events)
    return journey


@router.post(
    "/{journey_id}/status",
    summary="Set the status by hand (logged with its source)",
    responses=ok(examples.JOURNEY, NOT_FOUND, CONFLICT),
)
async def change_status(
    journey_id: int, body: StatusChange, conn: Conn, principal: Editor, request: Request
) -> dict[str, Any]:
    journey, events = await journeys.set_status(conn, journey_id, body.status, body.source, principal.name)
    await _share(request, events)
    return journey


@router.post(
    "/{journey_id}/units",
    status_code=status.HTTP_201_CREATED,
    summary="Send another ambulance to this journey's incident (several units, one incident)",
    description="A new journey to the same scene (address, priority, note, radius), joined to the "
    "incident: `incident_id` is the first journey's id on all of them; each unit has its own status "
    "times and destination. `vehicle_id` null: the fastest available by road.",
    responses=ok(examples.JOURNEY, NOT_FOUND, CONFLICT, status=201),
)
async def add_unit(
    journey_id: int, body: AddUnit, conn: Conn, principal: Editor, request: Request
) -> dict[str, Any]:
    vehicle_id = body.vehicle_id
    if vehicle_id is None:
        vehicle_id = await _fastest_to_incident(conn, journey_id, request)
    journey, events = await incidents.add_unit(
        conn, journey_id, vehicle_id, body.destination_hospital_id, principal.name
    )
    await _share(request, events)
    return journey


@router.post(
    "/{journey_id}/reassign",
    summary="Replace the journey's vehicle (breakdown, accident, diverted): a new leg, the same journey",
    description="`vehicle_id` null picks the fastest available ambulance to the incident by road. The "
    "replaced vehicle's part is kept as a leg (its times, its status then, the reason; shown in the "
    "report); the journey restarts at `dispatched` with the new vehicle's own times. A breakdown or an "
    "accident puts the replaced vehicle out of service; a diverted one is available. The caller's "
    "tracking link and the hospital board follow the new vehicle.",
    responses=ok(examples.JOURNEY, NOT_FOUND, CONFLICT),
)
async def reassign_vehicle(
    journey_id: int, body: Reassign, conn: Conn, principal: Editor, request: Request
) -> dict[str, Any]:
    vehicle_id = body.vehicle_id
    if vehicle_id is None:
        vehicle_id = await _fastest_to_incident(conn, journey_id, request)
    journey, events = await reassign.reassign_journey(
        conn, journey_id, vehicle_id, body.reason, principal.name, body.note
    )
    await _share(request, events)
    return journey


@router.get(
    "/{journey_id}/report",
    summary="Timestamps, intervals, distance, speeds, stops, overspeed",
    responses=ok(examples.REPORT, NOT_FOUND),
)
async def report(journey_id: int, conn: Conn, principal: AnyUser) -> dict[str, Any]:
    await _visible(conn, journey_id, principal)
    return await reports.journey_report(conn, journey_id)


@router.get(
    "/{journey_id}/geojson",
    summary="The journey as GeoJSON (RFC 7946)",
    response_class=GeoJSONResponse,
    responses={200: example(examples.JOURNEY_GEOJSON, media_type="application/geo+json"), **NOT_FOUND},
)
async def geojson(journey_id: int, conn: Conn, principal: AnyUser) -> dict[str, Any]:
    await _visible(conn, journey_id, principal)
    return await reports.journey_geojson(conn, journey_id)


@router.get(
    "/{journey_id}/replay",
    summary="Every fix of the journey with the status in force at its time",
    responses=ok(examples.REPLAY, NOT_FOUND),
)
async def replay(journey_id: int, conn: Conn, principal: AnyUser) -> dict[str, Any]:
    await _visible(conn, journey_id, principal)
    return await reports.journey_replay(conn, journey_id)
