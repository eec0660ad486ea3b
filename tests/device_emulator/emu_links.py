"""Shared by the link tests: a registered demo fleet run by the real runner against a real gateway
process, and the checks of what PostGIS holds for it afterwards."""

from __future__ import annotations

import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

from device_emulator.config import MqttSettings
from device_emulator.fixes import Fix
from device_emulator.links import WHOLE_SECOND_PROTOCOLS, LinkConfig, ProtocolName
from device_emulator.outbox import CoverageGaps, PendingBatch
from device_emulator.runner import Backoff, RunOptions, run_fleet
from device_emulator.tracker import EmulatedTracker, FleetConfig, build_fleet
from tests.services import Broker, Gateway, free_port, start_gateway
from tracking.fleet import demo_device_id, issue_device_token, registry_protocol, seed_demo_fleet

# The gateway listener each device protocol needs (the MQTT ones come through the broker).
LISTENER = {"gt06": "gt06", "teltonika": "teltonika", "h02": "h02", "osmand": "osmand"}
# Protocols that cannot say a fix was buffered (the gateway archives only fixes older than the latest).
NO_BACKLOG_MARK = frozenset({"h02"})
RATE_HZ, DURATION_S = 4.0, 3.0
GAP_TICKS = range(4, 9)  # coverage lost for 5 ticks: 6 fixes go out as a backlog at tick 9


class ScriptedCoverage(CoverageGaps):
    """Coverage lost during the given ticks (1-based), and nowhere else."""

    def __init__(self, lost: range) -> None:
        super().__init__(random.Random(0))
        self._lost = lost
        self._ticks = 0

    def advance(self, dt: float) -> bool:
        self._ticks += 1
        return self._ticks not in self._lost


@dataclass
class FleetRun:
    """Trackers of one protocol and every fix the gateway acknowledged to each (with its batch's
    backlog flag)."""

    protocol: ProtocolName
    link: LinkConfig
    trackers: list[EmulatedTracker]
    delivered: dict[str, list[tuple[Fix, bool]]] = field(default_factory=lambda: defaultdict(list))
    secrets: dict[str, str] = field(default_factory=dict)  # OsmAnd tokens (required by the gateway)

    def observe(self, device_id: str, batch: PendingBatch) -> None:
        self.delivered[device_id].extend((fix, batch.backlog) for fix in batch.fixes)

    async def run(self, rate_hz: float = RATE_HZ, duration_s: float = DURATION_S) -> None:
        options = RunOptions(
            rate_hz=rate_hz, duration_s=duration_s, backoff=Backoff(0.2, 1.0), flush_timeout_s=5
        )
        await run_fleet(
            self.trackers, self.link, options, passwords=self.secrets.get, on_delivered=self.observe
        )


def registered_fleet(
    db: psycopg.Connection,
    broker: Broker,
    protocol: ProtocolName,
    udp: bool = False,
    gap_ticks: range | None = GAP_TICKS,
) -> FleetRun:
    """Register two demo ambulances for `protocol` (as `amb-admin seed-fleet --protocol` does) and
    build the emulated fleet whose ids match them, sending to a free port (or through the broker),
    with one scripted coverage gap."""
    seed_demo_fleet(db, 2, "emu-", protocol=protocol)
    secrets = {}
    if registry_protocol(protocol) == "osmand":
        secrets = {
            d: issue_device_token(db, d) for d in (demo_device_id(i, "emu-", protocol) for i in (1, 2))
        }
    trackers = build_fleet(FleetConfig(vehicles=2, protocol=protocol, dwell_scale=0.01))
    if gap_ticks is not None:
        for tracker in trackers:
            tracker.coverage = ScriptedCoverage(gap_ticks)
    mqtt = MqttSettings(mqtt_url=broker.url).endpoint() if protocol in ("mqtt", "owntracks") else None
    port = free_port() if protocol in LISTENER else None
    link = LinkConfig(protocol=protocol, mqtt=mqtt, port=port, udp=udp, ack_timeout_s=5.0)
    return FleetRun(protocol, link, trackers, secrets=secrets)


def start_protocol_gateway(broker: Broker, tmp_path: Path, unique: str, run: FleetRun) -> Gateway:
    """A gateway process with the listener of the run's protocol on its port. Start it once the
    devices are registered: it loads the registry at start (an unknown device only later)."""
    listener = LISTENER.get(run.protocol)
    ports = {f"{listener}_port": str(run.link.endpoint.port)} if listener else {}
    return start_gateway(broker, tmp_path, f"gw-{unique}", **ports)


def stored(db: psycopg.Connection, device_id: str) -> list[tuple[datetime, str, bool]]:
    rows = db.execute(
        "SELECT fix_time, protocol, late FROM positions WHERE device_id = %s ORDER BY fix_time",
        (device_id,),
    ).fetchall()
    return [(t, p, a) for t, p, a in rows]


def assert_every_acknowledged_fix_stored(
    db: psycopg.Connection, run: FleetRun, check_late: bool = True
) -> dict[str, int]:
    """Every fix the gateway acknowledged is in `positions` under its device with the right protocol,
    late exactly when it went out as backlog (`check_late`: not after a lost connection,
    where a fix stored live may be sent again as backlog), and nothing else is; returns the rows per
    device. Protocols with whole-second times keep the first fix of each second (later ones are
    duplicates)."""
    counts = {}
    for tracker in run.trackers:
        rows = stored(db, tracker.device_id)
        assert {p for _, p, _ in rows} == {registry_protocol(run.protocol)}, tracker.device_id
        expected: list[tuple[datetime, bool]] = []
        for fix, backlog in run.delivered[tracker.device_id]:
            late = backlog and run.protocol not in NO_BACKLOG_MARK
            if run.protocol not in WHOLE_SECOND_PROTOCOLS:
                expected.append((fix.time, late))
            elif not expected or expected[-1][0] != fix.time.replace(microsecond=0):
                expected.append((fix.time.replace(microsecond=0), late))
        assert len(rows) == len(expected), (tracker.device_id, rows, expected)
        for (fix_time, _, late), (want_time, want_late) in zip(rows, expected, strict=True):
            # Milliseconds on the wire (some encoders round, some truncate): within one.
            assert abs(fix_time - want_time) <= timedelta(milliseconds=1), (
                tracker.device_id,
                fix_time,
                want_time,
            )
            assert late == want_late or not check_late, (tracker.device_id, fix_time)
        counts[tracker.device_id] = len(rows)
    return counts


def wait_until_stored(
    db: psycopg.Connection, run: FleetRun, check_late: bool = True, timeout_s: float = 10.0
) -> dict[str, int]:
    """assert_every_acknowledged_fix_stored once it holds (call it before stopping the gateway: an
    MQTT device's PUBACK comes from the broker, before the gateway has committed)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return assert_every_acknowledged_fix_stored(db, run, check_late)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def assert_complete_run(db: psycopg.Connection, run: FleetRun, log_text: str) -> None:
    """One connection each (never lost), nothing left unsent, about RATE_HZ x DURATION_S fixes each
    acknowledged (a backlog among them) and every one of them stored."""
    assert "retry in" not in log_text
    assert all(len(t.outbox) == 0 and t.outbox.dropped == 0 for t in run.trackers)
    expected = RATE_HZ * DURATION_S
    for tracker in run.trackers:
        delivered = run.delivered[tracker.device_id]
        assert expected - 2 <= len(delivered) <= expected + 1, (tracker.device_id, len(delivered))
        assert sum(backlog for _, backlog in delivered) >= len(GAP_TICKS), tracker.device_id
    counts = wait_until_stored(db, run)
    assert all(n >= DURATION_S - 1 for n in counts.values()), counts
