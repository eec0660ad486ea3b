"""The project's MQTT JSON payload: one fix object, or an array of them (a backlog upload).

    {"time": "2026-11-27T08:00:00Z" | epoch s | epoch ms, "lat": 16.0544, "lon": 108.2022,
     "speed_kmh": 42.5, "heading": 180, "alt_m": 5, "accuracy_m": 4, "sats": 9, "attrs": {...}}

Pure functions: bytes in, field values or refusals out.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from gateway.decoded import FixFields
from gateway.refusals import Reason, Refusal

# Epoch numbers above this are milliseconds (as seconds it would be the year 5138).
_EPOCH_MS_THRESHOLD = 100_000_000_000
_OPTIONAL_NUMBERS = {
    "speed_kmh": "speed_kmh",
    "heading": "course",
    "alt_m": "altitude_m",
    "accuracy_m": "accuracy_m",
    "hdop": "hdop",
}


def split_payload(payload: bytes, max_fixes: int) -> list[Any] | Refusal:
    """The fix objects in a payload (one, or the elements of an array), or why it is refused."""
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nested too deep
        return Refusal(Reason.BAD_JSON, str(exc)[:120])
    if isinstance(doc, dict):
        return [doc]
    if isinstance(doc, list):
        if not doc:
            return Refusal(Reason.EMPTY_BATCH)
        if len(doc) > max_fixes:
            return Refusal(Reason.TOO_MANY_FIXES, f"{len(doc)} > {max_fixes}")
        return doc
    return Refusal(Reason.BAD_SHAPE, f"expected an object or an array, got {type(doc).__name__}")


def parse_fix(obj: Any) -> FixFields | Refusal:
    """Decode one fix object; types are checked here, ranges by the pipeline's checks."""
    if not isinstance(obj, dict):
        return Refusal(Reason.BAD_SHAPE, f"a fix must be an object, got {type(obj).__name__}")
    for name in ("time", "lat", "lon"):
        if name not in obj or obj[name] is None:
            return Refusal(Reason.MISSING_FIELD, name)
    fix_time = parse_time(obj["time"])
    if isinstance(fix_time, Refusal):
        return fix_time
    values: dict[str, Any] = {}
    for name in ("lat", "lon", *_OPTIONAL_NUMBERS):
        value = obj.get(name)
        if value is None:
            continue
        if not _is_number(value):
            return Refusal(Reason.BAD_TYPE, f"{name} must be a number")
        values[_OPTIONAL_NUMBERS.get(name, name)] = float(value)
    sats = obj.get("sats")
    if sats is not None and not (isinstance(sats, int) and not isinstance(sats, bool) and 0 <= sats <= 255):
        return Refusal(Reason.BAD_TYPE, "sats must be an integer 0-255")
    valid = obj.get("valid", True)
    if not isinstance(valid, bool):
        return Refusal(Reason.BAD_TYPE, "valid must be true or false")
    attrs = obj.get("attrs")
    if attrs is not None and not isinstance(attrs, dict):
        return Refusal(Reason.BAD_TYPE, "attrs must be an object")
    return FixFields(fix_time=fix_time, satellites=sats, valid=valid, attributes=attrs, **values)


def parse_time(value: Any) -> datetime | Refusal:
    """ISO 8601 with an offset or 'Z', or a Unix epoch in seconds or milliseconds, as aware UTC."""
    if _is_number(value):
        seconds = value / 1000 if abs(value) >= _EPOCH_MS_THRESHOLD else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return Refusal(Reason.BAD_TIME, f"epoch out of range: {value}")
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return Refusal(Reason.BAD_TIME, f"not ISO 8601: {value[:40]!r}")
        if moment.tzinfo is None:
            # A naive time is ambiguous (trackers in Vietnam often send local time): refuse it.
            return Refusal(Reason.BAD_TIME, "time needs a UTC offset or 'Z'")
        try:
            return moment.astimezone(UTC)
        except OverflowError:  # 9999-12-31T23:59:59-05:00 is past the year 9999 in UTC
            return Refusal(Reason.BAD_TIME, f"out of range in UTC: {value[:40]!r}")
    return Refusal(Reason.BAD_TYPE, "time must be an ISO 8601 string or an epoch number")


def _is_number(value: Any) -> bool:
    """A finite JSON number a float can hold (an integer literal of 400 digits cannot)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False
