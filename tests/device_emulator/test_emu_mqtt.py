"""The async runner against a real Mosquitto: each vehicle publishes on its own topic; nothing is lost offline."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid

import aiomqtt

from device_emulator.config import MqttEndpoint, MqttSettings
from device_emulator.links import LinkConfig
from device_emulator.runner import RunOptions, run_fleet
from device_emulator.tracker import FleetConfig, build_fleet
from messaging.device_topics import DEVICE_POSITION_FILTER, device_id_from_topic
from tests.services import Broker

PAYLOAD_KEYS = {"time", "lat", "lon", "speed_kmh", "heading", "alt_m", "accuracy_m", "sats", "attrs"}


async def test_each_vehicle_publishes_valid_fixes_on_its_own_topic(broker: Broker) -> None:
    endpoint = MqttSettings(mqtt_url=broker.url).endpoint()
    prefix = f"emutest{uuid.uuid4().hex[:8]}-"  # unique devices, so other publishers cannot interfere
    trackers = build_fleet(FleetConfig(vehicles=2, device_prefix=prefix, dwell_scale=0.01))
    received: dict[str, list[object]] = {tracker.device_id: [] for tracker in trackers}

    async with aiomqtt.Client(
        endpoint.host, endpoint.port, username=endpoint.username, password=endpoint.password
    ) as subscriber:
        await subscriber.subscribe(DEVICE_POSITION_FILTER, qos=1)

        async def collect() -> None:
            async for message in subscriber.messages:
                device_id = device_id_from_topic(str(message.topic))
                if device_id in received:
                    assert isinstance(message.payload, bytes)
                    received[device_id].append(json.loads(message.payload))

        collector = asyncio.create_task(collect(), name="collect")
        await run_fleet(trackers, LinkConfig(mqtt=endpoint), RunOptions(rate_hz=5.0, duration_s=2.0))
        await asyncio.sleep(0.3)  # the last QoS 1 deliveries
        collector.cancel()

    for device_id, payloads in received.items():
        assert 7 <= len(payloads) <= 12, device_id
        for payload in payloads:
            assert isinstance(payload, dict) and set(payload) == PAYLOAD_KEYS
            assert payload["time"].endswith("Z")
        times = [p["time"] for p in payloads]  # type: ignore[index]
        assert times == sorted(times)
    assert all(len(t.outbox) == 0 for t in trackers)


async def test_fixes_are_kept_while_the_broker_is_unreachable() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    trackers = build_fleet(FleetConfig(vehicles=2, device_prefix="emuoffline-"))
    options = RunOptions(rate_hz=5.0, duration_s=1.5, flush_timeout_s=0.5)
    link = LinkConfig(mqtt=MqttEndpoint("127.0.0.1", port, None, None))
    await asyncio.wait_for(run_fleet(trackers, link, options), 5.0)
    for tracker in trackers:
        assert 6 <= len(tracker.outbox) <= 8
        message = tracker.outbox.next_message()
        assert message is not None and isinstance(json.loads(message.payload), list)
