"""A dispatcher screen for the benchmark: one websocket client, in its own process, that records
when each fix arrives, keyed like the publishers key what they sent: (device id, fix time)."""

from __future__ import annotations

import asyncio
import json
import resource
import time
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event

import uvloop
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

FixKey = tuple[str, str]


@dataclass(slots=True)
class ListenerResult:
    received: dict[FixKey, float] = field(default_factory=dict)  # first arrival, wall clock
    # SOS events by (vehicle id, event time), first arrival; ETA updates received
    alarms: dict[tuple[int, str], float] = field(default_factory=dict)
    etas: int = 0
    duplicates: int = 0
    fix_messages: int = 0
    heartbeats: int = 0
    close_code: int | None = None
    cpu_s: float = 0.0
    error: str | None = None


def run_listener(
    url: str, key: str, ready: Event, stop: Event, progress: Synchronized, results: object
) -> None:
    """Process entry point: connect, take the snapshot, signal `ready`, record fixes until `stop`."""
    result = ListenerResult()
    try:
        uvloop.run(_listen(url, key, ready, stop, progress, result))
    except Exception as exc:  # reported with the figures
        result.error = f"{type(exc).__name__}: {exc}"
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_s = usage.ru_utime + usage.ru_stime
    results.put(result)  # type: ignore[attr-defined]


async def _listen(
    url: str, key: str, ready: Event, stop: Event, progress: Synchronized, result: ListenerResult
) -> None:
    # The key in a header, never in the URL (the API refuses ?token=: it would be logged).
    headers = {"Authorization": f"Bearer {key}"}
    async with connect(url, max_size=16 * 2**20, open_timeout=20, additional_headers=headers) as ws:
        first = json.loads(await ws.recv())
        if first.get("type") != "snapshot":
            raise RuntimeError(f"expected the snapshot first, got {first.get('type')!r}")
        ready.set()
        received = result.received
        while not stop.is_set():
            try:
                text = await asyncio.wait_for(ws.recv(), timeout=0.2)
            except TimeoutError:
                continue
            except ConnectionClosed as closed:
                result.close_code = closed.rcvd.code if closed.rcvd else None
                return
            arrived = time.time()
            message = json.loads(text)
            if message.get("type") == "heartbeat":
                result.heartbeats += 1
            if message.get("type") == "events":
                for event in message["events"]:
                    if event.get("kind") == "sos":
                        result.alarms.setdefault((event["vehicle_id"], event["at"]), arrived)
            if message.get("type") == "etas":
                result.etas += len(message["etas"])
            if message.get("type") != "fixes":
                continue
            result.fix_messages += 1
            for fix in message["fixes"]:
                key = (fix["device_id"], fix["time"])
                if key in received:
                    result.duplicates += 1
                else:
                    received[key] = arrived
            progress.value = len(received)
