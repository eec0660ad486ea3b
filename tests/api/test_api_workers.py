"""Several API processes on one port (AMB_API_WORKERS, issue 14): each worker holds its own
websocket clients and its own queue on `amb.committed`, so every screen gets every fix,
whichever process the kernel gave its connection to."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from tests.mqtt import publish_committed
from tests.services import Broker, start_api

SCREENS = 8


def workers_started(log_dir: Path) -> int:
    return next(log_dir.glob("api-*.log")).read_text().count("Started server process")


async def fix_seq(ws: ClientConnection, timeout_s: float) -> int | None:
    """The `seq` of the next fixes message within `timeout_s`, or None."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            while True:
                message = json.loads(await ws.recv())
                if message["type"] == "fixes":
                    return int(message["fixes"][0]["seq"])
    return None


async def test_two_workers_share_the_port_and_every_screen_gets_every_fix(
    broker: Broker, keys: dict[str, str], vehicle: tuple[int, str], tmp_path: Path
) -> None:
    vehicle_id, device = vehicle
    proc, port = start_api(broker, tmp_path, AMB_API_WORKERS="2")
    try:
        url = f"ws://127.0.0.1:{port}/api/v1/stream"
        headers = {"Authorization": f"Bearer {keys['dispatcher']}"}
        screens = [await connect(url, additional_headers=headers) for _ in range(SCREENS)]
        try:
            for ws in screens:
                assert json.loads(await ws.recv())["type"] == "snapshot"
            async with asyncio.timeout(60):  # two workers on the one port, each started
                while True:
                    if workers_started(tmp_path) == 2:
                        break
                    await asyncio.sleep(0.2)

            async def publish(seq: int) -> None:
                fix = {"vehicle_id": vehicle_id, "device_id": device, "seq": seq}
                await publish_committed(broker, "fixes", [fix])

            # Until each worker's relay has bound its queue, a fix may reach some screens only.
            waiting = set(range(SCREENS))
            async with asyncio.timeout(30):  # a bound against hanging, not a measure
                while waiting:
                    await publish(0)
                    waiting -= {i for i in waiting if await fix_seq(screens[i], 0.5) == 0}
            await publish(1)
            for ws in screens:
                while (seq := await fix_seq(ws, 30)) == 0:
                    pass
                assert seq == 1
        finally:
            for ws in screens:
                await ws.close()
    finally:
        proc.stop()
