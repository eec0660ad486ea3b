"""Per-fix checks, one predicate per refusal reason. Pure: a fix and the clock in, a refusal or None out."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

from gateway.decoded import FixFields
from gateway.refusals import Reason, Refusal
from gateway.settings import GatewaySettings

MAX_ATTRIBUTES_BYTES = 16_384
Check = Callable[[FixFields, datetime, GatewaySettings], Refusal | None]


def latitude_in_range(f: FixFields, now: datetime, s: GatewaySettings) -> Refusal | None:
    return None if -90.0 <= f.lat <= 90.0 else Refusal(Reason.LAT_OUT_OF_RANGE, f"{f.lat}")


def longitude_in_range(f: FixFields, now: datetime, s: GatewaySettings) -> Refusal | None:
    return None if -180.0 <= f.lon <= 180.0 else Refusal(Reason.LON_OUT_OF_RANGE, f"{f.lon}")


def not_null_island(f: FixFields, now: datetime, s: GatewaySettings) -> Refusal | None:
    # (0, 0) is what many trackers send before their first fix.
    return Refusal(Reason.ZERO_COORDINATES) if f.lat == 0.0 and f.lon == 0.0 else None


def not_in_future(f: FixFields, now: datetime, s: GatewaySettings) -> Refusal | None:
    ahead = (f.fix_time - now).total_seconds()
    return Refusal(Reason.TIME_IN_FUTURE, f"{ahead:.0f} s ahead") if ahead > s.max_future_s else None


def not_too_old(f: FixFields, now: datetime, s: GatewaySettings) -> Refusal | None:
    if now - f.fix_time > timedelta(days=s.max_age_days):
        return Refusal(Reason.TOO_OLD, f.fix_time.isoformat())
    return None


def speed_plausible(f: FixFields, now: datetime, s: GatewaySettings) -> Refusal | None:
    if f.speed_kmh is None or 0.0 <= f.speed_kmh <= s.max_speed_kmh:
        return None
    return Refusal(Reason.BAD_SPEED, f"{f.speed_kmh} km/h")


def heading_in_range(f: FixFields, now: datetime, s: GatewaySettings) -> Refusal | None:
    if f.course is None or 0.0 <= f.course <= 360.0:
        return None
    return Refusal(Reason.BAD_HEADING, f"{f.course}")


def values_plausible(f: FixFields, now: datetime, s: GatewaySettings) -> Refusal | None:
    for name, value, low, high in (
        ("accuracy_m", f.accuracy_m, 0.0, 100_000.0),
        ("hdop", f.hdop, 0.0, 100.0),
        ("altitude_m", f.altitude_m, -1_000.0, 100_000.0),
        ("satellites", f.satellites, 0, 255),
    ):
        if value is not None and not (low <= value <= high):  # NaN fails too
            return Refusal(Reason.BAD_VALUE, f"{name} {value}")
    return None


def attributes_storable(f: FixFields, now: datetime, s: GatewaySettings) -> Refusal | None:
    if not f.attributes:
        return None
    try:
        # What jsonb will hold: strict JSON (no NaN or infinities), no NUL characters.
        text = json.dumps(f.attributes, allow_nan=False, default=str)
    except (ValueError, TypeError) as exc:
        return Refusal(Reason.BAD_ATTRIBUTES, str(exc)[:80])
    if _has_nul(f.attributes):
        return Refusal(Reason.BAD_ATTRIBUTES, "NUL character")
    if len(text) > MAX_ATTRIBUTES_BYTES:
        return Refusal(Reason.BAD_ATTRIBUTES, f"{len(text)} bytes > {MAX_ATTRIBUTES_BYTES}")
    return None


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


# Every decoded fix passes these, in this order; the first refusal wins.
FIX_CHECKS: tuple[Check, ...] = (
    latitude_in_range,
    longitude_in_range,
    not_null_island,
    not_in_future,
    not_too_old,
    speed_plausible,
    heading_in_range,
    values_plausible,
    attributes_storable,
)


def first_refusal(f: FixFields, now: datetime, s: GatewaySettings) -> Refusal | None:
    for check in FIX_CHECKS:
        refusal = check(f, now, s)
        if refusal is not None:
            return refusal
    return None
