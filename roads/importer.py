"""Import of the routable road network (road_vertices, road_edges) from OSM and GeoJSON files,
replacing or extending it in one transaction."""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

from roads.ids import edge_id, vertex_id
from roads.osm import Coord, OsmRestriction, RoadFileError, RoadLine, read_road_file
from roads.restrictions import (
    MappedRestriction,
    map_restriction,
    rebuild_turn_graph,
    segment_arcs,
    store_restrictions,
)
from roads.settings import RoutingSettings
from runtime.db import query
from runtime.progress import Progress

log = logging.getLogger(__name__)

BBox = tuple[float, float, float, float]  # south, west, north, east (degrees)


@dataclass(frozen=True, slots=True)
class Edge:
    """One edge of the network, drawn from source to target (its driving direction when one-way)."""

    id: int
    source: int
    target: int
    coords: tuple[Coord, ...]
    highway: str
    name: str | None
    oneway: bool
    maxspeed_kmh: float | None
    speed_kmh: float
    source_file: str


@dataclass(frozen=True, slots=True)
class Network:
    vertices: dict[int, Coord]
    edges: list[Edge]
    duplicates: int  # lines dropped because an earlier line had the same vertices and geometry


@dataclass(frozen=True, slots=True)
class ImportReport:
    lines_read: int
    duplicates: int
    edges: int  # edges of the network after the import
    vertices: int
    clipped: int  # edges left out by the bounding box
    largest_component: int  # vertices in the largest strongly connected component
    components: int
    restrictions: int = 0  # OSM turn restrictions the network holds after the import
    restrictions_left_out: int = 0  # read but not mapped onto it (why: logged)

    def summary(self) -> str:
        return (
            f"road network: {self.edges} edges, {self.vertices} vertices ({self.lines_read} lines read,"
            f" {self.duplicates} duplicates, {self.clipped} outside the box); largest strongly connected"
            f" component {self.largest_component} vertices of {self.components} components;"
            f" {self.restrictions} turn restrictions ({self.restrictions_left_out} left out)"
        )


class RoadImportError(ValueError):
    """An import request that cannot be carried out (bad box, no roads...)."""


def _clean(coords: Iterable[Coord]) -> list[Coord]:
    """Coordinates without consecutive repeats."""
    out: list[Coord] = []
    for c in coords:
        if not out or out[-1] != c:
            out.append(c)
    return out


def _junctions(lines: Sequence[list[Coord]]) -> set[Coord]:
    """Coordinates that must be vertices: the ends of every line, and the coordinates where lines
    meet or part (more or fewer than two distinct neighbours). Where lines overlap (the same road
    in two files) their shared inner coordinates have two neighbours and stay inside edges."""
    junctions = {c for coords in lines for c in (coords[0], coords[-1])}
    uses = Counter(c for coords in lines for c in coords)
    neighbours: dict[Coord, set[Coord]] = {c: set() for c, n in uses.items() if n > 1}
    for coords in lines:
        for a, b in itertools.pairwise(coords):
            if a in neighbours:
                neighbours[a].add(b)
            if b in neighbours:
                neighbours[b].add(a)
    junctions.update(c for c, around in neighbours.items() if len(around) != 2)
    return junctions


def _split_at(coords: list[Coord], junctions: set[Coord]) -> Iterator[list[Coord]]:
    """A line cut at its inner junctions."""
    piece: list[Coord] = []
    for c in coords:
        piece.append(c)
        if len(piece) >= 2 and c in junctions:
            yield piece
            piece = [c]
    if len(piece) >= 2:
        yield piece


def _unloop(coords: list[Coord]) -> list[list[Coord]]:
    """A closed line split in two at its middle coordinate: pgRouting edges need two vertices."""
    if coords[0] != coords[-1]:
        return [coords]
    if len(coords) < 4:  # A-B-A: a doubled segment, nothing to drive around
        return [coords[:2]] if len(coords) == 3 else []
    mid = len(coords) // 2
    return [coords[: mid + 1], coords[mid:]]


def profile_speed_kmh(highway: str, maxspeed_kmh: float | None, settings: RoutingSettings) -> float:
    speed = settings.class_speed_kmh(highway)
    if settings.cap_at_maxspeed and maxspeed_kmh is not None:
        speed = min(speed, maxspeed_kmh)
    return speed


def build_network(lines: Iterable[RoadLine], settings: RoutingSettings) -> Network:
    """Edges and vertices from road lines. Lines are noded by coordinates (1e-7 degrees, OSM's own
    precision), as OSM ways are by node ids: where lines meet or part is a vertex (see
    `_junctions`). So files of the same OSM data join where they meet, even when one is noded more
    coarsely than the other (main roads only vs every street), and the road they both hold splits
    the same way in both, into duplicates. A piece with the same vertices and geometry as an
    earlier one (in either direction) is kept once: the first file given wins."""
    cleaned = [(line, coords) for line in lines if len(coords := _clean(line.coords)) >= 2]
    junctions = _junctions([coords for _, coords in cleaned])
    vertices: dict[int, Coord] = {}
    edges: list[Edge] = []
    seen: set[tuple[Coord, ...]] = set()
    duplicates = 0
    for line, coords in cleaned:
        for part in (p for piece in _split_at(coords, junctions) for p in _unloop(piece)):
            key = min(tuple(part), tuple(reversed(part)))
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            source, target = vertex_id(part[0]), vertex_id(part[-1])
            vertices[source], vertices[target] = part[0], part[-1]
            edges.append(
                Edge(
                    id=edge_id(part),
                    source=source,
                    target=target,
                    coords=tuple(part),
                    highway=line.highway,
                    name=line.name,
                    oneway=line.oneway,
                    maxspeed_kmh=line.maxspeed_kmh,
                    speed_kmh=profile_speed_kmh(line.highway, line.maxspeed_kmh, settings),
                    source_file=line.source_file,
                )
            )
    return Network(vertices, edges, duplicates)


def map_restrictions(
    network: Network, relations: Sequence[tuple[OsmRestriction, str]]
) -> list[MappedRestriction]:
    """The OSM restrictions (with the file each came from) as arcs of the network; those that do
    not map are logged with the reason and left out."""
    if not relations:
        return []
    steps = segment_arcs((e.id, e.coords, not e.oneway) for e in network.edges)
    mapped = []
    for relation, source_file in relations:
        result = map_restriction(relation, steps, source_file)
        if isinstance(result, str):
            log.warning(
                "turn restriction %s (%s) left out: %s", relation.osm_id, relation.restriction, result
            )
        else:
            mapped.append(result)
    return mapped


def parse_bbox(text: str) -> BBox:
    """`south,west,north,east` in degrees."""
    try:
        south, west, north, east = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise RoadImportError(f"--bbox wants south,west,north,east in degrees, not {text!r}") from exc
    if not (-90 <= south < north <= 90 and -180 <= west < east <= 180):
        raise RoadImportError(f"--bbox {text!r} is empty or out of range")
    return south, west, north, east


def _wkt(coords: Sequence[Coord]) -> str:
    return "LINESTRING(" + ",".join(f"{x / 1e7:.7f} {y / 1e7:.7f}" for x, y in coords) + ")"


# Steps of an import besides reading each file: build, stage, store, components.
IMPORT_STEPS = 4


def _no_progress(n: int = 1, note: str = "") -> None:
    """Progress for callers that do not show any."""


def import_roads(
    conn: psycopg.Connection,
    paths: Sequence[Path],
    bbox: BBox | None = None,
    replace: bool = False,
    settings: RoutingSettings | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Read the files, merge them into one network and store it in one transaction: readers see the
    old network or the new one. With `replace` the old network goes; otherwise the new edges are
    added to it (an edge already there is kept). `bbox` keeps the edges intersecting the box.
    `progress` (the command line's) advances once per file read and once per storing step."""
    settings = settings or RoutingSettings()
    step = progress.advance if progress is not None else _no_progress
    lines: list[RoadLine] = []
    relations: list[tuple[OsmRestriction, str]] = []
    left_out = 0
    try:
        for path in paths:
            road_file = read_road_file(path)
            lines.extend(road_file.lines)
            relations.extend((r, path.name) for r in road_file.restrictions)
            left_out += road_file.restrictions_left_out
            step(1, f"read {path.name} ({len(lines)} lines so far)")
    except RoadFileError as exc:
        raise RoadImportError(str(exc)) from exc
    network = build_network(lines, settings)
    step(1, f"{len(network.edges)} edges built")
    if not network.edges:
        raise RoadImportError("no drivable road in " + ", ".join(str(p) for p in paths))
    restrictions = map_restrictions(network, relations)
    left_out += len(relations) - len(restrictions)
    south, west, north, east = bbox or (-90.0, -180.0, 90.0, 180.0)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('amb_road_import'))")
        if replace:
            # DELETE, not TRUNCATE: readers keep seeing the old network until the commit.
            conn.execute("DELETE FROM road_edges")
            conn.execute("DELETE FROM road_vertices")
        conn.execute(query("roads/road_import_stage"))
        with conn.cursor() as cur:
            with cur.copy("COPY road_import_edges FROM STDIN") as copy:
                for e in network.edges:
                    copy.write_row(
                        (
                            e.id,
                            e.source,
                            e.target,
                            _wkt(e.coords),
                            e.highway,
                            e.name,
                            int(e.oneway),
                            e.maxspeed_kmh,
                            e.speed_kmh,
                            e.source_file,
                        )
                    )
            with cur.copy("COPY road_import_vertices FROM STDIN") as copy:
                for vid, (x, y) in network.vertices.items():
                    copy.write_row((vid, x / 1e7, y / 1e7))
        step(1, "edges and vertices staged")
        row = conn.execute(
            query("roads/road_import_store"),
            {"south": south, "west": west, "north": north, "east": east},
        ).fetchone()
        assert row is not None
        clipped = int(row[0])
        edges, vertices = _counts(conn)
        step(1, f"{edges} edges stored")
        largest, components = mark_main_component(conn)
        store_restrictions(conn, restrictions, replace)
        held = rebuild_turn_graph(conn)
        step(1, f"{components} components, {held} turn restrictions")
        conn.execute("ANALYZE road_edges")
        conn.execute("ANALYZE road_vertices")
    report = ImportReport(
        lines_read=len(lines),
        duplicates=network.duplicates,
        edges=edges,
        vertices=vertices,
        clipped=clipped,
        largest_component=largest,
        components=components,
        restrictions=held,
        restrictions_left_out=left_out,
    )
    log.info("%s", report.summary())
    return report


def _counts(conn: psycopg.Connection) -> tuple[int, int]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM road_edges), (SELECT count(*) FROM road_vertices)"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def mark_main_component(conn: psycopg.Connection) -> tuple[int, int]:
    """Mark the edges of the largest strongly connected component; returns (its vertex count, the
    number of components). Other components are kept: one-way stubs where roads leave an extract
    are still roads, only less preferred when snapping."""
    row = conn.execute(query("roads/road_components")).fetchone()
    return (int(row[0]), int(row[1])) if row and row[0] is not None else (0, 0)
