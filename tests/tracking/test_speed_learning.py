"""Speeds learned from stored fixes: matched to the edge and direction driven, in their local hour,
robust to outliers, used by routing only from the minimum sample count, and idempotent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from fixes.model import Fix
from fixes.positions import PartitionCache, prepare_connection, store_fixes
from roads.routing import LOCAL_TIME, RoutePoint, route
from roads.settings import RoutingSettings
from roads.speed_learning import LearnReport, SpeedLearningJob, learn_speeds

# Hoàng Diệu, two-way, north-south; Nguyễn Tri Phương's southbound carriageway, one-way (see
# test_routing.py).
HOANG_DIEU_EDGE = 6553773195875190095
NTP_SOUTHBOUND = 1061774151746096908
DAY = (datetime.now(LOCAL_TIME) - timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
SINCE, UNTIL = DAY.astimezone(UTC), (DAY + timedelta(days=1)).astimezone(UTC)
EXACT = RoutingSettings(learn_smooth_hours=0)  # every cell from its own hour only
MIN = EXACT.learned_min_samples

Spot = tuple[float, float, float]  # lat, lon, the edge's bearing there (degrees from north)
Store = Callable[..., Awaitable[None]]


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[psycopg.AsyncConnection]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as c:
        await c.execute("DELETE FROM road_speeds")
        yield c
        await c.execute("DELETE FROM road_speeds")


@pytest.fixture
async def store(conn: psycopg.AsyncConnection, db: psycopg.Connection, vehicle: tuple[int, str]) -> Store:
    """store(spots, hour, kmh, reverse=False, course=...): one fix per spot, 5 s apart from
    `hour`:00 local time on DAY, driving along the edge (or against it)."""
    vehicle_id, device_id = vehicle
    await prepare_connection(conn)
    partitions = PartitionCache()
    used: set[datetime] = set()

    async def put(spots: list[Spot], hour: int, kmh: float | list[float], reverse: bool = False) -> None:
        speeds = kmh if isinstance(kmh, list) else [kmh] * len(spots)
        start = DAY + timedelta(hours=hour)
        while start in used:  # another drive in the same hour: 10 minutes later
            start += timedelta(minutes=10)
        used.add(start)
        fixes = []
        for i, ((lat, lon, bearing), speed) in enumerate(zip(spots, speeds, strict=True)):
            when = (start + timedelta(seconds=5 * i)).astimezone(UTC)
            course = (bearing + (180.0 if reverse else 0.0)) % 360
            fixes.append(
                Fix(device_id, vehicle_id, when, when, lat, lon, "mqtt_json", speed_kmh=speed, course=course)
            )
        await partitions.ensure(conn, fixes)
        assert len(await store_fixes(conn, fixes)) == len(fixes)

    return put


def spots_along(db: psycopg.Connection, edge_id: int, count: int) -> list[Spot]:
    """`count` spots spread over the middle of an edge, with its bearing at each."""
    rows = db.execute(
        """
        SELECT ST_Y(p), ST_X(p), degrees(ST_Azimuth(
                   ST_Transform(ST_LineInterpolatePoint(geom, greatest(f - 0.02, 0)), 3857),
                   ST_Transform(ST_LineInterpolatePoint(geom, least(f + 0.02, 1)), 3857)))
        FROM road_edges, generate_series(0, %(n)s - 1) AS i,
             LATERAL (SELECT 0.2 + 0.6 * i / greatest(%(n)s - 1, 1) AS f) t,
             LATERAL (SELECT ST_LineInterpolatePoint(geom, f) AS p) q
        WHERE id = %(edge)s ORDER BY i
        """,
        {"edge": edge_id, "n": count},
    ).fetchall()
    assert len(rows) == count, f"edge {edge_id} is not in the network"
    return [(float(lat), float(lon), float(bearing)) for lat, lon, bearing in rows]


async def speeds(conn: psycopg.AsyncConnection) -> dict[tuple[int, bool, int], tuple[float, int, float]]:
    cur = await conn.execute("SELECT edge_id, forward, hour, speed_kmh, samples, p50_kmh FROM road_speeds")
    return {(e, f, h): (s, n, p) for e, f, h, s, n, p in await cur.fetchall()}


async def learn(conn: psycopg.AsyncConnection, settings: RoutingSettings = EXACT) -> LearnReport:
    return await learn_speeds(conn, SINCE, UNTIL, settings)


async def test_fixes_along_an_edge_learn_its_speed_in_its_direction_and_local_hour(
    conn: psycopg.AsyncConnection, db: psycopg.Connection, store: Store
) -> None:
    spots = spots_along(db, HOANG_DIEU_EDGE, 30)
    await store(spots, 10, 23.0)
    await store(spots, 10, 31.0, reverse=True)
    await store(spots[:3], 10, 2.0)  # crawling: left out

    report = await learn(conn)

    assert (report.fixes, report.matched, report.cells, report.usable) == (60, 60, 2, 2)
    assert await speeds(conn) == {
        (HOANG_DIEU_EDGE, True, 10): (23.0, 30, 23.0),
        (HOANG_DIEU_EDGE, False, 10): (31.0, 30, 31.0),
    }


async def test_a_fix_against_a_one_way_edge_is_not_matched_to_it(
    conn: psycopg.AsyncConnection, db: psycopg.Connection, store: Store
) -> None:
    spots = spots_along(db, NTP_SOUTHBOUND, 25)
    await store(spots, 8, 35.0, reverse=True)
    await store(spots, 9, 35.0)

    await learn(conn)

    learned = await speeds(conn)
    assert learned[(NTP_SOUTHBOUND, True, 9)][:2] == (35.0, 25)
    # Northbound there is another edge (the other carriageway), or none: never this one.
    assert not any(edge == NTP_SOUTHBOUND and hour == 8 for edge, _, hour in learned)
    assert (NTP_SOUTHBOUND, False, 9) not in learned


async def test_a_few_absurd_speeds_move_neither_the_median_nor_the_mean(
    conn: psycopg.AsyncConnection, db: psycopg.Connection, store: Store
) -> None:
    spots = spots_along(db, HOANG_DIEU_EDGE, 46)
    kmh = [30.0] * 40 + [140.0, 145.0, 149.0, 5.5, 400.0, 900.0]
    await store(spots, 14, kmh)

    await learn(conn)

    speed, samples, p50 = (await speeds(conn))[(HOANG_DIEU_EDGE, True, 14)]
    assert samples == 44  # 400 and 900 km/h are not speeds at all
    assert (p50, speed) == (30.0, 30.0)  # the other four are trimmed off the mean


async def test_routing_uses_a_learned_speed_from_the_minimum_sample_count(
    conn: psycopg.AsyncConnection, db: psycopg.Connection, store: Store
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
    at = (DAY + timedelta(hours=7, minutes=30)).astimezone(UTC)
    profile = await route(conn, a, b, at)

    spots = spots_along(db, HOANG_DIEU_EDGE, MIN)
    await store(spots[:-1], 7, 12.0)
    await learn(conn)
    assert (await speeds(conn))[(HOANG_DIEU_EDGE, True, 7)][1] == MIN - 1
    assert (await route(conn, a, b, at)).duration_s == pytest.approx(profile.duration_s)

    await store(spots[-1:], 7, 12.0)
    await learn(conn)
    learned = await route(conn, a, b, at)
    assert learned.duration_s == pytest.approx(0.4 * length * 3.6 / 12.0, rel=0.01)
    assert learned.duration_s > 1.5 * profile.duration_s
    # Another hour keeps the profile.
    assert (await route(conn, a, b, at + timedelta(hours=3))).duration_s == pytest.approx(profile.duration_s)


async def test_thin_hours_pool_the_hours_next_to_them(
    conn: psycopg.AsyncConnection, db: psycopg.Connection, store: Store
) -> None:
    spots = spots_along(db, HOANG_DIEU_EDGE, 30)
    await store(spots, 17, 20.0)
    await store(spots[:5], 18, 26.0)

    await learn(conn, EXACT)
    assert (await speeds(conn))[(HOANG_DIEU_EDGE, True, 18)] == (26.0, 5, 26.0)  # too few: ignored

    await learn(conn, RoutingSettings(learn_smooth_hours=1))
    learned = await speeds(conn)
    assert learned[(HOANG_DIEU_EDGE, True, 17)] == (20.0, 30, 20.0)  # enough of its own
    assert learned[(HOANG_DIEU_EDGE, True, 18)][1:] == (35, 20.0)  # pooled with 17:00
    assert learned[(HOANG_DIEU_EDGE, True, 16)][1] == 30  # an hour with none gets its neighbour's


async def test_learning_again_over_the_same_period_gives_the_same_rows(
    conn: psycopg.AsyncConnection, db: psycopg.Connection, store: Store
) -> None:
    spots = spots_along(db, HOANG_DIEU_EDGE, 30)
    await store(spots, 10, [20.0 + i % 7 for i in range(30)])
    await store(spots, 21, [35.0 + i % 5 for i in range(30)], reverse=True)
    # A row no fix of the period supports (an edge gone, or fixes aged out) goes.
    await conn.execute(
        "INSERT INTO road_speeds (edge_id, forward, hour, speed_kmh, samples, p50_kmh) VALUES (1, true, 3, 9, 99, 9)"
    )

    first = await learn(conn, RoutingSettings())
    cur = await conn.execute("SELECT * FROM road_speeds ORDER BY edge_id, forward, hour")
    rows = await cur.fetchall()
    second = await learn(conn, RoutingSettings())
    cur = await conn.execute("SELECT * FROM road_speeds ORDER BY edge_id, forward, hour")

    assert (first.removed, first.written) == (1, first.cells)
    assert (second.removed, second.written, second.cells) == (0, 0, first.cells)
    assert await cur.fetchall() == rows  # updated_at included: nothing changed
    assert not any(r[0] == 1 for r in rows)


async def test_one_tracker_process_runs_the_periodic_job(
    conn: psycopg.AsyncConnection, db: psycopg.Connection, store: Store, database_url: str
) -> None:
    await store(spots_along(db, HOANG_DIEU_EDGE, 25), 10, 40.0)  # two days ago: within 28 days
    first, second = SpeedLearningJob(database_url), SpeedLearningJob(database_url)
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
    assert (await speeds(conn))[(HOANG_DIEU_EDGE, True, 10)][:2] == (40.0, 25)


async def test_the_periodic_job_learns_every_period_until_cancelled(
    conn: psycopg.AsyncConnection, db: psycopg.Connection, store: Store, database_url: str
) -> None:
    await store(spots_along(db, HOANG_DIEU_EDGE, 25), 10, 40.0)
    off = SpeedLearningJob(database_url, RoutingSettings(learn_interval_s=0))
    await asyncio.wait_for(off.run(), 1)  # returns at once: the job is off
    job = SpeedLearningJob(database_url, RoutingSettings(learn_interval_s=0.3), first_delay_s=0)
    task = asyncio.create_task(job.run())
    try:
        for _ in range(100):
            if job.last is not None:
                break
            await asyncio.sleep(0.05)
        assert job.last is not None and job.last.usable >= 1
        first = job.last
        for _ in range(100):
            if job.last is not first:
                break
            await asyncio.sleep(0.05)
        assert job.last is not first  # and again one period later
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
    assert "learned speeds from" in captured.out
    assert "learn-speeds: learning from the fixes of the last 1 days…" in captured.err
    assert "learn-speeds: learning from the fixes of the last 1 days: done in" in captured.err
