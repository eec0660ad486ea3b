"""Traffic the router does not know: rush hours on the simulated clock, a fixed factor per segment."""

from __future__ import annotations

import itertools
import statistics
from datetime import UTC, datetime, timedelta

import pytest

from device_emulator.fleet import max_cruise_kmh
from device_emulator.roads import RoadGraph, load_road_graph
from device_emulator.tracker import FleetConfig, build_fleet
from device_emulator.traffic import RUSH_HOURS, SEGMENT_FACTOR_RANGE, Traffic

# Da Nang is UTC+7 all year.
EVENING_RUSH = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)  # 17:30 local
NIGHT = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)  # 02:00 local


@pytest.fixture(scope="module")
def graph() -> RoadGraph:
    return load_road_graph()


def local(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 2, hour, minute, tzinfo=UTC) - timedelta(hours=7)


def test_rush_hours_are_slow_and_the_night_is_fast() -> None:
    traffic = Traffic(seed=1)
    assert traffic.time_factor(local(7, 45)) == pytest.approx(0.60)
    assert traffic.time_factor(local(17, 30)) == pytest.approx(0.58)
    assert traffic.time_factor(local(2)) == pytest.approx(1.10)
    assert traffic.time_factor(local(10)) == pytest.approx(0.888, abs=0.01)
    # Piecewise linear: no jump from one minute to the next, midnight included.
    minutes = [traffic.time_factor(local(0) + timedelta(minutes=m)) for m in range(0, 24 * 60 + 1)]
    assert max(abs(b - a) for a, b in itertools.pairwise(minutes)) < 0.02
    assert min(minutes) == min(f for _, f in RUSH_HOURS)


def test_segment_factors_are_fixed_by_the_seed_and_differ_between_segments(graph: RoadGraph) -> None:
    a, b, other = Traffic(seed=7), Traffic(seed=7), Traffic(seed=8)
    factors = [a.segment_factor(e) for e in graph.edges]
    assert factors == [b.segment_factor(e) for e in graph.edges]
    assert factors != [other.segment_factor(e) for e in graph.edges]
    assert all(SEGMENT_FACTOR_RANGE[0] <= f <= SEGMENT_FACTOR_RANGE[1] for f in factors)
    assert statistics.pstdev(factors) > 0.08  # spread over the range, not one value


def moving_speeds(graph: RoadGraph, start: datetime, traffic: bool) -> list[float]:
    trackers = build_fleet(FleetConfig(vehicles=6, noise_m=0.0, dwell_scale=0.2, traffic=traffic), graph)
    speeds = []
    for step in range(1, 20 * 60 + 1):
        when = start + timedelta(seconds=step)
        speeds += [t.tick(when, 1.0).speed_kmh for t in trackers]
    return speeds


def test_a_fleet_drives_slower_in_the_rush_hour_only_with_traffic_on(graph: RoadGraph) -> None:
    rush = moving_speeds(graph, EVENING_RUSH, traffic=True)
    night = moving_speeds(graph, NIGHT, traffic=True)
    ratio = statistics.mean(v for v in rush if v > 5) / statistics.mean(v for v in night if v > 5)
    assert 0.4 < ratio < 0.7
    assert max(night) <= max_cruise_kmh(55.0, Traffic(seed=42)) + 0.5
    # Off (the default), the clock does not matter: the same fixes at any hour.
    assert moving_speeds(graph, EVENING_RUSH, traffic=False) == moving_speeds(graph, NIGHT, traffic=False)
