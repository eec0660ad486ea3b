"""The gateway process: wires the ingest, the batch writer, the MQTT transport and maintenance."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

from prometheus_client import start_http_server

from fixes.model import StoredFix
from fixes.positions import maintain_partitions_periodically
from gateway.batch_writer import PositionBatchWriter
from gateway.contact import ContactLog
from gateway.handlers.gt06 import Gt06Protocol
from gateway.handlers.h02 import H02DatagramHandler, H02Protocol
from gateway.handlers.mqtt_json import MqttJsonHandler
from gateway.handlers.osmand import OsmAndApp, OsmAndLimits
from gateway.handlers.owntracks import OwnTracksHandler
from gateway.handlers.teltonika import TeltonikaDatagramHandler, TeltonikaProtocol
from gateway.ingest import FixIngest
from gateway.registry import DeviceRegistry
from gateway.settings import GatewaySettings
from gateway.transports.amqp import BrokerConsumer
from gateway.transports.datagram import DatagramListener
from gateway.transports.http import HttpLimits, HttpListener
from gateway.transports.stream import StreamLimits, StreamListener
from runtime.config import BrokerSettings, DatabaseSettings
from runtime.db import open_pool
from tracking.settings import TrackingSettings
from tracking.worker import TrackingWorker

log = logging.getLogger(__name__)


async def run_gateway(gateway: GatewaySettings, database: DatabaseSettings, broker: BrokerSettings) -> None:
    """Run until cancelled."""
    if gateway.metrics_port:
        start_http_server(gateway.metrics_port, addr=gateway.metrics_host)
        log.info("metrics on http://%s:%d/metrics", gateway.metrics_host, gateway.metrics_port)
    async with open_pool(database, "amb-gateway") as pool:
        registry = DeviceRegistry(pool, gateway.registry_refresh_s, gateway.registry_miss_refresh_s)
        await registry.reload()
        consumer: BrokerConsumer | None = None
        tracker: TrackingWorker | None = None

        async def relay(stored: list[StoredFix]) -> None:
            if tracker is not None:
                tracker.wake()
            if consumer is not None:
                await consumer.publisher.publish_fixes([s.to_json() for s in stored])

        async def relay_events(events: list[dict[str, Any]]) -> None:
            if consumer is not None:
                await consumer.publisher.publish_events(events)

        async def relay_etas(etas: list[dict[str, Any]]) -> None:
            if consumer is not None:
                await consumer.publisher.publish_etas(etas)

        writer = PositionBatchWriter(
            database.database_url, gateway.batch_max_fixes, gateway.flush_interval_ms / 1000, relay
        )
        fixes = FixIngest(gateway, registry, writer)
        fixes.on_events = relay_events
        fixes.contact = ContactLog(pool)
        started = time.monotonic()
        warmed = await fixes.warm(registry.entries())
        log.info("what is stored of %d devices read in %.2f s", warmed, time.monotonic() - started)
        consumer = BrokerConsumer(
            broker.endpoint(),
            [MqttJsonHandler(fixes), OwnTracksHandler(fixes)],
            fixes.after_commit,
            writer.drain,
            gateway.prefetch,
        )
        if gateway.tracking:
            tracker = TrackingWorker(database.database_url, TrackingSettings(), relay_events, relay_etas)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(writer.run(), name="batch-writer")
            tg.create_task(consumer.run(), name="broker-consumer")
            tg.create_task(fixes.contact.run(), name="device-contact")
            if tracker is not None:
                # What amb-tracker runs beside its worker (the hourly partition maintenance) runs
                # here when the worker does; otherwise amb-tracker does it, not every gateway too.
                tg.create_task(tracker.run(), name="tracking-worker")
                tg.create_task(
                    maintain_partitions_periodically(database.database_url), name="partition-maintenance"
                )
            for name, server in device_listeners(gateway, fixes):
                tg.create_task(server, name=name)


def device_listeners(
    gateway: GatewaySettings, fixes: FixIngest
) -> list[tuple[str, Coroutine[Any, Any, None]]]:
    """The TCP, UDP and HTTP listeners of the tracker protocols whose port is set."""
    limits = StreamLimits(
        gateway.idle_timeout_s,
        gateway.login_timeout_s,
        gateway.max_connections,
        gateway.max_connections_per_address,
        gateway.frame_timeout_s,
        frames_per_second=gateway.frames_per_second,
        frame_burst=gateway.frame_burst,
    )
    udp = {"queue_size": gateway.udp_queue_datagrams, "queue_bytes": gateway.udp_queue_bytes}
    host = gateway.listen_host
    servers: list[tuple[str, Coroutine[Any, Any, None]]] = []
    if gateway.gt06_port:
        servers.append(
            (
                "gt06-tcp",
                StreamListener(Gt06Protocol(fixes, gateway), host, gateway.gt06_port, limits).serve(),
            )
        )
    if gateway.h02_port:
        length = gateway.h02_message_length or None
        servers.append(
            (
                "h02-tcp",
                StreamListener(H02Protocol(fixes, gateway, length), host, gateway.h02_port, limits).serve(),
            )
        )
        servers.append(
            (
                "h02-udp",
                DatagramListener(
                    H02DatagramHandler(fixes, gateway, length), host, gateway.h02_port, **udp
                ).serve(),
            )
        )
    if gateway.osmand_port:
        osmand = OsmAndApp(
            fixes,
            OsmAndLimits(
                max_body_bytes=gateway.max_payload_bytes,
                requests_per_second=gateway.osmand_requests_per_second,
                request_burst=gateway.osmand_request_burst,
                commit_timeout_s=gateway.osmand_commit_timeout_s,
                require_token=gateway.osmand_require_token,
                naive_time_zone=gateway.osmand_naive_time_zone,
                trusted_proxies=gateway.trusted_proxy_networks(),
                allowed_origins=tuple(
                    o.strip().rstrip("/") for o in gateway.osmand_allowed_origins.split(",") if o.strip()
                ),
            ),
        )
        http_limits = HttpLimits(max_header_bytes=gateway.osmand_max_header_bytes)
        servers.append(("osmand-http", HttpListener(osmand, host, gateway.osmand_port, http_limits).serve()))
    if gateway.teltonika_port:
        servers.append(
            (
                "teltonika-tcp",
                StreamListener(
                    TeltonikaProtocol(fixes, gateway), host, gateway.teltonika_port, limits
                ).serve(),
            )
        )
        servers.append(
            (
                "teltonika-udp",
                DatagramListener(
                    TeltonikaDatagramHandler(fixes, gateway), host, gateway.teltonika_port, **udp
                ).serve(),
            )
        )
    return servers
