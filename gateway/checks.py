"""Per-fix checks, one predicate per refusal reason. Pure: a fix and the clock in, a refusal or None out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from gateway.decoded import FixFields
from gateway.refusals import Reason, Refusal
from gateway.settings import GatewaySettings

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


# Every decoded fix passes these, in this order; the first refusal wins.
FIX_CHECKS: tuple[Check, ...] = (
    latitude_in_range,
    longitude_in_range,
    not_null_island,
    not_in_future,
    not_too_old,
    speed_plausible,
    heading_in_range,
)


def first_refusal(f: FixFields, now: datetime, s: GatewaySettings) -> Refusal | None:
    for check in FIX_CHECKS:
        refusal = check(f, now, s)
        if refusal is not None:
            return refusal
    return None
