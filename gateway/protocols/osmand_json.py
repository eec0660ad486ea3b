"""OsmAnd protocol, JSON variant: Traccar Client 9+ posts the background-geolocation SDK's format.

    {"device_id": "48241179",
     "location": {"timestamp": "2025-06-15T13:45:12.862Z",
                  "coords": {"latitude": 37.42, "longitude": -122.08, "accuracy": 5, "speed": 0,
                             "heading": -1, "altitude": 5},
                  "is_moving": false, "odometer": 0, "event": "motionchange",
                  "battery": {"level": 1, "is_charging": false}, "activity": {"type": "still"},
                  "extras": {}}}

`location` may also be an array, or `locations` an array (the SDK's batch upload): a backlog, whose
fixes are marked as such. Speeds are m/s; a negative speed, heading or accuracy means unknown.
Pure functions, as Traccar's `OsmAndProtocolDecoder.decodeJson` reads it; departures: Traccar drops
accuracies below `osmand.minAccuracy` (10 m) to 0, we keep them; and we take batches.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, tzinfo
from typing import Any

from gateway.decoded import FixFields
from gateway.protocols.osmand import (
    MAX_ALTITUDE_M,
    MAX_EXTRA_ATTRIBUTES,
    MAX_NAME_CHARS,
    MAX_VALUE_CHARS,
    OsmAndMessage,
    alarm_attributes,
    in_utc,
    number,
)
from gateway.refusals import Reason, Refusal

MPS_TO_KMH = 3.6


def decode_json(body: bytes, max_fixes: int, naive_tz: tzinfo = UTC) -> OsmAndMessage | Refusal:
    """The message in a JSON body, or why the request is malformed."""
    try:
        root = json.loads(body, parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nested too deep
        return Refusal(Reason.BAD_JSON, str(exc)[:120])
    if not isinstance(root, dict):
        return Refusal(Reason.BAD_SHAPE, f"expected a JSON object, got {type(root).__name__}")
    device_id = root.get("device_id")
    if isinstance(device_id, int) and not isinstance(device_id, bool):
        device_id = str(device_id)
    if not isinstance(device_id, str) or not device_id:
        return Refusal(Reason.MISSING_FIELD, "device_id (a non-empty string) is required")
    location, locations = root.get("location"), root.get("locations")
    objects: list[Any]
    if isinstance(location, dict):
        objects, batch = [location], False
    elif isinstance(location, list):
        objects, batch = location, True
    elif isinstance(locations, list):
        objects, batch = locations, True
    else:
        return Refusal(Reason.MISSING_FIELD, "location (an object) or locations (an array) is required")
    if not objects:
        return Refusal(Reason.EMPTY_BATCH)
    if len(objects) > max_fixes:
        return Refusal(Reason.TOO_MANY_FIXES, f"{len(objects)} > {max_fixes}")
    items = tuple(parse_location(obj, naive_tz) for obj in objects)
    if batch:
        items = tuple(dataclasses.replace(i, backlog=True) if isinstance(i, FixFields) else i for i in items)
    return OsmAndMessage(device_id, None, items, batch)


def parse_location(obj: Any, naive_tz: tzinfo = UTC) -> FixFields | Refusal:
    """One SDK location object."""
    if not isinstance(obj, dict):
        return Refusal(Reason.BAD_SHAPE, f"a location must be an object, got {type(obj).__name__}")
    fix_time = _timestamp(obj.get("timestamp"), naive_tz)
    if isinstance(fix_time, Refusal):
        return fix_time
    coords = obj.get("coords")
    if not isinstance(coords, dict):
        return Refusal(Reason.MISSING_FIELD, "coords")
    if coords.get("latitude") is None or coords.get("longitude") is None:
        return Refusal(Reason.MISSING_FIELD, "coords.latitude and coords.longitude")
    lat, lon = json_number(coords["latitude"]), json_number(coords["longitude"])
    if lat is None or lon is None:
        return Refusal(Reason.BAD_TYPE, "coords.latitude and coords.longitude must be numbers")
    speed, heading = _known(coords.get("speed")), _known(coords.get("heading"))
    altitude = json_number(coords.get("altitude"))
    if altitude is not None and abs(altitude) > MAX_ALTITUDE_M:
        return Refusal(Reason.BAD_TYPE, f"altitude out of range: {altitude}")
    attrs = _attributes(obj)
    if isinstance(attrs, Refusal):
        return attrs
    return FixFields(
        fix_time=fix_time,
        lat=lat,
        lon=lon,
        speed_kmh=None if speed is None else speed * MPS_TO_KMH,
        course=heading,
        altitude_m=altitude,
        accuracy_m=_known(coords.get("accuracy")),
        attributes=attrs or None,
    )


def _timestamp(value: Any, naive_tz: tzinfo) -> datetime | Refusal:
    if not isinstance(value, str):
        return Refusal(Reason.MISSING_FIELD, "location.timestamp (ISO 8601) is required")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return Refusal(Reason.BAD_TIME, f"not ISO 8601: {value[:40]!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=naive_tz)
    return in_utc(moment, value)


def json_number(value: Any) -> float | None:
    """A JSON number as a float (not a string, not a boolean)."""
    return number(value) if isinstance(value, int | float) else None


def _known(value: Any) -> float | None:
    """The SDK's convention: -1 (any negative) for unknown."""
    n = json_number(value)
    return n if n is not None and n >= 0 else None


def _attributes(obj: dict[str, Any]) -> dict[str, Any] | Refusal:
    attrs: dict[str, Any] = {}
    if isinstance(obj.get("is_moving"), bool):
        attrs["motion"] = obj["is_moving"]
    if (odometer := _known(obj.get("odometer"))) is not None:
        attrs["odometer_m"] = odometer
    if isinstance(obj.get("event"), str):
        attrs["event"] = obj["event"][:MAX_VALUE_CHARS].replace("\x00", "")
    if isinstance(obj.get("mock"), bool):
        attrs["mock"] = obj["mock"]
    activity = obj.get("activity")
    if isinstance(activity, dict) and isinstance(activity.get("type"), str):
        attrs["activity"] = activity["type"][:MAX_VALUE_CHARS].replace("\x00", "")
    battery = obj.get("battery")
    if isinstance(battery, dict):
        if (level := _known(battery.get("level"))) is not None:
            attrs["battery_pct"] = round(level * 100)
        if isinstance(battery.get("is_charging"), bool):
            attrs["charging"] = battery["is_charging"]
    if isinstance(obj.get("alarm"), str):
        attrs.update(alarm_attributes(obj["alarm"]))
    extras = obj.get("extras")
    if isinstance(extras, dict):
        if len(extras) > MAX_EXTRA_ATTRIBUTES:
            return Refusal(Reason.BAD_SHAPE, f"more than {MAX_EXTRA_ATTRIBUTES} extras")
        for name, value in extras.items():
            if name == "alarm" and isinstance(value, str) and "alarm" not in attrs:
                attrs.update(alarm_attributes(value))
            elif name not in attrs and (kept := _extra(name, value)) is not None:
                attrs[name] = kept
    return attrs


def _extra(name: str, value: Any) -> Any:
    """Extras are kept under their own names when they are plain values (never overriding ours)."""
    if len(name) > MAX_NAME_CHARS or "\x00" in name:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return json_number(value)
    if isinstance(value, str) and len(value) <= MAX_VALUE_CHARS and "\x00" not in value:
        return value
    return None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")  # NaN/Infinity cannot be stored in jsonb
