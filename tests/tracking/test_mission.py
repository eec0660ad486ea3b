"""End to end with the emulator: an ambulance drives a whole mission over Da Nang's roads
(station -> scene -> hospital -> station); its fixes are stored as the gateway stores them and the
tracking worker moves the journey through every status by itself, with the right timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from device_emulator.fleet import Phase
from device_emulator.tracker import FleetConfig, build_fleet
from fixes.model import Fix
from fixes.positions import PartitionCache, prepare_connection, store_fixes
from tests.tracking.conftest import RecordingWorker
from tracking import journeys, reports
from tracking.geofences import create_geofence

pytestmark = pytest.mark.slow


def drive_one_mission(seed: int) -> dict[str, Any]:
    """Simulate one vehicle at 1 Hz until it is back at its station; returns fixes and phase times."""
    (tracker,) = build_fleet(FleetConfig(vehicles=1, seed=seed, noise_m=3.0, dwell_scale=0.3))
    start = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    fixes, phases, places = [], {}, {}
    vehicle = tracker.vehicle
    back: datetime | None = None
    for second in range(1, 4 * 3600):
        when = start + timedelta(seconds=second)
        fixes.append(tracker.tick(when, 1.0))
        phase = vehicle.phase
        if phase not in phases:
            phases[phase] = when
            places[phase] = (vehicle.target, vehicle.target_name)
        if phase is Phase.IDLE and Phase.RETURNING in phases:
            back = back or when  # back at the station: stay a minute
            if when - back > timedelta(seconds=60):
                break
    phases["back"] = back
    return {"fixes": fixes, "phases": phases, "places": places, "vehicle": vehicle}


async def test_an_emulated_mission_goes_through_every_status(
    db: psycopg.Connection, database_url: str, vehicle: tuple[int, str], worker: RecordingWorker
) -> None:
    vehicle_id, device_id = vehicle
    run = drive_one_mission(seed=7)
    phases, places, graph = run["phases"], run["places"], run["vehicle"].graph
    assert set(phases) == {*Phase, "back"} and phases["back"], "the vehicle did not complete a mission"
    scene_lat, scene_lon = graph.node_latlon(places[Phase.TO_SCENE][0])
    hospital_name = places[Phase.TO_HOSPITAL][1]
    station_lat, station_lon = graph.node_latlon(run["vehicle"].station.node)
    hospital_id = db.execute("SELECT id FROM hospitals WHERE name_en = %s", (hospital_name,)).fetchone()[0]  # type: ignore[index]

    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        # The crew's base is drawn by a dispatcher as a station geofence.
        await create_geofence(
            conn,
            "Trạm thử",
            "station",
            {"type": "circle", "center": [station_lon, station_lat], "radius_m": 120},
            15.0,
        )
        journey, _ = await journeys.create_journey(
            conn, vehicle_id, scene_lat, scene_lon, "Hiện trường thử", 1, hospital_id, 150.0, "test"
        )
        dispatched = phases[Phase.TO_SCENE] - timedelta(seconds=45)
        await conn.execute(
            "UPDATE journeys SET dispatched_at = %s WHERE id = %s", (dispatched, journey["id"])
        )
        await conn.execute(
            "UPDATE journey_status_log SET at = %s WHERE journey_id = %s", (dispatched, journey["id"])
        )
        await prepare_connection(conn)
        partitions = PartitionCache()
        fixes = [
            Fix(
                device_id,
                vehicle_id,
                f.time,
                f.time,
                f.lat,
                f.lon,
                "mqtt_json",
                speed_kmh=f.speed_kmh,
                course=f.heading % 360,
            )
            for f in run["fixes"]
            if f.time >= dispatched
        ]
        for i in range(0, len(fixes), 300):  # as the gateway commits them, batch after batch
            await partitions.ensure(conn, fixes[i : i + 300])
            await store_fixes(conn, fixes[i : i + 300])
            await worker.drain()
        final = await journeys.get_journey(conn, journey["id"])
        report = await reports.journey_report(conn, journey["id"])
        replay = await reports.journey_replay(conn, journey["id"])

    assert final["status"] == "completed"
    stamp = {
        k: datetime.fromisoformat(final[f"{k}_at"])
        for k in ("en_route", "on_scene", "transporting", "at_hospital", "returning", "completed")
    }
    assert list(stamp.values()) == sorted(stamp.values())

    def near(actual: datetime, expected: datetime, slack_s: float) -> bool:
        return abs((actual - expected).total_seconds()) <= slack_s

    assert near(stamp["en_route"], phases[Phase.TO_SCENE], 15)  # moving within seconds of leaving
    assert near(stamp["on_scene"], phases[Phase.AT_SCENE], 20)  # the moment it stopped at the scene
    assert near(stamp["transporting"], phases[Phase.TO_HOSPITAL], 60)  # once out of the 150 m radius
    assert near(stamp["at_hospital"], phases[Phase.AT_HOSPITAL], 20)
    assert near(stamp["returning"], phases[Phase.RETURNING], 90)  # once out of the hospital's area
    assert near(stamp["completed"], phases["back"], 20)
    log = [(c["to_status"], c["source"]) for c in report["status_log"]]
    assert log == [("dispatched", "dispatcher")] + [(s, "rule") for s in stamp]
    assert report["intervals_s"]["response"] == pytest.approx(
        (stamp["on_scene"] - dispatched).total_seconds()
    )
    assert report["distance_m"] > 1000 and report["max_speed_kmh"] > 20
    statuses = [frame["status"] for frame in replay["frames"]]
    assert statuses[0] == "dispatched" and statuses[-1] == "completed"
    assert [s for i, s in enumerate(statuses) if i == 0 or s != statuses[i - 1]] == ["dispatched", *stamp]
    kinds = [e["kind"] for e in worker.published]
    assert kinds.count("status_change") == 6 and "geofence_enter" in kinds
