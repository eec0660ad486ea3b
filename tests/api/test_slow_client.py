"""A websocket client that stops reading (issue 14, the fan-out): it never delays the others, and
the API disconnects it once its bounded queue overflows — even while a send to it is stuck on its
full socket — and counts it; so its memory on the server stays bounded."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import Callable
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from messaging.connection import connect as amqp_connect
from messaging.publisher import CommittedPublisher
from tests.services import Broker, stalled_websocket, start_api

MESSAGES = 400
PAD = "x" * 32_000  # 400 x 32 kB: far more than the socket buffers of a client that does not read


def metric(base: str, key: str, name: str) -> float:
    text = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=10).text
    found = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(60):  # a bound against hanging, not a measure
        while True:
            if condition():
                return
            await asyncio.sleep(0.1)


def stalled_client(port: int, key: str) -> socket.socket:
    """A stalled screen (tests.services.stalled_websocket) whose handshake was accepted."""
    sock = stalled_websocket(port, key)
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


async def test_a_client_that_stops_reading_is_dropped_and_counted_and_delays_nobody(
    broker: Broker, keys: dict[str, str], vehicle: tuple[int, str], tmp_path: Path
) -> None:
    vehicle_id, device = vehicle
    proc, port = start_api(broker, tmp_path, AMB_API_STREAM_QUEUE_SIZE="64", AMB_API_STREAM_HEARTBEAT_S="60")
    base = f"http://127.0.0.1:{port}"
    viewer = keys["viewer"]
    try:
        stalled = stalled_client(port, keys["dispatcher"])
        overflows = metric(base, viewer, "amb_api_ws_overflows_total")
        url = base.replace("http://", "ws://") + "/api/v1/stream"
        headers = {"Authorization": f"Bearer {keys['dispatcher']}"}
        endpoint = broker.endpoint("gateway")
        async with (
            connect(url, additional_headers=headers, max_size=2**20) as reader,
            await amqp_connect(endpoint, "test-slow-client") as connection,
        ):
            assert json.loads(await reader.recv())["type"] == "snapshot"
            await until(lambda: metric(base, viewer, "amb_api_ws_connections") == 2)
            publisher = CommittedPublisher(endpoint, "test-slow-client")
            await publisher.attach(connection)
            received = 0
            for i in range(MESSAGES):  # one at a time: the reader keeps up, the stalled client cannot
                fix = {"vehicle_id": vehicle_id, "device_id": device, "seq": i, "pad": PAD}
                assert await publisher.publish("fixes", {"fixes": [fix]})
                while True:
                    message = json.loads(await asyncio.wait_for(reader.recv(), 30))
                    if message["type"] == "fixes":
                        assert message["fixes"][0]["seq"] == received
                        received += 1
                        break
            assert received == MESSAGES  # nothing the stalled client did held the reader up
            # The stalled client is disconnected without ever reading again, and counted.
            await until(lambda: metric(base, viewer, "amb_api_ws_connections") == 1)
            assert metric(base, viewer, "amb_api_ws_overflows_total") == overflows + 1
        # Its socket was ended by the server (aborted: reset, or closed: end of stream), not left open.
        stalled.settimeout(30)
        try:
            while stalled.recv(1 << 20):
                pass
        except ConnectionResetError:
            pass
        stalled.close()
    finally:
        proc.stop()
