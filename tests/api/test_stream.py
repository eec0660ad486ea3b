"""The live websocket: authentication, snapshot then deltas, and a fix travelling
tracker -> broker -> gateway -> PostGIS -> broker relay -> API -> websocket."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from api.hub import StreamHub
from tests.mqtt import publish_fixes
from tests.services import Broker, start_gateway, start_tracker


def ws_url(api_server: str, key: str | None) -> str:
    """The stream's address for an API key, as the web app opens it: with a single-use ticket the
    key was traded for (no key in a URL); a refused key gets a ticket that does not exist."""
    base = api_server.replace("http://", "ws://") + "/api/v1/stream"
    if not key:
        return base
    resp = httpx.post(
        f"{api_server}/api/v1/stream/ticket", headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    ticket = resp.json()["ticket"] if resp.status_code == 201 else "not-a-ticket"
    return f"{base}?ticket={ticket}"


async def next_of_type(ws: ClientConnection, kind: str, timeout: float = 10) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == kind:
                return message


@pytest.mark.parametrize(("role", "code"), [(None, 4401), ("bogus", 4401)])
async def test_stream_refuses_without_a_fleet_role(
    api_server: str, keys: dict[str, str], role: str | None, code: int
) -> None:
    key = keys.get(role, "amb_bogus") if role else None
    async with connect(ws_url(api_server, key)) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code


async def test_snapshot_then_heartbeat(
    api_server: str, keys: dict[str, str], vehicle: tuple[int, str]
) -> None:
    async with connect(ws_url(api_server, keys["viewer"])) as ws:
        snapshot = json.loads(await ws.recv())
        assert snapshot["type"] == "snapshot"
        assert [v["call_sign"] for v in snapshot["vehicles"]] == ["115-T1"]
        beat = await next_of_type(ws, "heartbeat", timeout=5)  # every second in the tests
        assert beat["time"].endswith("Z")
        await ws.send(json.dumps({"type": "ping"}))
        assert (await next_of_type(ws, "pong"))["type"] == "pong"


@pytest.mark.slow
async def test_published_fix_reaches_the_websocket(
    broker: Broker,
    api_server: str,
    keys: dict[str, str],
    db: psycopg.Connection,
    vehicle: tuple[int, str],
    tmp_path: Path,
    unique: str,
) -> None:
    vehicle_id, device = vehicle
    gw = start_gateway(broker, tmp_path, f"gw-{unique}")
    try:
        async with connect(ws_url(api_server, keys["dispatcher"])) as ws:
            assert json.loads(await ws.recv())["type"] == "snapshot"
            moment = datetime.now(UTC).replace(microsecond=0)
            sent = time.monotonic()
            await publish_fixes(
                broker, device, {"time": moment.isoformat(), "lat": 16.061, "lon": 108.221, "speed_kmh": 33}
            )
            message = await next_of_type(ws, "fixes")
            latency = time.monotonic() - sent
        (f,) = message["fixes"]
        assert f["vehicle_id"] == vehicle_id and f["device_id"] == device
        assert (f["lat"], f["lon"], f["speed_kmh"], f["latest"], f["late"]) == (
            16.061,
            108.221,
            33,
            True,
            False,
        )
        assert f["time"] == moment.isoformat().replace("+00:00", ".000Z")
        # Stored before it was shown.
        assert db.execute("SELECT count(*) FROM positions WHERE device_id = %s", (device,)).fetchone() == (1,)
        print(f"publish -> websocket: {latency * 1000:.0f} ms")
        assert latency < 5  # functional bound only; the benchmark measures latency
    finally:
        gw.stop()


async def test_a_slow_client_is_dropped_without_slowing_the_others() -> None:
    hub = StreamHub(queue_size=3)
    slow, fast = hub.subscribe("slow"), hub.subscribe("fast")
    received = []
    for i in range(10):
        hub.publish("fixes", [{"n": i}])
        received.append(json.loads(fast.queue.get_nowait())["fixes"][0]["n"])
    assert received == list(range(10))
    assert slow.overflowed.is_set() and not fast.overflowed.is_set()
    assert slow.queue.qsize() == 3  # it stops growing: memory stays bounded


def test_a_hospital_client_gets_only_what_concerns_its_hospital() -> None:
    hub = StreamHub(queue_size=10)
    fleet, mine, other = (
        hub.subscribe("desk"),
        hub.subscribe("bv1", hospital_id=1),
        hub.subscribe("bv2", hospital_id=2),
    )
    hub.publish("etas", [{"journey_id": 7, "hospital_id": 1}, {"journey_id": 8, "hospital_id": 3}])
    hub.publish("fixes", [{"vehicle_id": 4}])
    assert [len(json.loads(fleet.queue.get_nowait())[k]) for k in ("etas", "fixes")] == [2, 1]
    assert json.loads(mine.queue.get_nowait())["etas"] == [{"journey_id": 7, "hospital_id": 1}]
    assert mine.queue.empty() and other.queue.empty()


@pytest.mark.slow
async def test_an_sos_reaches_the_websocket_as_a_critical_event(
    broker: Broker,
    api_server: str,
    keys: dict[str, str],
    vehicle: tuple[int, str],
    tmp_path: Path,
    unique: str,
) -> None:
    """tracker -> gateway -> PostGIS -> amb-tracker -> events relay -> API -> dispatcher."""
    vehicle_id, device = vehicle
    gw = start_gateway(broker, tmp_path, f"gw-{unique}")
    tracker = start_tracker(broker, tmp_path)
    try:
        async with connect(ws_url(api_server, keys["dispatcher"])) as ws:
            assert json.loads(await ws.recv())["type"] == "snapshot"
            moment = datetime.now(UTC).replace(microsecond=0)
            sent = time.monotonic()
            fix = {
                "time": moment.isoformat(),
                "lat": 16.061,
                "lon": 108.221,
                "speed_kmh": 0,
                "attrs": {"alarm": "sos"},
            }
            await publish_fixes(broker, device, fix)
            async with asyncio.timeout(15):
                while True:
                    message = await next_of_type(ws, "events")
                    sos = [e for e in message["events"] if e["kind"] == "sos"]
                    if sos:
                        break
            latency = time.monotonic() - sent
        assert sos[0]["vehicle_id"] == vehicle_id and sos[0]["severity"] == "critical"
        print(f"SOS publish -> websocket: {latency * 1000:.0f} ms")
    finally:
        tracker.stop()
        gw.stop()
