"""Emulated trackers for the benchmark: one process publishes for its share of the devices, on a
fixed schedule, with QoS 1, and records when each fix was sent.

Each device is its own MQTT connection, as a real tracker is (to one of the broker's nodes, dealt
round robin when it has several, as a load balancer in front of a cluster would spread them). The process spreads its messages
evenly over time (round robin over its devices); a message holds `fixes_per_message` fixes (1: a
live fix; more: a small backlog upload, the newest fix last). A fix counts as published once the
broker has acknowledged its message (PUBACK).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import resource
import time
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event

import uvloop

from bench.motion import Motion
from bench.mqtt_wire import MqttPublisher, MqttWireError
from messaging.device_topics import device_position_topic

CONNECT_CONCURRENCY = 100
ACK_TIMEOUT_S = 60.0
# Messages due within one tick go out together: sleeping for less than the event loop's timer
# resolution (1 ms) would spin instead of sleeping.
TICK_S = 0.005


@dataclass(frozen=True, slots=True)
class PublisherPlan:
    broker_ports: tuple[int, ...]  # MQTT ports of the broker's nodes: devices are dealt over them
    devices: tuple[str, ...]
    passwords: tuple[str, ...]  # each device's MQTT password (its user name is its id)
    rate: float  # fixes/s of this process
    duration_s: float
    fixes_per_message: int = 1
    seed: int = 0
    sos_every: int = 0  # > 0: every this many messages, the newest fix carries an SOS alarm


# (device id, fix time as the wire writes it, wall-clock time of the send)
SentFix = tuple[str, str, float]


@dataclass(slots=True)
class PublisherResult:
    messages_acked: int = 0
    fixes_acked: int = 0
    messages_failed: int = 0
    first_send: float = 0.0
    last_send: float = 0.0
    max_lag_s: float = 0.0  # how far the process fell behind its schedule
    cpu_s: float = 0.0  # while publishing (connecting not included)
    sent: list[SentFix] = field(default_factory=list)
    alarms: list[SentFix] = field(default_factory=list)  # the fixes that carried an SOS
    error: str | None = None


def wire_time(ms: int) -> str:
    """Unix milliseconds as the gateway writes them back: 2026-11-27T08:00:00.123Z (exact, no float)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


@dataclass(slots=True)
class _Device:
    """One emulated tracker: its connection, where it is, and its last fix time (times never repeat)."""

    device_id: str
    topic: bytes
    client: MqttPublisher
    motion: Motion
    last_ms: int = 0

    def next_fixes(self, rng: random.Random, count: int, step_ms: int) -> list[dict[str, object]]:
        """`count` fixes `step_ms` apart, the newest now."""
        now_ms = int(time.time() * 1000)
        fixes = []
        for i in range(count):
            ms = max(self.last_ms + 1, now_ms - (count - 1 - i) * step_ms)
            self.motion.advance(rng, (ms - self.last_ms) / 1000 if self.last_ms else 0.0)
            self.last_ms = ms
            fixes.append(self.motion.fix(wire_time(ms)))
        return fixes


def run_publisher(plan: PublisherPlan, ready: Event, go: Event, start_at: object, results: object) -> None:
    """Process entry point: connect, signal `ready`, wait for `go`, publish, put a PublisherResult.

    `start_at` is a shared double: the wall-clock time of the first publish, set before `go`."""
    result = PublisherResult()
    try:
        uvloop.run(_publish(plan, ready, go, start_at, result))
    except Exception as exc:  # reported, not raised: the parent raises it with this process's name
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        ready.set()  # a process that failed to connect must not keep the others waiting
    results.put(result)  # type: ignore[attr-defined]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _publish(
    plan: PublisherPlan, ready: Event, go: Event, start_at: object, result: PublisherResult
) -> None:
    rng = random.Random(plan.seed)
    devices = await _connect_all(plan, rng)
    try:
        ready.set()
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        cpu_before = _cpu_s()
        await _run_schedule(plan, devices, start_at.value, rng, result)  # type: ignore[attr-defined]
        await _wait_acks(devices, result)
        result.cpu_s = _cpu_s() - cpu_before
    finally:
        for device in devices:
            device.client.close()


async def _connect_all(plan: PublisherPlan, rng: random.Random) -> list[_Device]:
    accounts = list(zip(plan.devices, plan.passwords, strict=True))
    clients: list[MqttPublisher] = []
    for start in range(0, len(accounts), CONNECT_CONCURRENCY):
        chunk = accounts[start : start + CONNECT_CONCURRENCY]
        ports = [plan.broker_ports[(start + i) % len(plan.broker_ports)] for i in range(len(chunk))]
        clients += await asyncio.gather(
            *(
                MqttPublisher.connect("127.0.0.1", port, f"{d}-pub", d, pw)
                for (d, pw), port in zip(chunk, ports, strict=True)
            )
        )
    return [
        _Device(d, device_position_topic(d).encode(), c, Motion.somewhere(rng))
        for d, c in zip(plan.devices, clients, strict=True)
    ]


async def _run_schedule(
    plan: PublisherPlan, devices: list[_Device], start_at: float, rng: random.Random, result: PublisherResult
) -> None:
    per_message = plan.fixes_per_message
    message_rate = plan.rate / per_message
    total = round(plan.rate * plan.duration_s / per_message)
    step_ms = max(1, round(1000 * len(devices) / plan.rate))  # one device's interval between fixes
    await asyncio.sleep(max(0.0, start_at - time.time()))
    result.first_send = time.time()
    sent = 0
    while sent < total:
        now = time.time()
        due = min(total, int((now - start_at) * message_rate) + 1)
        result.max_lag_s = max(result.max_lag_s, now - (start_at + sent / message_rate))
        for m in range(sent, due):
            # Each round over the devices, a different one device in `sos_every` sends an SOS,
            # so that no device repeats its SOS within the tracker's 60 s alarm-repeat window.
            round_, device = divmod(m, len(devices))
            sos = plan.sos_every > 0 and device % plan.sos_every == round_ % plan.sos_every
            _send(devices[m % len(devices)], rng, per_message, step_ms, result, sos)
        sent = due
        result.last_send = time.time()
        await asyncio.sleep(max(TICK_S, start_at + sent / message_rate - time.time()))


def _send(
    device: _Device, rng: random.Random, count: int, step_ms: int, result: PublisherResult, sos: bool = False
) -> None:
    fixes = device.next_fixes(rng, count, step_ms)
    if sos:
        fixes[-1]["attrs"] = {"alarm": "sos"}  # the MQTT JSON format's attributes
    body = json.dumps(fixes[0] if count == 1 else fixes, separators=(",", ":")).encode()
    sent_at = time.time()

    def acked() -> None:
        result.messages_acked += 1
        result.fixes_acked += count
        result.sent.extend((device.device_id, str(f["time"]), sent_at) for f in fixes)
        if sos:
            result.alarms.append((device.device_id, str(fixes[-1]["time"]), sent_at))

    try:
        device.client.publish(device.topic, body, acked)
    except MqttWireError:
        result.messages_failed += 1


async def _wait_acks(devices: list[_Device], result: PublisherResult) -> None:
    """Wait for the last PUBACKs; what is still unacknowledged after the timeout counts as failed."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(ACK_TIMEOUT_S):
            await asyncio.gather(*(d.client.all_acked() for d in devices))
    result.messages_failed += sum(d.client.in_flight for d in devices)
