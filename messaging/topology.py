"""Names of the broker's topology: the contract between devices, gateways, the tracker and the API.

Declared at every broker boot from rabbitmq/definitions.json; the services only check that it is
there (a passive declare), so a misconfigured broker fails loudly instead of dropping messages.
"""

from __future__ import annotations

import re

# Devices publish MQTT to amq.topic; the plugin turns `trackers/<id>/position` into the routing
# key `trackers.<id>.position`. One quorum queue takes every device topic (`trackers.#`,
# `owntracks.#`); gateways consume it as competing consumers.
DEVICE_EXCHANGE = "amq.topic"
INGEST_QUEUE = "amb.ingest"
# Where messages that no queue takes (amq.topic's alternate exchange) and messages delivered
# too often without an ack (a message that kills gateways) are parked for an admin.
UNROUTED_QUEUE = "amb.unrouted"
DEAD_LETTER_QUEUE = "amb.dead"
# What is committed, for live views: every API process binds its own exclusive queue.
COMMITTED_EXCHANGE = "amb.committed"
FIXES = "fixes"
EVENTS = "events"
ETAS = "etas"
COMMITTED_KINDS = (FIXES, EVENTS, ETAS)


def mqtt_topic(routing_key: str) -> str:
    """The MQTT topic a device published to, from the AMQP routing key.

    The plugin maps "/" to "."; a "." inside a level is kept by RabbitMQ 3.x's plugin and becomes
    "/" in 4.x's native MQTT. So a device id with a dot (`dev.1`) arrives as
    `trackers.dev.1.position` or `trackers.dev/1.position`: the known device topics are rebuilt by
    their shape (device ids never contain "/", so a "/" there was a "."); anything else gets every
    "." back as "/".
    """
    if routing_key.startswith("trackers.") and routing_key.endswith(".position") and len(routing_key) > 18:
        return f"trackers/{routing_key[9:-9].replace('/', '.')}/position"
    if routing_key.startswith("owntracks."):
        parts = routing_key.split(".", 2)
        if len(parts) == 3:
            return "/".join(p.replace("/", ".") for p in parts)
    return routing_key.replace(".", "/")


def routing_key_pattern(mqtt_topic_name: str) -> str:
    """A regular expression matching the routing key of an MQTT topic under either mapping of a
    "." inside a level (kept, RabbitMQ 3.x; turned into "/", 4.x), for topic permissions."""
    return r"\.".join(re.escape(level).replace(r"\.", "[./]") for level in mqtt_topic_name.split("/"))
