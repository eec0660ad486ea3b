"""Kinematics on hand-made paths: acceleration, cruise, corners, the final stop, headings."""

from __future__ import annotations

import itertools
import math

import pytest

from device_emulator.motion import (
    DrivingStyle,
    Path,
    Progress,
    advance,
    build_path,
    corner_speed_mps,
    locate,
)
from device_emulator.roads import RoadEdge, polyline_length

STYLE = DrivingStyle(accel_mps2=2.0, decel_mps2=3.0)


def edge(index: int, *points: tuple[float, float]) -> RoadEdge:
    return RoadEdge(
        index, index, index + 1, points, polyline_length(points), "primary", "", index, True, False
    )


def drive(path: Path, dt: float = 1.0) -> list[Progress]:
    trace = [Progress()]
    while trace[-1].offset_m < path.length_m:
        trace.append(advance(path, trace[-1], dt, STYLE))
        assert len(trace) < 10_000, "the vehicle never arrives"
    return trace


def test_straight_road_accelerates_cruises_and_stops_at_the_end() -> None:
    path = build_path([edge(0, (0.0, 0.0), (0.0, 1000.0))], [15.0], STYLE)
    trace = drive(path)
    speeds = [p.speed_mps for p in trace]
    assert max(speeds) == pytest.approx(15.0)
    assert all(0.0 <= v <= 15.0 + 1e-9 for v in speeds)
    steps = [b - a for a, b in itertools.pairwise(speeds)]
    assert max(steps) <= STYLE.accel_mps2 + 1e-9
    assert min(steps) >= -(STYLE.decel_mps2 + 0.5)
    assert trace[-1].offset_m == path.length_m and trace[-1].speed_mps == 0.0
    # Braking from cruise takes about v / decel seconds, not one abrupt step.
    braking = [s for s in steps if s < 0]
    assert len(braking) >= 4


def test_slows_for_a_right_angle_corner() -> None:
    path = build_path(
        [edge(0, (0.0, 0.0), (0.0, 300.0)), edge(1, (0.0, 300.0), (300.0, 300.0))], [15.0, 15.0], STYLE
    )
    corner_limit = corner_speed_mps(90.0, STYLE)
    assert corner_limit < 6.0
    trace = drive(path, dt=0.1)
    near_corner = [p.speed_mps for p in trace if abs(p.offset_m - 300.0) < 0.8]
    assert near_corner and max(near_corner) <= corner_limit + 0.3
    assert max(p.speed_mps for p in trace) == pytest.approx(15.0)


def test_corner_speed_falls_as_the_turn_sharpens() -> None:
    speeds = [corner_speed_mps(angle, STYLE) for angle in (0.0, 10.0, 30.0, 90.0, 150.0, 180.0)]
    assert speeds[0] == math.inf
    assert all(a > b for a, b in itertools.pairwise(speeds[1:]))
    assert speeds[-1] == STYLE.min_corner_mps


def test_brakes_ahead_of_a_slower_road() -> None:
    path = build_path(
        [edge(0, (0.0, 0.0), (0.0, 500.0)), edge(1, (0.0, 500.0), (0.0, 1000.0))], [15.0, 8.0], STYLE
    )
    trace = drive(path, dt=0.1)
    assert all(p.speed_mps <= 8.0 + 0.3 for p in trace if p.offset_m >= 500.0)


def test_heading_is_clockwise_from_north() -> None:
    # x is east, y is north.
    for end, heading in (
        ((0.0, 10.0), 0.0),
        ((10.0, 0.0), 90.0),
        ((0.0, -10.0), 180.0),
        ((-10.0, 0.0), 270.0),
    ):
        path = build_path([edge(0, (0.0, 0.0), end)], [10.0], STYLE)
        point, found = locate(path, Progress(offset_m=5.0))
        assert found == pytest.approx(heading)
        assert math.dist(point, (end[0] / 2, end[1] / 2)) < 1e-9


def test_positions_follow_the_polyline() -> None:
    path = build_path([edge(0, (0.0, 0.0), (0.0, 50.0), (50.0, 50.0), (50.0, 0.0))], [12.0], STYLE)
    assert path.length_m == pytest.approx(150.0)
    for progress in drive(path, dt=0.5):
        (x, y), _ = locate(path, progress)
        on_a_leg = min(abs(x), abs(y - 50.0), abs(x - 50.0))
        assert on_a_leg < 1e-9
