"""MQTT topic names: the contract between trackers and the broker (the services' side of the
broker is in messaging/topology.py)."""

from __future__ import annotations

# Trackers publish their fixes here (QoS 1); {device_id} is the tracker's registered id.
DEVICE_POSITION = "trackers/{device_id}/position"
DEVICE_POSITION_FILTER = "trackers/+/position"


def device_position_topic(device_id: str) -> str:
    return DEVICE_POSITION.format(device_id=device_id)


def device_id_from_topic(topic: str) -> str | None:
    """The device id in `trackers/{device_id}/position`, or None when the topic has another shape."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != "trackers" or parts[2] != "position" or not parts[1]:
        return None
    return parts[1]
