"""A long noise-free run of the engine: fixes stay on the roads and obey one-way streets and physics."""

from __future__ import annotations

import itertools
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString

from device_emulator.fixes import Fix
from device_emulator.fleet import Phase, VehicleSample, max_cruise_kmh
from device_emulator.places import hospitals_on_graph, load_hospitals
from device_emulator.roads import ROADS_GEOJSON, RoadGraph, load_road_graph
from device_emulator.tracker import FleetConfig, build_fleet

VEHICLES, MINUTES, DT = 10, 30, 1.0
START = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
LAT0 = 16.05
M_PER_DEG = 6_371_008.8 * math.pi / 180


def to_metres(lat: float, lon: float) -> tuple[float, float]:
    """The test's own equirectangular projection around 16.05 N, independent of the emulator's."""
    return ((lon - 108.22) * M_PER_DEG * math.cos(math.radians(LAT0)), (lat - LAT0) * M_PER_DEG)


@dataclass(frozen=True)
class Run:
    graph: RoadGraph
    samples: dict[str, list[VehicleSample]]
    fixes: dict[str, list[Fix]]


@pytest.fixture(scope="module")
def run() -> Run:
    graph = load_road_graph()
    trackers = build_fleet(FleetConfig(vehicles=VEHICLES, noise_m=0.0, dwell_scale=0.3), graph)
    samples: dict[str, list[VehicleSample]] = defaultdict(list)
    fixes: dict[str, list[Fix]] = defaultdict(list)
    for step in range(1, MINUTES * 60 + 1):
        when = START + timedelta(seconds=step * DT)
        for tracker in trackers:
            sample = tracker.vehicle.step(DT)
            samples[tracker.device_id].append(sample)
            fixes[tracker.device_id].append(tracker.gps.fix(sample, when))
    return Run(graph, samples, fixes)


@pytest.fixture(scope="module")
def roads() -> list[LineString]:
    features = json.loads(ROADS_GEOJSON.read_text(encoding="utf-8"))["features"]
    return [LineString([to_metres(lat, lon) for lon, lat in f["geometry"]["coordinates"]]) for f in features]


def test_every_fix_lies_on_a_road(run: Run, roads: list[LineString]) -> None:
    tree = shapely.STRtree(roads)
    points = shapely.points([to_metres(f.lat, f.lon) for fixes in run.fixes.values() for f in fixes])
    _, distances = tree.query_nearest(points, return_distance=True, all_matches=False)
    assert len(points) == VEHICLES * MINUTES * 60
    assert float(np.max(distances)) < 1.0


def test_oneway_segments_are_never_driven_backwards(run: Run, roads: list[LineString]) -> None:
    driven_oneway = 0
    for device_id, samples in run.samples.items():
        for before, after in itertools.pairwise(samples):
            if after.edge is None:
                continue
            edge = run.graph.edges[after.edge]
            assert edge.forward or not edge.oneway, device_id
            if edge.oneway and before.edge == after.edge:
                line = roads[edge.segment]
                along_before = line.project(shapely.Point(to_metres(before.lat, before.lon)))
                along_after = line.project(shapely.Point(to_metres(after.lat, after.lon)))
                assert along_after >= along_before - 0.01, device_id
                driven_oneway += 1
    assert driven_oneway > 1000


def test_consecutive_fixes_never_jump_further_than_the_speed_allows(run: Run) -> None:
    for fixes in run.fixes.values():
        for a, b in itertools.pairwise(fixes):
            gap = math.dist(to_metres(a.lat, a.lon), to_metres(b.lat, b.lon))
            fastest = max(a.speed_kmh, b.speed_kmh) / 3.6
            assert gap <= fastest * DT + 0.5 * 2.5 * DT**2 + 0.1


def test_speeds_and_accelerations_stay_physical(run: Run) -> None:
    top = max_cruise_kmh(55.0) + 0.5
    for fixes in run.fixes.values():
        assert all(0.0 <= f.speed_kmh <= top for f in fixes)
        for a, b in itertools.pairwise(fixes):
            acceleration = (b.speed_kmh - a.speed_kmh) / 3.6 / DT
            assert -3.5 <= acceleration <= 2.5 + 0.05
    assert max(f.speed_kmh for fixes in run.fixes.values() for f in fixes) > 50.0


def test_vehicles_run_whole_missions_and_stop_at_scenes_and_hospitals(run: Run) -> None:
    hospital_nodes = {h.node for h in hospitals_on_graph(run.graph, load_hospitals(), emergency_only=True)}
    hospital_points = [to_metres(*run.graph.node_latlon(n)) for n in hospital_nodes]
    phases_seen = set()
    for samples in run.samples.values():
        phases_seen |= {s.phase for s in samples}
        for sample in samples:
            if sample.phase in (Phase.AT_SCENE, Phase.AT_HOSPITAL, Phase.IDLE):
                assert sample.speed_mps == 0.0 and sample.edge is None
            if sample.phase is Phase.AT_HOSPITAL:
                here = to_metres(sample.lat, sample.lon)
                assert min(math.dist(here, p) for p in hospital_points) < 1e-3
        # A stop is a stop: the position does not move while dwelling.
        for a, b in itertools.pairwise(samples):
            if a.phase == b.phase and a.phase in (Phase.AT_SCENE, Phase.AT_HOSPITAL):
                assert (a.lat, a.lon) == (b.lat, b.lon)
    assert phases_seen == set(Phase)


def test_headings_point_along_the_travel(run: Run) -> None:
    agree = total = 0
    for fixes in run.fixes.values():
        for a, b in itertools.pairwise(fixes):
            if a.speed_kmh > 25 and b.speed_kmh > 25:
                (x0, y0), (x1, y1) = to_metres(a.lat, a.lon), to_metres(b.lat, b.lon)
                bearing = math.degrees(math.atan2(x1 - x0, y1 - y0)) % 360
                off = abs((bearing - b.heading + 180) % 360 - 180)
                agree += off < 30
                total += 1
    assert total > 1000 and agree / total > 0.9
