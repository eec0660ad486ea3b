"""The emulator plays a breakdown: a followed ambulance stops on its way to the scene, the desk
re-dispatches the journey to the fastest available unit through the real API, and the broken one
is back in service after its repair time."""

from __future__ import annotations

import asyncio
import random
import time

import psycopg

from accounts.access import create_api_key
from device_emulator.dispatch import ApiClient, Breakdowns, DispatchFollower
from device_emulator.fleet import Phase
from device_emulator.roads import load_road_graph
from device_emulator.tracker import FleetConfig, build_fleet
from tests.device_emulator.test_emu_dispatch import make_vehicle, run_until
from tracking.fleet import seed_demo_fleet


def test_a_broken_down_vehicle_stands_still_then_drives_on() -> None:
    vehicle = make_vehicle(load_road_graph())
    vehicle.assign(300, None, "call")
    run_until(vehicle, Phase.TO_SCENE)
    for _ in range(5):
        vehicle.step(1.0)
    vehicle.break_down(30)
    stopped = [vehicle.step(1.0) for _ in range(29)]
    assert {(s.lat, s.lon, s.speed_kmh) for s in stopped} == {(stopped[0].lat, stopped[0].lon, 0.0)}
    assert vehicle.broken
    moving = [vehicle.step(1.0) for _ in range(20)]
    assert not vehicle.broken and any(s.speed_kmh > 0 for s in moving)


def test_breakdowns_are_drawn_at_the_rate() -> None:
    draws = [Breakdowns(0.25, rng=random.Random(3)).draw() for _ in range(1)]
    assert draws
    some = Breakdowns(0.25, rng=random.Random(3))
    hits = sum(some.draw() is not None for _ in range(4000))
    assert 800 < hits < 1200
    assert Breakdowns(0.0).draw() is None


def test_the_follower_re_dispatches_a_broken_down_journey(api_server: str, db: psycopg.Connection) -> None:
    vehicles = seed_demo_fleet(db, 2, "bd-")
    key = create_api_key(db, "emulator breakdown test", "dispatcher")
    trackers = build_fleet(
        FleetConfig(vehicles=2, device_prefix="bd-", follow_dispatch=True, dwell_scale=0.01)
    )
    # Both on the road network with a fresh fix, so that the second one is the fastest available.
    for v, tracker in zip(vehicles, trackers, strict=True):
        sample = tracker.vehicle.sample()
        db.execute(
            "INSERT INTO vehicle_latest (vehicle_id, device_id, fix_time, received_at, geom, speed_kmh)"
            " VALUES (%s, %s, now(), now(), ST_SetSRID(ST_MakePoint(%s, %s), 4326), 0)",
            (v.id, tracker.device_id, sample.lon, sample.lat),
        )

    async def scenario() -> tuple[int, int]:
        api = ApiClient(api_server, key)
        breakdowns = Breakdowns(1.0, repair_s=0.5, rng=random.Random(1), delay_s=(0.0, 0.0))
        follower = DispatchFollower(api, trackers, trackers[0].vehicle.graph, breakdowns)
        try:
            lat, lon = trackers[0].vehicle.graph.node_latlon(200)
            body = {"vehicle_id": vehicles[0].id, "incident": {"lat": lat, "lon": lon}, "priority": 1}
            journey = (await api.post("/api/v1/journeys", body)).json()
            await follower.poll()  # takes the journey
            first = trackers[0].vehicle
            for _ in range(600):
                if first.step(1.0).phase is Phase.TO_SCENE:
                    break
            await follower.poll()  # breaks down on the way: re-dispatched
            assert first.broken
            now = await api.get(f"/api/v1/journeys/{journey['id']}")
            time.sleep(0.6)
            await follower.poll()  # repaired: back in service
            return journey["id"], now["vehicle_id"]
        finally:
            await api.close()

    journey_id, vehicle_now = asyncio.run(scenario())
    assert vehicle_now == vehicles[1].id
    leg = db.execute(
        "SELECT vehicle_id, end_reason FROM journey_legs WHERE journey_id = %s", (journey_id,)
    ).fetchone()
    assert leg == (vehicles[0].id, "breakdown")
    state = db.execute(
        "SELECT unit_status FROM vehicle_state WHERE vehicle_id = %s", (vehicles[0].id,)
    ).fetchone()
    assert state == ("available",)
