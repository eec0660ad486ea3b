"""Routing over the session's road network (central main roads + the Hải Châu extract): the
NOTICE's examples, one-way streets, headings, off-network joins, learned speeds, and rankings that
agree with one route per pair."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime

import psycopg
import pytest

from roads.ranking import rank_sources, rank_targets
from roads.routing import (
    NoRouteError,
    Route,
    RoutePoint,
    local_hour,
    route,
    search_box,
    snap_points,
    stopping_s,
)
from roads.settings import RoutingSettings
from roads.timing import forget_costs
from runtime.config import DEFAULT_DATA_DIR

AT = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)  # 08:30 in Da Nang
SON_TRA_HEALTH_CENTRE = RoutePoint(16.0577799, 108.2348386)  # TTYT quận Sơn Trà
DA_NANG_HOSPITAL = RoutePoint(16.0726877, 108.2155150)
VINMEC = RoutePoint(16.0388450, 108.2112685)
# Two points on Trần Phú, one-way southwards: A is upstream of B.
TRAN_PHU_A = RoutePoint(16.0671124, 108.2237517)
TRAN_PHU_B = RoutePoint(16.0626041, 108.2232948)
# Mid-block on Hoàng Diệu, two-way, running north-south: 30 % and 70 % along one edge.
HOANG_DIEU_EDGE = 6553773195875190095
HOANG_DIEU_MID = RoutePoint(16.0580599, 108.2170854)
# Nguyễn Tri Phương's carriageways near Hàm Nghi (one-way edges of the main-roads file).
NTP_SOUTHBOUND = 1061774151746096908
NTP_NORTHBOUND = 3247399570110082428
RIVER_BRIDGES = ("Cầu Rồng", "Cầu Sông Hàn", "Cầu Trần Thị Lý", "Cầu Thuận Phước")
SETTINGS = RoutingSettings()


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[psycopg.AsyncConnection]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as c:
        yield c


@pytest.fixture
def learned(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection to insert learned speeds with; the rows go at the end."""
    with psycopg.connect(database_url, autocommit=True) as c:
        c.execute("DELETE FROM road_speeds")
        forget_costs()  # the re-costing's cache (roads/timing.py) must see the rows
        yield c
        c.execute("DELETE FROM road_speeds")
        forget_costs()


def hospitals() -> list[tuple[str, RoutePoint]]:
    with (DEFAULT_DATA_DIR / "hospitals.csv").open(encoding="utf-8") as fh:
        return [(r["name_vi"], RoutePoint(float(r["lat"]), float(r["lon"]))) for r in csv.DictReader(fh)]


def stations() -> list[tuple[str, RoutePoint]]:
    with (DEFAULT_DATA_DIR / "stations.csv").open(encoding="utf-8") as fh:
        return [(r["name_vi"], RoutePoint(float(r["lat"]), float(r["lon"]))) for r in csv.DictReader(fh)]


def oneway_edges(db: psycopg.Connection) -> set[int]:
    return {r[0] for r in db.execute("SELECT id FROM road_edges WHERE oneway = 1").fetchall()}


def wkt(r: Route) -> str:
    return "LINESTRING(" + ",".join(f"{x} {y}" for x, y in r.geometry) + ")"


def bridges_crossed(db: psycopg.Connection, r: Route) -> set[str]:
    """River bridges of the main-roads file the route runs along for at least 90 % of their length."""
    features = json.loads((DEFAULT_DATA_DIR / "roads-central.geojson").read_text(encoding="utf-8"))[
        "features"
    ]
    crossed = set()
    for f in features:
        name = f["properties"].get("name") or ""
        bridge = next((b for b in RIVER_BRIDGES if b in name), None)
        if not (f["properties"].get("bridge") and bridge):
            continue
        row = db.execute(
            """
            WITH b AS (SELECT ST_SetSRID(ST_GeomFromGeoJSON(%s), 4326) AS g)
            SELECT ST_Length(ST_Intersection(b.g, ST_Buffer(ST_GeomFromText(%s, 4326)::geography, 5)::geometry)::geography)
                   / ST_Length(b.g::geography)
            FROM b
            """,
            (json.dumps(f["geometry"]), wkt(r)),
        ).fetchone()
        if row and row[0] > 0.9:
            crossed.add(bridge)
    return crossed


# --- The NOTICE's examples -------------------------------------------------------------------


async def test_son_tra_to_da_nang_hospital_crosses_the_han_river_on_a_bridge(
    conn: psycopg.AsyncConnection, db: psycopg.Connection
) -> None:
    r = await route(conn, SON_TRA_HEALTH_CENTRE, DA_NANG_HOSPITAL, AT)
    # NOTICE.md: 4.8 km over Cầu Rồng on the main roads alone; with every street loaded the fastest
    # route may differ a little. Both points are building centroids, tens of metres off the road.
    assert 4300 < r.distance_m < 5600
    assert 20 < r.snapped_start_m < 150 and 20 < r.snapped_end_m < 150
    assert bridges_crossed(db, r)
    # Urban ambulance speeds: between 30 and 50 km/h on average.
    assert 30 < r.distance_m / r.duration_s * 3.6 < 50
    assert r.geometry[0] == (SON_TRA_HEALTH_CENTRE.lon, SON_TRA_HEALTH_CENTRE.lat)
    assert r.geometry[-1] == (DA_NANG_HOSPITAL.lon, DA_NANG_HOSPITAL.lat)
    assert r.hour == 8


async def test_da_nang_hospital_to_vinmec(conn: psycopg.AsyncConnection, db: psycopg.Connection) -> None:
    r = await route(conn, DA_NANG_HOSPITAL, VINMEC, AT)
    assert 3700 < r.distance_m < 4900  # NOTICE.md: 4.2 km on the main roads alone
    assert not bridges_crossed(db, r)  # both on the west bank
    length = db.execute("SELECT ST_Length(ST_GeomFromText(%s, 4326)::geography)", (wkt(r),)).fetchone()
    assert length is not None and length[0] == pytest.approx(r.distance_m, rel=0.01)


# --- One-way streets and headings --------------------------------------------------------------


async def test_one_way_street_is_driven_only_its_way(
    conn: psycopg.AsyncConnection, db: psycopg.Connection
) -> None:
    down = await route(conn, TRAN_PHU_A, TRAN_PHU_B, AT)
    up = await route(conn, TRAN_PHU_B, TRAN_PHU_A, AT)
    assert down.distance_m == pytest.approx(501, abs=10)  # straight down the street
    assert up.distance_m > 2 * down.distance_m  # around the block
    oneway = oneway_edges(db)
    for r in (down, up):
        assert all(forward for edge, forward in r.edges if edge in oneway)


async def test_routes_never_drive_a_one_way_edge_backwards(
    conn: psycopg.AsyncConnection, db: psycopg.Connection
) -> None:
    oneway = oneway_edges(db)
    places = [*stations(), *hospitals()[:9]]
    checked = 0
    for _, a in places:
        for _, b in places:
            if a == b:
                continue
            try:
                r = await route(conn, a, b, AT)
            except NoRouteError:
                continue
            assert all(forward for edge, forward in r.edges if edge in oneway)
            checked += sum(1 for edge, _ in r.edges if edge in oneway)
    assert checked > 100


async def test_heading_decides_which_way_a_vehicle_leaves(conn: psycopg.AsyncConnection) -> None:
    (snap,) = await snap_points(conn, [HOANG_DIEU_MID], SETTINGS)
    assert snap is not None and snap.edge_id == HOANG_DIEU_EDGE and snap.vertex is None
    north = await route(conn, RoutePoint(HOANG_DIEU_MID.lat, HOANG_DIEU_MID.lon, 2.0), DA_NANG_HOSPITAL, AT)
    south = await route(conn, RoutePoint(HOANG_DIEU_MID.lat, HOANG_DIEU_MID.lon, 182.0), DA_NANG_HOSPITAL, AT)
    free = await route(conn, HOANG_DIEU_MID, DA_NANG_HOSPITAL, AT)
    # The hospital is to the north: heading south means driving to the next junction and back.
    assert south.duration_s > north.duration_s + 5
    assert free.duration_s == pytest.approx(north.duration_s, abs=0.01)  # (less its join: a few mm)
    assert north.geometry[2][1] > north.geometry[1][1]  # leaves northwards from the snapped spot
    assert south.geometry[2][1] < south.geometry[1][1]  # leaves southwards
    assert south.edges[0] == (HOANG_DIEU_EDGE, False) and north.edges[0] == (HOANG_DIEU_EDGE, True)


async def test_heading_picks_the_carriageway_driven_that_way(
    conn: psycopg.AsyncConnection, db: psycopg.Connection
) -> None:
    # Nguyễn Tri Phương's two one-way carriageways, 14 m apart: a point a third of the way from
    # the south-bound one to the north-bound one.
    row = db.execute(
        """
        WITH a AS (SELECT ST_LineInterpolatePoint(geom, 0.5) AS p FROM road_edges WHERE id = %s),
             b AS (SELECT geom FROM road_edges WHERE id = %s)
        SELECT ST_Y(x), ST_X(x) FROM (
            SELECT ST_LineInterpolatePoint(ST_MakeLine(a.p, ST_ClosestPoint(b.geom, a.p)), 0.33) AS x FROM a, b
        ) t
        """,
        (NTP_SOUTHBOUND, NTP_NORTHBOUND),
    ).fetchone()
    assert row is not None
    lat, lon = row
    plain, south, north = await snap_points(
        conn, [RoutePoint(lat, lon), RoutePoint(lat, lon, 153.0), RoutePoint(lat, lon, 333.0)], SETTINGS
    )
    assert plain is not None and (plain.edge_id, plain.side) == (NTP_SOUTHBOUND, "b")
    assert south is not None and (south.edge_id, south.side) == (NTP_SOUTHBOUND, "r")
    assert north is not None and (north.edge_id, north.side) == (NTP_NORTHBOUND, "r")


# --- Joining the network -----------------------------------------------------------------------


async def test_off_network_points_join_with_a_slow_straight_segment(conn: psycopg.AsyncConnection) -> None:
    r = await route(conn, DA_NANG_HOSPITAL, VINMEC, AT)
    (snap,) = await snap_points(conn, [DA_NANG_HOSPITAL], SETTINGS)
    assert snap is not None and snap.distance_m == pytest.approx(r.snapped_start_m)
    on_road = await route(conn, RoutePoint(snap.lat, snap.lon), VINMEC, AT)
    assert on_road.snapped_start_m < 0.5
    join_s = r.snapped_start_m * 3.6 / SETTINGS.off_network_kmh
    assert r.duration_s - on_road.duration_s == pytest.approx(join_s, abs=0.5)
    assert r.distance_m - on_road.distance_m == pytest.approx(r.snapped_start_m, abs=0.5)
    assert r.geometry[1] == pytest.approx((snap.lon, snap.lat), abs=1e-7)


async def test_a_vehicle_driving_a_few_metres_off_its_road_is_on_it(conn: psycopg.AsyncConnection) -> None:
    east = 6 / (111_320 * math.cos(math.radians(HOANG_DIEU_MID.lat)))
    on = RoutePoint(HOANG_DIEU_MID.lat, HOANG_DIEU_MID.lon, 180.0)
    off = RoutePoint(HOANG_DIEU_MID.lat, HOANG_DIEU_MID.lon + east, 180.0)
    driving = await route(conn, off, VINMEC, AT)
    assert 4 < driving.snapped_start_m < 8  # the fix's error: no join to drive
    assert driving.profile[1] == (driving.snapped_start_m, 0.0)
    assert driving.duration_s == pytest.approx((await route(conn, on, VINMEC, AT)).duration_s, abs=0.2)
    # Without a heading (a parked unit, a place) the join is driven, slowly.
    parked = await route(conn, RoutePoint(off.lat, off.lon), VINMEC, AT)
    assert parked.profile[1][1] == pytest.approx(parked.snapped_start_m * 3.6 / SETTINGS.off_network_kmh)


async def test_points_off_the_network_cannot_be_routed(conn: psycopg.AsyncConnection) -> None:
    hanoi = RoutePoint(21.0285, 105.8542)
    with pytest.raises(NoRouteError, match="start"):
        await route(conn, hanoi, VINMEC, AT)
    with pytest.raises(NoRouteError, match="end"):
        await route(conn, VINMEC, hanoi, AT)
    with pytest.raises(NoRouteError):
        await rank_targets(conn, hanoi, hospitals(), AT)
    with pytest.raises(ValueError, match="timezone"):
        await route(conn, VINMEC, DA_NANG_HOSPITAL, datetime(2026, 3, 2, 8, 30))


async def test_a_start_within_a_fix_error_of_the_end_is_there(conn: psycopg.AsyncConnection) -> None:
    same = await route(conn, VINMEC, VINMEC, AT)
    assert (same.edges, same.distance_m, same.duration_s) == ([], 0.0, 0.0)
    # A vehicle whose fix is 6 m past the target, driving away from it (the GPS's error at the
    # junction): there, not round the block and back.
    north = 6 / 111_320
    target = HOANG_DIEU_MID
    past = RoutePoint(target.lat - north, target.lon, 180.0)
    there = await route(conn, past, target, AT)
    assert there.edges == [] and there.distance_m == pytest.approx(6.0, abs=0.1)
    assert there.duration_s == pytest.approx(6.0 * 3.6 / SETTINGS.off_network_kmh, abs=0.05)
    # Farther than a fix's error, it is routed: on its way south, it turns and comes back.
    beyond = await route(conn, RoutePoint(target.lat - 5 * north, target.lon, 180.0), target, AT)
    assert beyond.edges and beyond.distance_m > 60
    # Driving towards it, the road's time when shorter; standing at a light, routed (it waits).
    towards = await route(conn, RoutePoint(target.lat + north, target.lon, 180.0), target, AT)
    assert towards.edges and towards.duration_s < there.duration_s
    standing = await route(conn, replace(past, stopped=True, stood_s=0.0), target, AT)
    assert standing.edges
    # Off every road, there all the same; standing, it is not routable.
    hanoi = RoutePoint(21.0285, 105.8542, 90.0)
    beside = RoutePoint(hanoi.lat + north, hanoi.lon)
    assert (await route(conn, hanoi, beside, AT)).duration_s == pytest.approx(there.duration_s)
    with pytest.raises(NoRouteError):
        await route(conn, replace(hanoi, stopped=True), beside, AT)


# --- Learned speeds ----------------------------------------------------------------------------


async def test_learned_speeds_replace_the_profile_with_enough_samples(
    conn: psycopg.AsyncConnection, learned: psycopg.Connection
) -> None:
    row = learned.execute(
        "SELECT length_m, speed_kmh, ST_Y(ST_LineInterpolatePoint(geom, 0.3)), ST_X(ST_LineInterpolatePoint(geom, 0.3)),"
        " ST_Y(ST_LineInterpolatePoint(geom, 0.7)), ST_X(ST_LineInterpolatePoint(geom, 0.7))"
        " FROM road_edges WHERE id = %s",
        (HOANG_DIEU_EDGE,),
    ).fetchone()
    assert row is not None
    length, profile_kmh, lat1, lon1, lat2, lon2 = row
    a, b = RoutePoint(lat1, lon1), RoutePoint(lat2, lon2)  # 40 % of the edge, source -> target
    base = await route(conn, a, b, AT)
    assert base.through_s == pytest.approx(0.4 * length * 3.6 / profile_kmh, rel=0.01)

    def learn(forward: bool, hour: int, kmh: float, samples: int) -> None:
        learned.execute(
            "INSERT INTO road_speeds (edge_id, forward, hour, speed_kmh, samples, p50_kmh, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, now())"
            " ON CONFLICT (edge_id, forward, hour) DO UPDATE SET speed_kmh = EXCLUDED.speed_kmh,"
            " samples = EXCLUDED.samples",
            (HOANG_DIEU_EDGE, forward, hour, kmh, samples, kmh),
        )
        forget_costs()

    learn(True, 8, 15.0, SETTINGS.learned_min_samples - 1)  # too few samples: ignored
    learn(False, 8, 15.0, 500)  # the other direction
    learn(True, 9, 15.0, 500)  # another hour
    assert (await route(conn, a, b, AT)).duration_s == pytest.approx(base.duration_s)

    learn(True, 8, 15.0, SETTINGS.learned_min_samples)
    slow = await route(conn, a, b, AT)
    assert slow.through_s == pytest.approx(0.4 * length * 3.6 / 15.0, rel=0.01)
    assert slow.distance_m == pytest.approx(base.distance_m)
    # The reverse direction's learned speed applies to the trip back.
    back = await route(conn, b, a, AT)
    assert back.through_s == pytest.approx(0.4 * length * 3.6 / 15.0, rel=0.01)
    # Rankings use the same costs.
    (ranked,) = await rank_sources(conn, [("a", a)], b, AT)
    assert ranked.duration_s == pytest.approx(slow.through_s)


def test_a_stop_at_the_target_costs_the_braking_from_the_last_edge_s_speed() -> None:
    # 15 m/s braked at 3 m/s²: 37.5 m, 5 s, against 2.5 s driven through - 2.5 s more.
    assert stopping_s(15.0, 200.0, 3.0) == pytest.approx(2.5)
    # Closer than that it is braking already: from sqrt(2 * 3 * 6) = 6 m/s, 2 s, against 0.4 s.
    assert stopping_s(15.0, 6.0, 3.0) == pytest.approx(2.0 - 0.4)
    assert stopping_s(15.0, 0.0, 3.0) == stopping_s(0.0, 100.0, 3.0) == 0.0


def test_hours_are_local_to_da_nang() -> None:
    assert local_hour(datetime(2026, 3, 2, 17, 0, tzinfo=UTC)) == 0
    assert local_hour(datetime(2026, 3, 2, 16, 59, tzinfo=UTC)) == 23


# --- Rankings ----------------------------------------------------------------------------------


def units() -> list[tuple[str, RoutePoint]]:
    """Sources for the rankings: stations, hospitals (on and off the network) and moving vehicles."""
    return [
        *stations(),
        *hospitals(),
        ("north on Hoàng Diệu", RoutePoint(HOANG_DIEU_MID.lat, HOANG_DIEU_MID.lon, 0.0)),
        ("south on Hoàng Diệu", RoutePoint(HOANG_DIEU_MID.lat, HOANG_DIEU_MID.lon, 180.0)),
        ("Trần Phú A", RoutePoint(TRAN_PHU_A.lat, TRAN_PHU_A.lon, 180.0)),
        ("Trần Phú B", TRAN_PHU_B),
        ("Trần Phú B again", TRAN_PHU_B),
    ]


async def test_many_to_one_equals_one_route_per_source(conn: psycopg.AsyncConnection) -> None:
    incident = RoutePoint(16.0601, 108.2149)
    ranked = await rank_sources(conn, units(), incident, AT)
    expected = {}
    for key, point in units():
        try:
            r = await route(conn, point, incident, AT)
        except NoRouteError:
            continue
        expected[key] = r
    assert [r.key for r in ranked] == sorted(expected, key=lambda k: expected[k].through_s)
    assert len(ranked) >= 15  # the hospitals outside the loaded roads are left out
    for r in ranked:
        assert r.duration_s == pytest.approx(expected[r.key].through_s, abs=1e-6)
        assert r.distance_m == pytest.approx(expected[r.key].distance_m, abs=0.01)
        assert r.snapped_m == pytest.approx(expected[r.key].snapped_start_m)


async def test_one_to_many_equals_one_route_per_target(conn: psycopg.AsyncConnection) -> None:
    source = RoutePoint(HOANG_DIEU_MID.lat, HOANG_DIEU_MID.lon, 180.0)
    ranked = await rank_targets(conn, source, units(), AT)
    expected = {}
    for key, point in units():
        try:
            expected[key] = await route(conn, source, point, AT)
        except NoRouteError:
            continue
    assert {r.key for r in ranked} == set(expected)
    assert [r.duration_s for r in ranked] == sorted(r.duration_s for r in ranked)
    for r in ranked:
        assert r.duration_s == pytest.approx(expected[r.key].through_s, abs=1e-6)
        assert r.distance_m == pytest.approx(expected[r.key].distance_m, abs=0.01)


async def test_nearest_hospitals_by_road(conn: psycopg.AsyncConnection) -> None:
    ranked = await rank_targets(conn, SON_TRA_HEALTH_CENTRE, hospitals(), AT)
    assert ranked[0].key == "Trung tâm Y tế quận Sơn Trà"  # itself
    assert "Bệnh viện Đà Nẵng" in [r.key for r in ranked]
    assert "Trung tâm Y tế huyện Hoà Vang" not in [r.key for r in ranked]  # no roads loaded there


def test_search_box_grows_with_the_spread() -> None:
    west, _, _, north = search_box([(108.2, 16.05), (108.21, 16.06)], 5000)
    assert north - 16.06 == pytest.approx(5000 / 111_320)
    assert 108.2 - west == pytest.approx(5000 / 111_320 / 0.9613, rel=0.01)
    # 100 km apart: grown by half their distance, not 5 km.
    _, south, _, _ = search_box([(108.0, 16.0), (108.0, 16.9)], 5000)
    assert 16.0 - south == pytest.approx(0.45, rel=0.01)


# --- Time-dependent costing ---------------------------------------------------------------------


@pytest.fixture
def factors(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection to insert learned speeds for every edge with; the rows go at the end."""
    with psycopg.connect(database_url, autocommit=True) as c:
        c.execute("DELETE FROM road_speeds")
        forget_costs()
        yield c
        c.execute("DELETE FROM road_speeds")
        forget_costs()


async def test_each_edge_is_costed_at_the_time_the_vehicle_reaches_it(
    conn: psycopg.AsyncConnection, factors: psycopg.Connection
) -> None:
    # Every road twice as slow as its profile at 8 h and 9 h, at its profile otherwise.
    factors.execute(
        "INSERT INTO road_speeds (edge_id, forward, hour, speed_kmh, samples, basis)"
        " SELECT id, fwd, h, 3.6 * length_m / (2 * CASE WHEN fwd THEN cost_s ELSE reverse_cost_s END), 100, 'class'"
        " FROM road_edges, (VALUES (true), (false)) AS d(fwd), (VALUES (8), (9)) AS t(h)"
        " WHERE length_m > 0 AND CASE WHEN fwd THEN cost_s ELSE reverse_cost_s END > 0"
    )
    forget_costs()
    day = datetime(2026, 3, 2, tzinfo=UTC)  # 7:00 in Da Nang is 0:00 UTC

    def at(hour: int, minute: int) -> datetime:
        return day.replace(hour=hour - 7, minute=minute)

    free = await route(conn, DA_NANG_HOSPITAL, VINMEC, at(7, 0))
    peak = await route(conn, DA_NANG_HOSPITAL, VINMEC, at(8, 30))
    assert free.edges == peak.edges
    joins = (free.snapped_start_m + free.snapped_end_m) * 3.6 / SETTINGS.off_network_kmh
    assert peak.through_s == pytest.approx(joins + 2 * (free.through_s - joins), rel=1e-6)
    # Leaving at 7:30 the trip (about 7 minutes) reaches the costs of 8 h as it goes: the hours'
    # figures hold at their middle, linear in between.
    into = await route(conn, DA_NANG_HOSPITAL, VINMEC, at(7, 30))
    assert free.duration_s < into.duration_s < peak.duration_s
    assert into.hour == 7
    # Leaving at 9:50 the trip comes out of the peak (10 h is free again).
    out = await route(conn, DA_NANG_HOSPITAL, VINMEC, at(9, 50))
    assert free.duration_s < out.duration_s < peak.duration_s
