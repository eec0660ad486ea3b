"""The fix model every transport decodes into: km/h, degrees, UTC, WGS84."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Fix:
    """One GPS fix from one device, validated, ready to store."""

    device_id: str
    vehicle_id: int | None
    fix_time: datetime  # aware, UTC
    received_at: datetime  # aware, UTC: when the gateway read it
    lat: float
    lon: float
    protocol: str
    speed_kmh: float | None = None
    course: float | None = None
    altitude_m: float | None = None
    accuracy_m: float | None = None
    hdop: float | None = None
    satellites: int | None = None
    valid: bool = True
    backlog: bool = False  # the device says it buffered this fix and sent it late
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredFix:
    """A fix as committed: `late` when a later fix of its vehicle was already stored,
    `latest` when it became the vehicle's current position."""

    fix: Fix
    late: bool
    latest: bool

    def to_json(self) -> dict[str, Any]:
        """The relay/websocket form of a committed fix."""
        f = self.fix
        return {
            "vehicle_id": f.vehicle_id,
            "device_id": f.device_id,
            "time": iso_utc(f.fix_time),
            "received_at": iso_utc(f.received_at),
            "lat": f.lat,
            "lon": f.lon,
            "speed_kmh": f.speed_kmh,
            "heading": f.course,
            "altitude_m": f.altitude_m,
            "accuracy_m": f.accuracy_m,
            "satellites": f.satellites,
            "valid": f.valid,
            "late": self.late,
            "latest": self.latest,
        }


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with millisecond precision and a 'Z', the wire format of every time."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
