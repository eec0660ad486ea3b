"""Road routing in PostGIS/pgRouting: one route, its edges costed at the time the vehicle reaches
each (roads/timing.py); rankings many-to-one and one-to-many are in roads/ranking.py.

How a point joins the network: it is snapped to the best drivable edge within `snap_max_m` and
becomes a pgRouting virtual point on it (`pgr_withPoints`, fraction along the edge); the straight
join from the point to the road is driven at `off_network_kmh` (a point with a heading within
`on_road_m` of its road is a vehicle on it, off by its fix's error: no join; a moving start that
close to the end is there). pgRouting runs with driving side
'r' (Vietnam drives on the right), which makes a point's side mean a travel direction: side 'r' is
passed travelling source -> target, 'l' target -> source, 'b' either way. A point with a heading
gets the side of the direction it snapped with, so a vehicle driving north on a two-way road
leaves northwards and turns at a junction, never on the spot; without a heading ('b') it may leave
either way (a parked unit, an incident on either kerb). Turning back is allowed at vertices.

Two quirks of pgRouting 3.4 are worked around: a point at fraction 0 or 1 is silently dropped (a
point within `VERTEX_SNAP_M` of an edge's end is routed from that vertex instead), and identical
points confuse its edge splitting (they are merged into one).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from roads.settings import RoutingSettings
from roads.timing import NETWORK_STOPS, Piece, local_clock_hours, timed_pieces, waiting_at
from runtime.db import query

LOCAL_TIME = ZoneInfo("Asia/Ho_Chi_Minh")
VERTEX_SNAP_M = 1.0  # a point this close to an edge's end is that vertex
EXTRA_PID = 1_000_000  # a point's places on an edge's copies (roads/restrictions.py): pid + k * this
STOP_LINE_M = 15.0  # a vehicle standing this close to the end of its edge waits at that junction
# ... and one standing this close past the start of its edge waits at the junction behind it: the
# stop line is before the junction's node, so a fix past it is the GPS's error or a vehicle waiting
# inside the junction to turn.
PAST_LINE_M = 10.0
METRES_PER_DEGREE = 111_320.0
WHOLE_WORLD = (-180.0, -90.0, 180.0, 90.0)  # west, south, east, north

K = TypeVar("K", bound=Hashable)
Box = tuple[float, float, float, float]  # west, south, east, north


class NoRouteError(LookupError):
    """A point cannot be snapped to the road network, or no path joins the points."""


@dataclass(frozen=True, slots=True)
class RoutePoint:
    """A place to route from or to; `heading` (degrees clockwise from north) when moving."""

    lat: float
    lon: float
    heading: float | None = None
    # Standing still on the way (not parked): at a stop line, it is waiting at that junction,
    # for `stood_s` already when known.
    stopped: bool = False
    stood_s: float | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """A route by road. `distance_m` and `duration_s` include the off-network joins at both ends
    (`snapped_start_m`, `snapped_end_m` long, driven at off_network_kmh, or none: on_road_m); `geometry` is
    (lon, lat) pairs from the start point to the end point."""

    distance_m: float
    duration_s: float
    geometry: list[tuple[float, float]]
    snapped_start_m: float
    snapped_end_m: float
    hour: int = 0  # the local hour (Asia/Ho_Chi_Minh) whose costs were used
    # The edges driven, in order: (road_edges.id, True when driven source -> target).
    edges: list[tuple[int, bool]] = field(default_factory=list)
    # (metres, seconds) from the start at each end of the joins and edges: what is left of the
    # route at any point along it (a red light's wait is at its junction, not spread by distance).
    profile: list[tuple[float, float]] = field(default_factory=list)
    # Of duration_s, what braking to a stop at the end costs over driving through (stopping_s).
    stopping_s: float = 0.0

    @property
    def through_s(self) -> float:
        """The time without the stop at the end: what the rankings (roads/ranking.py) give."""
        return self.duration_s - self.stopping_s


def seconds_at(profile: Sequence[tuple[float, float]], metres: float) -> float:
    """The seconds from the start at `metres` along a route's profile (linear within a piece)."""
    if not profile:
        return 0.0
    if metres <= profile[0][0]:
        return profile[0][1]
    for (m0, s0), (m1, s1) in itertools.pairwise(profile):
        if metres <= m1:
            return s0 if m1 <= m0 else s0 + (s1 - s0) * (metres - m0) / (m1 - m0)
    return profile[-1][1]


@dataclass(frozen=True, slots=True)
class StopLine:
    """The junction a vehicle standing still on its way waits at."""

    vertex: int
    # The edge leading into it (its id, driven forward) when the vehicle stands on it: the wait
    # learned there; None when the vehicle stands just past the junction (the network's wait).
    edge: tuple[int, bool] | None

    @property
    def behind(self) -> bool:
        return self.edge is None


@dataclass(frozen=True, slots=True)
class Snap:
    """Where a point joins the network."""

    edge_id: int
    fraction: float
    side: str  # pgRouting point side: 'r', 'l' or 'b' (see the module docstring)
    distance_m: float  # from the point to the spot
    vertex: int | None  # the edge's end when the spot is on it
    lon: float
    lat: float
    length_m: float = 0.0  # the edge's
    # The edge's rows in the graph of turn restrictions (roads/restrictions.py): (row id, forward,
    # split). A split edge drives only as its split rows; copies are further places of the point.
    arcs: tuple[tuple[int, bool, bool], ...] = ()
    ends: tuple[int, int] | None = None  # the edge's (source, target) vertices

    def stop_line(self) -> StopLine | None:
        """Where a vehicle standing here waits for a junction's light, in the direction it snapped
        with (a heading): the end of its edge within STOP_LINE_M ahead, or its start within
        PAST_LINE_M behind, whichever is nearer."""
        if self.side not in ("r", "l") or self.ends is None:
            return None
        forward = self.side == "r"
        driven_m = (self.fraction if forward else 1 - self.fraction) * self.length_m
        left_m = self.length_m - driven_m
        entry, exit_ = self.ends if forward else self.ends[::-1]
        if left_m <= STOP_LINE_M and (left_m <= driven_m or driven_m > PAST_LINE_M):
            return StopLine(exit_, (self.edge_id, forward))
        return StopLine(entry, None) if driven_m <= PAST_LINE_M else None


@dataclass(frozen=True, slots=True)
class _RoadPath:
    """The on-network part of a route."""

    duration_s: float
    distance_m: float
    line: list[tuple[float, float]]
    edges: list[tuple[int, bool]]
    costs: list[float] = field(default_factory=list)  # each edge's seconds at the departure hour
    lengths: list[float] = field(default_factory=list)  # each edge's metres driven


def _opposite(side: str) -> str:
    """A point side on the reversed graph, where a travel direction flips ('b' stays)."""
    return {"r": "l", "l": "r"}.get(side, side)


@dataclass(slots=True)
class _Points:
    """Virtual points of one pgRouting call; identical spots share one point id. A spot on an edge
    with rows in the graph of turn restrictions is a point on each row it may be driven on (the
    point's id, then pid + k * EXTRA_PID), joined by zero-cost connectors (`connectors`)."""

    reverse: bool = False  # on the reversed graph a travel direction flips
    ids: dict[tuple[int, float, str], int] = field(default_factory=dict)
    arcs: dict[int, tuple[tuple[int, bool, bool], ...]] = field(default_factory=dict)  # by pid

    def node(self, snap: Snap) -> int:
        """The pgRouting node of a snap: its vertex, or -pid of a virtual point."""
        if snap.vertex is not None:
            return snap.vertex
        side = _opposite(snap.side) if self.reverse else snap.side
        pid = self.ids.setdefault((snap.edge_id, snap.fraction, side), len(self.ids) + 1)
        if snap.arcs:
            self.arcs[pid] = snap.arcs
        return -pid

    def rows(self) -> list[tuple[int, int, float, str]]:
        """(pid, graph row, fraction, side) of each place of each point."""
        out: list[tuple[int, int, float, str]] = []
        for (edge, fraction, side), pid in sorted(self.ids.items(), key=lambda kv: kv[1]):
            arcs = self.arcs.get(pid, ())
            travel = _opposite(side) if self.reverse else side
            graph_rows = [] if any(split for _, _, split in arcs) else [edge]
            graph_rows += [row for row, forward, _ in arcs if travel == "b" or forward == (travel == "r")]
            out.extend((pid + k * EXTRA_PID, row, fraction, side) for k, row in enumerate(graph_rows))
        return out

    def connectors(self) -> list[tuple[int, int]]:
        """(-pid, -extra pid): the zero-cost edges joining a point's places."""
        return [(-(pid % EXTRA_PID), -pid) for pid, *_ in self.rows() if pid > EXTRA_PID]

    def params(self) -> dict[str, Any]:
        rows = self.rows()
        return {
            "pids": [r[0] for r in rows],
            "edge_ids": [r[1] for r in rows],
            "fractions": [r[2] for r in rows],
            "sides": [r[3] for r in rows],
        }


def local_hour(at: datetime) -> int:
    """The hour of day in Da Nang (learned speeds are per local hour)."""
    if at.tzinfo is None:
        raise ValueError("routing time must be timezone-aware")
    return at.astimezone(LOCAL_TIME).hour


def search_box(points: Sequence[tuple[float, float]], margin_m: float) -> Box:
    """The (lon, lat) points' bounding box grown by max(margin_m, half their spread)."""
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    mid_lat = math.radians((min(lats) + max(lats)) / 2)
    dx = (max(lons) - min(lons)) * METRES_PER_DEGREE * math.cos(mid_lat)
    dy = (max(lats) - min(lats)) * METRES_PER_DEGREE
    grow = max(margin_m, 0.5 * math.hypot(dx, dy))
    dlat = grow / METRES_PER_DEGREE
    dlon = grow / (METRES_PER_DEGREE * max(math.cos(mid_lat), 0.01))
    return (min(lons) - dlon, min(lats) - dlat, max(lons) + dlon, max(lats) + dlat)


async def _holds_network(conn: AsyncConnection[Any], box: Box) -> bool:
    """Whether no edge reaches outside the box (then searching the whole network is pointless)."""
    west, south, east, north = box
    async with conn.cursor() as cur:
        await cur.execute(
            query("roads/route_box_covers"), {"west": west, "south": south, "east": east, "north": north}
        )
        row = await cur.fetchone()
    return bool(row and row[0])


async def snap_points(
    conn: AsyncConnection[Any], points: Sequence[RoutePoint], settings: RoutingSettings
) -> list[Snap | None]:
    """Each point's snap (None when no drivable edge is within snap_max_m), in one query."""
    params = {
        "lons": [p.lon for p in points],
        "lats": [p.lat for p in points],
        "headings": [None if p.heading is None else p.heading % 360.0 for p in points],
        "max_m": settings.snap_max_m,
        "heading_weight_m": settings.heading_weight_m,
        "component_penalty_m": settings.small_component_penalty_m,
        "vertex_m": VERTEX_SNAP_M,
    }
    snaps: list[Snap | None] = [None] * len(points)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query("roads/route_snap"), params)
        for row in await cur.fetchall():
            snaps[row["i"] - 1] = Snap(
                edge_id=row["edge_id"],
                fraction=row["fraction"],
                side=row["side"],
                distance_m=row["distance_m"],
                vertex=row["vertex"],
                lon=row["lon"],
                lat=row["lat"],
                length_m=row["length_m"],
                ends=(row["source"], row["target"]),
                arcs=tuple(zip(row["arc_ids"], row["arc_forwards"], row["arc_splits"], strict=True))
                if settings.turn_restrictions and row["arc_ids"]
                else (),
            )
    return snaps


def _edges_sql(
    conn: AsyncConnection[Any],
    hour: int,
    box: Box,
    settings: RoutingSettings,
    points: _Points,
    reverse: bool = False,
) -> str:
    west, south, east, north = box
    where = {
        "hour": sql.Literal(hour),
        "min_samples": sql.Literal(settings.learned_min_samples),
        "west": sql.Literal(west),
        "south": sql.Literal(south),
        "east": sql.Literal(east),
        "north": sql.Literal(north),
    }
    edges: sql.Composable = sql.SQL(query("roads/route_edges")).format(**where)
    if settings.turn_restrictions:
        edges = sql.SQL(query("roads/route_turn_graph")).format(**where, edges=edges)
        if connectors := points.connectors():
            edges = sql.SQL(
                "{} UNION ALL SELECT c.id, c.source, c.target, 0.0::float8, 0.0::float8"
                " FROM unnest({}::bigint[], {}::bigint[], {}::bigint[]) AS c(id, source, target)"
            ).format(
                edges,
                sql.Literal([-target for _, target in connectors]),
                sql.Literal([source for source, _ in connectors]),
                sql.Literal([target for _, target in connectors]),
            )
    if reverse:  # every arc turned around: many-to-one becomes one-to-many
        edges = sql.SQL(
            "SELECT id, source, target, reverse_cost AS cost, cost AS reverse_cost FROM ({}) AS forward"
        ).format(edges)
    return edges.as_string(conn)


def _points_sql(conn: AsyncConnection[Any], points: _Points) -> str:
    p = points.params()
    return (
        sql.SQL(
            "SELECT * FROM unnest({}::bigint[], {}::bigint[], {}::float8[], {}::char[])"
            " AS t(pid, edge_id, fraction, side)"
        )
        .format(
            sql.Literal(p["pids"]),
            sql.Literal(p["edge_ids"]),
            sql.Literal(p["fractions"]),
            sql.Literal(p["sides"]),
        )
        .as_string(conn)
    )


def off_network_s(metres: float, settings: RoutingSettings) -> float:
    """The time of a straight line off the network, driven at off_network_kmh."""
    return metres * 3.6 / settings.off_network_kmh


def _off_network_s(snap: Snap, settings: RoutingSettings) -> float:
    """The time to join the road: none for a vehicle driving on it (a heading, within on_road_m:
    the GPS's error), else the straight join at off_network_kmh."""
    if snap.side != "b" and snap.distance_m <= settings.on_road_m:
        return 0.0
    return off_network_s(snap.distance_m, settings)


def there_m(start: RoutePoint, end: RoutePoint, settings: RoutingSettings) -> float | None:
    """How far a moving start within a fix's error (on_road_m) of the end is from it - it is there:
    its time is at most off_network_s of that - or None (farther, or standing at a light: routed)."""
    apart = ground_m(start, end)
    return apart if apart <= settings.on_road_m and not start.stopped else None


async def route(
    conn: AsyncConnection[Any],
    start: RoutePoint,
    end: RoutePoint,
    at: datetime,
    settings: RoutingSettings | None = None,
) -> Route:
    """The fastest route by road from `start` to `end` leaving at `at`; NoRouteError when a point is
    off the network or no path joins them. A start within a fix's error (on_road_m) of the end,
    not standing at a light, is there: never more than the straight line at off_network_kmh (a fix
    a few metres past the target's junction would be routed round the block and back)."""
    settings = settings or RoutingSettings()
    apart = there_m(start, end, settings)
    try:
        road = await _road_route(conn, start, end, at, settings)
    except NoRouteError:
        if apart is None:
            raise
        road = None
    seconds = off_network_s(apart, settings) if apart is not None else 0.0
    if apart is not None and (road is None or road.duration_s > seconds):
        return Route(
            distance_m=apart,
            duration_s=seconds,
            geometry=_dedupe([(start.lon, start.lat), (end.lon, end.lat)]),
            snapped_start_m=0.0,
            snapped_end_m=0.0,
            hour=local_hour(at),
            profile=[(0.0, 0.0), (apart, seconds)],
        )
    assert road is not None
    return road


async def _road_route(
    conn: AsyncConnection[Any], start: RoutePoint, end: RoutePoint, at: datetime, settings: RoutingSettings
) -> Route:
    """The fastest route by road (see `route`)."""
    hour = local_hour(at)
    s, e = await snap_points(conn, [start, end], settings)
    if s is None or e is None:
        which = "start" if s is None else "end"
        raise NoRouteError(f"the {which} is more than {settings.snap_max_m:.0f} m from any drivable road")
    line = s.stop_line() if start.stopped else None
    if line is not None and line.behind:
        s = replace(s, vertex=line.vertex)  # waiting at the junction: it may leave it any way
    points = _Points()
    start_node, end_node = points.node(s), points.node(e)
    clock = local_clock_hours(at, LOCAL_TIME) + _off_network_s(s, settings) / 3600
    road: _RoadPath | None
    if start_node == end_node:
        road = _RoadPath(0.0, 0.0, [(s.lon, s.lat)], [])
    else:
        box = search_box([(s.lon, s.lat), (e.lon, e.lat)], settings.bbox_margin_m)
        road = await _path(conn, points, (start_node, end_node), hour, box, settings)
        if road is None and not await _holds_network(conn, box):
            road = await _path(conn, points, (start_node, end_node), hour, WHOLE_WORLD, settings)
        if road is None:
            raise NoRouteError("no road path joins the start to the end")
    # Each edge costed at the time the vehicle reaches it (roads/timing.py).
    pieces = [(edge, fwd, cost) for (edge, fwd), cost in zip(road.edges, road.costs, strict=True)]
    waiting_s = await _waiting_s(conn, line, s, pieces, start.stood_s)
    timed = (
        await timed_pieces(
            conn, pieces, clock, hour, settings, partial_start=start_node < 0, waiting_s=waiting_s
        )
        if pieces
        else [road.duration_s]
    )
    lengths = road.lengths or [road.distance_m]
    driven_s = timed[-1] - ((waiting_s or 0.0) if len(timed) == 1 else 0.0)
    # It stops at the target: braking from the last edge's speed.
    stop_s = (
        stopping_s(lengths[-1] / driven_s, road.distance_m, settings.arrival_decel_mps2)
        if driven_s > 0
        else 0.0
    )
    timed[-1] += stop_s
    profile = [(0.0, 0.0), (s.distance_m, _off_network_s(s, settings))]
    for metres, seconds in zip(lengths, timed, strict=True):
        profile.append((profile[-1][0] + metres, profile[-1][1] + seconds))
    profile.append((profile[-1][0] + e.distance_m, profile[-1][1] + _off_network_s(e, settings)))
    return Route(
        distance_m=profile[-1][0],
        duration_s=profile[-1][1],
        geometry=_dedupe([(start.lon, start.lat), *road.line, (end.lon, end.lat)]),
        snapped_start_m=s.distance_m,
        snapped_end_m=e.distance_m,
        hour=hour,
        edges=road.edges,
        profile=profile,
        stopping_s=stop_s,
    )


def ground_m(a: RoutePoint, b: RoutePoint) -> float:
    """The distance between two nearby points (equirectangular: exact enough within a city)."""
    dy = (b.lat - a.lat) * METRES_PER_DEGREE
    dx = (b.lon - a.lon) * METRES_PER_DEGREE * math.cos(math.radians((a.lat + b.lat) / 2))
    return math.hypot(dx, dy)


def stopping_s(speed_mps: float, left_m: float, decel_mps2: float) -> float:
    """What stopping at the end of `left_m` metres costs over driving them at `speed_mps`: braking
    from that speed takes v / (2 decel) longer; closer than the braking distance the vehicle is
    already braking, from sqrt(2 decel left)."""
    if speed_mps <= 0 or left_m <= 0:
        return 0.0
    if left_m >= speed_mps**2 / (2 * decel_mps2):
        return speed_mps / (2 * decel_mps2)
    return math.sqrt(2 * left_m / decel_mps2) - left_m / speed_mps


async def _waiting_s(
    conn: AsyncConnection[Any],
    line: StopLine | None,
    snap: Snap,
    pieces: Sequence[Piece],
    stood_s: float | None,
) -> float | None:
    """What a vehicle standing at the stop `line` (for `stood_s` already) still has to wait there
    (roads/timing.py's waiting_at: the edge's stops, else the network's), when the route goes on
    through that junction; None otherwise."""
    if line is None or not pieces:
        return None
    if snap.vertex != line.vertex and ((pieces[0][0], pieces[0][1]) != line.edge or len(pieces) == 1):
        return None  # not on the route's first edge, or the target comes before the junction
    return await waiting_at(conn, *(line.edge or NETWORK_STOPS), stood_s)


async def _path(
    conn: AsyncConnection[Any],
    points: _Points,
    ends: tuple[int, int],
    hour: int,
    box: Box,
    settings: RoutingSettings,
) -> _RoadPath | None:
    """The path between the nodes `ends`, costed at `hour`."""
    params = {
        **points.params(),
        "edges_sql": _edges_sql(conn, hour, box, settings, points),
        "points_sql": _points_sql(conn, points),
        "start": ends[0],
        "end": ends[1],
    }
    async with conn.cursor() as cur:
        await cur.execute(query("roads/route_path"), params)
        row = await cur.fetchone()
    if row is None:
        return None
    duration, distance, geojson, edges, forward, costs, lengths = row
    coords = json.loads(geojson)["coordinates"] if geojson else []
    if coords and isinstance(coords[0], float | int):  # a single point
        coords = [coords]
    return _RoadPath(
        float(duration),
        float(distance),
        [(float(x), float(y)) for x, y in coords],
        [(int(edge), bool(fwd)) for edge, fwd in zip(edges, forward, strict=True)],
        [float(c) for c in costs],
        [float(m) for m in lengths],
    )


def _dedupe(coords: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for c in coords:
        if not out or (abs(out[-1][0] - c[0]) > 1e-9 or abs(out[-1][1] - c[1]) > 1e-9):
            out.append(c)
    return out
