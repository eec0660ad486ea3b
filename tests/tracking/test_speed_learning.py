"""Traversal times learned from stored fixes: the time vehicles took to get through each edge, in its
direction and local hour, stops included (a red light's wait on the edge leading into it); thin
hours pool their neighbours, edges without traversals get their class's factor; learning is
incremental (a run reads only the hours since the last) and idempotent."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from fixes.model import Fix
from fixes.positions import PartitionCache, prepare_connection, store_fixes
from roads.routing import LOCAL_TIME, RoutePoint, route
from roads.settings import RoutingSettings
from roads.speed_learning import LearnReport, SpeedLearningJob, learn_speeds
from roads.timing import forget_costs, turn_class

# Hoàng Diệu, two-way, north-south; Nguyễn Tri Phương's southbound carriageway, one-way (see
# test_routing.py); two consecutive stretches of Điện Biên Phủ, eastbound (360 m, then 871 m).
HOANG_DIEU_EDGE = 6553773195875190095
NTP_SOUTHBOUND = 1061774151746096908
DBP_WEST, DBP_EAST = 6680806885765797220, 6971573851756412882
# Two consecutive stretches of a one-way primary road in the network's main component, straight on
# (352 m, then 231 m).
ONE_WAY_IN, ONE_WAY_OUT = 4884893195285516939, 3906687430736395448
# A junction in the main component: from APPROACH (585 m) straight on into STRAIGHT_ON (240 m) or
# right into RIGHT_TURN (656 m), all driven source -> target.
APPROACH, STRAIGHT_ON, RIGHT_TURN = 1127238570693710646, 6485701227901873901, 1541791146335747225
DAY = (datetime.now(LOCAL_TIME) - timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
SINCE, UNTIL = DAY.astimezone(UTC), (DAY + timedelta(days=1)).astimezone(UTC)
EXACT = RoutingSettings(learn_smooth_hours=0)  # every cell from its own hour only
MIN = EXACT.learned_min_samples
FIX_EVERY_S = 5.0

Leg = tuple[int, bool]  # an edge and whether it is driven source -> target
Drive = Callable[..., Awaitable[int]]


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[psycopg.AsyncConnection]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as c:
        await _forget(c)
        yield c
        await _forget(c)


async def _forget(c: psycopg.AsyncConnection) -> None:
    for table in (
        "road_speeds",
        "road_traversal_hours",
        "road_learning_state",
        "road_area_factors",
        "road_turn_hours",
        "road_turn_factors",
    ):
        await c.execute(f"DELETE FROM {table}")


@pytest.fixture
async def drive(conn: psycopg.AsyncConnection, db: psycopg.Connection, vehicle: tuple[int, str]) -> Drive:
    """drive(legs, at, kmh, waits={}, times=1): a vehicle drives the legs at a steady `kmh` from
    `at` (local, aware), stopping waits[i] seconds at the junction after leg i; `times` drives,
    10 minutes apart. A fix every 5 s (speed 0 while stopped). Returns the fixes stored."""
    vehicle_id, device_id = vehicle
    await prepare_connection(conn)
    partitions = PartitionCache()

    async def put(
        legs: list[Leg], at: datetime, kmh: float, waits: dict[int, float] | None = None, times: int = 1
    ) -> int:
        lines = [_line(db, edge, forward) for edge, forward in legs]
        fixes = []
        for n in range(times):
            start = at + timedelta(minutes=10 * n)
            for t, (lat, lon, bearing), speed in _timeline(lines, kmh, waits or {}):
                when = (start + timedelta(seconds=t)).astimezone(UTC)
                fixes.append(
                    Fix(
                        device_id,
                        vehicle_id,
                        when,
                        when,
                        lat,
                        lon,
                        "mqtt_json",
                        speed_kmh=speed,
                        course=bearing,
                    )
                )
        await partitions.ensure(conn, fixes)
        assert len(await store_fixes(conn, fixes)) == len(fixes)
        return len(fixes)

    return put


def _line(db: psycopg.Connection, edge: int, forward: bool) -> tuple[list[tuple[float, float]], float]:
    row = db.execute("SELECT ST_AsGeoJSON(geom), length_m FROM road_edges WHERE id = %s", (edge,)).fetchone()
    assert row is not None, f"edge {edge} is not in the network"
    coords = [(lat, lon) for lon, lat in json.loads(row[0])["coordinates"]]
    return (coords if forward else coords[::-1]), float(row[1])


def _at(coords: list[tuple[float, float]], f: float) -> tuple[float, float, float]:
    """The point a share f along the polyline (planar, scaled by latitude) and its bearing."""
    k = math.cos(math.radians(coords[0][0]))
    steps = [math.hypot(b[0] - a[0], (b[1] - a[1]) * k) for a, b in itertools.pairwise(coords)]
    goal = f * sum(steps)
    for (a, b), step in zip(itertools.pairwise(coords), steps, strict=True):
        if goal <= step or (a, b) == (coords[-2], coords[-1]):
            u = min(1.0, goal / step) if step else 0.0
            bearing = math.degrees(math.atan2((b[1] - a[1]) * k, b[0] - a[0])) % 360
            return a[0] + (b[0] - a[0]) * u, a[1] + (b[1] - a[1]) * u, bearing
        goal -= step
    raise AssertionError("unreachable")


def _timeline(
    lines: list[tuple[list[tuple[float, float]], float]], kmh: float, waits: dict[int, float]
) -> list[tuple[float, tuple[float, float, float], float]]:
    """(seconds from the start, (lat, lon, bearing), km/h) every FIX_EVERY_S along the legs."""
    v = kmh / 3.6
    spans = []  # (leg, start s, driving s, then waiting s)
    t = 0.0
    for i, (_, length) in enumerate(lines):
        spans.append((i, t, length / v, waits.get(i, 0.0)))
        t += length / v + waits.get(i, 0.0)
    out = []
    clock = 0.0
    while clock <= t:
        for i, start, driving, wait in spans:
            if clock <= start + driving + wait:
                coords = lines[i][0]
                if clock <= start + driving:
                    out.append((clock, _at(coords, (clock - start) / driving), kmh))
                else:
                    out.append((clock, _at(coords, 1.0), 0.0))
                break
        clock += FIX_EVERY_S
    return out


def local(hour: int, minute: int = 0) -> datetime:
    return DAY + timedelta(hours=hour, minutes=minute)


async def speeds(
    conn: psycopg.AsyncConnection, basis: str = "edge"
) -> dict[tuple[int, bool, int], tuple[float, int]]:
    """The learned rows: from the edges' own traversals, or (basis 'class') their class factor."""
    cur = await conn.execute(
        "SELECT edge_id, forward, hour, speed_kmh, samples FROM road_speeds WHERE basis = %s", (basis,)
    )
    return {(e, f, h): (s, n) for e, f, h, s, n in await cur.fetchall()}


async def learn(conn: psycopg.AsyncConnection, settings: RoutingSettings = EXACT) -> LearnReport:
    forget_costs()  # routing's cache of costs (roads/timing.py) sees what is learned now
    return await learn_speeds(conn, SINCE, UNTIL, settings)


async def test_an_edge_learns_its_traversal_time_in_its_direction_and_local_hour(
    conn: psycopg.AsyncConnection, drive: Drive
) -> None:
    await drive([(HOANG_DIEU_EDGE, True)], local(10), 36.0, times=6)
    await drive([(HOANG_DIEU_EDGE, False)], local(10, 5), 18.0, times=4)

    report = await learn(conn)

    assert report.hours == 24 and report.fixes == report.matched > 0
    learned = await speeds(conn)
    assert set(learned) == {(HOANG_DIEU_EDGE, True, 10), (HOANG_DIEU_EDGE, False, 10)}
    assert learned[(HOANG_DIEU_EDGE, True, 10)][0] == pytest.approx(36.0, rel=0.04)
    assert learned[(HOANG_DIEU_EDGE, False, 10)][0] == pytest.approx(18.0, rel=0.04)


async def test_a_fix_against_a_one_way_edge_is_not_matched_to_it(
    conn: psycopg.AsyncConnection, db: psycopg.Connection, drive: Drive
) -> None:
    await drive([(NTP_SOUTHBOUND, False)], local(8), 35.0)  # the wrong way
    await drive([(NTP_SOUTHBOUND, True)], local(9), 35.0)

    await learn(conn)

    learned = await speeds(conn)
    assert learned[(NTP_SOUTHBOUND, True, 9)][0] == pytest.approx(35.0, rel=0.04)
    assert not any(edge == NTP_SOUTHBOUND and hour == 8 for edge, _, hour in learned)
    assert (NTP_SOUTHBOUND, False, 9) not in learned


async def test_a_red_light_wait_lands_on_the_edge_leading_into_the_junction(
    conn: psycopg.AsyncConnection, db: psycopg.Connection, drive: Drive
) -> None:
    legs = [(DBP_WEST, True), (DBP_EAST, True)]
    await drive(legs, local(14), 36.0, waits={0: 40.0}, times=3)

    await learn(conn)

    west = _line(db, DBP_WEST, True)[1]
    learned = await speeds(conn)
    # The stopped fixes (speed 0) are not matched; the pair around the stop carries its time.
    assert learned[(DBP_WEST, True, 14)][0] == pytest.approx(3.6 * west / (west / 10 + 40), rel=0.05)
    assert learned[(DBP_EAST, True, 14)][0] == pytest.approx(36.0, rel=0.05)


async def test_a_stop_of_the_mission_is_not_a_wait_at_the_junction(
    conn: psycopg.AsyncConnection, db: psycopg.Connection, drive: Drive, vehicle: tuple[int, str]
) -> None:
    """A vehicle that stops at the junction because its journey is there (on scene, then
    transporting) did not wait for a light: the pair around that stop is not learned."""
    legs = [(DBP_WEST, True), (DBP_EAST, True)]
    await drive(legs, local(14), 36.0, waits={0: 40.0}, times=2)
    await drive(legs, local(14, 30), 36.0, waits={0: 100.0})
    stop = local(14, 30) + timedelta(seconds=_line(db, DBP_WEST, True)[1] / 10)  # at 36 km/h
    journey = db.execute(
        "INSERT INTO journeys (vehicle_id, status, incident_geom, dispatched_at, on_scene_at, transporting_at)"
        " VALUES (%s, 'completed', ST_SetSRID(ST_MakePoint(108.2, 16.06), 4326), %s, %s, %s) RETURNING id",
        (vehicle[0], local(14, 25), stop + timedelta(seconds=50), stop + timedelta(seconds=100)),
    ).fetchone()
    assert journey is not None
    try:
        await learn(conn)
        cur = await conn.execute(
            "SELECT sum(crossings), sum(stops), sum(stop_seconds) FROM road_turn_hours"
            " WHERE edge_id = %s AND forward",
            (DBP_WEST,),
        )
        crossings, stops, stopped = await cur.fetchone() or (0, 0, 0.0)
        assert (crossings, stops) == (2, 2)  # the two red lights; not the stop at the scene
        assert stopped / stops == pytest.approx(40.0, abs=3.0)
    finally:
        db.execute("DELETE FROM journeys WHERE id = %s", journey)


async def test_a_route_from_before_a_red_light_keeps_its_whole_wait_and_a_route_ending_before_it_none(
    conn: psycopg.AsyncConnection, db: psycopg.Connection, drive: Drive
) -> None:
    legs = [(ONE_WAY_IN, True), (ONE_WAY_OUT, True)]
    await drive(legs, local(14), 36.0, waits={0: 40.0}, times=6)
    await learn(conn)
    (in_coords, length_in), (out_coords, length_out) = (
        _line(db, ONE_WAY_IN, True),
        _line(db, ONE_WAY_OUT, True),
    )
    cur = await conn.execute(
        "SELECT edge_id, samples, wait_share FROM road_speeds"
        " WHERE forward AND hour = 14 AND edge_id = ANY(%s) AND basis = 'edge'",
        ([ONE_WAY_IN, ONE_WAY_OUT],),
    )
    learned = {edge: (samples, share) for edge, samples, share in await cur.fetchall()}
    assert learned[ONE_WAY_IN][0] >= MIN and learned[ONE_WAY_OUT][0] >= MIN
    # The stopped time is the junction's wait, at the end of the edge leading into it.
    assert learned[ONE_WAY_IN][1] == pytest.approx(40 / (length_in / 10 + 40), abs=0.05)
    assert learned[ONE_WAY_OUT][1] == pytest.approx(0.0, abs=0.02)

    at = local(14, 30).astimezone(UTC)

    def point(coords: list[tuple[float, float]], share: float) -> RoutePoint:
        return RoutePoint(*_at(coords, share))

    # 90 % along, 35 m before the light: the wait is still all ahead (pgRouting alone would
    # keep a tenth of it).
    across = await route(conn, point(in_coords, 0.9), point(out_coords, 0.5), at)
    assert across.through_s == pytest.approx(0.1 * length_in / 10 + 40 + 0.5 * length_out / 10, rel=0.08)
    # A target before the stop line is reached without waiting at it.
    before = await route(conn, point(in_coords, 0.1), point(in_coords, 0.6), at)
    assert before.through_s == pytest.approx(0.5 * length_in / 10, rel=0.08)


async def test_a_vehicle_standing_at_the_stop_line_waits_the_rest_of_a_stop_there(
    conn: psycopg.AsyncConnection, db: psycopg.Connection, drive: Drive
) -> None:
    # The light stops every crossing: for 20 s or for 60 s, in turn (a mean of 40, sd 20).
    legs = [(ONE_WAY_IN, True), (ONE_WAY_OUT, True)]
    await drive(legs, local(14), 36.0, waits={0: 20.0}, times=10)
    await drive(legs, local(14, 5), 36.0, waits={0: 60.0}, times=10)
    await learn(conn)
    cur = await conn.execute(
        "SELECT edge_id, forward, mean_stop_s, stops, sd_stop_s FROM road_junction_stops ORDER BY edge_id = 0"
    )
    rows = await cur.fetchall()
    assert rows[0][:2] == (ONE_WAY_IN, True) and rows[0][3] == 20
    mean, sd = rows[0][2], rows[0][4]
    assert mean == pytest.approx(40, abs=3)  # the wait, and the time to brake and start again
    assert sd == pytest.approx(20, abs=2)
    assert rows[-1][0] == 0  # the network's

    (in_coords, _), (out_coords, length_out) = _line(db, ONE_WAY_IN, True), _line(db, ONE_WAY_OUT, True)
    lat, lon, heading = _at(in_coords, 0.985)  # 5 m before the junction
    end = RoutePoint(*_at(out_coords, 0.5))
    at = local(14, 30).astimezone(UTC)
    driving = await route(conn, RoutePoint(lat, lon, heading), end, at)
    rest = 0.5 + 0.5 * length_out / 10
    assert driving.duration_s == pytest.approx(rest + 40, rel=0.1)  # traversals waited 40 s on average
    # Found standing there at a moment not known, part-way through a wait: long waits are found
    # more often than short ones, (mean² + sd²) / (2 mean) is left (25 s).
    standing = RoutePoint(lat, lon, heading, stopped=True)
    assert (await route(conn, standing, end, at)).duration_s == pytest.approx(
        rest + (mean**2 + sd**2) / (2 * mean), rel=0.1
    )
    # Having stood a while: the rest of the waits longer than that, taken as spread evenly over
    # mean ± √3 sd (about 5-75 s); after the longest, 5 s.
    high = mean + math.sqrt(3) * sd
    for stood, left in ((0.0, mean), (30.0, (high - 30) / 2), (60.0, (high - 60) / 2), (200.0, 5.0)):
        waited = RoutePoint(lat, lon, heading, stopped=True, stood_s=stood)
        assert (await route(conn, waited, end, at)).duration_s == pytest.approx(rest + left, rel=0.1), stood
    # Standing 5 m past the junction's node (the GPS's error, or waiting inside the junction to
    # turn) is waiting at it too: the network's stops (here the same junction's), from the node.
    past = RoutePoint(*_at(out_coords, 5 / length_out), stopped=True, stood_s=30.0)
    assert (await route(conn, past, end, at)).duration_s == pytest.approx(rest + (high - 30) / 2, rel=0.1)
    # Standing in the middle of the edge (a queue, a patient loaded) is not waiting at the light.
    middle = RoutePoint(*_at(in_coords, 0.5), stopped=True)
    assert (await route(conn, middle, end, at)).duration_s == pytest.approx(
        (await route(conn, RoutePoint(*_at(in_coords, 0.5)), end, at)).duration_s
    )


async def test_the_router_and_the_learner_class_turns_alike(conn: psycopg.AsyncConnection) -> None:
    pairs = [
        (a, b) for a in range(-180, 541, 15) for b in (*range(-180, 541, 7), 35.0, 35.001, 150.0, 150.001)
    ]
    cur = await conn.execute(
        "SELECT road_turn(a, b) FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS u(a, b, i) ORDER BY i",
        ([float(a) for a, _ in pairs], [float(b) for _, b in pairs]),
    )
    assert [t for (t,) in await cur.fetchall()] == [turn_class(a, b) for a, b in pairs]
    assert (turn_class(0, 0), turn_class(0, 90), turn_class(0, 270), turn_class(10, 190)) == (0, 1, 2, 3)
    assert turn_class(None, 90) is None


async def test_a_turn_costs_what_it_costs_at_its_junction(
    conn: psycopg.AsyncConnection, db: psycopg.Connection, drive: Drive
) -> None:
    # Straight on waits 10 s at the junction, the right turn 40 s (its own light phase).
    await drive([(APPROACH, True), (STRAIGHT_ON, True)], local(9), 36.0, waits={0: 10.0}, times=20)
    await drive([(APPROACH, True), (RIGHT_TURN, True)], local(9, 5), 36.0, waits={0: 40.0}, times=20)
    await learn(conn)
    cur = await conn.execute(
        "SELECT turn, factor, crossings FROM road_turn_factors WHERE edge_id = %s AND forward", (APPROACH,)
    )
    factors = {turn: (factor, n) for turn, factor, n in await cur.fetchall()}
    assert factors[0][1] == factors[1][1] == 20  # 0 straight on, 1 right
    assert factors[0][0] == pytest.approx(10 / 25, abs=0.08)
    assert factors[1][0] == pytest.approx(40 / 25, abs=0.08)
    cur = await conn.execute("SELECT turn FROM road_turn_factors WHERE edge_id = 0 ORDER BY turn")
    assert [t for (t,) in await cur.fetchall()] == [0, 1]  # the network's, from the same crossings

    approach, straight, right = (_line(db, e, True) for e in (APPROACH, STRAIGHT_ON, RIGHT_TURN))
    start = RoutePoint(*_at(approach[0], 0.5))
    ends = {10.0: RoutePoint(*_at(straight[0], 0.5)), 40.0: RoutePoint(*_at(right[0], 0.5))}
    half_next = {10.0: 0.5 * straight[1] / 10, 40.0: 0.5 * right[1] / 10}
    at = local(10, 30).astimezone(UTC)
    by_turn = RoutingSettings(learn_smooth_hours=0, turn_costs=True)
    for wait, end in ends.items():
        # Half of the approach at 10 m/s, the turn's own wait, half of the next edge ...
        turned = await route(conn, start, end, at, by_turn)
        assert turned.duration_s == pytest.approx(0.5 * approach[1] / 10 + wait + half_next[wait], rel=0.1)
        # ... or, by default, the junction's average wait (25 s) whichever way.
        average = await route(conn, start, end, at, EXACT)
        assert average.duration_s == pytest.approx(0.5 * approach[1] / 10 + 25 + half_next[wait], rel=0.1)


async def test_routing_uses_a_learned_time_from_the_minimum_sample_count(
    conn: psycopg.AsyncConnection, db: psycopg.Connection, drive: Drive
) -> None:
    row = db.execute(
        "SELECT length_m, ST_Y(ST_LineInterpolatePoint(geom, 0.3)), ST_X(ST_LineInterpolatePoint(geom, 0.3)),"
        " ST_Y(ST_LineInterpolatePoint(geom, 0.7)), ST_X(ST_LineInterpolatePoint(geom, 0.7))"
        " FROM road_edges WHERE id = %s",
        (HOANG_DIEU_EDGE,),
    ).fetchone()
    assert row is not None
    length, lat1, lon1, lat2, lon2 = row
    a, b = RoutePoint(lat1, lon1), RoutePoint(lat2, lon2)  # 40 % of the edge, source -> target
    at = local(7, 30).astimezone(UTC)
    profile = await route(conn, a, b, at)

    await drive([(HOANG_DIEU_EDGE, True)], local(7), 12.0)  # 60 s, 12 pairs
    await learn(conn)
    assert 0 < (await speeds(conn))[(HOANG_DIEU_EDGE, True, 7)][1] < MIN
    assert (await route(conn, a, b, at)).duration_s == pytest.approx(profile.duration_s)

    await drive([(HOANG_DIEU_EDGE, True)], local(7, 20), 12.0)
    await conn.execute("DELETE FROM road_learning_state")  # the hour was read already: read it again
    await learn(conn)
    assert (await speeds(conn))[(HOANG_DIEU_EDGE, True, 7)][1] >= MIN
    learned = await route(conn, a, b, at)
    assert learned.duration_s == pytest.approx(0.4 * length * 3.6 / 12.0, rel=0.04)
    # Another hour keeps the profile (this class learned nothing else).
    later = await route(conn, a, b, at + timedelta(hours=3))
    assert later.duration_s == pytest.approx(profile.duration_s)


async def test_thin_hours_pool_the_hours_next_to_them(conn: psycopg.AsyncConnection, drive: Drive) -> None:
    await drive([(HOANG_DIEU_EDGE, True)], local(17), 20.0, times=3)  # 21 pairs
    await drive([(HOANG_DIEU_EDGE, True)], local(18), 30.0)  # 4

    await learn(conn, EXACT)
    own = await speeds(conn)
    assert own[(HOANG_DIEU_EDGE, True, 18)][1] < MIN  # too few: routing ignores it

    await learn(conn, RoutingSettings(learn_smooth_hours=1))
    learned = await speeds(conn)
    assert learned[(HOANG_DIEU_EDGE, True, 17)] == own[(HOANG_DIEU_EDGE, True, 17)]  # enough of its own
    pooled_speed, pooled_n = learned[(HOANG_DIEU_EDGE, True, 18)]
    assert pooled_n == own[(HOANG_DIEU_EDGE, True, 17)][1] + own[(HOANG_DIEU_EDGE, True, 18)][1]
    assert 20.0 < pooled_speed < 30.0
    assert learned[(HOANG_DIEU_EDGE, True, 16)] == own[(HOANG_DIEU_EDGE, True, 17)]  # none: the neighbour's


async def test_edges_without_traversals_run_at_their_class_factor_not_free_flow(
    conn: psycopg.AsyncConnection, db: psycopg.Connection, drive: Drive
) -> None:
    # Both stretches of Điện Biên Phủ are primary roads; only the western one is driven, at half
    # its profile speed. The eastern one, in the same area, is routed at its class's factor.
    row = db.execute(
        "SELECT speed_kmh, ST_Y(ST_LineInterpolatePoint(geom, 0.2)), ST_X(ST_LineInterpolatePoint(geom, 0.2)),"
        " ST_Y(ST_LineInterpolatePoint(geom, 0.8)), ST_X(ST_LineInterpolatePoint(geom, 0.8))"
        " FROM road_edges WHERE id = %s",
        (DBP_EAST,),
    ).fetchone()
    assert row is not None
    profile_kmh, lat1, lon1, lat2, lon2 = row
    a, b = RoutePoint(lat1, lon1, 93.0), RoutePoint(lat2, lon2)
    at = local(11, 30).astimezone(UTC)
    before = await route(conn, a, b, at)
    await drive([(DBP_WEST, True)], local(11), profile_kmh / 2, times=4)

    await learn(conn)

    assert (DBP_EAST, True, 11) not in await speeds(conn)
    cur = await conn.execute(
        "SELECT area, factor FROM road_area_factors WHERE highway = 'primary' AND hour = 11"
    )
    factors = dict(await cur.fetchall())
    assert factors[-1] == pytest.approx(2.0, rel=0.08)
    filled = await speeds(conn, "class")
    assert filled[(DBP_EAST, True, 11)][0] == pytest.approx(profile_kmh / 2, rel=0.08)
    assert (DBP_WEST, True, 11) not in filled  # it has its own
    after = await route(conn, a, b, at)
    assert after.duration_s > 1.7 * before.duration_s


async def test_a_second_run_reads_only_the_new_hours_and_equals_a_full_run(
    conn: psycopg.AsyncConnection, db: psycopg.Connection, drive: Drive
) -> None:
    await drive([(HOANG_DIEU_EDGE, True)], local(9), 30.0, times=5)
    await drive([(DBP_WEST, True), (DBP_EAST, True)], local(9, 50), 40.0, waits={0: 25.0})
    settings = RoutingSettings(learn_reprocess_hours=1)
    first = await learn_speeds(conn, SINCE, SINCE + timedelta(hours=12), settings)
    assert first.hours == 12

    await drive([(HOANG_DIEU_EDGE, True)], local(15), 20.0, times=4)
    await drive([(DBP_WEST, True), (DBP_EAST, True)], local(16), 30.0, waits={0: 50.0}, times=2)
    # A fix stored into an hour already read, after it was read: the next run does not see it,
    # which shows it reads no hour but the new ones (and the one it reads again for late uploads).
    await drive([(NTP_SOUTHBOUND, True)], local(5), 35.0)
    second = await learn_speeds(conn, SINCE, UNTIL, settings)
    assert second.hours == 12 + 1
    assert second.read_from == SINCE + timedelta(hours=11)
    incremental = await speeds(conn)
    assert not any(edge == NTP_SOUTHBOUND for edge, _, _ in incremental)

    await conn.execute("DELETE FROM positions WHERE fix_time < %s", (local(6).astimezone(UTC),))
    await _forget(conn)
    full = await learn_speeds(conn, SINCE, UNTIL, settings)
    assert full.hours == 24
    assert await speeds(conn) == incremental


async def test_learning_again_over_the_same_period_gives_the_same_rows(
    conn: psycopg.AsyncConnection, drive: Drive
) -> None:
    await drive([(HOANG_DIEU_EDGE, True)], local(10), 25.0, times=5)
    await drive([(HOANG_DIEU_EDGE, False)], local(21), 35.0, times=5)
    # A row no traversal of the period supports (an edge gone, or fixes aged out) goes.
    await conn.execute(
        "INSERT INTO road_speeds (edge_id, forward, hour, speed_kmh, samples, p50_kmh) VALUES (1, true, 3, 9, 99, 9)"
    )

    first = await learn(conn, RoutingSettings())
    cur = await conn.execute("SELECT * FROM road_speeds ORDER BY edge_id, forward, hour")
    rows = await cur.fetchall()
    second = await learn(conn, RoutingSettings())
    cur = await conn.execute("SELECT * FROM road_speeds ORDER BY edge_id, forward, hour")

    assert (first.removed, first.written) == (1, first.cells + first.filled)
    assert (second.removed, second.written, second.cells, second.filled) == (0, 0, first.cells, first.filled)
    assert await cur.fetchall() == rows  # updated_at included: nothing changed
    assert not any(r[0] == 1 for r in rows)


async def test_one_tracker_process_runs_the_periodic_job(
    conn: psycopg.AsyncConnection, drive: Drive, database_url: str
) -> None:
    await drive([(HOANG_DIEU_EDGE, True)], local(10), 40.0, times=8)  # two days ago: within 28 days
    three_days = RoutingSettings(learn_days=3)  # the fixes are two days old; fewer hours to read
    first, second = SpeedLearningJob(database_url, three_days), SpeedLearningJob(database_url, three_days)
    try:
        report = await first.run_once()
        assert report is not None and report.usable >= 1
        assert await second.run_once() is None  # the first leads
        await first.close()  # its backend ends a moment later, and the second takes over
        for _ in range(50):
            if await second.run_once() is not None:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the second job never took over")
    finally:
        await first.close()
        await second.close()
    assert (await speeds(conn))[(HOANG_DIEU_EDGE, True, 10)][0] == pytest.approx(40.0, rel=0.04)


async def test_the_periodic_job_learns_every_period_until_cancelled(
    conn: psycopg.AsyncConnection, drive: Drive, database_url: str
) -> None:
    await drive([(HOANG_DIEU_EDGE, True)], local(10), 40.0, times=8)
    off = SpeedLearningJob(database_url, RoutingSettings(learn_interval_s=0))
    await asyncio.wait_for(off.run(), 1)  # returns at once: the job is off
    job = SpeedLearningJob(database_url, RoutingSettings(learn_interval_s=0.3, learn_days=3), first_delay_s=0)
    task = asyncio.create_task(job.run())
    try:
        for _ in range(600):
            if job.last is not None:
                break
            await asyncio.sleep(0.05)
        assert job.last is not None and job.last.usable >= 1
        first = job.last
        for _ in range(100):
            if job.last is not first:
                break
            await asyncio.sleep(0.05)
        assert job.last is not first and job.last.hours <= 2  # and again one period later, incrementally
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_cli_learn_speeds_shows_progress(
    db: psycopg.Connection, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from admin import cli

    assert cli.main(["--database-url", database_url, "learn-speeds", "--days", "1"]) == 0
    captured = capsys.readouterr()
    assert "learned traversal times over" in captured.out
    assert "learn-speeds: learning from the fixes of the last 1 days…" in captured.err
    assert "learn-speeds: learning from the fixes of the last 1 days: done in" in captured.err
