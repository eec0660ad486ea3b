"""OsmAnd / Traccar Client HTTP protocol, query-string and form variant (Traccar's port 5055).

    GET|POST /?id=123456&timestamp=1377177267&lat=60.0&lon=30.0&speed=0.0&bearing=0.0&altitude=0&hdop=0.0

Pure functions: the request's parameters in, one fix (or why it is refused) out. The JSON variant
(Traccar Client 9+) is in `osmand_json`; both produce an `OsmAndMessage`. Facts from Traccar's
`OsmAndProtocolDecoder` (see docs PROTOCOLS.md section 4); departures are noted where they are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from gateway.decoded import FixFields
from gateway.refusals import Reason, Refusal

# `speed` units (Traccar's `osmand.speed`): Traccar Client sends knots, the OsmAnd app m/s.
SPEED_TO_KMH = {"knots": 1.852, "kmh": 1.0, "mps": 3.6, "mph": 1.609344}
# Traccar: an integer timestamp below 2^31 - 1 is epoch seconds, otherwise milliseconds.
_EPOCH_SECONDS_LIMIT = 2**31 - 1
MAX_ALTITUDE_M = 100_000.0  # beyond this the value is garbage (and would overflow a `real`)
MAX_EXTRA_ATTRIBUTES = 64
MAX_NAME_CHARS = 64
MAX_VALUE_CHARS = 256
# Traccar's alarm names -> ours (gateway/decoded attribute conventions).
ALARMS = {
    "sos": "sos",
    "general": "general",
    "vibration": "vibration",
    "overspeed": "overspeed",
    "lowbattery": "low_battery",
    "low_battery": "low_battery",
    "powercut": "power_cut",
    "power_cut": "power_cut",
    "door": "door",
    "tow": "tow",
    "accident": "accident",
    "tampering": "tampering",
}
_IDENTITY = {"id", "deviceid"}
_FIELDS = {"timestamp", "lat", "lon", "location", "speed", "bearing", "heading", "altitude", "accuracy"}
_DROPPED = {"token", "notificationToken"}  # secrets: never stored


@dataclass(frozen=True, slots=True)
class OsmAndMessage:
    """One request: who claims to send it, its token (if carried in the parameters or body), and
    its fixes. `batch` is True for a JSON array of locations: a backlog upload."""

    device_id: str
    token: str | None
    items: tuple[FixFields | Refusal, ...]
    batch: bool = False


def decode_query(
    params: Sequence[tuple[str, str]],
    received_at: datetime,
    speed_unit: str = "knots",
    naive_tz: tzinfo = UTC,
) -> OsmAndMessage | Refusal:
    """The message carried by query/form parameters, or why the request is malformed. Without a
    `timestamp` the fix is dated `received_at` (Traccar does the same)."""
    ids = {value for name, value in params if name in _IDENTITY and value}
    if not ids:
        return Refusal(Reason.MISSING_FIELD, "id (or deviceid) is required")
    if len(ids) > 1:
        return Refusal(Reason.BAD_SHAPE, "several different device ids in one request")
    tokens = [value for name, value in params if name == "token" and value]
    fix = _fix(params, received_at, SPEED_TO_KMH[speed_unit], naive_tz)
    return OsmAndMessage(ids.pop(), tokens[-1] if tokens else None, (fix,))


def _fix(
    params: Sequence[tuple[str, str]], received_at: datetime, speed_factor: float, naive_tz: tzinfo
) -> FixFields | Refusal:
    values: dict[str, Any] = {"fix_time": received_at}
    attrs: dict[str, Any] = {}
    extras = 0
    for name, raw in params:
        value = raw.strip()
        if not value or name in _IDENTITY or name in _DROPPED:
            continue  # Traccar skips empty values
        if name in _FIELDS or name in _ATTRIBUTE_PARSERS:
            refusal = _apply(name, value, values, attrs, speed_factor, naive_tz)
            if refusal is not None:
                return refusal
            continue
        extras += 1
        if extras > MAX_EXTRA_ATTRIBUTES:
            return Refusal(Reason.BAD_SHAPE, f"more than {MAX_EXTRA_ATTRIBUTES} extra parameters")
        extra = extra_attribute(name, value)
        if isinstance(extra, Refusal):
            return extra
        attrs[name] = extra
    if "lat" not in values or "lon" not in values:
        return Refusal(Reason.MISSING_FIELD, "lat and lon (or location=lat,lon) are required")
    # These three are FixFields fields, parsed with the attributes.
    values["valid"] = attrs.pop("valid", True)
    values["hdop"] = attrs.pop("hdop", None)
    values["satellites"] = attrs.pop("sat", None)
    return FixFields(**values, attributes=attrs or None)


def _merge(attrs: dict[str, Any], parsed: dict[str, Any]) -> None:
    """Repeated `wifi` parameters accumulate; a repeated `cell` keeps the first as `cell` and all
    of them in `cells`; anything else repeated: the last value wins (as in Traccar)."""
    for key, value in parsed.items():
        if key == "wifi":
            attrs.setdefault("wifi", []).extend(value)
        elif key == "cell" and "cell" in attrs:
            attrs.setdefault("cells", [attrs["cell"]]).append(value)
        else:
            attrs[key] = value


def _apply(
    name: str,
    value: str,
    values: dict[str, Any],
    attrs: dict[str, Any],
    speed_factor: float,
    naive_tz: tzinfo,
) -> Refusal | None:
    """Set what the parameter `name` means; a refusal when its value does not parse."""
    if name == "timestamp":
        moment = parse_timestamp(value, naive_tz)
        if isinstance(moment, Refusal):
            return moment
        values["fix_time"] = moment
        return None
    if name == "location":
        parts = value.split(",")
        lat, lon = (number(parts[0]), number(parts[1])) if len(parts) == 2 else (None, None)
        if lat is None or lon is None:
            return Refusal(Reason.BAD_TYPE, f"location must be lat,lon: {value[:40]!r}")
        values["lat"], values["lon"] = lat, lon
        return None
    if name in _ATTRIBUTE_PARSERS:
        parsed = _ATTRIBUTE_PARSERS[name](value)
        if isinstance(parsed, Refusal):
            return parsed
        _merge(attrs, parsed)
        return None
    n = number(value)
    if n is None:
        return Refusal(Reason.BAD_TYPE, f"{name} must be a number: {value[:40]!r}")
    if name in ("lat", "lon"):
        values[name] = n
    elif name == "speed":  # negative: unknown (old iOS clients send -1)
        values["speed_kmh"] = n * speed_factor if n >= 0 else None
    elif name in ("bearing", "heading"):
        values["course"] = n if n >= 0 else None
    elif name == "altitude":
        if abs(n) > MAX_ALTITUDE_M:
            return Refusal(Reason.BAD_TYPE, f"altitude out of range: {n}")
        values["altitude_m"] = n
    elif name == "accuracy":
        values["accuracy_m"] = n if n >= 0 else None
    return None


def parse_timestamp(value: str, naive_tz: tzinfo = UTC) -> datetime | Refusal:
    """Traccar's forms: epoch seconds (< 2^31 - 1) or milliseconds; ISO 8601 when it holds a 'T';
    otherwise `yyyy-MM-dd HH:mm:ss`. A time without an offset is read in `naive_tz` (Traccar uses
    the server's zone; we make it explicit, UTC by default)."""
    epoch = number(value)
    if epoch is not None:
        seconds = epoch if epoch < _EPOCH_SECONDS_LIMIT else epoch / 1000
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return Refusal(Reason.BAD_TIME, f"epoch out of range: {value[:40]}")
    try:
        if "T" in value:
            moment = datetime.fromisoformat(value)
        else:
            moment = datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return Refusal(Reason.BAD_TIME, f"not an epoch, ISO 8601 or 'yyyy-MM-dd HH:mm:ss': {value[:40]!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=naive_tz)
    return in_utc(moment, value)


def in_utc(moment: datetime, text: str) -> datetime | Refusal:
    """`moment` in UTC; a refusal when UTC falls outside the years 1-9999 (`9999-12-31T23:59-05:00`)."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return Refusal(Reason.BAD_TIME, f"out of range in UTC: {text[:40]!r}")


def number(value: Any) -> float | None:
    """A finite float from a string or JSON number; None when it is not one (NaN, inf, text, bool)."""
    if isinstance(value, bool):
        return None
    try:
        n = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a JSON integer beyond a double
        return None
    return n if math.isfinite(n) else None


def boolean(value: str) -> bool | None:
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    return None


def alarm_attributes(value: str) -> dict[str, Any]:
    """`alarm` in our vocabulary; an alarm we do not know is `general`, with the raw name kept."""
    names = [n.strip() for n in value.split(",") if n.strip()]
    known = [ALARMS[n.lower()] for n in names if n.lower() in ALARMS]
    attrs: dict[str, Any] = {"alarm": known[0] if known else "general"}
    if not known or len(names) > 1:
        attrs["alarm_raw"] = value[:MAX_VALUE_CHARS]
    return attrs


def extra_attribute(name: str, value: str) -> Any:
    """Any other parameter, as Traccar keeps it: a number, true/false, or the string."""
    if len(name) > MAX_NAME_CHARS or len(value) > MAX_VALUE_CHARS:
        return Refusal(Reason.BAD_SHAPE, f"parameter too long: {name[:MAX_NAME_CHARS]!r}")
    if "\x00" in name or "\x00" in value:  # PostgreSQL's jsonb cannot store NUL
        return Refusal(Reason.BAD_TYPE, f"NUL character in parameter {name[:MAX_NAME_CHARS]!r}")
    n = number(value)
    if n is not None:
        return n
    if value in ("true", "false"):
        return value == "true"
    return value


def _flag(key: str) -> Any:
    def parse(value: str) -> dict[str, Any] | Refusal:
        flag = boolean(value)
        if flag is None:
            return Refusal(Reason.BAD_TYPE, f"{key} must be true, false, 1 or 0: {value[:40]!r}")
        return {key: flag}

    return parse


def _numeric(key: str, scale: float = 1.0, minimum: float | None = None) -> Any:
    def parse(value: str) -> dict[str, Any] | Refusal:
        n = number(value)
        if n is None:
            return Refusal(Reason.BAD_TYPE, f"{key} must be a number: {value[:40]!r}")
        return {} if minimum is not None and n < minimum else {key: n * scale}

    return parse


def _satellites(value: str) -> dict[str, Any] | Refusal:
    n = number(value)
    if n is None or not n.is_integer() or not 0 <= n <= 255:
        return Refusal(Reason.BAD_TYPE, f"sat must be an integer 0-255: {value[:40]!r}")
    return {"sat": int(n)}


def _cell(value: str) -> dict[str, Any] | Refusal:
    parts = value.split(",")
    try:
        ints = [int(p) for p in parts]
    except ValueError:
        ints = []
    if len(ints) not in (4, 5):
        return Refusal(Reason.BAD_TYPE, f"cell must be mcc,mnc,lac,cid[,rssi]: {value[:40]!r}")
    cell = dict(zip(("mcc", "mnc", "lac", "cid", "rssi"), ints, strict=False))
    return {"cell": cell}


def _wifi(value: str) -> dict[str, Any] | Refusal:
    mac, _, rssi = value.partition(",")
    try:
        level = int(rssi)
    except ValueError:
        return Refusal(Reason.BAD_TYPE, f"wifi must be mac,rssi: {value[:40]!r}")
    return {"wifi": [{"mac": mac.replace("-", ":").lower()[:17], "rssi": level}]}


def _driver(value: str) -> dict[str, Any] | Refusal:
    extra = extra_attribute("driverUniqueId", value)
    return extra if isinstance(extra, Refusal) else {"driver_unique_id": value}


# Parameters with a meaning of their own, besides the FixFields ones.
_ATTRIBUTE_PARSERS: dict[str, Any] = {
    "batt": _numeric("battery_pct"),
    "charge": _flag("charging"),
    "ignition": _flag("ignition"),
    "alarm": alarm_attributes,
    "hdop": _numeric("hdop", minimum=0.0),
    "sat": _satellites,
    "odometer": _numeric("odometer_m", scale=1000.0),  # Traccar: km in the query form
    "cell": _cell,
    "wifi": _wifi,
    "driverUniqueId": _driver,
    "valid": _flag("valid"),
}
