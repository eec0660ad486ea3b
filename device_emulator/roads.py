"""Directed road graph of central Da Nang: one-way aware edges, the largest strongly connected part, fastest paths."""

from __future__ import annotations

import heapq
import itertools
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from device_emulator.config import DATA_DIR

ROADS_GEOJSON = DATA_DIR / "roads-central.geojson"
EARTH_RADIUS_M = 6_371_008.8
# Cruise speed of an ambulance on urban roads of each class; also the weights of the fastest-path search.
CRUISE_SPEED_KMH: dict[str, float] = {"primary": 55.0, "secondary": 45.0, "tertiary": 35.0}
DEFAULT_CRUISE_KMH = 30.0

XY = tuple[float, float]


@dataclass(frozen=True, slots=True)
class LocalProjection:
    """Equirectangular projection around an origin: x metres east, y metres north.

    Over a 6 km city extract its distortion is far below GPS noise, and being linear in lat/lon it keeps
    points interpolated in metres exactly on the original polylines.
    """

    lat0: float
    lon0: float

    @property
    def _m_per_deg_lat(self) -> float:
        return EARTH_RADIUS_M * math.pi / 180.0

    @property
    def _m_per_deg_lon(self) -> float:
        return self._m_per_deg_lat * math.cos(math.radians(self.lat0))

    def to_xy(self, lat: float, lon: float) -> XY:
        return ((lon - self.lon0) * self._m_per_deg_lon, (lat - self.lat0) * self._m_per_deg_lat)

    def to_latlon(self, x: float, y: float) -> tuple[float, float]:
        return (self.lat0 + y / self._m_per_deg_lat, self.lon0 + x / self._m_per_deg_lon)


DANANG = LocalProjection(lat0=16.0625, lon0=108.22)


@dataclass(frozen=True, slots=True)
class RoadEdge:
    """One drivable direction of one GeoJSON road segment."""

    index: int  # position in RoadGraph.edges
    source: int
    target: int
    points: tuple[XY, ...]  # polyline in metres, from source to target
    length_m: float
    highway: str
    name: str
    segment: int  # index of the GeoJSON feature it comes from
    forward: bool  # driven in the feature's coordinate order
    oneway: bool

    @property
    def cruise_kmh(self) -> float:
        return CRUISE_SPEED_KMH.get(self.highway, DEFAULT_CRUISE_KMH)


def fastest_time_s(edge: RoadEdge) -> float:
    """Edge weight: seconds to drive the edge at the class cruise speed."""
    return edge.length_m / (edge.cruise_kmh / 3.6)


@dataclass(frozen=True, slots=True)
class RoadGraph:
    """Junctions (nodes, in metres) and the directed edges between them."""

    projection: LocalProjection
    nodes: tuple[XY, ...]
    edges: tuple[RoadEdge, ...]
    out_edges: tuple[tuple[int, ...], ...]  # edge indexes leaving each node

    def node_latlon(self, node: int) -> tuple[float, float]:
        return self.projection.to_latlon(*self.nodes[node])

    def nearest_node(self, lat: float, lon: float) -> tuple[int, float]:
        """The node closest to a point, and its distance in metres."""
        x, y = self.projection.to_xy(lat, lon)
        best = min(range(len(self.nodes)), key=lambda n: _dist2(self.nodes[n], (x, y)))
        return best, math.sqrt(_dist2(self.nodes[best], (x, y)))

    def bounds_latlon(self) -> tuple[float, float, float, float]:
        """(south, west, north, east) of all nodes."""
        lats, lons = zip(*(self.node_latlon(n) for n in range(len(self.nodes))), strict=True)
        return min(lats), min(lons), max(lats), max(lons)

    def travel_times(
        self, source: int, weight: Callable[[RoadEdge], float] = fastest_time_s
    ) -> tuple[dict[int, float], dict[int, RoadEdge]]:
        """Dijkstra from one node: the cost to every reachable node and the edge that reached it."""
        cost = {source: 0.0}
        via: dict[int, RoadEdge] = {}
        queue = [(0.0, source)]
        while queue:
            here_cost, here = heapq.heappop(queue)
            if here_cost > cost[here]:
                continue  # stale queue entry
            for edge_index in self.out_edges[here]:
                edge = self.edges[edge_index]
                new_cost = here_cost + weight(edge)
                if new_cost < cost.get(edge.target, math.inf):
                    cost[edge.target] = new_cost
                    via[edge.target] = edge
                    heapq.heappush(queue, (new_cost, edge.target))
        return cost, via

    def shortest_path(
        self, source: int, target: int, weight: Callable[[RoadEdge], float] = fastest_time_s
    ) -> tuple[RoadEdge, ...]:
        """The fastest edge sequence from source to target; empty when they are the same node."""
        _, via = self.travel_times(source, weight)
        return path_to(via, source, target)


def path_to(via: dict[int, RoadEdge], source: int, target: int) -> tuple[RoadEdge, ...]:
    """Walk Dijkstra's back-pointers from target to source."""
    if target != source and target not in via:
        raise ValueError(f"node {target} is unreachable from node {source}")
    path: list[RoadEdge] = []
    node = target
    while node != source:
        edge = via[node]
        path.append(edge)
        node = edge.source
    return tuple(reversed(path))


def _dist2(a: XY, b: XY) -> float:
    return (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2


def polyline_length(points: Sequence[XY]) -> float:
    return sum(math.dist(a, b) for a, b in itertools.pairwise(points))


def build_road_graph(features: Iterable[dict[str, Any]], projection: LocalProjection = DANANG) -> RoadGraph:
    """All drivable directions of the segments; nodes are the shared end coordinates."""
    node_ids: dict[tuple[float, float], int] = {}
    nodes: list[XY] = []

    def node_at(lon: float, lat: float) -> int:
        key = (round(lon, 7), round(lat, 7))
        if key not in node_ids:
            node_ids[key] = len(nodes)
            nodes.append(projection.to_xy(lat, lon))
        return node_ids[key]

    edges: list[RoadEdge] = []
    for segment, feature in enumerate(features):
        coords = feature["geometry"]["coordinates"]
        props = feature["properties"]
        points = tuple(projection.to_xy(lat, lon) for lon, lat in coords)
        start, end = node_at(*coords[0]), node_at(*coords[-1])
        oneway = bool(props.get("oneway"))
        directions = [(start, end, points, True)]
        if not oneway:
            directions.append((end, start, points[::-1], False))
        for source, target, polyline, forward in directions:
            edges.append(
                RoadEdge(
                    index=len(edges),
                    source=source,
                    target=target,
                    points=polyline,
                    length_m=polyline_length(polyline),
                    highway=str(props.get("highway", "")),
                    name=str(props.get("name") or ""),
                    segment=segment,
                    forward=forward,
                    oneway=oneway,
                )
            )
    return _assemble(projection, nodes, edges)


def _assemble(projection: LocalProjection, nodes: Sequence[XY], edges: Sequence[RoadEdge]) -> RoadGraph:
    out: list[list[int]] = [[] for _ in nodes]
    for edge in edges:
        out[edge.source].append(edge.index)
    return RoadGraph(projection, tuple(nodes), tuple(edges), tuple(tuple(o) for o in out))


def strongly_connected_components(graph: RoadGraph) -> list[list[int]]:
    """Kosaraju's algorithm, iterative (a recursive walk would overflow on long road chains)."""
    count = len(graph.nodes)
    successors = [[graph.edges[e].target for e in graph.out_edges[n]] for n in range(count)]
    predecessors: list[list[int]] = [[] for _ in range(count)]
    for node, targets in enumerate(successors):
        for target in targets:
            predecessors[target].append(node)

    finished: list[int] = []
    seen = [False] * count
    for root in range(count):
        if seen[root]:
            continue
        seen[root] = True
        stack = [(root, iter(successors[root]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                finished.append(node)
            elif not seen[child]:
                seen[child] = True
                stack.append((child, iter(successors[child])))

    components: list[list[int]] = []
    assigned = [False] * count
    for root in reversed(finished):
        if assigned[root]:
            continue
        assigned[root] = True
        component, todo = [], [root]
        while todo:
            node = todo.pop()
            component.append(node)
            for parent in predecessors[node]:
                if not assigned[parent]:
                    assigned[parent] = True
                    todo.append(parent)
        components.append(sorted(component))
    return components


def largest_strongly_connected(graph: RoadGraph) -> RoadGraph:
    """The subgraph in which every node can reach every other, renumbered; one-way stubs fall away."""
    keep = max(strongly_connected_components(graph), key=len)
    new_id = {old: new for new, old in enumerate(keep)}
    edges: list[RoadEdge] = []
    for edge in graph.edges:
        if edge.source in new_id and edge.target in new_id:
            edges.append(
                replace(edge, index=len(edges), source=new_id[edge.source], target=new_id[edge.target])
            )
    return _assemble(graph.projection, [graph.nodes[old] for old in keep], edges)


def load_road_graph(path: Path = ROADS_GEOJSON, projection: LocalProjection = DANANG) -> RoadGraph:
    """The drivable graph of the extract: its largest strongly connected component."""
    with path.open(encoding="utf-8") as stream:
        collection = json.load(stream)
    return largest_strongly_connected(build_road_graph(collection["features"], projection))
