"""OsmAnd / Traccar Client HTTP requests for emulator fixes: the query-string form (Traccar Client
before version 9, the OsmAnd app) and the JSON form (Traccar Client 9+, the background-geolocation
SDK's format), with the device's token.

Written from the protocol's description (traccar.org/osmand and Traccar's test captures), apart from
the gateway's decoder on purpose: the round-trip tests then check one against the other.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC
from typing import Any
from urllib.parse import urlencode

from device_emulator.fixes import Fix, format_time

KMH_PER_KNOT = 1.852
KMH_PER_MPS = 3.6
DEFAULT_PORT = 5055
MAX_BATCH = 1000  # the gateway's longest backlog array


def query_params(
    fix: Fix, device_id: str, token: str | None = None, speed_unit: str = "knots", epoch_ms: bool = False
) -> list[tuple[str, str]]:
    """The parameters of one report. `speed_unit` must match the gateway's (Traccar Client: knots);
    the timestamp is epoch seconds as Traccar Client sends it, or milliseconds with `epoch_ms`."""
    speeds = {"knots": fix.speed_kmh / KMH_PER_KNOT, "kmh": fix.speed_kmh, "mps": fix.speed_kmh / KMH_PER_MPS}
    seconds = fix.time.astimezone(UTC).timestamp()
    params = [
        ("id", device_id),
        ("timestamp", str(round(seconds * 1000)) if epoch_ms else str(int(seconds))),
        ("lat", f"{fix.lat:.7f}"),
        ("lon", f"{fix.lon:.7f}"),
        ("speed", f"{speeds[speed_unit]:.3f}"),
        ("bearing", str(fix.heading)),
        ("altitude", str(fix.alt_m)),
        ("accuracy", str(fix.accuracy_m)),
        ("sat", str(fix.sats)),
        ("state", fix.state),
    ]
    if token is not None:
        params.append(("token", token))
    return params


def query_url(
    base_url: str, fix: Fix, device_id: str, token: str | None = None, speed_unit: str = "knots"
) -> str:
    """`http://host:5055/?id=...&timestamp=...` for a GET (or a POST with an empty body)."""
    return f"{base_url.rstrip('/')}/?{urlencode(query_params(fix, device_id, token, speed_unit))}"


def form_body(fix: Fix, device_id: str, token: str | None = None, speed_unit: str = "knots") -> bytes:
    """The same parameters as an `application/x-www-form-urlencoded` POST body."""
    return urlencode(query_params(fix, device_id, token, speed_unit)).encode()


def sdk_location(fix: Fix) -> dict[str, Any]:
    """One location as the background-geolocation SDK (Traccar Client 9+) records it: m/s."""
    return {
        "timestamp": format_time(fix.time),
        "coords": {
            "latitude": fix.lat,
            "longitude": fix.lon,
            "accuracy": fix.accuracy_m,
            "speed": round(fix.speed_kmh / KMH_PER_MPS, 3),
            "heading": fix.heading,
            "altitude": fix.alt_m,
        },
        "is_moving": fix.speed_kmh > 0,
        "event": "motionchange" if fix.speed_kmh == 0 else "location",
        "battery": {"level": 0.9, "is_charging": True},  # a phone on the ambulance's charger
        "activity": {"type": "in_vehicle" if fix.speed_kmh > 0 else "still"},
        "extras": {"state": fix.state},
    }


def json_body(fix: Fix, device_id: str) -> bytes:
    """A live report: `{"device_id": ..., "location": {...}}` (Content-Type: application/json)."""
    return json.dumps({"device_id": device_id, "location": sdk_location(fix)}, separators=(",", ":")).encode()


def json_backlog(fixes: Iterable[Fix], device_id: str) -> bytes:
    """Reports held back by a coverage gap, in one request: `{"device_id": ..., "locations": [...]}`."""
    locations = [sdk_location(f) for f in fixes]
    if not 1 <= len(locations) <= MAX_BATCH:
        raise ValueError(f"a backlog request holds 1-{MAX_BATCH} locations, not {len(locations)}")
    return json.dumps({"device_id": device_id, "locations": locations}, separators=(",", ":")).encode()


def auth_headers(token: str | None) -> dict[str, str]:
    """Where a JSON client carries its token (the query form can use the `token` parameter too)."""
    return {"Authorization": f"Bearer {token}"} if token else {}
