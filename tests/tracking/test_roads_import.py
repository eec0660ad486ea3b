"""Road network import: OSM tag rules on a hand-written extract, GeoJSON lines, merging files, and
storing into PostGIS atomically and idempotently."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from admin import cli
from roads import importer as roads_import
from roads.importer import (
    RoadImportError,
    build_network,
    import_roads,
    parse_bbox,
    vertex_id,
)
from roads.osm import (
    ambulance_may_use,
    oneway_direction,
    parse_maxspeed,
    read_geojson,
    read_road_lines,
)
from roads.settings import RoutingSettings
from runtime.config import DEFAULT_DATA_DIR

TINY_OSM = Path(__file__).resolve().parent / "data" / "tiny.osm"
DANANG_FILES = [DEFAULT_DATA_DIR / "roads-central.geojson", DEFAULT_DATA_DIR / "haichau-central.osm.pbf"]
SETTINGS = RoutingSettings()


def node(lat: float, lon: float) -> tuple[int, int]:
    """A tiny.osm node's coordinates in 1e-7 degrees."""
    return round(lon * 1e7), round(lat * 1e7)


N1, N2, N3, N4 = node(10.0, 100.0), node(10.0, 100.001), node(10.0, 100.002), node(10.001, 100.001)
N5, N6, N7, N8 = node(10.0, 100.003), node(10.0005, 100.0035), node(9.9995, 100.0035), node(9.999, 100.002)
N9, N10, N11 = node(9.999, 100.0), node(10.002, 100.0), node(10.002, 100.001)
N12, N13, N14, N15 = node(10.003, 100.0), node(10.003, 100.001), node(10.003, 100.002), node(10.003, 100.003)


@pytest.fixture
def scratch(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection inside a transaction rolled back at the end: imports made through it (the
    import's own transaction becomes a savepoint) never reach the session's shared network."""
    with psycopg.connect(database_url) as conn:
        conn.execute("SELECT 1")  # opens the transaction: conn.transaction() is now a savepoint
        yield conn
        conn.rollback()


def network_ids(conn: psycopg.Connection) -> tuple[set[int], set[int]]:
    edges = {r[0] for r in conn.execute("SELECT id FROM road_edges").fetchall()}
    vertices = {r[0] for r in conn.execute("SELECT id FROM road_vertices").fetchall()}
    return edges, vertices


# --- OSM tag rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "usable"),
    [
        ({"highway": "primary"}, True),
        ({"highway": "residential"}, True),
        ({"highway": "service"}, True),
        ({"highway": "living_street"}, True),
        ({"highway": "secondary_link"}, True),
        ({"highway": "footway"}, False),
        ({"highway": "path"}, False),
        ({"highway": "cycleway"}, False),
        ({"highway": "steps"}, False),
        ({"highway": "pedestrian"}, False),
        ({"highway": "track"}, False),
        ({"highway": "proposed"}, False),
        ({"highway": "service", "access": "private"}, False),
        ({"highway": "service", "access": "no"}, False),
        ({"highway": "service", "access": "destination"}, True),
        ({"highway": "residential", "motorcar": "no"}, False),
        ({"highway": "residential", "motor_vehicle": "no"}, False),
        ({"highway": "residential", "access": "no", "motorcar": "yes"}, True),
        ({"highway": "service", "access": "no", "emergency": "yes"}, True),
        ({"highway": "service", "area": "yes"}, False),
        ({"highway": "primary", "oneway": "reversible"}, False),
    ],
)
def test_which_ways_an_ambulance_may_use(tags: dict[str, str], usable: bool) -> None:
    assert ambulance_may_use(tags) is usable


@pytest.mark.parametrize(
    ("tags", "direction"),
    [
        ({"highway": "primary"}, 0),
        ({"highway": "primary", "oneway": "yes"}, 1),
        ({"highway": "primary", "oneway": "1"}, 1),
        ({"highway": "primary", "oneway": "true"}, 1),
        ({"highway": "primary", "oneway": "-1"}, -1),
        ({"highway": "primary", "oneway": "no"}, 0),
        ({"highway": "tertiary", "junction": "roundabout"}, 1),
        ({"highway": "motorway"}, 1),
        ({"highway": "motorway", "oneway": "no"}, 0),
    ],
)
def test_oneway_direction(tags: dict[str, str], direction: int) -> None:
    assert oneway_direction(tags) == direction


@pytest.mark.parametrize(
    ("value", "kmh"),
    [("50", 50.0), ("40 km/h", 40.0), ("30 mph", 48.28032), ("VN:urban", None), (None, None), ("0", None)],
)
def test_maxspeed(value: str | None, kmh: float | None) -> None:
    assert parse_maxspeed(value) == (pytest.approx(kmh) if kmh else None)


def test_tiny_osm_extract_becomes_edges_split_at_shared_nodes() -> None:
    network = build_network(read_road_lines(TINY_OSM), SETTINGS)
    by_ends = {(e.coords[0], e.coords[-1]): e for e in network.edges}

    # Way 1 (two-way primary) is split at node 2, which way 2 shares.
    assert not by_ends[(N1, N2)].oneway and not by_ends[(N2, N3)].oneway
    assert by_ends[(N1, N2)].name == "Đường A"
    # Way 2 is drawn 4 -> 2 with oneway=-1: stored in its driving direction, 2 -> 4.
    assert by_ends[(N2, N4)].oneway and (N4, N2) not in by_ends
    # The roundabout is implied one-way, and as a closed way is split in two edges.
    assert by_ends[(N5, N7)].coords == (N5, N6, N7) and by_ends[(N7, N5)].coords == (N7, N5)
    assert by_ends[(N5, N7)].oneway and by_ends[(N7, N5)].oneway
    # maxspeed 30 caps the tertiary class speed (40).
    assert by_ends[(N3, N5)].maxspeed_kmh == 30 and by_ends[(N3, N5)].speed_kmh == 30
    # Closed to traffic but open to emergency vehicles: kept.
    assert by_ends[(N9, N1)].highway == "service"
    # A motorway is one-way without a oneway tag.
    assert by_ends[(N10, N11)].oneway
    # Way 10 breaks where its node is missing from the file; 50 mph does not cap primary (50 km/h).
    assert (N12, N13) in by_ends and (N14, N15) in by_ends and (N13, N14) not in by_ends
    assert by_ends[(N12, N13)].maxspeed_kmh == pytest.approx(80.4672) and by_ends[(N12, N13)].speed_kmh == 50
    # Private service road (3-8), footway (1-9), car-free alley (9-8) and proposed road (1-4): absent.
    assert len(network.edges) == 10
    assert vertex_id(N8) not in network.vertices
    assert all({e.coords[0], e.coords[-1]} != {N1, N4} for e in network.edges)


def test_geojson_lines_share_vertices_and_files_merge(tmp_path: Path) -> None:
    geojson = tmp_path / "lines.geojson"
    features = [
        # Shares node 3 of tiny.osm: the same vertex.
        {"coords": [[100.002, 10.0], [100.002, 9.998]], "props": {"highway": "secondary", "oneway": False}},
        # Way 1's second half, reversed: a duplicate (same vertices and geometry), kept once.
        {"coords": [[100.002, 10.0], [100.001, 10.0]], "props": {"highway": "secondary", "oneway": True}},
        {"coords": [[100.002, 9.998], [100.0, 9.998]], "props": {"highway": "tertiary", "oneway": "yes"}},
        {"coords": [[100.0, 9.998], [100.0, 9.997]], "props": {"highway": "footway"}},
    ]
    geojson.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "LineString", "coordinates": f["coords"]},
                        "properties": f["props"],
                    }
                    for f in features
                ],
            }
        ),
        encoding="utf-8",
    )
    lines = read_geojson(geojson)
    assert [line.oneway for line in lines] == [False, True, True]  # the footway is not drivable
    network = build_network([*read_road_lines(TINY_OSM), *lines], SETTINGS)
    assert network.duplicates == 1
    assert len(network.edges) == 12
    # The first file wins the duplicate: two-way primary.
    kept = next(e for e in network.edges if {e.coords[0], e.coords[-1]} == {N2, N3})
    assert (kept.highway, kept.oneway, kept.source_file) == ("primary", False, "tiny.osm")
    shared = [e for e in network.edges if vertex_id(N3) in (e.source, e.target)]
    assert {e.source_file for e in shared} == {"tiny.osm", "lines.geojson"}


def test_ids_are_stable_and_depend_on_direction() -> None:
    a = build_network(read_road_lines(TINY_OSM), SETTINGS)
    b = build_network(read_road_lines(TINY_OSM), SETTINGS)
    assert [e.id for e in a.edges] == [e.id for e in b.edges]
    assert len({e.id for e in a.edges}) == len(a.edges)
    assert roads_import.edge_id([N1, N2]) != roads_import.edge_id([N2, N1])


def test_bbox_argument() -> None:
    assert parse_bbox("16.05,108.21,16.06,108.22") == (16.05, 108.21, 16.06, 108.22)
    for bad in ("16.05,108.21,16.06", "16.06,108.21,16.05,108.22", "a,b,c,d"):
        with pytest.raises(RoadImportError):
            parse_bbox(bad)


# --- Storing in PostGIS ---------------------------------------------------------------------------


def test_import_stores_edges_vertices_and_costs(scratch: psycopg.Connection) -> None:
    report = import_roads(scratch, [TINY_OSM], replace=True)
    assert (report.edges, report.lines_read, report.clipped) == (10, 9, 0)
    assert report.vertices == 13  # not node 8 (only on skipped ways) nor 6 (inside the roundabout)
    rows = {
        r[0]: r[1:]
        for r in scratch.execute(
            "SELECT id, oneway, cost_s, reverse_cost_s, length_m, speed_kmh, highway,"
            " ST_AsText(ST_StartPoint(geom)), ST_AsText(ST_EndPoint(geom)),"
            " source = (SELECT id FROM road_vertices WHERE ST_Equals(geom, ST_StartPoint(e.geom))),"
            " target = (SELECT id FROM road_vertices WHERE ST_Equals(geom, ST_EndPoint(e.geom)))"
            " FROM road_edges e"
        ).fetchall()
    }
    assert len(rows) == 10
    for oneway, cost, reverse_cost, length, speed, _, _, _, source_ok, target_ok in rows.values():
        assert source_ok and target_ok
        assert cost == pytest.approx(length * 3.6 / speed)
        assert reverse_cost == (-1 if oneway else pytest.approx(cost))
    kiet = rows[roads_import.edge_id([N2, N4])]
    assert kiet[0] == 1 and kiet[6:8] == ("POINT(100.001 10)", "POINT(100.001 10.001)")
    assert kiet[3] == pytest.approx(110.6, abs=0.5)  # 0.001 degree of latitude
    assert report.largest_component >= 3


def test_bbox_keeps_edges_intersecting_it(scratch: psycopg.Connection) -> None:
    # Central Hải Châu, a quarter of the main-roads file's extent.
    report = import_roads(
        scratch, [DANANG_FILES[0]], bbox=parse_bbox("16.055,108.210,16.065,108.225"), replace=True
    )
    assert 0 < report.edges < 732 and report.edges + report.clipped == 732
    outside = scratch.execute(
        "SELECT count(*) FROM road_edges"
        " WHERE NOT ST_Intersects(geom, ST_MakeEnvelope(108.210, 16.055, 108.225, 16.065, 4326))"
    ).fetchone()
    assert outside == (0,)
    crossing = scratch.execute(
        "SELECT count(*) FROM road_edges"
        " WHERE NOT ST_CoveredBy(geom, ST_MakeEnvelope(108.210, 16.055, 108.225, 16.065, 4326))"
    ).fetchone()
    assert crossing is not None and crossing[0] > 0  # kept whole, not cut at the border


def test_import_without_replace_adds_to_the_network(scratch: psycopg.Connection) -> None:
    before_edges, before_vertices = network_ids(scratch)
    import_roads(scratch, [TINY_OSM])
    edges, vertices = network_ids(scratch)
    assert before_edges < edges and len(edges) == len(before_edges) + 10
    assert before_vertices < vertices
    # Adding the same file again changes nothing: its edges are already there.
    import_roads(scratch, [TINY_OSM])
    assert network_ids(scratch) == (edges, vertices)


def test_reimport_is_idempotent(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        before = network_ids(conn)
        first = import_roads(conn, DANANG_FILES, replace=True)
        second = import_roads(conn, DANANG_FILES, replace=True)
        assert first == second
        assert network_ids(conn) == before
        assert (first.edges, first.vertices) == (len(before[0]), len(before[1]))
        assert first.duplicates > 0  # the two files overlap on central Hải Châu's main roads
        # NOTICE.md: the main-roads file alone has 437 of its 488 junctions strongly connected.
        assert first.largest_component > 437


def test_failing_import_leaves_the_old_network(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seen_by_reader: list[tuple[set[int], set[int]]] = []

    def fail_after_writing(conn: psycopg.Connection) -> tuple[int, int]:
        # The new network is written but not committed: another session still sees the old one.
        with psycopg.connect(database_url) as reader:
            seen_by_reader.append(network_ids(reader))
        assert conn.execute("SELECT count(*) FROM road_edges").fetchone() == (10,)
        raise RuntimeError("disk full")

    with psycopg.connect(database_url, autocommit=True) as conn:
        before = network_ids(conn)
        monkeypatch.setattr(roads_import, "mark_main_component", fail_after_writing)
        with pytest.raises(RuntimeError, match="disk full"):
            import_roads(conn, [TINY_OSM], replace=True)
        assert seen_by_reader == [before]
        assert network_ids(conn) == before


def test_cli_import_roads(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--database-url", database_url, "import-roads", *map(str, DANANG_FILES), "--replace"]
    assert cli.main(args) == 0
    with psycopg.connect(database_url) as conn:
        edges, vertices = network_ids(conn)
    captured = capsys.readouterr()
    out = captured.out
    assert f"{len(edges)} edges, {len(vertices)} vertices" in out
    # Progress on the terminal (stderr; stdout stays the result): each file, then each step.
    assert "import-roads: 1/6 steps" in captured.err and "import-roads: 6/6 steps" in captured.err
    assert "import-roads: done in" in captured.err
    assert "largest strongly connected component" in out
    assert (
        cli.main(["--database-url", database_url, "import-roads", str(DEFAULT_DATA_DIR / "stations.csv")])
        == 2
    )
    assert "unknown road file type" in capsys.readouterr().err
