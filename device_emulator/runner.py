"""Runs the fleet in real time; each tracker is its own MQTT client publishing its fixes with QoS 1."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt

from device_emulator.tracker import EmulatedTracker
from tracking.config import MqttEndpoint
from tracking.topics import device_position_topic

log = logging.getLogger(__name__)

# device_id -> its MQTT password, or None to connect without one.
PasswordProvider = Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Jittered exponential backoff between reconnection attempts."""

    initial_s: float = 0.5
    max_s: float = 30.0

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        # Jitter spreads a fleet's reconnections after a broker restart instead of stampeding it.
        return min(self.max_s, self.initial_s * 2**attempt) * rng.uniform(0.5, 1.0)


@dataclass(frozen=True, slots=True)
class RunOptions:
    rate_hz: float = 1.0
    duration_s: float = 0.0  # 0 runs until stopped
    backoff: Backoff = Backoff()
    publish_timeout_s: float = 10.0
    flush_timeout_s: float = 2.0  # on stop, how long trackers may try to send what they still hold


def password_file(path: Path) -> PasswordProvider:
    """Passwords from lines `device_id password`; `*` as the id gives everyone else a password; # comments."""
    passwords: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) == 2:
            passwords[fields[0]] = fields[1]
    return lambda device_id: passwords.get(device_id, passwords.get("*"))


async def run_fleet(
    trackers: Sequence[EmulatedTracker],
    endpoint: MqttEndpoint,
    options: RunOptions = RunOptions(),
    *,
    stop: asyncio.Event | None = None,
    passwords: PasswordProvider | None = None,
) -> None:
    """Drive and publish until `stop` is set or the duration has passed, then flush briefly and return."""
    if stop is None:
        stop = asyncio.Event()
    closing = asyncio.Event()
    period = 1.0 / options.rate_hz
    async with asyncio.TaskGroup() as group:
        drivers, senders, wakeups = [], [], []
        for tracker in trackers:
            wakeup = asyncio.Event()
            wakeups.append(wakeup)
            password = passwords(tracker.device_id) if passwords else None
            drivers.append(
                group.create_task(_drive(tracker, period, wakeup), name=f"drive:{tracker.device_id}")
            )
            senders.append(
                group.create_task(
                    _send(tracker, endpoint, password, wakeup, closing, options),
                    name=f"mqtt:{tracker.device_id}",
                )
            )
        await _until_stopped(stop, options.duration_s)
        log.info("stopping %d trackers", len(trackers))
        for task in drivers:
            task.cancel()
        closing.set()
        for wakeup in wakeups:
            wakeup.set()
        _, unfinished = await asyncio.wait(senders, timeout=options.flush_timeout_s)
        for task in unfinished:
            task.cancel()


async def _until_stopped(stop: asyncio.Event, duration_s: float) -> None:
    if duration_s <= 0:
        await stop.wait()
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), duration_s)


async def _drive(tracker: EmulatedTracker, period: float, wakeup: asyncio.Event) -> None:
    """Tick the tracker every period of wall time; each tick is exactly one period of simulated time."""
    loop = asyncio.get_running_loop()
    vehicle = tracker.vehicle
    phase, held = vehicle.phase, False
    next_tick = loop.time()
    while True:
        next_tick += period
        lag = loop.time() - next_tick
        if lag > 5 * period:
            next_tick += lag  # after a suspend, resume now rather than replaying the missed ticks in a burst
        await asyncio.sleep(max(0.0, next_tick - loop.time()))
        fix = tracker.tick(datetime.now(UTC), period)
        if vehicle.phase != phase:
            log.info(
                "%s %s -> %s: %s (at %.5f,%.5f)",
                tracker.device_id, phase, vehicle.phase, vehicle.target_name, fix.lat, fix.lon,
            )  # fmt: skip
            phase = vehicle.phase
        if tracker.outbox.held != held:
            held = tracker.outbox.held
            log.info("%s coverage %s", tracker.device_id, "lost" if held else "back")
        wakeup.set()


async def _send(
    tracker: EmulatedTracker,
    endpoint: MqttEndpoint,
    password: str | None,
    wakeup: asyncio.Event,
    closing: asyncio.Event,
    options: RunOptions,
) -> None:
    """Keep a connection up (reconnecting around the client context) and publish what the outbox releases."""
    device_id = tracker.device_id
    client = aiomqtt.Client(
        endpoint.host, endpoint.port, identifier=device_id, username=device_id, password=password, timeout=10
    )
    jitter = random.Random()
    attempt = 0
    while True:
        try:
            async with client:
                if attempt:
                    log.info("%s reconnected; %d fixes to send", device_id, len(tracker.outbox))
                attempt = 0
                await _publish_outbox(client, tracker, wakeup, closing, options.publish_timeout_s)
                return
        except aiomqtt.MqttError as exc:
            if closing.is_set():
                return
            delay = options.backoff.delay_s(attempt, jitter)
            attempt += 1
            log.warning(
                "%s MQTT %s; %d fixes kept; retry in %.1fs", device_id, exc, len(tracker.outbox), delay
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closing.wait(), delay)  # sleep, but not past a stop


async def _publish_outbox(
    client: aiomqtt.Client,
    tracker: EmulatedTracker,
    wakeup: asyncio.Event,
    closing: asyncio.Event,
    timeout_s: float,
) -> None:
    topic = device_position_topic(tracker.device_id)
    while True:
        wakeup.clear()  # before looking, so a fix queued while we publish is not missed
        message = tracker.outbox.next_message()
        if message is None:
            if closing.is_set():
                return
            await wakeup.wait()  # set by every tick, and once more on closing
            continue
        await client.publish(topic, message.payload, qos=1, timeout=timeout_s)
        tracker.outbox.acknowledge(message.last_seq)
