"""The two sides of the fan-out benchmark (bench/fanout.py), each in its own processes:

- the feeder publishes to `amb.committed` what the gateways and amb-tracker publish right after
  their commits: fixes of `vehicles` vehicles at `rate` fixes/s, in one message per commit (every
  `commit_ms`, as group commit makes them), and the ETAs of the journeys once a second (the ETA
  task's round). Each item carries `committed_at` (wall clock), so a screen measures
  commit -> screen without decoding every item;
- client processes hold many screens each: websockets (fleet-wide dispatchers, hospital screens
  filtered to their hospital by the API) that record each frame's delay, caller pages polling
  their public tracking link every 5 s, and stalled clients that stop reading after the handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event
from typing import Any

import httpx
import uvloop
from websockets.asyncio.client import connect

from messaging.connection import connect as amqp_connect
from messaging.publisher import CommittedPublisher
from runtime.config import AmqpEndpoint
from tests.services import stalled_websocket

MARK = b'"committed_at":'
CALLER_POLL_S = 5.0  # api/static/track.js POLL_MS


@dataclass(frozen=True, slots=True)
class FeedPlan:
    endpoint: AmqpEndpoint
    vehicles: list[int]
    journeys: list[tuple[int, int, int]]  # journey id, vehicle id, hospital id
    rate: float
    duration_s: float
    commit_ms: float = 20.0


def run_feeder(plan: FeedPlan, go: Event, result: Any) -> None:
    """Process entry point: publish for `duration_s` once `go` is set; puts the items published."""
    result.put(uvloop.run(_feed(plan, go)))


async def _feed(plan: FeedPlan, go: Event) -> dict[str, int]:
    publisher = CommittedPublisher(plan.endpoint, "bench-fanout-feeder")
    sent = {"fix_messages": 0, "fixes": 0, "eta_messages": 0, "etas": 0}
    async with await amqp_connect(plan.endpoint, "bench-fanout-feeder") as connection:
        await publisher.attach(connection)
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        started = time.time()
        tick, next_eta, owed, cursor = plan.commit_ms / 1000, started, 0.0, 0
        while (now := time.time()) < started + plan.duration_s:
            owed += plan.rate * tick
            count, owed = int(owed), owed - int(owed)
            fixes = []
            for _ in range(count):
                vehicle = plan.vehicles[cursor % len(plan.vehicles)]
                cursor += 1
                fixes.append(_fix(vehicle, now))
            if fixes:
                await publisher.publish("fixes", {"fixes": fixes})
                sent["fix_messages"] += 1
                sent["fixes"] += len(fixes)
            if now >= next_eta and plan.journeys:
                etas = [_eta(j, v, h, now) for j, v, h in plan.journeys]
                await publisher.publish("etas", {"etas": etas})
                sent["eta_messages"] += 1
                sent["etas"] += len(etas)
                next_eta += 1.0
            await asyncio.sleep(max(0.0, now + tick - time.time()))
    return sent


def _fix(vehicle_id: int, now: float) -> dict[str, Any]:
    """A committed fix in the relay's form (fixes.model.StoredFix.to_json), with `committed_at`."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now))
    return {
        "vehicle_id": vehicle_id,
        "device_id": f"bench-{vehicle_id:04d}",
        "time": stamp,
        "received_at": stamp,
        "lat": round(16.03 + random.random() * 0.06, 6),
        "lon": round(108.19 + random.random() * 0.06, 6),
        "speed_kmh": 40.0,
        "heading": 90.0,
        "altitude_m": None,
        "accuracy_m": 5.0,
        "satellites": 9,
        "valid": True,
        "late": False,
        "latest": True,
        "committed_at": now,
    }


def _eta(journey_id: int, vehicle_id: int, hospital_id: int, now: float) -> dict[str, Any]:
    return {
        "journey_id": journey_id,
        "vehicle_id": vehicle_id,
        "hospital_id": hospital_id,
        "target": "hospital",
        "eta_s": 300,
        "distance_m": 2500.0,
        "committed_at": now,
    }


@dataclass(frozen=True, slots=True)
class ClientPlan:
    api_ports: list[int]  # screens are dealt over them (several API processes: a proxy would)
    fleet_keys: list[str]
    hospital_keys: list[str]
    caller_tokens: list[str]
    stalled_keys: list[str]


@dataclass(slots=True)
class ClientResult:
    delays: dict[str, list[float]] = field(
        default_factory=lambda: {"fleet": [], "hospital": [], "caller": []}
    )
    frames: dict[str, int] = field(default_factory=lambda: {"fleet": 0, "hospital": 0, "caller": 0})
    bytes: dict[str, int] = field(default_factory=lambda: {"fleet": 0, "hospital": 0, "caller": 0})
    closed: dict[str, int] = field(default_factory=dict)  # close codes seen
    connected: int = 0
    errors: list[str] = field(default_factory=list)


def run_clients(plan: ClientPlan, ready: Event, stop: Event, result: Any) -> None:
    """Process entry point: connect every screen, signal `ready`, record until `stop`."""
    out = ClientResult()
    try:
        uvloop.run(_clients(plan, ready, stop, out))
    except Exception as exc:  # reported with the figures
        out.errors.append(f"{type(exc).__name__}: {exc}")
    ready.set()
    result.put(out)


async def _clients(plan: ClientPlan, ready: Event, stop: Event, out: ClientResult) -> None:
    done = asyncio.Event()
    ports = plan.api_ports
    tasks = []
    opened = asyncio.Semaphore(50)  # handshakes at once
    for i, key in enumerate(plan.fleet_keys):
        tasks.append(asyncio.create_task(_screen("fleet", ports[i % len(ports)], key, out, done, opened)))
    for i, key in enumerate(plan.hospital_keys):
        tasks.append(asyncio.create_task(_screen("hospital", ports[i % len(ports)], key, out, done, opened)))
    stalled = [stalled_websocket(ports[i % len(ports)], key) for i, key in enumerate(plan.stalled_keys)]
    total = len(plan.fleet_keys) + len(plan.hospital_keys)
    async with asyncio.timeout(120):
        while True:  # every screen connected or refused
            if out.connected + sum(out.closed.values()) >= total:
                break
            await asyncio.sleep(0.1)
    async with httpx.AsyncClient(timeout=30) as http:
        for i, token in enumerate(plan.caller_tokens):
            port = ports[i % len(ports)]
            tasks.append(asyncio.create_task(_caller(http, port, token, out, done)))
        ready.set()
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)
        done.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    for sock in stalled:
        sock.close()


async def _screen(
    kind: str, port: int, key: str, out: ClientResult, done: asyncio.Event, opened: asyncio.Semaphore
) -> None:
    url = f"ws://127.0.0.1:{port}/api/v1/stream"
    headers = {"Authorization": f"Bearer {key}"}
    try:
        async with opened:
            ws = await connect(url, additional_headers=headers, max_size=64 * 2**20, open_timeout=60)
        async with ws:
            await ws.recv(decode=False)  # the snapshot
            out.connected += 1
            delays = out.delays[kind]
            while not done.is_set():
                try:
                    frame = await asyncio.wait_for(ws.recv(decode=False), 0.5)
                except TimeoutError:
                    continue
                arrived = time.time()
                out.frames[kind] += 1
                out.bytes[kind] += len(frame)
                at = frame.find(MARK)
                if at >= 0:
                    end = frame.find(b"}", at)
                    comma = frame.find(b",", at)
                    stop_at = comma if 0 <= comma < end else end
                    delays.append(arrived - float(frame[at + len(MARK) : stop_at]))
    except Exception as exc:
        code = getattr(getattr(exc, "rcvd", None), "code", None)
        name = f"{kind}:{code or type(exc).__name__}"
        out.closed[name] = out.closed.get(name, 0) + 1


async def _caller(
    http: httpx.AsyncClient, port: int, token: str, out: ClientResult, done: asyncio.Event
) -> None:
    """A caller's page: GET its public tracking link every 5 s (first poll at a random moment)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), random.uniform(0, CALLER_POLL_S))
    while not done.is_set():
        started = time.time()
        resp = await http.get(f"http://127.0.0.1:{port}/api/v1/public/track/{token}")
        out.frames["caller"] += 1
        out.bytes["caller"] += len(resp.content)
        if resp.status_code == 200:
            out.delays["caller"].append(time.time() - started)
        else:
            name = f"caller:{resp.status_code}"
            out.closed[name] = out.closed.get(name, 0) + 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), CALLER_POLL_S)
