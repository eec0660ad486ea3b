"""ETAs calibrated by the fleet's own arrivals: routed predictions become outcomes when their
journey arrives, the bands' quantiles correct the ETA and give its p10-p90 arrival window."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.tracking.test_eta import SON_TRA, place_vehicle, scene_journey
from tracking import journeys
from tracking.eta import hospital_inbound, update_etas
from tracking.eta_calibration import (
    VEHICLE_SHRINK_N,
    calibrate,
    calibrate_etas,
    eta_accuracy,
    eta_windows,
    hour_band,
    length_band,
)
from tracking.fleet import register_vehicle


@pytest.fixture
def hospital_id(db: psycopg.Connection) -> int:
    row = db.execute("SELECT id FROM hospitals WHERE name_vi = 'Bệnh viện Đà Nẵng'").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[psycopg.AsyncConnection]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as c:
        await clear(c)
        yield c
        await clear(c)


async def clear(conn: psycopg.AsyncConnection) -> None:
    for table in ("eta_outcomes", "eta_calibration", "eta_vehicle_factors"):
        await conn.execute(f"DELETE FROM {table}")


async def test_without_outcomes_an_eta_is_the_route_with_an_assumed_window(
    conn: psycopg.AsyncConnection,
) -> None:
    now = datetime.now(UTC)
    assert await eta_windows(conn, [now], [600.0]) == [pytest.approx((600.0, 510.0, 780.0))]


async def test_the_bands_applied_are_the_bands_learned(conn: psycopg.AsyncConnection) -> None:
    day = datetime(2026, 3, 2, tzinfo=UTC)
    ats = [day + timedelta(minutes=20 * i) for i in range(72)]
    seconds = [float(s) for s in (0.5, 60, 119.9, 120, 299, 300, 899.5, 900, 5000)]
    pairs = [(a, s) for a in ats for s in seconds]
    cur = await conn.execute(
        "SELECT eta_hour_band(a), eta_length_band(s)"
        " FROM unnest(%s::timestamptz[], %s::float8[]) WITH ORDINALITY AS u(a, s, i) ORDER BY i",
        ([a for a, _ in pairs], [s for _, s in pairs]),
    )
    assert await cur.fetchall() == [(hour_band(a), length_band(s)) for a, s in pairs]


async def test_outcomes_set_the_median_and_the_window_of_their_band(conn: psycopg.AsyncConnection) -> None:
    at = datetime(2026, 3, 2, 1, 15, tzinfo=UTC)  # 8:15 in Da Nang: hour band 2
    # 100 ten-minute predictions: arrivals 1.00-1.99 times as long (too early, as routers are).
    ratios = [1.0 + i / 100 for i in range(100)]
    await conn.execute(
        "INSERT INTO eta_outcomes (at, predicted_s, actual_s, target_kind)"
        " SELECT %s, 600, 600 * r, 'scene' FROM unnest(%s::float8[]) r",
        (at, ratios),
    )
    # ... and 60 short ones at night, right on time.
    night = at.replace(hour=17)
    await conn.execute(
        "INSERT INTO eta_outcomes (at, predicted_s, actual_s, target_kind)"
        " SELECT %s, 90, 90, 'scene' FROM generate_series(1, 60)",
        (night,),
    )

    # An hour band needs MIN_HOUR_SAMPLES outcomes (a day of a small fleet's is its noise): the
    # scenes' length bands over all hours (scene, -1, 2) and (scene, -1, 0), the same over both
    # targets ('any', -1, 2) and ('any', -1, 0), and everything ('any', -1, -1).
    assert await calibrate(conn, at + timedelta(days=1)) == (160, 5, 0)
    # With fewer needed, the hour bands (scene, 2, 2) and (scene, 0, 0) too.
    assert await calibrate(conn, at + timedelta(days=1), min_hour_samples=50) == (160, 7, 0)

    (peak, other_hour, short, long_) = await eta_windows(
        conn, [at, at.replace(hour=7), at, at], [600.0, 600.0, 90.0, 2000.0]
    )
    assert peak == pytest.approx((600 * shrunk(ratios), 600 * 1.099, 600 * 1.891))
    assert (
        1.2 < shrunk(ratios) <= best_factor(ratios) < 1.495
    )  # not the median ratio: nearer the many close ones
    assert other_hour == peak  # 14:15 has no band of its own: the length band over all hours
    assert short == pytest.approx((90.0, 90.0, 90.0))  # (2, 0) is empty: (-1, 0)
    assert long_[0] == pytest.approx(2000 * shrunk([*ratios, *[1.0] * 60]))
    # Outcomes older than the period go, and so does the calibration they made.
    assert await calibrate(conn, at + timedelta(days=30)) == (0, 0, 0)


async def test_scenes_and_hospitals_are_calibrated_apart(conn: psycopg.AsyncConnection) -> None:
    at = datetime(2026, 3, 2, 1, 15, tzinfo=UTC)
    # Arrivals at hospitals are detected 25 % later than predicted, at scenes on time.
    for kind, ratio in (("hospital", 1.25), ("scene", 1.0)):
        await conn.execute(
            "INSERT INTO eta_outcomes (at, predicted_s, actual_s, target_kind)"
            " SELECT %s, 200 + i, (200 + i) * %s * (0.95 + (i %% 11) / 100.0), %s FROM generate_series(1, 80) i",
            (at, ratio, kind),
        )
    await calibrate(conn, at + timedelta(hours=1))
    hospital, scene, either = await eta_windows(
        conn, [at] * 3, [250.0] * 3, targets=["hospital", "scene", None]
    )
    assert hospital[0] == pytest.approx(250 * 1.25, rel=0.04) and hospital[1] < hospital[0] < hospital[2]
    assert scene[0] == pytest.approx(250, rel=0.04)
    assert either[0] < hospital[0]  # a point: both targets' band


async def test_a_band_within_its_noise_leaves_the_eta_alone(conn: psycopg.AsyncConnection) -> None:
    at = datetime(2026, 3, 2, 1, 15, tzinfo=UTC)
    # 50 outcomes scattered widely: the best factor is 0.98, well within their noise.
    ratios = [1.02 + 0.6 * ((i * 37 % 50) / 49 - 0.5) for i in range(50)]
    await conn.execute(
        "INSERT INTO eta_outcomes (at, predicted_s, actual_s) SELECT %s, 600, 600 * r FROM unnest(%s::float8[]) r",
        (at, ratios),
    )
    await calibrate(conn, at + timedelta(hours=1))
    ((expected, _, _),) = await eta_windows(conn, [at], [600.0])
    assert best_factor(ratios) == pytest.approx(0.98)
    assert abs(expected / 600 - 1) < abs(best_factor(ratios) - 1) / 2
    assert expected == pytest.approx(600 * shrunk(ratios))


async def test_each_vehicle_keeps_its_own_pace(conn: psycopg.AsyncConnection, db: psycopg.Connection) -> None:
    slow = register_vehicle(db, "43A20001", "115-S1").id
    usual = register_vehicle(db, "43A20002", "115-S2").id
    now = datetime.now(UTC)
    # 400 outcomes each over the last week: one vehicle arrives 10 % later than the other.
    for vehicle, ratio in ((slow, 1.1), (usual, 1.0)):
        await conn.execute(
            "INSERT INTO eta_outcomes (at, predicted_s, actual_s, vehicle_id)"
            " SELECT %s - make_interval(hours => i %% 160), 300, 300 * %s, %s FROM generate_series(1, 400) i",
            (now, ratio, vehicle),
        )
    outcomes, _, vehicles = await calibrate(conn, now)
    assert vehicles == 2 and outcomes < 800  # bands: the last day's; vehicles: the week's
    fleet = 1.05  # the median of all 800
    own = {v: 1 + (r / fleet - 1) * 400 / (400 + VEHICLE_SHRINK_N) for v, r in ((slow, 1.1), (usual, 1.0))}
    (anyone, s, u) = await eta_windows(conn, [now] * 3, [600.0] * 3, [None, slow, usual])
    assert s == pytest.approx(tuple(x * own[slow] for x in anyone))
    assert u == pytest.approx(tuple(x * own[usual] for x in anyone))
    assert s[0] > anyone[0] > u[0]
    # A vehicle removed takes its factor with it.
    db.execute("DELETE FROM vehicles WHERE id = %s", (slow,))
    await calibrate(conn, now)
    (s,) = await eta_windows(conn, [now], [600.0], [slow])
    assert s == pytest.approx(anyone)


def best_factor(ratios: list[float]) -> float:
    """The correction 0.80-1.30 that makes the median plus the 90th percentile (percentile_cont's)
    of the relative errors smallest (the nearest to 1 among equals), as
    tracking/sql/eta_calibrate.sql chooses it."""

    def error(c: float) -> float:
        errors = [abs(c / r - 1) for r in ratios]
        return statistics.median(errors) + statistics.quantiles(errors, n=10, method="inclusive")[8]

    factors = [f / 100 for f in range(80, 131)]
    return min(factors, key=lambda c: (error(c), abs(c - 1)))


def shrunk(ratios: list[float]) -> float:
    """best_factor shrunk towards 1 by d² / (d² + se²), se the standard error of the median, as
    tracking/sql/eta_calibrate.sql writes it."""
    d = best_factor(ratios) - 1
    se2 = (1.2533 * statistics.pstdev(ratios)) ** 2 / len(ratios)
    return 1 + d**3 / (d**2 + se2) if d else 1.0


async def test_routed_etas_become_outcomes_and_are_calibrated_with_a_window(
    conn: psycopg.AsyncConnection, db: psycopg.Connection, vehicle: tuple[int, str], hospital_id: int
) -> None:
    vehicle_id, device = vehicle
    place_vehicle(db, vehicle_id, device, *SON_TRA)
    journey = await scene_journey(conn, vehicle_id, hospital_id)
    await journeys.set_status(conn, journey["id"], "transporting", "crew", "t")
    (raw,) = await update_etas(conn, [vehicle_id])
    assert raw["arrival_window"] is not None  # the assumed window, before any outcome
    cur = await conn.execute(
        "SELECT predicted_s FROM eta_predictions WHERE journey_id = %s", (journey["id"],)
    )
    (predicted_s,) = await cur.fetchone()  # type: ignore[misc]
    assert round(predicted_s) == raw["remaining_s"]

    # The fleet has been arriving 30 % later than predicted (every band).
    await conn.execute(
        "INSERT INTO eta_outcomes (at, predicted_s, actual_s)"
        " SELECT now() - make_interval(hours => i % 24), 300 + i, (300 + i) * (1.2 + (i % 21) / 100.0)"
        " FROM generate_series(1, 2000) i"
    )
    report = await calibrate_etas(conn)
    assert report.outcomes == 2000 and report.bands > 0
    place_vehicle(db, vehicle_id, device, *SON_TRA, seconds_ago=0)
    await conn.execute("UPDATE journey_eta SET computed_at = computed_at - interval '10 minutes'")
    (calibrated,) = await update_etas(conn, [vehicle_id])
    assert calibrated["remaining_s"] == pytest.approx(1.3 * predicted_s, rel=0.02)
    window = calibrated["arrival_window"]
    early, late = (datetime.fromisoformat(window[k]) for k in ("early_at", "late_at"))
    arrival = datetime.fromisoformat(calibrated["arrival_at"])
    assert early < arrival < late
    assert (late - early).total_seconds() == pytest.approx(0.16 * predicted_s, rel=0.1)
    (inbound,) = await hospital_inbound(conn, hospital_id)
    assert inbound["arrival_window"] == window and inbound["eta_s"] == calibrated["remaining_s"]

    # The ambulance arrives: its predictions become outcomes.
    await journeys.set_status(conn, journey["id"], "at_hospital", "crew", "t")
    before = (await (await conn.execute("SELECT count(*) FROM eta_outcomes")).fetchone())[0]  # type: ignore[index]
    report = await calibrate_etas(conn)
    assert (report.closed, report.collected) == (2, 2)
    assert report.outcomes == before + 2
    cur = await conn.execute("SELECT count(*) FROM eta_predictions WHERE journey_id = %s", (journey["id"],))
    assert (await cur.fetchone()) == (0,)

    # What was shown is kept with the outcome, the first ETA of the leg marked: the report reads it.
    cur = await conn.execute(
        "SELECT target_kind, first_of_leg, predicted_s, shown_s, early_s, late_s, actual_s FROM eta_outcomes"
        " WHERE journey_id = %s ORDER BY at",
        (journey["id"],),
    )
    first, second = await cur.fetchall()
    assert [r[:2] for r in (first, second)] == [("hospital", True), ("hospital", False)]
    assert first[3] == pytest.approx(first[2]) and second[3] == pytest.approx(1.3 * second[2], rel=0.02)
    assert first[4] < first[3] < first[5] and second[4] < second[3] < second[5]
    since = datetime.now(UTC) - timedelta(hours=1)
    rows = {(r.leg, r.which): r for r in await eta_accuracy(conn, since)}
    at_start = rows[("hospital", "true")]
    assert at_start.n == 1
    assert at_start.median == pytest.approx(abs(first[3] - first[6]) / first[6])
    assert at_start.bias == pytest.approx((first[3] - first[6]) / first[6])
    assert at_start.window == float(first[4] <= first[6] <= first[5])
    cur = await conn.execute("SELECT count(*) FROM eta_outcomes WHERE at >= %s", (since,))
    assert (await cur.fetchone()) == (rows[("all", "any")].n,)  # every outcome of the hour


async def test_amb_admin_eta_accuracy_prints_the_shown_etas_against_the_arrivals(
    conn: psycopg.AsyncConnection, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from admin import cli

    assert await asyncio.to_thread(cli.main, ["--database-url", database_url, "eta-accuracy"]) == 0
    assert "no arrival with an ETA" in capsys.readouterr().out
    # Ten scene ETAs at dispatch, shown 10 % early with a window that held 8 of the arrivals.
    await conn.execute(
        "INSERT INTO eta_outcomes (at, predicted_s, actual_s, journey_id, target_kind, first_of_leg,"
        " shown_s, early_s, late_s)"
        " SELECT now() - interval '5 minutes', 500, 500, i, 'scene', true, 450, 400, CASE WHEN i <= 8 THEN 600 ELSE 480 END"
        " FROM generate_series(1, 10) i"
    )
    assert await asyncio.to_thread(cli.main, ["--database-url", database_url, "eta-accuracy"]) == 0
    lines = capsys.readouterr().out.splitlines()
    scene = next(line for line in lines if line.startswith("scene") and "first ETA" in line)
    assert scene.split()[6:] == [
        "10",
        "10.0",
        "%",
        "10.0",
        "%",
        "-10.0",
        "%",
        "80",
        "%",
        "0.0",
        "%",
        "+0.0",
        "%",
        "8.3",
        "min",
    ]
