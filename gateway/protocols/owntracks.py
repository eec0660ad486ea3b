"""OwnTracks (iOS/Android app) JSON over MQTT: `owntracks/<user>/<device>`.

    {"_type":"location","tst":1551874878,"lat":46.0681247,"lon":11.1512805,"acc":15,"alt":440,
     "batt":46,"conn":"w","t":"u","tid":"5t","vac":2,"vel":0}

Format: the OwnTracks booklet, "JSON" (owntracks.org/booklet/tech/json/). `vel` is km/h, `cog`
degrees, `alt`/`acc`/`vac` metres, `tst` epoch seconds of the fix. Messages of other types (lwt,
transition, waypoint, card, status...) carry no fix of the device and are acknowledged and counted.
Payloads encrypted by the app (`_type: encrypted`) are refused: the gateway has no key.

The booklet defines no "buffered" flag. A message built while the phone was offline (`conn: "o"`)
can only have reached us from the app's outgoing queue, so it is marked as backlog; other late
messages are stored as late when older than the vehicle's latest fix.

Pure functions: topic and payload in, the device id and one fix (or why not) out.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.decoded import FixFields
from gateway.refusals import Reason, Refusal

TOPIC_FILTER = "owntracks/+/+"
# The registered device id is `<user>.<device>` (ids allow [A-Za-z0-9_.:-]); the user part holds
# no dot, so the mapping is one to one (and matches the broker ACL, admin/broker_auth.py).
_USER = re.compile(r"^[A-Za-z0-9_:-]+$")
_DEVICE = re.compile(r"^[A-Za-z0-9_.:-]+$")
MAX_DEVICE_ID = 64
MAX_ALTITUDE_M = 100_000.0
KNOWN_TYPES = frozenset(
    {"beacon", "card", "cmd", "configuration", "lwt", "request", "status", "steps", "transition"}
    | {"waypoint", "waypoints", "dump"}
)
TRIGGERS = {
    "p": "ping",  # background ping: `tst` is the current time, the position the last known one
    "c": "region",
    "C": "follow_region",
    "b": "beacon",
    "r": "report_location",
    "u": "manual",
    "t": "timer",
    "v": "frequent_locations",
}
BATTERY_STATUS = {0: "unknown", 1: "unplugged", 2: "charging", 3: "full"}
CONNECTIVITY = {"w": "wifi", "o": "offline", "m": "mobile"}


@dataclass(frozen=True, slots=True)
class Ignored:
    """A well-formed message that carries no fix (its `_type`, or `other`)."""

    type: str


def device_id_from_topic(topic: str) -> str | Refusal:
    """`owntracks/jane/phone` -> `jane.phone`, the id to register the phone under."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != "owntracks":
        return Refusal(Reason.BAD_TOPIC, topic[:80])
    user, device = parts[1], parts[2]
    device_id = f"{user}.{device}"
    if not _USER.match(user) or not _DEVICE.match(device) or len(device_id) > MAX_DEVICE_ID:
        return Refusal(
            Reason.BAD_TOPIC,
            f"{topic[:80]}: user [A-Za-z0-9_:-], device [A-Za-z0-9_.:-], {MAX_DEVICE_ID} characters in all",
        )
    return device_id


def decode(payload: bytes) -> FixFields | Ignored | Refusal:
    """One message: a location fix, a message to ignore, or why it is refused. A refusal with
    reason BAD_JSON, BAD_SHAPE or ENCRYPTED concerns the whole message; others, its fix."""
    try:
        doc = json.loads(payload, parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nested too deep
        return Refusal(Reason.BAD_JSON, str(exc)[:120])
    if not isinstance(doc, dict) or not isinstance(doc.get("_type"), str):
        return Refusal(Reason.BAD_SHAPE, "expected a JSON object with a _type")
    kind = doc["_type"]
    if kind == "encrypted":
        return Refusal(Reason.ENCRYPTED, "turn off payload encryption in the app: the gateway has no key")
    if kind != "location":
        return Ignored(kind if kind in KNOWN_TYPES else "other")
    return parse_location(doc)


def parse_location(doc: dict[str, Any]) -> FixFields | Refusal:
    for name in ("tst", "lat", "lon"):
        if doc.get(name) is None:
            return Refusal(Reason.MISSING_FIELD, name)
    lat, lon, tst = _number(doc["lat"]), _number(doc["lon"]), _number(doc["tst"])
    if lat is None or lon is None:
        return Refusal(Reason.BAD_TYPE, "lat and lon must be numbers")
    if tst is None:
        return Refusal(Reason.BAD_TYPE, "tst must be an epoch number")
    try:
        fix_time = datetime.fromtimestamp(tst, UTC)
    except (OverflowError, OSError, ValueError):
        return Refusal(Reason.BAD_TIME, f"epoch out of range: {tst}")
    altitude = _number(doc.get("alt"))
    if altitude is not None and abs(altitude) > MAX_ALTITUDE_M:
        return Refusal(Reason.BAD_TYPE, f"alt out of range: {altitude}")
    return FixFields(
        fix_time=fix_time,
        lat=lat,
        lon=lon,
        speed_kmh=_known(doc.get("vel")),
        course=_known(doc.get("cog")),
        altitude_m=altitude,
        accuracy_m=_known(doc.get("acc")),
        backlog=doc.get("conn") == "o",
        attributes=_attributes(doc) or None,
    )


def _attributes(doc: dict[str, Any]) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    if (batt := _known(doc.get("batt"))) is not None:
        attrs["battery_pct"] = batt
    if doc.get("bs") in BATTERY_STATUS:
        attrs["battery_status"] = BATTERY_STATUS[doc["bs"]]
    if isinstance(trigger := doc.get("t"), str) and trigger:
        attrs["trigger"] = TRIGGERS.get(trigger, _text(trigger))
    if doc.get("conn") in CONNECTIVITY:
        attrs["connection"] = CONNECTIVITY[doc["conn"]]
    if (vac := _known(doc.get("vac"))) is not None:
        attrs["vertical_accuracy_m"] = vac
    if (pressure := _number(doc.get("p"))) is not None:
        attrs["pressure_kpa"] = pressure
    if (created := _number(doc.get("created_at"))) is not None and 0 < created < 2**33:
        attrs["created_at"] = datetime.fromtimestamp(created, UTC).isoformat()
    if isinstance(doc.get("m"), int) and not isinstance(doc["m"], bool) and -10 <= doc["m"] <= 10:
        attrs["monitoring_mode"] = doc["m"]
    for name in ("tid", "poi", "tag"):
        if isinstance(doc.get(name), str):
            attrs[name] = _text(doc[name])
    regions = doc.get("inregions")
    if isinstance(regions, list):
        attrs["inregions"] = [_text(r) for r in regions[:16] if isinstance(r, str)]
    return attrs


def _number(value: Any) -> float | None:
    """A JSON number (not a string, not a boolean) as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        n = float(value)
    except OverflowError:  # an integer beyond a double
        return None
    return n if math.isfinite(n) else None


def _known(value: Any) -> float | None:
    """iOS leaves out (older versions: sends -1 for) values it does not know."""
    n = _number(value)
    return n if n is not None and n >= 0 else None


def _text(value: str) -> str:
    return value[:64].replace("\x00", "")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
