"""Reading drivable road lines from OpenStreetMap (.osm, .osm.pbf) and GeoJSON files: what an
ambulance may drive, split at junctions, in coordinates of 1e-7 degrees."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import osmium

# Classes an ambulance (a car) may drive. Not footway, path, cycleway, steps, pedestrian (closed to
# vehicles in Vietnam's walking streets), track (farm tracks), bridleway, busway, construction,
# proposed. `road` is OSM's "road of unknown class", drivable but slow.
DRIVABLE_HIGHWAYS = frozenset(
    {
        "motorway",
        "trunk",
        "primary",
        "secondary",
        "tertiary",
        "unclassified",
        "residential",
        "living_street",
        "service",
        "road",
        "motorway_link",
        "trunk_link",
        "primary_link",
        "secondary_link",
        "tertiary_link",
    }
)
# OSM implies oneway=yes on these (an explicit `oneway=no` overrides).
IMPLIED_ONEWAY_HIGHWAYS = frozenset({"motorway", "motorway_link"})
IMPLIED_ONEWAY_JUNCTIONS = frozenset({"roundabout", "circular"})
FORWARD_VALUES = frozenset({"yes", "1", "true"})
REVERSE_VALUES = frozenset({"-1", "reverse"})
# Roads whose direction changes over the day: neither direction can be relied on.
UNROUTABLE_ONEWAY_VALUES = frozenset({"reversible", "alternating"})
# Access tags from the most specific for an ambulance to the most general. Vietnam's alleys (kiệt,
# hẻm) are commonly `motorcar=no`: motorbikes only, too narrow for an ambulance.
ACCESS_KEYS = ("motorcar", "motor_vehicle", "vehicle", "access")
DENIED_ACCESS = frozenset({"no", "private"})
EMERGENCY_ALLOWED = frozenset({"yes", "designated"})

Coord = tuple[int, int]  # (longitude, latitude) in 1e-7 degrees, as OSM stores them


@dataclass(frozen=True, slots=True)
class RoadLine:
    """A piece of drivable road as read from a file. A one-way line runs in its driving direction."""

    coords: tuple[Coord, ...]
    highway: str
    name: str | None
    oneway: bool
    maxspeed_kmh: float | None
    source_file: str


class RoadFileError(ValueError):
    """A road file that cannot be read (unknown format, malformed content)."""


OSM_SUFFIXES = (".osm", ".osm.pbf", ".pbf", ".osm.bz2", ".osm.gz")


@dataclass(frozen=True, slots=True)
class RoadFile:
    """What one road file holds: its drivable lines and (OSM only) its turn restrictions, with how
    many restriction relations were left out (a member missing or not drivable, a via of another
    kind)."""

    lines: list[RoadLine]
    restrictions: list[OsmRestriction]
    restrictions_left_out: int = 0


def read_road_file(path: Path) -> RoadFile:
    """One file, by its extension: .osm, .osm.pbf, .pbf, .geojson or .json. An OSM file's ways are
    read once for both its lines and its restrictions."""
    if not path.is_file():
        raise RoadFileError(f"{path}: no such file")
    name = path.name.lower()
    if name.endswith(OSM_SUFFIXES):
        ways = list(_drivable_ways(path))
        restrictions, left_out = _read_restrictions(path, ways)
        return RoadFile(list(_osm_lines(ways, path.name)), restrictions, left_out)
    if name.endswith((".geojson", ".json")):
        return RoadFile(read_geojson(path), [])
    raise RoadFileError(f"{path}: unknown road file type (expected .osm, .osm.pbf or .geojson)")


def read_road_lines(path: Path) -> list[RoadLine]:
    """The drivable lines of one file (read_road_file)."""
    return read_road_file(path).lines


# --- OpenStreetMap -------------------------------------------------------------------------------


def ambulance_may_use(tags: Mapping[str, str]) -> bool:
    """Whether a way is a road an ambulance may drive: drivable class, not an area, not closed to it."""
    if tags.get("highway") not in DRIVABLE_HIGHWAYS or tags.get("area") == "yes":
        return False
    if tags.get("oneway") in UNROUTABLE_ONEWAY_VALUES:
        return False
    if tags.get("emergency") in EMERGENCY_ALLOWED:
        return True
    for key in ACCESS_KEYS:
        if key in tags:
            return tags[key] not in DENIED_ACCESS
    return True


def oneway_direction(tags: Mapping[str, str]) -> int:
    """1: only in the way's direction, -1: only against it, 0: both ways."""
    value = tags.get("oneway")
    if value in FORWARD_VALUES:
        return 1
    if value in REVERSE_VALUES:
        return -1
    if value is None and (
        tags.get("highway") in IMPLIED_ONEWAY_HIGHWAYS or tags.get("junction") in IMPLIED_ONEWAY_JUNCTIONS
    ):
        return 1
    return 0


_SPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph)?\s*$")


def parse_maxspeed(value: str | None) -> float | None:
    """km/h from an OSM maxspeed ("50", "50 km/h", "30 mph"); None for zone codes and junk."""
    match = _SPEED.match(value or "")
    if not match:
        return None
    speed = float(match.group(1)) * (1.609344 if match.group(2) == "mph" else 1.0)
    return speed if speed > 0 else None


@dataclass(frozen=True, slots=True)
class _Way:
    nodes: tuple[tuple[int, Coord | None], ...]  # (node id, location or None when missing)
    tags: dict[str, str]
    id: int = 0


def _osm_lines(ways: Sequence[_Way], source_file: str) -> Iterator[RoadLine]:
    """Drivable ways split into lines at every node shared with another drivable way (or used twice
    by one), so that OSM node ids define the junctions. Nodes missing from the extract break a way."""
    uses = Counter(node_id for way in ways for node_id, _ in way.nodes)
    for way in ways:
        direction = oneway_direction(way.tags)
        for piece in _split_way(way.nodes, uses):
            coords = piece[::-1] if direction < 0 else piece
            yield RoadLine(
                coords=tuple(coords),
                highway=way.tags["highway"],
                name=way.tags.get("name"),
                oneway=direction != 0,
                maxspeed_kmh=parse_maxspeed(way.tags.get("maxspeed")),
                source_file=source_file,
            )


def _drivable_ways(path: Path) -> Iterator[_Way]:
    try:
        processor = (
            osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
            .with_locations()
            .with_filter(osmium.filter.KeyFilter("highway"))
        )
        for obj in processor:
            if not isinstance(obj, osmium.osm.Way):
                continue
            tags = {tag.k: tag.v for tag in obj.tags}
            if not ambulance_may_use(tags):
                continue
            nodes = tuple((nd.ref, (nd.x, nd.y) if nd.location.valid() else None) for nd in obj.nodes)
            yield _Way(nodes, tags, obj.id)
    except RuntimeError as exc:  # libosmium's parse errors
        raise RoadFileError(f"{path}: {exc}") from exc


def _split_way(nodes: Iterable[tuple[int, Coord | None]], uses: Counter[int]) -> Iterator[list[Coord]]:
    """Pieces of a way between junctions (nodes used more than once) and missing nodes."""
    piece: list[Coord] = []
    for node_id, coord in nodes:
        if coord is None:
            if len(piece) >= 2:
                yield piece
            piece = []
            continue
        piece.append(coord)
        if len(piece) >= 2 and uses[node_id] > 1:
            yield piece
            piece = [coord]
    if len(piece) >= 2:
        yield piece


# --- Turn restrictions ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OsmRestriction:
    """A `type=restriction` relation: driving `from` then `via` (a node, or ways in order) then `to`
    is forbidden (`no_*`) or the only way on (`only_*`). Members as their nodes' coordinates."""

    osm_id: int
    restriction: str  # no_left_turn, only_straight_on...
    from_way: tuple[Coord, ...]
    via_node: Coord | None
    via_ways: tuple[tuple[Coord, ...], ...]
    to_way: tuple[Coord, ...]


# Restrictions that bind an ambulance: the general one, or one for motor cars. `except=` naming
# emergency vehicles (or motorcar) lifts it.
RESTRICTION_KEYS = ("restriction:motorcar", "restriction:motor_vehicle", "restriction")
EXEMPT_VEHICLES = frozenset({"emergency", "motorcar", "motor_vehicle"})


def restriction_kind(tags: Mapping[str, str]) -> str | None:
    """The relation's restriction for an ambulance (no_* or only_*), None when it does not bind one."""
    if tags.get("type") != "restriction":
        return None
    if EXEMPT_VEHICLES & {v.strip() for v in tags.get("except", "").split(";")}:
        return None
    for key in RESTRICTION_KEYS:
        value = tags.get(key, "")
        if value.startswith(("no_", "only_")):
            return value
    return None


def _read_restrictions(path: Path, drivable: Sequence[_Way]) -> tuple[list[OsmRestriction], int]:
    """The turn restrictions of an OSM file whose members are its `drivable` ways, and how many
    others were left out."""
    relations: list[tuple[int, str, list[tuple[str, str, int]]]] = []
    try:
        for obj in osmium.FileProcessor(str(path), osmium.osm.RELATION):
            if not isinstance(obj, osmium.osm.Relation):
                continue
            kind = restriction_kind({tag.k: tag.v for tag in obj.tags})
            if kind is not None:
                relations.append((obj.id, kind, [(m.type, m.role, m.ref) for m in obj.members]))
    except RuntimeError as exc:
        raise RoadFileError(f"{path}: {exc}") from exc
    if not relations:
        return [], 0
    ways = {way.id: way for way in drivable}
    nodes = {node_id: coord for way in ways.values() for node_id, coord in way.nodes if coord is not None}
    found: list[OsmRestriction] = []
    for osm_id, kind, members in relations:
        restriction = _restriction(osm_id, kind, members, ways, nodes)
        if restriction is not None:
            found.append(restriction)
    return found, len(relations) - len(found)


def _restriction(
    osm_id: int,
    kind: str,
    members: list[tuple[str, str, int]],
    ways: Mapping[int, _Way],
    nodes: Mapping[int, Coord],
) -> OsmRestriction | None:
    def way_coords(ref: int) -> tuple[Coord, ...] | None:
        way = ways.get(ref)
        if way is None or any(coord is None for _, coord in way.nodes):
            return None
        return tuple(coord for _, coord in way.nodes if coord is not None)

    froms = [way_coords(ref) for kind_, role, ref in members if role == "from" and kind_ == "w"]
    tos = [way_coords(ref) for kind_, role, ref in members if role == "to" and kind_ == "w"]
    via_nodes = [nodes.get(ref) for kind_, role, ref in members if role == "via" and kind_ == "n"]
    via_ways = [way_coords(ref) for kind_, role, ref in members if role == "via" and kind_ == "w"]
    if len(froms) != 1 or len(tos) != 1 or bool(via_nodes) == bool(via_ways) or len(via_nodes) > 1:
        return None
    from_way, to_way = froms[0], tos[0]
    if from_way is None or to_way is None or None in via_nodes or None in via_ways:
        return None
    return OsmRestriction(
        osm_id=osm_id,
        restriction=kind,
        from_way=from_way,
        via_node=via_nodes[0] if via_nodes else None,
        via_ways=tuple(w for w in via_ways if w is not None),
        to_way=to_way,
    )


# --- GeoJSON -------------------------------------------------------------------------------------


def read_geojson(path: Path) -> list[RoadLine]:
    """Each LineString (or part of a MultiLineString) of a FeatureCollection is one line; properties
    highway, name, oneway (true or "yes": in coordinate order; "-1": against it), maxspeed."""
    try:
        features = json.loads(path.read_text(encoding="utf-8"))["features"]
    except (ValueError, KeyError, TypeError) as exc:
        raise RoadFileError(f"{path}: not a GeoJSON FeatureCollection ({exc})") from exc
    lines = []
    for feature in features:
        geometry = feature.get("geometry") or {}
        props: dict[str, Any] = feature.get("properties") or {}
        if geometry.get("type") == "LineString":
            parts = [geometry["coordinates"]]
        elif geometry.get("type") == "MultiLineString":
            parts = geometry["coordinates"]
        else:
            continue
        highway = str(props.get("highway") or "unclassified")
        if highway not in DRIVABLE_HIGHWAYS:
            continue
        direction = _geojson_oneway(props.get("oneway"))
        for part in parts:
            coords = [(round(float(p[0]) * 1e7), round(float(p[1]) * 1e7)) for p in part]
            lines.append(
                RoadLine(
                    coords=tuple(coords[::-1] if direction < 0 else coords),
                    highway=highway,
                    name=props.get("name"),
                    oneway=direction != 0,
                    maxspeed_kmh=parse_maxspeed(
                        None if props.get("maxspeed") is None else str(props["maxspeed"])
                    ),
                    source_file=path.name,
                )
            )
    return lines


def _geojson_oneway(value: object) -> int:
    if isinstance(value, bool):
        return 1 if value else 0
    text = str(value).lower() if value is not None else ""
    if text in FORWARD_VALUES:
        return 1
    return -1 if text in REVERSE_VALUES else 0
