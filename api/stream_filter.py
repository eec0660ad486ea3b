"""What one websocket subscription lets through: a frozen, hashable filter over live items.

Clients with equal filters share one serialised message per publish (the hub groups by filter).
A hospital account's filter is always narrowed to its hospital and never carries fixes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

STREAMS = ("fixes", "events", "etas")
ALL_STREAMS = frozenset(STREAMS)


class FilterRequest(BaseModel):
    """The `filters` of a client's `subscribe` message, as sent (validated at the edge)."""

    model_config = ConfigDict(extra="forbid")

    vehicles: list[int] | None = Field(None, max_length=10_000)
    bbox: tuple[float, float, float, float] | None = Field(None, description="[south, west, north, east]")
    journey_id: int | None = None
    hospital_id: int | None = None
    event_types: list[str] | None = Field(None, max_length=100)
    streams: list[str] | None = None

    @field_validator("bbox")
    @classmethod
    def _ordered_box(
        cls, box: tuple[float, float, float, float] | None
    ) -> tuple[float, float, float, float] | None:
        if box is None:
            return None
        south, west, north, east = box
        if not (-90 <= south <= north <= 90 and -180 <= west <= east <= 180):
            raise ValueError("bbox is [south, west, north, east] in degrees, south <= north, west <= east")
        return box

    @field_validator("streams")
    @classmethod
    def _known_streams(cls, streams: list[str] | None) -> list[str] | None:
        if streams is not None and not set(streams) <= ALL_STREAMS:
            raise ValueError(f"streams are among {', '.join(STREAMS)}")
        return streams


@dataclass(frozen=True, slots=True)
class StreamFilter:
    """Every condition set must hold (None: no condition). Fixes carry no journey or hospital: a
    journey filter lets through its vehicle's fixes, a hospital filter lets no fix through."""

    streams: frozenset[str] = ALL_STREAMS
    vehicles: frozenset[int] | None = None
    bbox: tuple[float, float, float, float] | None = None
    journey_id: int | None = None
    journey_vehicle_id: int | None = None  # the journey's vehicle, for its fixes
    hospital_id: int | None = None
    event_types: frozenset[str] | None = None

    def select(self, kind: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The items of a `kind` message (fixes, events, etas) this filter lets through."""
        if kind not in self.streams:
            return []
        if self.unfiltered:
            return items  # no per-item work
        return [item for item in items if self.matches(kind, item)]

    @property
    def unfiltered(self) -> bool:
        """True when every item of its streams passes."""
        return (
            self.vehicles is None
            and self.bbox is None
            and self.journey_id is None
            and self.hospital_id is None
            and self.event_types is None
        )

    def matches(self, kind: str, item: dict[str, Any]) -> bool:
        if kind == "fixes":
            if self.hospital_id is not None:
                return False
            if self.journey_id is not None and item.get("vehicle_id") != self.journey_vehicle_id:
                return False
        else:
            if self.journey_id is not None and item.get("journey_id") != self.journey_id:
                return False
            if self.hospital_id is not None and item.get("hospital_id") != self.hospital_id:
                return False
        if kind == "events" and self.event_types is not None and item.get("kind") not in self.event_types:
            return False
        if self.vehicles is not None and item.get("vehicle_id") not in self.vehicles:
            return False
        return self.bbox is None or self.inside(item.get("lat"), item.get("lon"))

    def inside(self, lat: float | None, lon: float | None) -> bool:
        """Whether a position is in the bbox (no bbox: always; no position: never)."""
        if self.bbox is None:
            return True
        if lat is None or lon is None:
            return False
        south, west, north, east = self.bbox
        return south <= lat <= north and west <= lon <= east

    def describe(self) -> dict[str, Any]:
        """The filter in the wire form of `subscribe` (what a client is actually subscribed to)."""
        return {
            "streams": sorted(self.streams, key=STREAMS.index),
            "vehicles": sorted(self.vehicles) if self.vehicles is not None else None,
            "bbox": list(self.bbox) if self.bbox is not None else None,
            "journey_id": self.journey_id,
            "hospital_id": self.hospital_id,
            "event_types": sorted(self.event_types) if self.event_types is not None else None,
        }


def default_filter(hospital_scope: int | None) -> StreamFilter:
    """What a connection gets before it subscribes: the fleet, or its hospital's events and ETAs."""
    if hospital_scope is None:
        return StreamFilter()
    return StreamFilter(streams=frozenset({"events", "etas"}), hospital_id=hospital_scope)


class ScopeError(ValueError):
    """A hospital account asked for another hospital."""


def build_filter(
    request: FilterRequest, hospital_scope: int | None, journey_vehicle_id: int | None
) -> StreamFilter:
    """The effective filter of a request: a hospital account's is narrowed to its own hospital
    (ScopeError when it names another) and never includes fixes."""
    streams = frozenset(request.streams) if request.streams is not None else ALL_STREAMS
    hospital_id = request.hospital_id
    if hospital_scope is not None:
        if hospital_id is not None and hospital_id != hospital_scope:
            raise ScopeError("a hospital account sees only its own hospital")
        hospital_id = hospital_scope
    if hospital_id is not None:
        streams -= {"fixes"}
    return StreamFilter(
        streams=streams,
        vehicles=frozenset(request.vehicles) if request.vehicles is not None else None,
        bbox=request.bbox,
        journey_id=request.journey_id,
        journey_vehicle_id=journey_vehicle_id,
        hospital_id=hospital_id,
        event_types=frozenset(request.event_types) if request.event_types is not None else None,
    )
