"""What every protocol decoder produces: the fields of one fix, before validation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class FixFields:
    """One decoded fix: km/h, degrees, metres, aware UTC time, WGS84.

    `backlog` is the device's own word that the record was buffered and sent late (GT06
    re-upload flag, Teltonika/OsmAnd/MQTT batches); such fixes are stored as late.
    """

    fix_time: datetime
    lat: float
    lon: float
    speed_kmh: float | None = None
    course: float | None = None
    altitude_m: float | None = None
    accuracy_m: float | None = None
    hdop: float | None = None
    satellites: int | None = None
    valid: bool = True
    backlog: bool = False
    attributes: dict[str, Any] | None = None
