"""Road graph: one-way streets, the strongly connected component, fastest paths."""

from __future__ import annotations

import itertools
import json
import math

import pytest

from device_emulator.places import hospitals_on_graph, load_hospitals, load_stations
from device_emulator.roads import (
    ROADS_GEOJSON,
    RoadGraph,
    build_road_graph,
    fastest_time_s,
    largest_strongly_connected,
    load_road_graph,
    strongly_connected_components,
)


@pytest.fixture(scope="module")
def features() -> list[dict]:
    return json.loads(ROADS_GEOJSON.read_text(encoding="utf-8"))["features"]


@pytest.fixture(scope="module")
def full_graph(features: list[dict]) -> RoadGraph:
    return build_road_graph(features)


@pytest.fixture(scope="module")
def graph() -> RoadGraph:
    return load_road_graph()


def test_nodes_are_shared_segment_ends(full_graph: RoadGraph, features: list[dict]) -> None:
    assert len(full_graph.nodes) == 488
    two_way = sum(1 for f in features if not f["properties"]["oneway"])
    assert len(full_graph.edges) == len(features) + two_way


def test_oneway_segments_are_drivable_only_in_coordinate_order(
    full_graph: RoadGraph, features: list[dict]
) -> None:
    for edge in full_graph.edges:
        coords = features[edge.segment]["geometry"]["coordinates"]
        start = full_graph.projection.to_xy(coords[0][1], coords[0][0])
        if edge.oneway:
            assert edge.forward
        # A forward edge starts where the feature starts; a backward one where it ends.
        assert (math.dist(edge.points[0], start) < 1e-6) == edge.forward
    directions = {(e.segment, e.forward) for e in full_graph.edges}
    for segment, feature in enumerate(features):
        assert ((segment, False) in directions) == (not feature["properties"]["oneway"])


def test_the_largest_strongly_connected_component_is_used(full_graph: RoadGraph, graph: RoadGraph) -> None:
    sizes = sorted(len(c) for c in strongly_connected_components(full_graph))
    assert len(graph.nodes) == sizes[-1]
    assert 400 <= len(graph.nodes) < len(full_graph.nodes)  # one-way stubs are gone
    assert len(strongly_connected_components(graph)) == 1
    # Every node reaches every other, in both directions from an arbitrary node.
    assert len(graph.travel_times(0)[0]) == len(graph.nodes)
    predecessors: dict[int, list[int]] = {}
    for e in graph.edges:
        predecessors.setdefault(e.target, []).append(e.source)
    reaches_zero, frontier = {0}, [0]
    while frontier:
        for source in predecessors.get(frontier.pop(), []):
            if source not in reaches_zero:
                reaches_zero.add(source)
                frontier.append(source)
    assert len(reaches_zero) == len(graph.nodes)


def test_scc_on_a_small_graph() -> None:
    # a <-> b -> c (one-way stub): {a, b} and {c}.
    def segment(a: tuple[float, float], b: tuple[float, float], oneway: bool) -> dict:
        return {
            "geometry": {"type": "LineString", "coordinates": [[a[1], a[0]], [b[1], b[0]]]},
            "properties": {"highway": "tertiary", "oneway": oneway},
        }

    a, b, c = (16.05, 108.20), (16.05, 108.21), (16.06, 108.21)
    full = build_road_graph([segment(a, b, False), segment(b, c, True)])
    assert sorted(map(len, strongly_connected_components(full))) == [1, 2]
    core = largest_strongly_connected(full)
    assert len(core.nodes) == 2 and len(core.edges) == 2


def test_shortest_path_is_a_connected_fastest_route(graph: RoadGraph) -> None:
    cost, _ = graph.travel_times(5)
    for target in (17, 200, 400):
        path = graph.shortest_path(5, target)
        assert path[0].source == 5 and path[-1].target == target
        assert all(a.target == b.source for a, b in itertools.pairwise(path))
        assert sum(fastest_time_s(e) for e in path) == pytest.approx(cost[target])
    assert graph.shortest_path(5, 5) == ()


def test_hospitals_and_stations_snap_to_graph_nodes(graph: RoadGraph) -> None:
    hospitals = hospitals_on_graph(graph, load_hospitals())
    emergency = hospitals_on_graph(graph, load_hospitals(), emergency_only=True)
    assert 5 <= len(emergency) < len(hospitals) < 27  # many hospitals lie outside the extract
    assert all(0 <= h.node < len(graph.nodes) and h.snap_distance_m <= 400 for h in hospitals)
    stations = load_stations(graph)
    # The sample stations sit exactly on junctions (the database loads the same file).
    assert len({s.node for s in stations}) == len(stations) == 3
    assert all(s.snap_distance_m < 1 for s in stations)
