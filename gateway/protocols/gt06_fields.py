"""GT06 field layouts: the GPS block, the LBS (cell) block, the terminal status and alarm codes. Pure.

Layouts from PROTOCOLS.md 1.2 (Traccar `Gt06ProtocolDecoder.decodeGps/decodeLbs/decodeStatus/
decodeAlarm`). Alarm names are mapped to the gateway's shared vocabulary; codes that have no
name there become "general", and the raw alarm byte is kept as `alarm_code`.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.decoded import FixFields
from gateway.refusals import Reason

GPS_BLOCK_SIZE = 18
UNITS_PER_DEGREE = 1_800_000  # minutes x 30 000

# Terminal information byte, bits 3-5 (PROTOCOLS.md 1.2).
STATUS_ALARMS = {1: "vibration", 2: "power_cut", 3: "low_battery", 4: "sos", 6: "general", 7: "tampering"}

# Alarm byte of 0x16/0x26/0x13 (Traccar decodeAlarm), in the gateway's vocabulary.
ALARM_CODES = {
    0x01: "sos",
    0x02: "power_cut",
    0x03: "vibration",
    0x09: "vibration",
    0x04: "general",  # geofence enter
    0x05: "general",  # geofence exit
    0x06: "overspeed",
    0x0E: "low_battery",
    0x0F: "low_battery",
    0x11: "general",  # power off
    0x13: "tampering",
    0x25: "tampering",
    0x0C: "tampering",
    0x32: "tampering",
    0x14: "door",
    0x18: "tampering",  # removed from the vehicle
    0x23: "general",  # fall down
    0x26: "general",  # harsh acceleration
    0x29: "general",
    0x27: "general",  # harsh braking
    0x28: "general",
    0x2A: "general",  # harsh cornering
    0x2B: "general",
    0x2C: "accident",
    0x30: "tampering",  # jamming
}


class FieldError(ValueError):
    """A field that cannot be decoded (too short, impossible date, not BCD...)."""

    def __init__(self, detail: str, reason: Reason = Reason.BAD_FRAME) -> None:
        super().__init__(detail)
        self.reason = reason


def decode_gps(info: bytes, utc_offset_min: int = 0) -> FixFields:
    """The 18-byte GPS block: time, satellites, position, speed (km/h), course and flags."""
    if len(info) < GPS_BLOCK_SIZE:
        raise FieldError(f"GPS block of {len(info)} bytes")
    yy, month, day, hour, minute, second = info[:6]
    try:
        local = datetime(2000 + yy, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise FieldError(f"GPS time {info[:6].hex()}", Reason.BAD_TIME) from exc
    lat = int.from_bytes(info[7:11], "big") / UNITS_PER_DEGREE
    lon = int.from_bytes(info[11:15], "big") / UNITS_PER_DEGREE
    flags = int.from_bytes(info[16:18], "big")
    attributes: dict[str, Any] = {}
    if flags & 0x4000:  # ACC state present
        attributes["ignition"] = bool(flags & 0x8000)
    return FixFields(
        fix_time=local - timedelta(minutes=utc_offset_min),
        lat=lat if flags & 0x0400 else -lat,  # bit 10: north
        lon=-lon if flags & 0x0800 else lon,  # bit 11: west
        speed_kmh=float(info[15]),
        course=float(flags & 0x03FF),
        satellites=info[6] & 0x0F,
        valid=bool(flags & 0x1000),  # bit 12: GPS positioned
        attributes=attributes,
    )


def decode_lbs(data: bytes) -> tuple[dict[str, int], int]:
    """The cell block (MCC 2, MNC 1 or 2, LAC 2, CID 3) and how many bytes it took."""
    if len(data) < 8:
        raise FieldError(f"LBS block of {len(data)} bytes")
    mcc = int.from_bytes(data[0:2], "big")
    mnc_size = 2 if mcc & 0x8000 else 1  # bit 15 of MCC: a 2-byte MNC
    if len(data) < 7 + mnc_size:
        raise FieldError(f"LBS block of {len(data)} bytes")
    at = 2 + mnc_size
    cell = {
        "mcc": mcc & 0x7FFF,
        "mnc": int.from_bytes(data[2:at], "big"),
        "lac": int.from_bytes(data[at : at + 2], "big"),
        "cid": int.from_bytes(data[at + 2 : at + 5], "big"),
    }
    return cell, at + 5


def decode_terminal_status(data: bytes) -> dict[str, Any]:
    """Terminal information, voltage level, GSM signal [, alarm byte]: heartbeat 0x13 and alarms."""
    info = data[0]
    attributes: dict[str, Any] = {
        "status": info,
        "armed": bool(info & 0x01),
        "ignition": bool(info & 0x02),
        "charging": bool(info & 0x04),
        "blocked": bool(info & 0x80),  # oil/electricity cut by command
    }
    alarm = STATUS_ALARMS.get((info >> 3) & 0x07)
    level = data[1]
    attributes["battery_pct"] = round(level * 100 / 6) if level <= 6 else min(level, 100)
    attributes["gsm_signal"] = data[2]
    if len(data) >= 4 and data[3]:
        attributes["alarm_code"] = data[3]
        alarm = ALARM_CODES.get(data[3], "general")
    if alarm is not None:
        attributes["alarm"] = alarm
    return attributes


def merged(fix: FixFields, attributes: dict[str, Any], backlog: bool) -> FixFields:
    """`fix` with more attributes (they win over the GPS block's) and the backlog flag."""
    return dataclasses.replace(fix, attributes={**(fix.attributes or {}), **attributes}, backlog=backlog)
