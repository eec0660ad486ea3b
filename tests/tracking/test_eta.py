"""ETAs kept current cheaply: a route from pgRouting, then progress along it until the vehicle
strays, the route ages, or the target changes; the hospital's inbound list built on them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tracking import journeys
from tracking.eta import EtaPolicy, hospital_inbound, journey_eta, standing_s, update_etas

SON_TRA = (16.0570921, 108.2355425)  # sample station 2, on the network
DA_NANG_HOSPITAL = "Bệnh viện Đà Nẵng"
SCENE = (16.0612, 108.2240)  # on the network, a few km from Sơn Trà


async def scene_journey(conn: psycopg.AsyncConnection, vehicle_id: int, hospital_id: int) -> dict[str, Any]:
    """A journey of the vehicle to SCENE, then to the hospital."""
    journey, _ = await journeys.create_journey(conn, vehicle_id, *SCENE, "scene", 1, hospital_id, 150, "t")
    return journey


async def along_route(conn: psycopg.AsyncConnection, journey_id: int, share: float) -> tuple[float, float]:
    """(lat, lon) a share of the way along the journey's held route."""
    cur = await conn.execute(
        "SELECT ST_Y(p), ST_X(p) FROM (SELECT ST_LineInterpolatePoint(route_geom, %s) AS p"
        " FROM journey_eta WHERE journey_id = %s) q",
        (share, journey_id),
    )
    row = await cur.fetchone()
    assert row is not None
    return float(row[0]), float(row[1])


def place_vehicle(
    db: psycopg.Connection,
    vehicle_id: int,
    device: str,
    lat: float,
    lon: float,
    seconds_ago: float = 1,
    course: float | None = None,
) -> None:
    when = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    db.execute(
        """
        INSERT INTO vehicle_latest (vehicle_id, device_id, fix_time, received_at, geom, speed_kmh, course)
        VALUES (%s, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), 40, %s)
        ON CONFLICT (vehicle_id) DO UPDATE SET fix_time = EXCLUDED.fix_time, geom = EXCLUDED.geom, course = EXCLUDED.course
        """,
        (vehicle_id, device, when, when, lon, lat, course),
    )


@pytest.fixture
def hospital_id(db: psycopg.Connection) -> int:
    row = db.execute("SELECT id FROM hospitals WHERE name_vi = %s", (DA_NANG_HOSPITAL,)).fetchone()
    assert row is not None
    return int(row[0])


async def test_route_then_progress_then_recompute(
    db: psycopg.Connection, database_url: str, vehicle: tuple[int, str], hospital_id: int
) -> None:
    vehicle_id, device = vehicle
    place_vehicle(db, vehicle_id, device, *SON_TRA)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        journey = await scene_journey(conn, vehicle_id, hospital_id)
        await journeys.set_status(conn, journey["id"], "transporting", "crew", "t")
        (first,) = await update_etas(conn, [vehicle_id])
        assert first["target"] == "hospital" and 2_000 < first["remaining_m"] < 8_000
        assert 120 < first["remaining_s"] < 900
        # Move half-way along the held route: progress only, no new route.
        lat, lon = await along_route(conn, journey["id"], 0.5)
        place_vehicle(db, vehicle_id, device, lat, lon, seconds_ago=0)
        (second,) = await update_etas(conn, [vehicle_id])
        assert second["computed_at"] == first["computed_at"]  # followed, not routed again
        assert second["remaining_m"] == pytest.approx(first["remaining_m"] / 2, rel=0.05)
        # Stray 500 m off the route: a new route.
        place_vehicle(db, vehicle_id, device, lat + 0.0045, lon, seconds_ago=0)
        (third,) = await update_etas(conn, [vehicle_id])
        assert third["computed_at"] != first["computed_at"]
        # A stale route is computed again even on the route.
        (fourth,) = await update_etas(conn, [vehicle_id], EtaPolicy(recompute_s=0))
        assert fourth["computed_at"] != third["computed_at"]
        inbound = await hospital_inbound(conn, hospital_id)
        assert [(i["call_sign"], i["status"], i["eta_s"]) for i in inbound] == [
            ("115-T1", "transporting", fourth["remaining_s"])
        ]
        assert inbound[0]["arrival_at"] == fourth["arrival_at"] and inbound[0]["fix_age_s"] < 30
        # On arrival at the hospital the journey no longer heads anywhere: its ETA row goes.
        await journeys.set_status(conn, journey["id"], "at_hospital", "crew", "t")
        assert await update_etas(conn, [vehicle_id]) == []
        assert await journey_eta(conn, journey["id"]) is None
        assert (await hospital_inbound(conn, hospital_id))[0]["eta_s"] == 0


async def test_progress_along_a_route_leaves_what_its_profile_says_is_left(
    db: psycopg.Connection, database_url: str, vehicle: tuple[int, str], hospital_id: int
) -> None:
    vehicle_id, device = vehicle
    place_vehicle(db, vehicle_id, device, *SON_TRA)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute("DELETE FROM eta_calibration")  # the router's seconds as they are
        journey = await scene_journey(conn, vehicle_id, hospital_id)
        (first,) = await update_etas(conn, [vehicle_id])
        cur = await conn.execute(
            "SELECT route_distance_m, route_duration_s, route_profile_m, route_profile_s FROM journey_eta"
            " WHERE journey_id = %s",
            (journey["id"],),
        )
        distance, duration, metres, seconds = await cur.fetchone()  # type: ignore[misc]
        assert metres[0] == seconds[0] == 0 and len(metres) == len(seconds) >= 4
        assert metres[-1] == pytest.approx(distance) and seconds[-1] == pytest.approx(duration)
        assert round(duration) == first["remaining_s"]
        # A long red light 10 % along the route: its wait is behind a vehicle half-way along.
        at_light = 0.1 * distance
        wait = 0.4 * duration
        await conn.execute(
            "UPDATE journey_eta SET route_profile_m = %s, route_profile_s = %s, route_duration_s = %s"
            " WHERE journey_id = %s",
            (
                [0.0, at_light, distance],
                [0.0, 0.1 * duration + wait, duration + wait],
                duration + wait,
                journey["id"],
            ),
        )
        lat, lon = await along_route(conn, journey["id"], 0.5)
        place_vehicle(db, vehicle_id, device, lat, lon, seconds_ago=0)
        (half,) = await update_etas(conn, [vehicle_id])
        assert half["computed_at"] == first["computed_at"]  # followed
        # Half of the driving is left, none of the wait (by distance alone: half of both).
        assert half["remaining_s"] == pytest.approx(0.5 * duration, rel=0.05)


async def test_heading_to_the_scene_reports_the_scene_eta(
    db: psycopg.Connection, database_url: str, vehicle: tuple[int, str], hospital_id: int
) -> None:
    vehicle_id, device = vehicle
    place_vehicle(db, vehicle_id, device, *SON_TRA)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await scene_journey(conn, vehicle_id, hospital_id)
        (eta,) = await update_etas(conn, [vehicle_id])
        assert eta["target"] == "scene"
        (item,) = await hospital_inbound(conn, hospital_id)
        assert item["eta_s"] is None and item["scene_eta_s"] == eta["remaining_s"]


async def test_routes_per_update_are_budgeted_most_needed_first(
    db: psycopg.Connection, database_url: str, hospital_id: int
) -> None:
    from tracking.fleet import register_device, register_vehicle

    vehicles = []
    for i in range(3):
        v = register_vehicle(db, f"43A4000{i}", f"115-R{i}")
        register_device(db, f"dev-r{i}", "mqtt_json", v.plate)
        place_vehicle(db, v.id, f"dev-r{i}", *SON_TRA)
        vehicles.append(v.id)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        for v in vehicles:
            await scene_journey(conn, v, hospital_id)
        first = await update_etas(conn, vehicles, EtaPolicy(max_routes=2))
        assert len(first) == 2  # the third waits for the next update
        for i, v in enumerate(vehicles):  # a new fix for everyone
            place_vehicle(db, v, f"dev-r{i}", *SON_TRA, seconds_ago=0)
        second = await update_etas(conn, vehicles, EtaPolicy(max_routes=1))
        # The one without a route goes first; the other two move along theirs.
        kept = {e["computed_at"] for e in first} & {e["computed_at"] for e in second}
        assert len(second) == 3 and len(kept) == 2


def test_how_long_a_unit_has_stood_comes_from_its_rules_memory_and_a_bad_one_is_not_known() -> None:
    fix_time = datetime(2026, 12, 5, 8, 0, 30, tzinfo=UTC)
    row = {"fix_time": fix_time, "stopped_since": "2026-12-05T08:00:00+00:00"}
    assert standing_s(row) == 30.0
    assert standing_s({**row, "stopped_since": "2026-12-05T08:01:00+00:00"}) == 0.0  # a clock's jitter
    for unknown in (None, "soon", "2026-12-05T08:00:00"):  # none, corrupt, without its zone
        assert standing_s({**row, "stopped_since": unknown}) is None
