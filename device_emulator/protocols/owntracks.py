"""OwnTracks app messages for emulator fixes: `_type: location` JSON on `owntracks/<user>/<device>`.

Written from the OwnTracks booklet ("JSON", owntracks.org/booklet/tech/json/), apart from the
gateway's decoder on purpose: the round-trip tests then check one against the other. The app
sends integers for vel (km/h), cog, alt and acc and epoch seconds for tst; it has no batch form:
a phone that was offline sends its queued messages one by one, built with `conn: "o"`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC
from typing import Any

from device_emulator.fixes import Fix

_USER = re.compile(r"^[A-Za-z0-9_:-]+$")
_DEVICE = re.compile(r"^[A-Za-z0-9_.:-]+$")


def topic(user: str, device: str) -> str:
    """The app's publish topic (its default base topic)."""
    if not _USER.match(user) or not _DEVICE.match(device):
        raise ValueError(f"user [A-Za-z0-9_:-] and device [A-Za-z0-9_.:-] only: {user!r}/{device!r}")
    return f"owntracks/{user}/{device}"


def device_id(user: str, device: str) -> str:
    """The id to register the phone under (and its MQTT username): `<user>.<device>`."""
    topic(user, device)
    return f"{user}.{device}"


def location(
    fix: Fix, tid: str = "AM", battery_pct: int = 90, offline: bool = False, trigger: str | None = None
) -> dict[str, Any]:
    """One location message. `offline`: built while the phone had no connection (sent later)."""
    message: dict[str, Any] = {
        "_type": "location",
        "tst": int(fix.time.astimezone(UTC).timestamp()),
        "lat": fix.lat,
        "lon": fix.lon,
        "vel": round(fix.speed_kmh),
        "cog": fix.heading,
        "alt": fix.alt_m,
        "acc": fix.accuracy_m,
        "batt": battery_pct,
        "bs": 2,  # charging: the phone is on the ambulance's charger
        "conn": "o" if offline else "m",
        "tid": tid,
        "m": 2,  # move mode, as a tracking phone is set up
    }
    if trigger is not None:
        message["t"] = trigger
    return message


def location_payload(fix: Fix, tid: str = "AM", offline: bool = False) -> bytes:
    return json.dumps(location(fix, tid, offline=offline), separators=(",", ":")).encode()


def backlog_payloads(fixes: list[Fix], tid: str = "AM") -> list[bytes]:
    """Messages queued while offline, oldest first, as the app sends them once connected again."""
    return [location_payload(f, tid, offline=True) for f in fixes]
