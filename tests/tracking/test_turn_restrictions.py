"""OSM turn restrictions: reading the relations, mapping them onto the network, the expanded graph
(checked against a search that remembers the arcs just driven), and routing through pgRouting on
the session's network, whose Hải Châu extract holds six usable restrictions."""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from roads.importer import build_network, import_roads, map_restrictions
from roads.osm import OsmRestriction, read_road_file, read_road_lines, restriction_kind
from roads.ranking import rank_sources, rank_targets
from roads.restrictions import (
    Arc,
    EdgeEnds,
    GraphRow,
    MappedRestriction,
    arc_end,
    departures,
    forbidden_sequences,
    map_restriction,
    rebuild_turn_graph,
    segment_arcs,
    turn_graph,
)
from roads.routing import Route, RoutePoint, route
from roads.settings import RoutingSettings
from runtime.config import DEFAULT_DATA_DIR

HAI_CHAU = DEFAULT_DATA_DIR / "haichau-central.osm.pbf"
DANANG_FILES = [DEFAULT_DATA_DIR / "roads-central.geojson", HAI_CHAU]
AT = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
ON, OFF = RoutingSettings(), RoutingSettings(turn_restrictions=False)


# --- Reading and mapping -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "kind"),
    [
        ({"type": "restriction", "restriction": "no_left_turn"}, "no_left_turn"),
        ({"type": "restriction", "restriction": "only_straight_on"}, "only_straight_on"),
        ({"type": "restriction", "restriction:motorcar": "no_u_turn"}, "no_u_turn"),
        ({"type": "restriction", "restriction": "no_left_turn", "except": "psv;emergency"}, None),
        ({"type": "restriction", "restriction": "no_left_turn", "except": "bicycle"}, "no_left_turn"),
        ({"type": "restriction", "restriction:hgv": "no_left_turn"}, None),  # trucks only
        ({"type": "restriction", "restriction": "no_entry"}, "no_entry"),
        ({"type": "restriction", "restriction": "give_way"}, None),
        ({"type": "multipolygon", "restriction": "no_left_turn"}, None),
    ],
)
def test_which_relations_bind_an_ambulance(tags: dict[str, str], kind: str | None) -> None:
    assert restriction_kind(tags) == kind


def test_the_extract_restrictions_map_onto_the_network() -> None:
    extract = read_road_file(HAI_CHAU)
    found = extract.restrictions
    assert extract.restrictions_left_out == 0
    assert {r.osm_id for r in found} == {9660538, 10807751, 15738758, 17564163, 19357281, 19559522, 19610761}
    lines = [line for path in DANANG_FILES for line in read_road_lines(path)]
    network = build_network(lines, RoutingSettings())
    mapped = {r.osm_id: r for r in map_restrictions(network, [(r, HAI_CHAU.name) for r in found])}
    # 15738758 asks to drive its via way against its one-way direction: OSM's data is wrong there.
    assert set(mapped) == {r.osm_id for r in found} - {15738758}
    assert len(mapped[9660538].arcs) == 2  # via a node: from, to
    assert len(mapped[19610761].arcs) == 4  # via two ways: from, two median crossings, to
    ends = {e.id: (e.source, e.target) for e in network.edges}
    for r in mapped.values():
        for (a, fa), (b, fb) in itertools.pairwise(r.arcs):
            assert ends[a][1 if fa else 0] == ends[b][0 if fb else 1]  # each arc starts where one ends


# A 3 x 3 grid, 100 m cells, in 1e-7 degrees: vertex (i, j) at x = i, y = j.
def c(i: int, j: int) -> tuple[int, int]:
    return (1_000_000_000 + i * 10_000, 100_000_000 + j * 10_000)


def test_mapping_follows_osm_rules() -> None:
    edges = [
        (1, (c(0, 1), c(1, 1)), True),  # west arm, two-way
        (2, (c(1, 1), c(2, 1)), True),  # east arm
        (3, (c(1, 1), c(1, 2)), True),  # north arm
        (4, (c(1, 0), c(1, 1)), False),  # south arm, one-way northwards
    ]
    steps = segment_arcs(edges)

    def restriction(
        frm: tuple, to: tuple, via: tuple | None = None, kind: str = "no_left_turn"
    ) -> OsmRestriction:
        return OsmRestriction(7, kind, frm, via or c(1, 1), (), to)

    left = map_restriction(restriction((c(0, 1), c(1, 1)), (c(1, 1), c(1, 2))), steps)
    assert isinstance(left, MappedRestriction) and left.arcs == ((1, True), (3, True))
    # Ways may be drawn either way: what counts is which end is the via.
    drawn_back = map_restriction(restriction((c(1, 1), c(0, 1)), (c(1, 2), c(1, 1))), steps)
    assert isinstance(drawn_back, MappedRestriction) and drawn_back.arcs == left.arcs
    u_turn = map_restriction(restriction((c(0, 1), c(1, 1)), (c(0, 1), c(1, 1)), kind="no_u_turn"), steps)
    assert isinstance(u_turn, MappedRestriction) and u_turn.arcs == ((1, True), (1, False))
    # Into the one-way south arm against its direction: nothing to forbid, reported.
    assert "not drivable" in str(map_restriction(restriction((c(0, 1), c(1, 1)), (c(1, 1), c(1, 0))), steps))
    assert "does not end at the via" in str(
        map_restriction(restriction((c(0, 1), c(1, 1), c(2, 1)), (c(1, 1), c(1, 2))), steps)
    )
    via_way = OsmRestriction(
        8, "no_u_turn", (c(0, 1), c(1, 1)), None, ((c(1, 1), c(1, 2)),), (c(1, 2), c(1, 1))
    )
    mapped = map_restriction(via_way, steps)
    assert isinstance(mapped, MappedRestriction) and mapped.arcs == ((1, True), (3, True), (3, False))


# --- The expanded graph against a search that remembers the arcs just driven ---------------------


def grid(n: int, rng: random.Random) -> tuple[dict[int, EdgeEnds], dict[int, float]]:
    """An n x n grid of two-way streets (a few one-way), with random costs per direction."""
    ends: dict[int, EdgeEnds] = {}
    cost: dict[int, float] = {}
    edge_id = 0
    for i, j in itertools.product(range(n), range(n)):
        for di, dj in ((1, 0), (0, 1)):
            if i + di < n and j + dj < n:
                edge_id += 1
                ends[edge_id] = EdgeEnds(i * n + j + 1, (i + di) * n + j + dj + 1, rng.random() > 0.15)
                cost[edge_id] = rng.uniform(10, 60)
    return ends, cost


def random_restrictions(
    ends: Mapping[int, EdgeEnds], rng: random.Random, count: int
) -> list[MappedRestriction]:
    leaving = departures(ends)
    found = []
    arcs = sorted(a for arcs in leaving.values() for a in arcs)
    while len(found) < count:
        seq = [rng.choice(arcs)]
        for _ in range(rng.choice((1, 1, 2, 3))):  # via a node, or via one or two ways
            seq.append(rng.choice(leaving.get(arc_end(seq[-1], ends), [seq[-1]])))
        if len(set(seq)) < len(seq) and seq[-1][0] != seq[-2][0]:
            continue
        kind = rng.choice(("no_left_turn", "no_u_turn", "only_straight_on"))
        found.append(MappedRestriction(len(found) + 1, kind, tuple(seq)))
    return found


def expanded_costs(
    rows: list[GraphRow], ends: Mapping[int, EdgeEnds], cost: Mapping[int, float], start: int
) -> dict[int, float]:
    """Dijkstra over the expanded graph from plain vertex `start`: the cost to each plain vertex
    (arriving at it plain or in any state)."""
    split = {r.edge_id for r in rows if r.split}
    out: dict[int, list[tuple[int, float]]] = {}
    plain = set()
    for e, v in ends.items():
        plain |= {v.source, v.target}
        if e in split:
            continue
        out.setdefault(v.source, []).append((v.target, cost[e]))
        if v.two_way:
            out.setdefault(v.target, []).append((v.source, cost[e]))
    vertex_of: dict[int, int] = {}
    for r in rows:
        a, b = (r.source, r.target) if r.forward else (r.target, r.source)
        out.setdefault(a, []).append((b, cost[r.edge_id]))
        vertex_of.setdefault(b, ends[r.edge_id].target if r.forward else ends[r.edge_id].source)
    best: dict[int, float] = {}
    heap = [(0.0, start)]
    while heap:
        d, v = heapq.heappop(heap)
        if v in best:
            continue
        best[v] = d
        for w, c_ in out.get(v, []):
            if w not in best:
                heapq.heappush(heap, (d + c_, w))
    result: dict[int, float] = {}
    for v, d in best.items():
        junction = v if v in plain else vertex_of[v]
        result[junction] = min(result.get(junction, float("inf")), d)
    return result


def reference_costs(
    forbidden: set[tuple[Arc, ...]], ends: Mapping[int, EdgeEnds], cost: Mapping[int, float], start: int
) -> dict[int, float]:
    """Dijkstra whose state is (vertex, the last arcs driven): no path ends with a forbidden sequence.
    Written apart from roads/restrictions.py on purpose: it is the reference."""
    memory = max((len(s) for s in forbidden), default=1) - 1
    leaving: dict[int, list[Arc]] = {}
    for e, v in ends.items():
        leaving.setdefault(v.source, []).append((e, True))
        if v.two_way:
            leaving.setdefault(v.target, []).append((e, False))
    best: dict[tuple[int, tuple[Arc, ...]], float] = {}
    heap: list[tuple[float, int, tuple[Arc, ...]]] = [(0.0, start, ())]
    result: dict[int, float] = {}
    while heap:
        d, v, last = heapq.heappop(heap)
        if (v, last) in best:
            continue
        best[(v, last)] = d
        result.setdefault(v, d)
        for arc in leaving.get(v, []):
            driven = (*last, arc)
            if any(driven[i:] in forbidden for i in range(len(driven))):
                continue
            w = ends[arc[0]].target if arc[1] else ends[arc[0]].source
            heapq.heappush(heap, (d + cost[arc[0]], w, driven[-memory:] if memory else ()))
    return result


@pytest.mark.parametrize("seed", range(12))
def test_the_expanded_graph_routes_as_a_search_that_remembers_the_turns(seed: int) -> None:
    rng = random.Random(seed)
    ends, cost = grid(5, rng)
    restrictions = random_restrictions(ends, rng, count=rng.randint(3, 12))
    forbidden = forbidden_sequences(restrictions, ends)
    rows = turn_graph(forbidden, ends)
    assert len({r.id for r in rows}) == len(rows)
    assert not {r.id for r in rows} & set(ends)
    assert forbidden and rows
    for start in (1, 7, 13, 25):
        assert expanded_costs(rows, ends, cost, start) == pytest.approx(
            reference_costs(forbidden, ends, cost, start)
        )


def test_the_reference_search_does_detour() -> None:
    """The reference above is not the plain graph in disguise: restrictions cost it something."""
    rng = random.Random(3)
    ends, cost = grid(5, rng)
    forbidden = forbidden_sequences(random_restrictions(ends, rng, count=12), ends)
    detours = 0
    for start in range(1, 26):
        plain, restricted = (
            reference_costs(set(), ends, cost, start),
            reference_costs(forbidden, ends, cost, start),
        )
        detours += sum(1 for v in plain if restricted.get(v, float("inf")) > plain[v] + 1e-9)
    assert detours > 0


def test_only_restrictions_forbid_every_other_way_on() -> None:
    ends = {
        1: EdgeEnds(1, 2, True),
        2: EdgeEnds(2, 3, True),
        3: EdgeEnds(2, 4, True),
        4: EdgeEnds(5, 2, False),
    }
    only = MappedRestriction(1, "only_straight_on", ((1, True), (2, True)))
    assert forbidden_sequences([only], ends) == {((1, True), (3, True)), ((1, True), (1, False))}
    gone = MappedRestriction(2, "no_left_turn", ((1, True), (9, True)))  # edge 9 is not in the network
    assert forbidden_sequences([gone], ends) == set()


# --- Routing through pgRouting on the session's network ------------------------------------------


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[psycopg.AsyncConnection]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as c:
        yield c


async def stored(conn: psycopg.AsyncConnection) -> dict[int, list[Arc]]:
    cur = await conn.execute("SELECT osm_id, edges, forwards FROM road_turn_restrictions ORDER BY osm_id")
    return {
        osm_id: list(zip(edges, forwards, strict=True)) for osm_id, edges, forwards in await cur.fetchall()
    }


async def along(conn: psycopg.AsyncConnection, arc: Arc, fraction: float, heading: bool = True) -> RoutePoint:
    """A point `fraction` along an arc, heading the way it is driven (or without a heading)."""
    edge, forward = arc
    at = fraction if forward else 1 - fraction
    cur = await conn.execute(
        "SELECT ST_Y(p), ST_X(p), degrees(ST_Azimuth(ST_LineInterpolatePoint(geom_merc, greatest(%(f)s - 0.02, 0)),"
        " ST_LineInterpolatePoint(geom_merc, least(%(f)s + 0.02, 1))))"
        " FROM road_edges, LATERAL (SELECT ST_Transform(ST_LineInterpolatePoint(geom_merc, %(f)s), 4326) AS p) q"
        " WHERE id = %(id)s",
        {"f": at, "id": edge},
    )
    row = await cur.fetchone()
    assert row is not None
    lat, lon, azimuth = row
    return RoutePoint(lat, lon, ((azimuth if forward else azimuth + 180) % 360) if heading else None)


def drives(r: Route, sequence: list[Arc]) -> bool:
    n = len(sequence)
    return any(r.edges[i : i + n] == sequence for i in range(len(r.edges) - n + 1))


async def test_import_holds_the_extract_restrictions(conn: psycopg.AsyncConnection) -> None:
    restrictions = await stored(conn)
    assert set(restrictions) == {9660538, 10807751, 17564163, 19357281, 19559522, 19610761}
    cur = await conn.execute("SELECT count(*) FILTER (WHERE split), count(*) FROM road_turn_arcs")
    splits, rows = await cur.fetchone() or (0, 0)
    assert splits >= 4 and rows > splits


async def test_routes_never_drive_a_restricted_turn(conn: psycopg.AsyncConnection) -> None:
    for osm_id, sequence in (await stored(conn)).items():
        start, end = await along(conn, sequence[0], 0.5), await along(conn, sequence[-1], 0.5)
        free = await route(conn, start, end, AT, OFF)
        assert drives(free, sequence), osm_id  # without the restriction, the turn is the way
        kept = await route(conn, start, end, AT, ON)
        assert not drives(kept, sequence), osm_id
        assert kept.duration_s > free.duration_s + 20, osm_id  # a detour round the block
        # Rankings run the same graph: many-to-one (reversed) and one-to-many agree with the route.
        (source,) = await rank_sources(conn, [("unit", start)], end, AT, ON)
        (target,) = await rank_targets(conn, start, [("scene", end)], AT, ON)
        for ranked in (source, target):
            assert ranked.duration_s == pytest.approx(kept.through_s, rel=0.02), osm_id
            assert ranked.distance_m == pytest.approx(kept.distance_m, rel=0.02), osm_id


async def test_every_other_way_through_a_restricted_junction_stays_direct(
    conn: psycopg.AsyncConnection,
) -> None:
    """From the restricted `from` arc to a spot just past the junction on each other way on: the
    route turns there directly (points on an edge are also on its copies leaving the state)."""
    restrictions = await stored(conn)
    turns_forbidden = {(s[0], s[1]) for s in restrictions.values() if len(s) == 2}
    checked = 0
    for sequence in restrictions.values():
        start = await along(conn, sequence[0], 0.5)
        cur = await conn.execute(
            "SELECT e.id, e.source = j.v FROM road_edges e,"
            " (SELECT CASE WHEN %(fwd)s THEN target ELSE source END AS v FROM road_edges WHERE id = %(id)s) j"
            " WHERE (e.source = j.v OR (e.target = j.v AND e.reverse_cost_s >= 0)) AND e.length_m > 20",
            {"id": sequence[0][0], "fwd": sequence[0][1]},
        )
        for arc in await cur.fetchall():
            if (sequence[0], tuple(arc)) in turns_forbidden or arc[0] == sequence[0][0]:
                continue
            r = await route(conn, start, await along(conn, tuple(arc), 0.3), AT, ON)
            assert r.edges == [sequence[0], tuple(arc)]
            checked += 1
    assert checked >= 3


# A 3 x 3 grid of two-way streets (tests/tracking/data/turns.osm) beside the session's network: at
# its centre no left turn from the west arm into the north arm, and only straight on from the south.
TURNS_OSM = Path(__file__).resolve().parent / "data" / "turns.osm"
CENTRE = (10.501, 100.501)


@pytest.fixture
def turns_grid(database_url: str) -> Iterator[None]:
    """The grid imported beside the session's network (so the arcs are rebuilt over both), and taken
    out again at the end, its arcs with it."""
    with psycopg.connect(database_url, autocommit=True) as db:
        import_roads(db, [TURNS_OSM])
        yield
        with db.transaction():
            db.execute("DELETE FROM road_turn_restrictions WHERE source_file = %s", (TURNS_OSM.name,))
            db.execute("DELETE FROM road_edges WHERE source_file = %s", (TURNS_OSM.name,))
            db.execute(
                "DELETE FROM road_vertices v WHERE NOT EXISTS"
                " (SELECT 1 FROM road_edges e WHERE e.source = v.id OR e.target = v.id)"
            )
            rebuild_turn_graph(db)


def at(dlat: float, dlon: float, heading: float | None) -> RoutePoint:
    """A point dlat, dlon degrees from the centre junction."""
    return RoutePoint(CENTRE[0] + dlat, CENTRE[1] + dlon, heading)


EAST, NORTH, WEST, SOUTH = 90.0, 0.0, 270.0, 180.0
WEST_ARM_EASTBOUND = at(0, -0.0005, EAST)
NORTH_ARM = at(0.0005, 0, None)
EAST_ARM = at(0, 0.0005, None)
WEST_SIDE = at(0, -0.0009, None)  # near the west end of the west arm


@pytest.mark.usefixtures("turns_grid")
async def test_a_forbidden_left_turn_goes_round_the_block(conn: psycopg.AsyncConnection) -> None:
    free = await route(conn, WEST_ARM_EASTBOUND, NORTH_ARM, AT, OFF)
    kept = await route(conn, WEST_ARM_EASTBOUND, NORTH_ARM, AT, ON)
    assert len(free.edges) == 2  # west arm, left into the north arm
    assert not drives(kept, free.edges)
    # Shortest without the turn: on to the east arm's end and back (U-turns are allowed at
    # junctions), then right into the north arm at the centre.
    assert kept.distance_m == pytest.approx(free.distance_m + 2 * 111.3, abs=10)
    # Straight on from the same arm is allowed, and direct: the point on the east arm is also on
    # the arm's copy leaving the west arm's state at the centre.
    straight = await route(conn, WEST_ARM_EASTBOUND, EAST_ARM, AT, ON)
    assert straight.distance_m == pytest.approx(111.3 * 1.0, abs=15)


@pytest.mark.usefixtures("turns_grid")
async def test_only_straight_on_forbids_the_other_turns(conn: psycopg.AsyncConnection) -> None:
    northbound = at(-0.0005, 0, NORTH)
    to_east = await route(conn, northbound, EAST_ARM, AT, ON)
    assert to_east.distance_m > (await route(conn, northbound, EAST_ARM, AT, OFF)).distance_m + 100
    on = await route(conn, northbound, NORTH_ARM, AT, ON)
    assert len(on.edges) == 2  # straight on through the centre
    (ranked,) = await rank_sources(conn, [("unit", northbound)], EAST_ARM, AT, ON)
    assert ranked.duration_s == pytest.approx(to_east.through_s, rel=1e-6)


@pytest.mark.usefixtures("turns_grid")
async def test_a_point_without_heading_on_a_split_edge_leaves_either_way(
    conn: psycopg.AsyncConnection,
) -> None:
    """The west arm is split (its eastbound arc arrives at the state's vertex): a parked unit on it
    is on both of its arcs, joined, and leaves west or east as the plain graph would let it."""
    parked = at(0, -0.0005, None)
    for target in (WEST_SIDE, EAST_ARM):
        kept = await route(conn, parked, target, AT, ON)
        assert kept.distance_m == pytest.approx(
            (await route(conn, parked, target, AT, OFF)).distance_m, abs=0.01
        )
    # Towards the north arm it may not turn left at the centre: it goes round instead.
    assert (await route(conn, parked, NORTH_ARM, AT, ON)).distance_m > 200
    (ranked,) = await rank_targets(conn, parked, [("west", WEST_SIDE)], AT, ON)
    assert ranked.distance_m == pytest.approx(
        (await route(conn, parked, WEST_SIDE, AT, ON)).distance_m, abs=0.01
    )
