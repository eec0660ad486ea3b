"""Kinematics along a road path: accelerate, cruise at the road's speed, slow for bends, stop at the end."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

from device_emulator.roads import XY, RoadEdge

# Closer than this to the end counts as arrived: discrete braking creeps ever closer but never lands on it.
ARRIVAL_TOLERANCE_M = 0.02


@dataclass(frozen=True, slots=True)
class DrivingStyle:
    """How a driver handles the vehicle."""

    accel_mps2: float = 2.0
    decel_mps2: float = 3.0
    # Comfortable cornering for a vehicle carrying a patient.
    lateral_accel_mps2: float = 2.5
    # Where the turning arc starts before a bend's vertex: about half a street width.
    corner_setback_m: float = 8.0
    min_corner_mps: float = 2.0
    # Integration step: short enough that the look-ahead brakes at close to decel_mps2.
    max_substep_s: float = 0.1


@dataclass(frozen=True, slots=True)
class Path:
    """A route's polyline in metres, split into pieces between consecutive vertices."""

    points: tuple[XY, ...]
    offsets: tuple[float, ...]  # distance along the path of each point
    cruise_mps: tuple[float, ...]  # cruise speed on each piece (points[i] to points[i + 1])
    piece_edges: tuple[int, ...]  # RoadEdge.index each piece belongs to
    # Speed limits at points along the path (bends, slower roads ahead, the final stop), by offset.
    limit_offsets: tuple[float, ...]
    limit_mps: tuple[float, ...]

    @property
    def length_m(self) -> float:
        return self.offsets[-1]


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a vehicle is on its path and how fast it goes."""

    offset_m: float = 0.0
    speed_mps: float = 0.0
    piece: int = 0  # index of the piece holding offset_m


def corner_speed_mps(turn_deg: float, style: DrivingStyle) -> float:
    """Fastest speed through a bend: an arc tangent to both legs at the setback, at the lateral limit."""
    if turn_deg < 1.0:
        return math.inf
    radius = style.corner_setback_m / math.tan(math.radians(min(turn_deg, 179.0)) / 2.0)
    return max(style.min_corner_mps, math.sqrt(style.lateral_accel_mps2 * radius))


def turn_deg(a: XY, b: XY, c: XY) -> float:
    """How far the direction changes at b when going a -> b -> c: 0 straight on, 180 a U-turn."""
    heading_in = math.atan2(b[1] - a[1], b[0] - a[0])
    heading_out = math.atan2(c[1] - b[1], c[0] - b[0])
    return abs(math.degrees((heading_out - heading_in + math.pi) % (2 * math.pi) - math.pi))


def build_path(edges: Sequence[RoadEdge], cruise_mps: Sequence[float], style: DrivingStyle) -> Path:
    """Join the edges' polylines; each piece cruises at its edge's speed."""
    if not edges:
        raise ValueError("a path needs at least one edge")
    points = [edges[0].points[0]]
    offsets = [0.0]
    speeds: list[float] = []
    piece_edges: list[int] = []
    for edge, speed in zip(edges, cruise_mps, strict=True):
        for point in edge.points[1:]:
            step = math.dist(points[-1], point)
            if step < 1e-6:
                continue  # repeated vertex, or the junction shared with the previous edge
            points.append(point)
            offsets.append(offsets[-1] + step)
            speeds.append(speed)
            piece_edges.append(edge.index)
    if not speeds:
        raise ValueError("the path has zero length")

    limits: list[tuple[float, float]] = []
    for i in range(1, len(points) - 1):
        limit = min(corner_speed_mps(turn_deg(points[i - 1], points[i], points[i + 1]), style), speeds[i])
        if limit < speeds[i - 1]:  # a limit at or above the arriving speed can never bind
            limits.append((offsets[i], limit))
    limits.append((offsets[-1], 0.0))
    return Path(
        points=tuple(points),
        offsets=tuple(offsets),
        cruise_mps=tuple(speeds),
        piece_edges=tuple(piece_edges),
        limit_offsets=tuple(offset for offset, _ in limits),
        limit_mps=tuple(limit for _, limit in limits),
    )


def braking_cap_mps(
    path: Path, ahead_of_m: float, at_m: float, wanted_mps: float, decel_mps2: float
) -> float:
    """The highest speed at offset at_m that still meets every limit past ahead_of_m: sqrt(v_c² + 2·b·d)."""
    cap = wanted_mps
    horizon = wanted_mps * wanted_mps / (2 * decel_mps2)  # farther limits cannot bind
    for i in range(bisect.bisect_left(path.limit_offsets, ahead_of_m), len(path.limit_offsets)):
        distance = path.limit_offsets[i] - at_m
        if distance > horizon:
            break
        limit = path.limit_mps[i]
        cap = min(cap, math.sqrt(limit * limit + 2 * decel_mps2 * max(distance, 0.0)))
    return cap


def advance(
    path: Path, progress: Progress, dt: float, style: DrivingStyle, speed_scale: float = 1.0
) -> Progress:
    """Drive dt seconds further along the path; `speed_scale` multiplies the cruise speeds (traffic:
    device_emulator/traffic.py). Bends and the final stop keep their physical limits."""
    offset, speed, piece = progress.offset_m, progress.speed_mps, progress.piece
    left = dt
    while left > 1e-9 and offset < path.length_m:
        h = min(style.max_substep_s, left)
        left -= h
        wanted = min(path.cruise_mps[piece] * speed_scale, speed + style.accel_mps2 * h)
        # Judge the limits from where this substep will end, so braking starts in time.
        cap = braking_cap_mps(path, offset, offset + speed * h, wanted, style.decel_mps2)
        new_speed = max(min(wanted, cap), speed - style.decel_mps2 * h, 0.0)
        offset += (speed + new_speed) / 2 * h
        speed = new_speed
        if path.length_m - offset <= ARRIVAL_TOLERANCE_M:
            offset, speed = path.length_m, 0.0
        while piece < len(path.cruise_mps) - 1 and offset >= path.offsets[piece + 1]:
            piece += 1
    return Progress(offset, speed, piece)


def locate(path: Path, progress: Progress) -> tuple[XY, float]:
    """The point at the progress offset and the heading of travel there (degrees clockwise from north)."""
    i = progress.piece
    (x0, y0), (x1, y1) = path.points[i], path.points[i + 1]
    span = path.offsets[i + 1] - path.offsets[i]
    t = min(1.0, max(0.0, (progress.offset_m - path.offsets[i]) / span))
    heading = math.degrees(math.atan2(x1 - x0, y1 - y0)) % 360.0
    return (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t), heading
