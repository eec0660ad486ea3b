"""OSM turn restrictions in a node-based road graph (pgRouting's `pgr_withPoints`).

A restriction is a sequence of directed edges ("arcs": (edge id, driven source -> target)) that a
route may not drive in a row: `from`, the arcs of any `via` ways, `to` (`no_*`), or every other way
on at a junction of the sequence (`only_*`). pgRouting's own turn-restricted functions
(`pgr_trsp*`) are documented as "might create a server crash" in 3.4, and a crashed backend
restarts the whole PostgreSQL server, ingest included; so the graph is expanded instead, as
routing engines do:

- every proper prefix of a forbidden sequence is a *state* ("has just driven these arcs"), with a
  vertex of its own at the junction where its last arc ends;
- the arc that starts a state (a `from` arc) is split from its edge and arrives at that state's
  vertex instead of the plain junction;
- from a state's vertex, copies of every arc leaving its junction, except those completing a
  forbidden sequence; each copy arrives at the state it leads to (the longest suffix of the
  sequence driven so far that is itself a state, as in Aho-Corasick) or at the plain junction.

Each graph row keeps its road edge (`road_turn_arcs.edge_id`): paths are read back in road edges,
and costs come from the edge. Everything else in the network is untouched, so a city without
restrictions routes on the plain graph. A route's points on an edge with copies are placed on the
edge and on each copy, joined by zero-cost connectors (roads/routing.py).
"""

from __future__ import annotations

import itertools
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import psycopg

from roads.ids import stable_id
from roads.osm import Coord, OsmRestriction

log = logging.getLogger(__name__)

Arc = tuple[int, bool]  # (road edge id, driven source -> target)
# Marks mixed into the hashed ids, so state vertices and graph rows never take a road's id.
STATE_MARK, SPLIT_MARK, COPY_MARK = 0x5717E, 0x5B117, 0xC0B1E5


@dataclass(frozen=True, slots=True)
class MappedRestriction:
    """A restriction on the network: the arcs driven in order, from `from` to `to`."""

    osm_id: int
    restriction: str
    arcs: tuple[Arc, ...]
    source_file: str = ""

    @property
    def only(self) -> bool:
        return self.restriction.startswith("only_")


@dataclass(frozen=True, slots=True)
class EdgeEnds:
    source: int
    target: int
    two_way: bool


@dataclass(frozen=True, slots=True)
class GraphRow:
    """One row of the expanded graph: a direction of `edge_id` between `source` and `target` (drawn
    as the edge is: source -> target is its forward direction), a `split` arc or a `copy`."""

    id: int
    edge_id: int
    forward: bool
    source: int
    target: int
    split: bool


# --- OSM relations onto the network --------------------------------------------------------------


def segment_arcs(edges: Iterable[tuple[int, Sequence[Coord], bool]]) -> dict[tuple[Coord, Coord], Arc]:
    """Each drivable step between two consecutive coordinates of an edge (id, coordinates drawn
    source -> target, two-way), in the direction it may be driven, and its arc."""
    steps: dict[tuple[Coord, Coord], Arc] = {}
    for edge_id, coords, two_way in edges:
        for a, b in itertools.pairwise(coords):
            steps[(a, b)] = (edge_id, True)
            if two_way:
                steps[(b, a)] = (edge_id, False)
    return steps


def map_restriction(
    restriction: OsmRestriction, steps: Mapping[tuple[Coord, Coord], Arc], source_file: str = ""
) -> MappedRestriction | str:
    """The restriction as arcs of the network, or why it cannot be: the `from` way must end at the
    via (node or first via way), the via ways must chain end to end, the `to` way must start where
    they end (OSM's rules), and every step must be drivable in that direction."""
    chain = list(restriction.via_ways)
    junction = restriction.via_node
    if junction is None:
        ends = {restriction.from_way[0], restriction.from_way[-1]}
        touching = [c for w in chain for c in (w[0], w[-1]) if c in ends]
        if len(set(touching)) != 1:
            return "the from way does not end at the via ways"
        junction = touching[0]
    from_way = _ending_at(restriction.from_way, junction)
    if from_way is None:
        return "the from way does not end at the via"
    path: list[Coord] = list(from_way[-2:])
    while chain:
        nxt = next((w for w in chain if junction in (w[0], w[-1])), None)
        if nxt is None:
            return "the via ways do not chain"
        chain.remove(nxt)
        way = nxt if nxt[0] == junction else nxt[::-1]
        path.extend(way[1:])
        junction = way[-1]
    to_way = _ending_at(restriction.to_way[::-1], junction)
    if to_way is None:
        return "the to way does not start at the via"
    path.append(to_way[-2])
    arcs: list[Arc] = []
    for step in itertools.pairwise(path):
        arc = steps.get(step)
        if arc is None:
            return "a step is not drivable in that direction (or not in the network)"
        if not arcs or arcs[-1] != arc:
            arcs.append(arc)
    if len(arcs) < 2:
        return "from and to are the same way in the same direction"
    return MappedRestriction(restriction.osm_id, restriction.restriction, tuple(arcs), source_file)


def _ending_at(way: Sequence[Coord], junction: Coord) -> tuple[Coord, ...] | None:
    """The way drawn so that it ends at `junction` (an end of it), None when it does not end there."""
    if way[-1] == junction:
        return tuple(way)
    if way[0] == junction:
        return tuple(way[::-1])
    return None


# --- The expanded graph --------------------------------------------------------------------------


def arc_end(arc: Arc, ends: Mapping[int, EdgeEnds]) -> int:
    e = ends[arc[0]]
    return e.target if arc[1] else e.source


def arc_start(arc: Arc, ends: Mapping[int, EdgeEnds]) -> int:
    e = ends[arc[0]]
    return e.source if arc[1] else e.target


def departures(ends: Mapping[int, EdgeEnds]) -> dict[int, list[Arc]]:
    """The arcs leaving each vertex."""
    leaving: dict[int, list[Arc]] = defaultdict(list)
    for edge_id, e in ends.items():
        leaving[e.source].append((edge_id, True))
        if e.two_way:
            leaving[e.target].append((edge_id, False))
    return leaving


def on_network(restriction: MappedRestriction, ends: Mapping[int, EdgeEnds]) -> bool:
    """Whether the restriction's edges are all in the network and its arcs join end to start."""
    return all(arc[0] in ends for arc in restriction.arcs) and all(
        arc_end(a, ends) == arc_start(b, ends) for a, b in itertools.pairwise(restriction.arcs)
    )


def forbidden_sequences(
    restrictions: Iterable[MappedRestriction], ends: Mapping[int, EdgeEnds]
) -> set[tuple[Arc, ...]]:
    """The sequences no route may drive: a `no_*` restriction's own; for `only_*`, at each junction
    of it every other way on (a U-turn included). Restrictions on edges no longer in the network,
    or whose arcs do not join, are left out."""
    leaving = departures(ends)
    forbidden: set[tuple[Arc, ...]] = set()
    for r in restrictions:
        if not on_network(r, ends):
            log.warning("turn restriction %s does not match the network: left out", r.osm_id)
            continue
        if not r.only:
            forbidden.add(r.arcs)
            continue
        for i in range(1, len(r.arcs)):
            forbidden.update(
                (*r.arcs[:i], other) for other in leaving[arc_end(r.arcs[i - 1], ends)] if other != r.arcs[i]
            )
    return forbidden


def state_vertex(state: Sequence[Arc]) -> int:
    return stable_id(*(v for edge, fwd in state for v in (edge, int(fwd))), STATE_MARK)


def turn_graph(forbidden: set[tuple[Arc, ...]], ends: Mapping[int, EdgeEnds]) -> list[GraphRow]:
    """The rows that replace or add to the plain graph so that no path drives a forbidden sequence
    (module docstring). Edges with a split arc lose their plain row; the others keep it."""
    states = {seq[:i] for seq in forbidden for i in range(1, len(seq))}
    leaving = departures(ends)

    def arrival(driven: tuple[Arc, ...]) -> int:
        """Where driving `driven` ends: the longest suffix that is a state, else the plain vertex."""
        for i in range(len(driven)):
            if driven[i:] in states:
                return state_vertex(driven[i:])
        return arc_end(driven[-1], ends)

    def row(row_id: int, arc: Arc, start: int, end: int, split: bool) -> GraphRow:
        source, target = (start, end) if arc[1] else (end, start)
        return GraphRow(row_id, arc[0], arc[1], source, target, split)

    rows: list[GraphRow] = []
    for edge_id in sorted({state[0][0] for state in states if len(state) == 1}):
        for arc in [(edge_id, True)] + ([(edge_id, False)] if ends[edge_id].two_way else []):
            row_id = stable_id(edge_id, int(arc[1]), SPLIT_MARK)
            rows.append(row(row_id, arc, arc_start(arc, ends), arrival((arc,)), split=True))
    for state in sorted(states):
        vertex = state_vertex(state)
        for arc in leaving[arc_end(state[-1], ends)]:
            driven = (*state, arc)
            if any(driven[i:] in forbidden for i in range(len(driven) - 1)):
                continue
            row_id = stable_id(vertex, arc[0], int(arc[1]), COPY_MARK)
            rows.append(row(row_id, arc, vertex, arrival(driven), split=False))
    return rows


# --- Storage -------------------------------------------------------------------------------------


def store_restrictions(
    conn: psycopg.Connection, restrictions: Sequence[MappedRestriction], replace: bool
) -> None:
    """Keep the restrictions (inside the import's transaction; `replace` forgets the others)."""
    if replace:
        conn.execute("DELETE FROM road_turn_restrictions")
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO road_turn_restrictions (osm_id, restriction, edges, forwards, source_file)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (osm_id) DO UPDATE SET restriction ="
            " excluded.restriction, edges = excluded.edges, forwards = excluded.forwards,"
            " source_file = excluded.source_file",
            [
                (r.osm_id, r.restriction, [a[0] for a in r.arcs], [a[1] for a in r.arcs], r.source_file)
                for r in restrictions
            ],
        )


def rebuild_turn_graph(conn: psycopg.Connection) -> int:
    """Rebuild road_turn_arcs from the stored restrictions and the network; returns how many
    restrictions it holds."""
    stored = [
        MappedRestriction(osm_id, restriction, tuple(zip(edges, forwards, strict=True)))
        for osm_id, restriction, edges, forwards in conn.execute(
            "SELECT osm_id, restriction, edges, forwards FROM road_turn_restrictions ORDER BY osm_id"
        )
    ]
    edge_ids = sorted({arc[0] for r in stored for arc in r.arcs})
    ends = {
        edge_id: EdgeEnds(source, target, two_way)
        for edge_id, source, target, two_way in conn.execute(
            "WITH v AS (SELECT source AS id FROM road_edges WHERE id = ANY(%(ids)s)"
            " UNION SELECT target FROM road_edges WHERE id = ANY(%(ids)s))"
            " SELECT id, source, target, reverse_cost_s >= 0 FROM road_edges"
            " WHERE source IN (SELECT id FROM v) OR target IN (SELECT id FROM v) OR id = ANY(%(ids)s)",
            {"ids": edge_ids},
        )
    }
    forbidden = forbidden_sequences(stored, ends)
    rows = turn_graph(forbidden, ends)
    conn.execute("DELETE FROM road_turn_arcs")
    with (
        conn.cursor() as cur,
        cur.copy("COPY road_turn_arcs (id, edge_id, forward, source, target, split) FROM STDIN") as copy,
    ):
        for r in rows:
            copy.write_row((r.id, r.edge_id, r.forward, r.source, r.target, r.split))
    held = sum(1 for r in stored if on_network(r, ends))
    log.info("turn restrictions: %d held, %d graph rows", held, len(rows))
    return held
