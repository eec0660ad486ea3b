"""Runs the fleet in real time; each tracker is its own device, speaking its protocol over its own link."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from device_emulator.links import DeviceLink, LinkConfig, LinkError, make_link
from device_emulator.outbox import PendingBatch
from device_emulator.tracker import EmulatedTracker

log = logging.getLogger(__name__)

# device_id -> its MQTT password or OsmAnd token, or None to connect without one.
PasswordProvider = Callable[[str], str | None]
# Told of every batch the gateway acknowledged, with the device's id.
DeliveryObserver = Callable[[str, PendingBatch], None]


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
    flush_timeout_s: float = 2.0  # on stop, how long trackers may try to send what they still hold


def password_file(path: Path) -> PasswordProvider:
    """Secrets (MQTT passwords, OsmAnd tokens) from lines `device_id secret`; `*` as the id gives
    everyone else one; # comments. `amb-admin seed-fleet --passwords-file` writes such a file."""
    passwords: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) == 2:
            passwords[fields[0]] = fields[1]
    return lambda device_id: passwords.get(device_id, passwords.get("*"))


async def run_fleet(
    trackers: Sequence[EmulatedTracker],
    link: LinkConfig,
    options: RunOptions = RunOptions(),
    *,
    stop: asyncio.Event | None = None,
    passwords: PasswordProvider | None = None,
    on_delivered: DeliveryObserver | None = None,
) -> None:
    """Drive and send until `stop` is set or the duration has passed, then flush briefly and return."""
    if stop is None:
        stop = asyncio.Event()
    closing = asyncio.Event()
    period = 1.0 / options.rate_hz
    async with asyncio.TaskGroup() as group:
        drivers, senders, wakeups = [], [], []
        for tracker in trackers:
            wakeup = asyncio.Event()
            wakeups.append(wakeup)
            secret = passwords(tracker.device_id) if passwords else None
            device_link = make_link(link, tracker.device_id, secret)
            drivers.append(
                group.create_task(_drive(tracker, period, wakeup), name=f"drive:{tracker.device_id}")
            )
            senders.append(
                group.create_task(
                    _send(tracker, device_link, wakeup, closing, options, on_delivered),
                    name=f"{link.protocol}:{tracker.device_id}",
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
    held = sum(len(t.outbox) for t in trackers)
    sent = sum(t.outbox.acknowledged for t in trackers)
    log.info("%d fixes acknowledged by the gateway, %d still held", sent, held)


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
    link: DeviceLink,
    wakeup: asyncio.Event,
    closing: asyncio.Event,
    options: RunOptions,
    on_delivered: DeliveryObserver | None,
) -> None:
    """Keep the link up (reconnecting around its context) and send what the outbox releases."""
    device_id = tracker.device_id
    jitter = random.Random()
    attempt = 0
    while True:
        acknowledged = tracker.outbox.acknowledged
        try:
            async with link:
                if attempt:
                    log.info("%s reconnected; %d fixes to send", device_id, len(tracker.outbox))
                await _deliver_outbox(link, tracker, wakeup, closing, on_delivered)
                return
        except LinkError as exc:
            if closing.is_set():
                return
            if tracker.outbox.acknowledged > acknowledged:
                attempt = 0  # the link worked for a while: back off from the start
            # A link that connects but acknowledges nothing keeps backing off (no reset on connect).
            delay = max(options.backoff.delay_s(attempt, jitter), exc.retry_after_s)
            attempt += 1
            log.warning("%s %s; %d fixes kept; retry in %.1fs", device_id, exc, len(tracker.outbox), delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closing.wait(), delay)  # sleep, but not past a stop


async def _deliver_outbox(
    link: DeviceLink,
    tracker: EmulatedTracker,
    wakeup: asyncio.Event,
    closing: asyncio.Event,
    on_delivered: DeliveryObserver | None,
) -> None:
    outbox = tracker.outbox
    while True:
        wakeup.clear()  # before looking, so a fix queued while we send is not missed
        batch = outbox.next_batch(link.max_fixes)
        if batch is None:
            if closing.is_set():
                return
            await wakeup.wait()  # set by every tick, and once more on closing
            continue
        if not await link.send(batch):
            raise LinkError(f"{len(batch.fixes)} fixes not acknowledged")
        outbox.acknowledge(batch.last_seq)
        if on_delivered is not None:
            on_delivered(tracker.device_id, batch)
