"""Prometheus metrics of an API process: what the guards refused, and the open websockets.

Served at `GET /metrics` (any authenticated role: give Prometheus a `viewer` key). Counts are per
process; Prometheus sums the processes.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, disable_created_metrics, generate_latest

disable_created_metrics()

REQUESTS_REFUSED = Counter(
    "amb_api_requests_refused_total",
    "HTTP requests refused before their body was read, by reason (anonymous, too_large, bad_length).",
    ["reason"],
)
WS_REFUSED = Counter(
    "amb_api_ws_refused_total",
    "Websocket connections refused by a cap, by reason (principal_cap, address_cap).",
    ["reason"],
)
WS_OPEN = Gauge("amb_api_ws_connections", "Websocket connections open in this process.")
WS_SUBSCRIBE_REFUSED = Counter(
    "amb_api_ws_subscribe_refused_total", "Websocket `subscribe` messages refused by the per-connection rate."
)
WS_MESSAGES_REFUSED = Counter(
    "amb_api_ws_messages_refused_total",
    "Websocket client messages refused (too large or too many per second).",
)
WS_OVERFLOWS = Counter(
    "amb_api_ws_overflows_total", "Websocket clients disconnected because their bounded queue was full."
)
LOGINS_THROTTLED = Counter(
    "amb_api_logins_throttled_total",
    "Logins refused with 429, by the limit that refused them (pair, address, slowdown).",
    ["limit"],
)

for _reason in ("anonymous", "too_large", "bad_length"):
    REQUESTS_REFUSED.labels(_reason)
for _reason in ("principal_cap", "address_cap"):
    WS_REFUSED.labels(_reason)
for _limit in ("pair", "address", "slowdown"):
    LOGINS_THROTTLED.labels(_limit)


def exposition() -> tuple[bytes, str]:
    """The process's metrics in the Prometheus text format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
