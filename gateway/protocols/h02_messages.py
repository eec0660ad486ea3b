"""H02 messages as the decoders return them, and the fields text and binary reports share. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.decoded import FixFields
from gateway.refusals import Refusal

KNOTS_TO_KMH = 1.852


@dataclass(frozen=True, slots=True)
class Report:
    """A location report (text V1/V2/V5/V6/V19/VI1/V4 or binary); `item` is a Refusal when the
    device is known by its id but its position cannot be decoded."""

    device_id: str
    command: str  # "V1"... or "$" for binary
    item: FixFields | Refusal


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """HTBT / V0: `prefix` is the sentence up to the command, echoed back with `#`."""

    device_id: str
    command: str
    prefix: str
    battery_pct: int | None = None


@dataclass(frozen=True, slots=True)
class CellReport:
    """NBR: neighbouring cells, no GPS position."""

    device_id: str


@dataclass(frozen=True, slots=True)
class Other:
    """A well-formed frame of a type not decoded here (LINK, V3, VP1, SMS, X...)."""

    device_id: str | None
    command: str


Message = Report | Heartbeat | CellReport | Other


def status_attributes(status: int) -> dict[str, Any]:
    """The 32-bit status word: active-low alarms in Traccar's order, ignition (bit 10 set = on)."""
    attributes: dict[str, Any] = {"status": status, "ignition": bool(status & (1 << 10))}
    if not status & 1:
        attributes["alarm"] = "vibration"
    elif not status & (1 << 1) or not status & (1 << 18):
        attributes["alarm"] = "sos"
    elif not status & (1 << 2):
        attributes["alarm"] = "overspeed"
    elif not status & (1 << 19):
        attributes["alarm"] = "power_cut"
    return attributes


def report_time(hhmmss: str, ddmmyy: str) -> datetime:
    """UTC time of an H02 report; ValueError if impossible."""
    return datetime(
        2000 + int(ddmmyy[4:6]),
        int(ddmmyy[2:4]),
        int(ddmmyy[0:2]),
        int(hhmmss[0:2]),
        int(hhmmss[2:4]),
        int(hhmmss[4:6]),
        tzinfo=UTC,
    )
