"""Request bodies, one per purpose, validated at the edge."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

GeofenceKind = Literal["hospital_area", "station", "scene", "service_area", "restricted_zone", "speed_zone"]


def coordinate(value: float) -> float:
    """Degrees to 1e-7 (about a centimetre): subnormal or over-precise floats (5e-324) never reach
    PostGIS, whose arithmetic on them underflows (a 500 found by the OpenAPI fuzzer)."""
    return round(value, 7) + 0.0  # + 0.0: no negative zero


Coordinate = AfterValidator(coordinate)
Lat = Annotated[float, Field(ge=-90, le=90), Coordinate]
Lon = Annotated[float, Field(ge=-180, le=180), Coordinate]


class GeofenceCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Cổng cấp cứu BV Đà Nẵng",
                    "kind": "hospital_area",
                    "shape": {"type": "circle", "center": [108.2155, 16.0727], "radius_m": 120},
                },
                {
                    "name": "Cầu Rồng",
                    "kind": "speed_zone",
                    "speed_limit_kmh": 40,
                    "shape": {
                        "type": "corridor",
                        "coordinates": [[108.2235, 16.0614], [108.2293, 16.0613]],
                        "width_m": 30,
                    },
                },
            ]
        },
    )

    name: str = Field(min_length=1, max_length=200)
    kind: GeofenceKind
    shape: dict[str, Any] = Field(
        description='{"type": "polygon", "coordinates": [[[lon, lat], ...]]} | '
        '{"type": "circle", "center": [lon, lat], "radius_m": 150} | '
        '{"type": "corridor", "coordinates": [[lon, lat], ...], "width_m": 40}'
    )
    speed_limit_kmh: float | None = Field(None, gt=0, le=200)


class GeofenceUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Cầu Rồng (40 km/h)", "speed_limit_kmh": 40}]},
    )

    name: str | None = Field(None, min_length=1, max_length=200)
    kind: GeofenceKind | None = None
    shape: dict[str, Any] | None = None
    speed_limit_kmh: float | None = Field(None, gt=0, le=200)


class Incident(BaseModel):
    lat: Lat
    lon: Lon
    address: str | None = Field(None, max_length=500)


class JourneyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "vehicle_id": 3,
                    "incident": {"lat": 16.0610, "lon": 108.2240, "address": "12 Bạch Đằng, Hải Châu"},
                    "priority": 1,
                    "destination_hospital_id": 1,
                }
            ]
        },
    )

    vehicle_id: int | None = Field(None, description="null: the available ambulance fastest by road")
    incident: Incident
    priority: int = Field(2, ge=1, le=3, description="1 = most urgent")
    destination_hospital_id: int | None = None
    scene_radius_m: float = Field(150.0, ge=20, le=2000)
    note: str | None = Field(None, max_length=2000)
    call_received_at: AwareDatetime | None = Field(
        None,
        description="when the 115 call came in (ISO 8601 with an offset): the start of the response time;"
        " not in the future, at most 24 h before the dispatch. Without it the response time starts at the dispatch.",
    )


class DestinationUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"destination_hospital_id": 2}]}
    )

    destination_hospital_id: int | None


class StatusChange(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"status": "on_scene", "source": "crew"}]}
    )

    status: Literal[
        "dispatched",
        "en_route",
        "on_scene",
        "transporting",
        "at_hospital",
        "returning",
        "completed",
        "cancelled",
    ]
    source: Literal["dispatcher", "crew"] = "dispatcher"


class UnitStatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"status": "out_of_service"}]})

    status: Literal["available", "out_of_service"]


class AddUnit(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"vehicle_id": None, "destination_hospital_id": 2}]},
    )

    vehicle_id: int | None = Field(description="the vehicle, or null for the fastest available by road")
    destination_hospital_id: int | None = Field(None, description="where this unit takes its patient")


class Reassign(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"vehicle_id": 12, "reason": "breakdown"},
                {"vehicle_id": None, "reason": "accident"},
            ]
        },
    )

    vehicle_id: int | None = Field(description="the new vehicle, or null for the fastest available by road")
    reason: Literal["breakdown", "accident", "diverted"] = Field(
        description="why the current vehicle is replaced"
    )
    note: str | None = Field(None, max_length=500)
