"""Ambulance missions: idle at the station, drive to a scene, to the nearest hospital, and back."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from device_emulator.motion import DrivingStyle, Path, Progress, advance, build_path, locate
from device_emulator.places import Place
from device_emulator.roads import RoadEdge, RoadGraph, path_to
from device_emulator.traffic import Traffic

# Each vehicle cruises at its class speed times a personal factor, times a per-road variation drawn
# per trip (and, with traffic on, times the segment's fixed factor and the rush-hour factor).
SPEED_FACTOR_RANGE = (0.9, 1.1)
ROAD_VARIATION_RANGE = (0.92, 1.08)
ACCEL_RANGE_MPS2 = (1.5, 2.5)


class Phase(StrEnum):
    IDLE = "idle"
    TO_SCENE = "to_scene"
    AT_SCENE = "at_scene"
    TO_HOSPITAL = "to_hospital"
    AT_HOSPITAL = "at_hospital"
    RETURNING = "returning"


# Where each driving phase ends, and which drive follows each stop.
ARRIVAL = {Phase.TO_SCENE: Phase.AT_SCENE, Phase.TO_HOSPITAL: Phase.AT_HOSPITAL, Phase.RETURNING: Phase.IDLE}
DEPARTURE = {
    Phase.IDLE: Phase.TO_SCENE,
    Phase.AT_SCENE: Phase.TO_HOSPITAL,
    Phase.AT_HOSPITAL: Phase.RETURNING,
}


@dataclass(frozen=True, slots=True)
class MissionTiming:
    """How long a vehicle stays put in each stopped phase (drawn uniformly, in seconds), times scale."""

    idle_s: tuple[float, float] = (120.0, 600.0)
    scene_s: tuple[float, float] = (60.0, 240.0)
    hospital_s: tuple[float, float] = (120.0, 300.0)
    scale: float = 1.0

    def draw(self, phase: Phase, rng: random.Random) -> float:
        ranges = {Phase.IDLE: self.idle_s, Phase.AT_SCENE: self.scene_s, Phase.AT_HOSPITAL: self.hospital_s}
        low, high = ranges[phase]
        return rng.uniform(low, high) * self.scale


@dataclass(frozen=True, slots=True)
class VehicleSample:
    """The true state of a vehicle at one instant."""

    lat: float
    lon: float
    speed_mps: float
    heading_deg: float  # clockwise from north
    phase: Phase
    edge: int | None  # RoadEdge.index being driven, None when stopped

    @property
    def speed_kmh(self) -> float:
        return self.speed_mps * 3.6


def max_cruise_kmh(highway_kmh: float, traffic: Traffic | None = None) -> float:
    """The fastest any vehicle cruises on a road class of this speed."""
    top = highway_kmh * SPEED_FACTOR_RANGE[1] * ROAD_VARIATION_RANGE[1]
    return top * traffic.max_factor if traffic is not None else top


class Vehicle:
    """One ambulance running missions over the road graph; step() advances its own simulated clock."""

    def __init__(
        self,
        graph: RoadGraph,
        station: Place,
        hospitals: Sequence[Place],
        rng: random.Random,
        timing: MissionTiming = MissionTiming(),
        follow_dispatch: bool = False,
        traffic: Traffic | None = None,
    ) -> None:
        if not hospitals:
            raise ValueError("a vehicle needs at least one hospital")
        self.graph = graph
        self.station = station
        self.hospitals = tuple(hospitals)
        self.timing = timing
        # Rush hours and per-segment speeds (None: every road at its class speed, at any hour).
        self.traffic = traffic
        self._rng = rng
        self.style = DrivingStyle(accel_mps2=rng.uniform(*ACCEL_RANGE_MPS2))
        self.speed_factor = rng.uniform(*SPEED_FACTOR_RANGE)
        self.phase = Phase.IDLE
        self.node = station.node  # where it stands, or the node it left
        self.target = station.node
        self.target_name = station.name
        self._path: Path | None = None
        self._progress = Progress()
        self._heading = 0.0
        # Stagger the first call-outs so a fleet does not leave its stations in lockstep.
        self._wait_s = rng.uniform(0.0, timing.idle_s[0]) * timing.scale
        # Following dispatch, the vehicle waits at its station for an assignment instead of
        # inventing missions; `assignment` is (scene node, hospital node or None, label).
        self.follow_dispatch = follow_dispatch
        self.assignment: tuple[int, int | None, str] | None = None
        self._recalled = False
        self._broken_s = 0.0  # broken down: stopped where it is for this long

    def assign(self, scene: int, hospital: int | None, label: str) -> bool:
        """Take a dispatch (a scene and where to bring the patient); False when busy with another."""
        if self.assignment is not None or self.phase is not Phase.IDLE:
            return False
        self.assignment = (scene, hospital, label)
        self._wait_s = 0.0
        return True

    def recall(self) -> None:
        """The journey was cancelled or closed: drop it and head back to the station (a vehicle on
        the road first reaches the junction it is driving to)."""
        self.assignment = None
        if self.phase in (Phase.TO_SCENE, Phase.TO_HOSPITAL):
            self._recalled = True
        elif self.phase in (Phase.AT_SCENE, Phase.AT_HOSPITAL):
            self.phase, self._wait_s = Phase.AT_HOSPITAL, 0.0  # departs next as RETURNING

    def break_down(self, seconds: float) -> None:
        """Stop where it is (on the road) for `seconds`, then drive on (a recall sends it home)."""
        self._broken_s = seconds
        self._progress = replace(self._progress, speed_mps=0.0)

    @property
    def broken(self) -> bool:
        return self._broken_s > 0

    def step(self, dt: float, at: datetime | None = None) -> VehicleSample:
        """Live dt more seconds: wait out a stop, depart, or drive on; return the state at the end.
        `at` is the simulated clock, which sets the rush-hour factor of `traffic`."""
        if self._broken_s > 0:
            self._broken_s -= dt
            return self.sample()
        if self._path is None:
            self._wait_s -= dt
            waiting_for_dispatch = (
                self.follow_dispatch and self.phase is Phase.IDLE and self.assignment is None
            )
            if self._wait_s <= 0.0 and not waiting_for_dispatch:
                self._depart()
        if self._path is not None:
            scale = self.traffic.time_factor(at) if self.traffic is not None and at is not None else 1.0
            self._progress = advance(self._path, self._progress, dt, self.style, scale)
            if self._progress.offset_m >= self._path.length_m:
                self._arrive()
        return self.sample()

    def sample(self) -> VehicleSample:
        if self._path is None:
            lat, lon = self.graph.node_latlon(self.node)
            return VehicleSample(lat, lon, 0.0, self._heading, self.phase, None)
        (x, y), self._heading = locate(self._path, self._progress)
        lat, lon = self.graph.projection.to_latlon(x, y)
        edge = self._path.piece_edges[self._progress.piece]
        return VehicleSample(lat, lon, self._progress.speed_mps, self._heading, self.phase, edge)

    def _depart(self) -> None:
        self.phase = DEPARTURE[self.phase]
        if self.phase is Phase.TO_HOSPITAL and self.assignment is not None and self.assignment[1] is None:
            self.phase = Phase.RETURNING  # treated on scene: no transport
        if self.phase is Phase.TO_SCENE:
            if self.assignment is not None:
                self.target, _, self.target_name = self.assignment
            else:
                self.target = self._pick_scene()
                self.target_name = f"scene at junction {self.target}"
            route = self.graph.shortest_path(self.node, self.target)
        elif self.phase is Phase.TO_HOSPITAL:
            if self.assignment is not None and self.assignment[1] is not None:
                self.target, self.target_name = self.assignment[1], "assigned hospital"
                route = self.graph.shortest_path(self.node, self.target)
            else:
                hospital, route = self._nearest_hospital()
                self.target, self.target_name = hospital.node, hospital.name
        else:
            self.target, self.target_name = self.station.node, self.station.name
            route = self.graph.shortest_path(self.node, self.target)
        if not route:
            self._arrive()  # already there: a scene at the hospital's door
            return
        self._path = build_path(route, [self._cruise_mps(edge) for edge in route], self.style)
        self._progress = Progress()

    def _arrive(self) -> None:
        self.node = self.target
        self.phase = ARRIVAL[self.phase]
        if self.phase is Phase.IDLE:
            self.assignment = None
        self._path = None
        self._progress = Progress()
        self._wait_s = self.timing.draw(self.phase, self._rng)
        if self._recalled:  # no dwell: straight back to the station
            self._recalled = False
            self.phase, self._wait_s = Phase.AT_HOSPITAL, 0.0

    def _pick_scene(self) -> int:
        scene = self._rng.randrange(len(self.graph.nodes) - 1)
        return scene + 1 if scene >= self.node else scene  # anywhere but here

    def _nearest_hospital(self) -> tuple[Place, tuple[RoadEdge, ...]]:
        """The hospital reached soonest by road, which is not always the closest as the crow flies."""
        cost, via = self.graph.travel_times(self.node)
        nearest = min(self.hospitals, key=lambda place: cost.get(place.node, math.inf))
        return nearest, path_to(via, self.node, nearest.node)

    def _cruise_mps(self, edge: RoadEdge) -> float:
        speed = edge.cruise_kmh / 3.6 * self.speed_factor * self._rng.uniform(*ROAD_VARIATION_RANGE)
        return speed * self.traffic.segment_factor(edge) if self.traffic is not None else speed
