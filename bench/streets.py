"""What real streets add to the emulator's traffic, for the ETA accuracy benchmark (not a test).

The emulator's own traffic (device_emulator/traffic.py) is a smooth rush-hour curve times a fixed
factor per road: a vehicle never stops on the way. Streets are rougher, and this module drives the
emulated fleet through them (all of it hidden from the router, and none of it the emulator's
curve, so nothing here can be learned by copying `RUSH_HOURS`):

- **Signalised junctions** where a vehicle sometimes stops: a share `SIGNAL_SHARE` of the junctions
  with three or more ways out (by a hash of the seed and the node) has lights; a vehicle reaching
  one stops with probability `STOP_PROBABILITY` and waits `RED_WAIT_S` (uniform) at the end of the
  edge leading into it, then starts again from standstill.
- **Peaks at other hours** than the emulator's: `STREET_PEAKS` (a morning peak 6:00-7:30, a lunch
  dip, a long evening peak 17:00-19:30, a late-evening market hour).
- **Daily variation**: each local day has its own city-wide factor, `DAY_FACTOR_RANGE`.
- **Incidents**: each local day, `INCIDENTS_PER_DAY` road segments (any direction) are slowed to
  `INCIDENT_FACTOR` for 30-120 minutes from a random time of day; a vehicle leaving while one is
  on drives that segment slowly.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from device_emulator.fleet import Vehicle, VehicleSample
from device_emulator.motion import Progress
from device_emulator.roads import RoadEdge, RoadGraph
from device_emulator.traffic import LOCAL_TIME, Traffic

STREET_PEAKS: tuple[tuple[float, float], ...] = (
    (0.0, 1.08),
    (5.0, 1.08),
    (6.0, 0.80),
    (6.5, 0.62),
    (7.5, 0.62),
    (8.5, 0.85),
    (11.0, 0.88),
    (11.5, 0.72),
    (12.5, 0.80),
    (14.0, 0.92),
    (16.5, 0.80),
    (17.0, 0.55),
    (19.5, 0.55),
    (20.0, 0.70),
    (21.0, 0.75),
    (22.0, 1.00),
    (24.0, 1.08),
)
DAY_FACTOR_RANGE = (0.92, 1.06)
SIGNAL_SHARE = 0.45
STOP_PROBABILITY = 0.5
RED_WAIT_S = (5.0, 55.0)
INCIDENTS_PER_DAY = 8
INCIDENT_FACTOR = 0.4
INCIDENT_MINUTES = (30, 120)


def _unit(*parts: object) -> float:
    """A number in [0, 1) fixed by its parts."""
    key = "/".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") / 2**64


@dataclass(frozen=True, slots=True)
class StreetTraffic(Traffic):
    """The emulator's traffic with street peaks, a factor per day and incidents. `clock` holds the
    simulated time of the step being driven (set by Streets.step)."""

    rush_hours: tuple[tuple[float, float], ...] = STREET_PEAKS
    segment_count: int = 1
    clock: dict[str, datetime] = field(default_factory=dict)

    def day_factor(self, day: date) -> float:
        low, high = DAY_FACTOR_RANGE
        return low + (high - low) * _unit(self.seed, "day", day.isoformat())

    def time_factor(self, at: datetime) -> float:
        return Traffic.time_factor(self, at) * self.day_factor(at.astimezone(LOCAL_TIME).date())

    def incidents(self, day: date) -> dict[int, tuple[datetime, datetime]]:
        """The segments slowed on a local day: segment -> (start, end)."""
        rng = random.Random(f"{self.seed}/incidents/{day.isoformat()}")
        midnight = datetime(day.year, day.month, day.day, tzinfo=LOCAL_TIME)
        out = {}
        for _ in range(INCIDENTS_PER_DAY):
            start = midnight + timedelta(minutes=rng.uniform(0, 24 * 60))
            out[rng.randrange(self.segment_count)] = (
                start,
                start + timedelta(minutes=rng.uniform(*INCIDENT_MINUTES)),
            )
        return out

    def segment_factor(self, edge: RoadEdge) -> float:
        base = Traffic.segment_factor(self, edge)
        now = self.clock.get("now")
        if now is None:
            return base
        window = self.incidents(now.astimezone(LOCAL_TIME).date()).get(edge.segment)
        return base * INCIDENT_FACTOR if window and window[0] <= now < window[1] else base

    @property
    def max_factor(self) -> float:
        return max(f for _, f in self.rush_hours) * DAY_FACTOR_RANGE[1] * self.segment_range[1]


@dataclass(slots=True)
class Streets:
    """Drives vehicles through signalised junctions; `step` replaces Vehicle.step."""

    graph: RoadGraph
    traffic: StreetTraffic
    rng: random.Random
    holds: dict[int, float] = field(default_factory=dict)  # id(vehicle) -> seconds still to wait
    waited_at: dict[int, int] = field(default_factory=dict)  # id(vehicle) -> the junction it waits at
    signals: frozenset[int] = frozenset()
    stops: int = 0
    # id(vehicle) -> (when, seconds waited) at every signal it passed, when not None: what an
    # oracle knowing all but the lights' draws would predict (bench/eta_accuracy.py's floor)
    passes: dict[int, list[tuple[datetime, float]]] | None = None

    @classmethod
    def build(cls, graph: RoadGraph, seed: int) -> Streets:
        segments = 1 + max(e.segment for e in graph.edges)
        traffic = StreetTraffic(seed, segment_count=segments)
        signals = frozenset(
            node
            for node, out in enumerate(graph.out_edges)
            if len(out) >= 3 and _unit(seed, "signal", node) < SIGNAL_SHARE
        )
        return cls(graph, traffic, random.Random(f"{seed}/streets"), signals=signals)

    def adopt(self, vehicle: Vehicle) -> None:
        vehicle.traffic = self.traffic

    def step(self, vehicle: Vehicle, dt: float, at: datetime) -> VehicleSample:
        self.traffic.clock["now"] = at
        key = id(vehicle)
        wait = self.holds.get(key, 0.0)
        if wait > 0:
            self.holds[key] = wait - dt
            return replace(vehicle.sample(), speed_mps=0.0)
        path_before = vehicle._path
        piece_before = vehicle._progress.piece
        sample = vehicle.step(dt, at)
        path = vehicle._path
        if path is None or path is not path_before:
            return sample
        edge_before = path.piece_edges[piece_before]
        piece = vehicle._progress.piece
        if path.piece_edges[piece] == edge_before:
            return sample
        # Crossed into another edge: was the junction a red light? (Once per junction: a vehicle
        # that waited there crosses it on green.)
        node = self.graph.edges[edge_before].target
        if node not in self.signals or self.waited_at.pop(key, None) == node:
            return sample
        if self.rng.random() >= STOP_PROBABILITY:
            self._passed(key, at, 0.0)
            return sample
        first = piece_before
        while path.piece_edges[first + 1] == edge_before:
            first += 1
        junction = path.offsets[first + 1]
        vehicle._progress = Progress(max(0.0, junction - 0.5), 0.0, first)
        self.holds[key] = self.rng.uniform(*RED_WAIT_S)
        self.waited_at[key] = node
        self._passed(key, at, self.holds[key])
        self.stops += 1
        return replace(vehicle.sample(), speed_mps=0.0)

    def _passed(self, key: int, at: datetime, wait_s: float) -> None:
        if self.passes is not None:
            self.passes.setdefault(key, []).append((at, wait_s))


def expected_red_wait_s() -> float:
    """The mean wait a signalised junction costs a vehicle reaching it."""
    return STOP_PROBABILITY * sum(RED_WAIT_S) / 2
