"""An emulated tracker (vehicle, GPS, coverage, outbox) and the seeded fleet of them; no I/O, explicit clock."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from device_emulator.fixes import Fix, GpsReceiver
from device_emulator.fleet import MissionTiming, Vehicle
from device_emulator.ids import demo_device_id
from device_emulator.outbox import DEFAULT_MAX_BACKLOG, CoverageGaps, Outbox, OutgoingMessage
from device_emulator.places import Place, hospitals_on_graph, load_hospitals, load_stations
from device_emulator.roads import RoadGraph, load_road_graph
from device_emulator.traffic import Traffic


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """Everything that decides what a fleet does; the same config gives the same fixes."""

    vehicles: int = 20
    seed: int = 42
    device_prefix: str = "emu-"
    protocol: str = "mqtt"  # decides the device ids (device_id_for)
    noise_m: float = 4.0
    gap_probability: float = 0.0  # per vehicle per minute
    gap_seconds: float = 60.0
    dwell_scale: float = 1.0
    max_backlog: int = DEFAULT_MAX_BACKLOG
    follow_dispatch: bool = False
    # Rush hours on the simulated clock and a fixed speed per road segment (device_emulator/traffic.py).
    traffic: bool = False


@dataclass(slots=True)
class EmulatedTracker:
    """One ambulance's tracker: every tick it samples the vehicle, makes a fix and queues it for sending."""

    device_id: str
    vehicle: Vehicle
    gps: GpsReceiver
    coverage: CoverageGaps
    outbox: Outbox = field(default_factory=Outbox)

    def tick(self, when: datetime, dt: float) -> Fix:
        """Advance dt seconds of simulated time and record the fix taken at `when`."""
        fix = self.gps.fix(self.vehicle.step(dt, when), when)
        self.outbox.held = not self.coverage.advance(dt)
        self.outbox.put(fix)
        return fix


def device_id_for(protocol: str, prefix: str, index: int) -> str:
    """The id of tracker number `index` (1-based) speaking `protocol`, as `amb-admin seed-fleet
    --protocol` registers it: emu-0001 (mqtt, osmand), emu.0001 (owntracks), a Luhn-valid IMEI
    350000000000014 (gt06, teltonika), 4210000001 (h02). See device_emulator.ids."""
    return demo_device_id(index, prefix, protocol)


def device_ids(prefix: str, count: int, protocol: str = "mqtt") -> list[str]:
    """The ids of trackers 1..count: emu-0001 ... emu-NNNN for MQTT JSON."""
    return [device_id_for(protocol, prefix, number) for number in range(1, count + 1)]


def vehicle_rng(seed: int, index: int, purpose: str) -> random.Random:
    """An independent stream per vehicle and purpose, so GPS noise settings never change the trajectories."""
    return random.Random(f"{seed}/{index}/{purpose}")


def build_fleet(
    config: FleetConfig,
    graph: RoadGraph | None = None,
    hospitals: Sequence[Place] | None = None,
    stations: Sequence[Place] | None = None,
) -> list[EmulatedTracker]:
    """The fleet of a config: vehicle i is based at station i mod the number of stations."""
    graph = graph or load_road_graph()
    # Patients go to emergency departments; vehicles are based at the sample 115 stations.
    hospitals = hospitals or hospitals_on_graph(graph, load_hospitals(), emergency_only=True)
    stations = stations or load_stations(graph)
    timing = MissionTiming(scale=config.dwell_scale)
    traffic = Traffic(config.seed) if config.traffic else None
    trackers = []
    for index, device_id in enumerate(device_ids(config.device_prefix, config.vehicles, config.protocol)):
        vehicle = Vehicle(
            graph,
            stations[index % len(stations)],
            hospitals,
            vehicle_rng(config.seed, index, "drive"),
            timing,
            follow_dispatch=config.follow_dispatch,
            traffic=traffic,
        )
        trackers.append(
            EmulatedTracker(
                device_id=device_id,
                vehicle=vehicle,
                gps=GpsReceiver(vehicle_rng(config.seed, index, "gps"), graph.projection, config.noise_m),
                coverage=CoverageGaps(
                    vehicle_rng(config.seed, index, "coverage"), config.gap_probability, config.gap_seconds
                ),
                outbox=Outbox(config.max_backlog),
            )
        )
    return trackers


def simulate(
    trackers: Sequence[EmulatedTracker], start: datetime, dt: float, steps: int
) -> Iterator[tuple[str, Fix, list[OutgoingMessage]]]:
    """Tick every tracker `steps` times, sending whatever its outbox releases at once (an always-up link)."""
    for step in range(1, steps + 1):
        when = start + timedelta(seconds=step * dt)
        for tracker in trackers:
            fix = tracker.tick(when, dt)
            sent = []
            while (message := tracker.outbox.next_message()) is not None:
                tracker.outbox.acknowledge(message.last_seq)
                sent.append(message)
            yield tracker.device_id, fix, sent
