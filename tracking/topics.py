"""MQTT topic names: the contract between trackers, the gateway and the API."""

from __future__ import annotations

# Trackers publish their fixes here (QoS 1); {device_id} is the tracker's registered id.
DEVICE_POSITION = "trackers/{device_id}/position"
DEVICE_POSITION_FILTER = "trackers/+/position"
# Shared subscription group of the gateways: the broker splits device traffic between them.
GATEWAY_SHARE_GROUP = "gateway"
# What the gateway relays after a commit to every API process (not shared: each API gets all).
COMMITTED_PREFIX = "amb/v1/committed/"
COMMITTED_FIXES = COMMITTED_PREFIX + "fixes"
COMMITTED_EVENTS = COMMITTED_PREFIX + "events"
COMMITTED_ETAS = COMMITTED_PREFIX + "etas"


def device_position_topic(device_id: str) -> str:
    return DEVICE_POSITION.format(device_id=device_id)


def device_id_from_topic(topic: str) -> str | None:
    """The device id in `trackers/{device_id}/position`, or None when the topic has another shape."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != "trackers" or parts[2] != "position" or not parts[1]:
        return None
    return parts[1]
