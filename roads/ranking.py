"""Rankings by road time, costed at the hour of day: many-to-one (the fastest units to an
incident) and one-to-many (the nearest hospitals by road), each in one Dijkstra run. Points join
the network as in roads/routing.py (snapped, with their off-network joins; a moving start within a
fix's error of the end is there, as in a route). A ranking's time is
the route's without the stop at the end (Route.through_s): the braking there, a couple of seconds,
is alike for every unit to the same target."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from psycopg import AsyncConnection

from roads.routing import (
    WHOLE_WORLD,
    Box,
    NoRouteError,
    RoutePoint,
    _edges_sql,
    _holds_network,
    _off_network_s,
    _Points,
    _points_sql,
    local_hour,
    off_network_s,
    search_box,
    snap_points,
    there_m,
)
from roads.settings import RoutingSettings
from runtime.db import query

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class RankedSource(Generic[K]):
    """A source's road time and distance to the target (off-network joins included)."""

    key: K
    duration_s: float
    distance_m: float
    snapped_m: float = 0.0  # the source's own off-network join


@dataclass(frozen=True, slots=True)
class RankedTarget(Generic[K]):
    """The road time and distance from the source to a target (off-network joins included)."""

    key: K
    duration_s: float
    distance_m: float
    snapped_m: float = 0.0  # the target's own off-network join


async def rank_sources(
    conn: AsyncConnection[Any],
    sources: Sequence[tuple[K, RoutePoint]],
    target: RoutePoint,
    at: datetime,
    settings: RoutingSettings | None = None,
) -> list[RankedSource[K]]:
    """The sources that can reach `target` by road, fastest first (many-to-one in one Dijkstra run
    on the reversed graph). Sources off the network or with no path are left out; NoRouteError when
    the target itself is off the network."""
    ranked = await _rank(conn, target, sources, at, settings or RoutingSettings(), reverse=True)
    return [RankedSource(key, duration, distance, snapped) for key, duration, distance, snapped in ranked]


async def rank_targets(
    conn: AsyncConnection[Any],
    source: RoutePoint,
    targets: Sequence[tuple[K, RoutePoint]],
    at: datetime,
    settings: RoutingSettings | None = None,
) -> list[RankedTarget[K]]:
    """The targets reachable by road from `source`, fastest first (one-to-many in one Dijkstra
    run). Targets off the network or with no path are left out; NoRouteError when the source
    itself is off the network."""
    ranked = await _rank(conn, source, targets, at, settings or RoutingSettings(), reverse=False)
    return [RankedTarget(key, duration, distance, snapped) for key, duration, distance, snapped in ranked]


async def _rank(
    conn: AsyncConnection[Any],
    one: RoutePoint,
    many: Sequence[tuple[K, RoutePoint]],
    at: datetime,
    settings: RoutingSettings,
    reverse: bool,
) -> list[tuple[K, float, float, float]]:
    """(key, seconds, metres, the key's off-network metres) of the `many` points joined by road with
    `one`: from it (reverse=False) or to it (reverse=True), fastest first."""
    hour = local_hour(at)
    snaps = await snap_points(conn, [one, *(p for _, p in many)], settings)
    one_snap, many_snaps = snaps[0], snaps[1:]
    if one_snap is None:
        raise NoRouteError(f"the point is more than {settings.snap_max_m:.0f} m from any drivable road")
    points = _Points(reverse=reverse)
    one_node = points.node(one_snap)
    nodes = [None if s is None else points.node(s) for s in many_snaps]
    road: dict[int, tuple[float, float]] = {one_node: (0.0, 0.0)}
    wanted = {n for n in nodes if n is not None} - {one_node}
    if wanted:
        box = search_box(
            [(one_snap.lon, one_snap.lat), *((s.lon, s.lat) for s in many_snaps if s is not None)],
            settings.bbox_margin_m,
        )
        road |= await _one_to_many(conn, points, one_node, wanted, hour, box, settings, reverse)
        missing = wanted - road.keys()
        if missing and not await _holds_network(conn, box):
            road |= await _one_to_many(conn, points, one_node, missing, hour, WHOLE_WORLD, settings, reverse)
    join_s = _off_network_s(one_snap, settings)
    ranked = []
    for (key, point), snap, node in zip(many, many_snaps, nodes, strict=True):
        apart = there_m(point, one, settings) if reverse else there_m(one, point, settings)
        if snap is not None and node in road:
            duration, distance = road[node]
            joined = (
                key,
                duration + join_s + _off_network_s(snap, settings),
                distance + one_snap.distance_m + snap.distance_m,
                snap.distance_m,
            )
            if apart is None or joined[1] <= off_network_s(apart, settings):
                ranked.append(joined)
                continue
        if apart is not None:
            ranked.append((key, off_network_s(apart, settings), apart, 0.0))
    ranked.sort(key=lambda r: r[1])
    return ranked


async def _one_to_many(
    conn: AsyncConnection[Any],
    points: _Points,
    start: int,
    ends: set[int],
    hour: int,
    box: Box,
    settings: RoutingSettings,
    reverse: bool,
) -> dict[int, tuple[float, float]]:
    params = {
        **points.params(),
        "edges_sql": _edges_sql(conn, hour, box, settings, points, reverse),
        "points_sql": _points_sql(conn, points),
        "start": start,
        "ends": sorted(ends),
    }
    async with conn.cursor() as cur:
        await cur.execute(query("roads/route_rank"), params)
        rows = await cur.fetchall()
    return {int(node): (float(duration), float(distance)) for node, duration, distance in rows}
