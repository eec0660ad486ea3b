"""Hospital lookups over HTTP: hospitals ranked by road, the fastest unit, ETAs, inbound lists,
and the hospital's own live feed."""

from __future__ import annotations

import json

import httpx
import psycopg
import pytest
from websockets.asyncio.client import connect

from tests.api.test_stream import next_of_type, ws_url
from tests.tracking.test_eta import DA_NANG_HOSPITAL, SON_TRA, place_vehicle
from tracking import journeys
from tracking.eta import update_etas
from tracking.fleet import register_device, register_vehicle

SCENE = (16.0612, 108.2240)
HAI_CHAU_STATION = (16.0755362, 108.2152742)
THANH_KHE_STATION = (16.0678827, 108.1920316)


def get(base: str, path: str, key: str, **params: object) -> httpx.Response:
    return httpx.get(base + path, headers={"Authorization": f"Bearer {key}"}, params=params, timeout=20)


def fleet_of_three(db: psycopg.Connection) -> dict[str, int]:
    ids = {}
    for i, (sign, where) in enumerate(
        [("115-A", SON_TRA), ("115-B", HAI_CHAU_STATION), ("115-C", THANH_KHE_STATION)]
    ):
        v = register_vehicle(db, f"43A3000{i}", sign)
        register_device(db, f"dev-{sign}", "mqtt_json", v.plate)
        place_vehicle(db, v.id, f"dev-{sign}", *where)
        ids[sign] = v.id
    return ids


def test_hospitals_near_a_point_ranked_by_road(api_server: str, keys: dict[str, str]) -> None:
    body = get(
        api_server, "/api/v1/hospitals", keys["viewer"], near="16.0727,108.2150", emergency="true"
    ).json()
    ranked = body["hospitals"]
    assert ranked[0]["name_vi"] in (DA_NANG_HOSPITAL, "Bệnh viện C Đà Nẵng")  # next door
    assert [h["duration_s"] for h in ranked] == sorted(h["duration_s"] for h in ranked)
    assert all(h["has_emergency"] for h in ranked)
    assert get(api_server, "/api/v1/hospitals", keys["viewer"], near="nowhere").status_code == 422


def test_fastest_unit_by_road_skips_busy_and_silent_vehicles(
    api_server: str, keys: dict[str, str], db: psycopg.Connection
) -> None:
    ids = fleet_of_three(db)
    units = get(api_server, "/api/v1/units/fastest", keys["dispatcher"], lat=SCENE[0], lon=SCENE[1]).json()[
        "units"
    ]
    assert {u["call_sign"] for u in units} == {"115-A", "115-B", "115-C"}
    assert [u["duration_s"] for u in units] == sorted(u["duration_s"] for u in units)
    assert units[-1]["call_sign"] == "115-C"  # Thanh Khê is the farthest from the river front
    db.execute(
        "INSERT INTO vehicle_state (vehicle_id, unit_status) VALUES (%s, 'out_of_service')", (units[0]["id"],)
    )
    place_vehicle(db, ids["115-C"], "dev-115-C", *THANH_KHE_STATION, seconds_ago=3600)  # silent for an hour
    again = get(api_server, "/api/v1/units/fastest", keys["dispatcher"], lat=SCENE[0], lon=SCENE[1]).json()[
        "units"
    ]
    assert [u["call_sign"] for u in again] == [u["call_sign"] for u in units[1:2]]


def test_dispatch_without_a_vehicle_sends_the_fastest(
    api_server: str, keys: dict[str, str], db: psycopg.Connection
) -> None:
    fleet_of_three(db)
    fastest = get(api_server, "/api/v1/units/fastest", keys["dispatcher"], lat=SCENE[0], lon=SCENE[1]).json()[
        "units"
    ][0]
    body = {"vehicle_id": None, "incident": {"lat": SCENE[0], "lon": SCENE[1]}}
    created = httpx.post(
        api_server + "/api/v1/journeys",
        json=body,
        headers={"Authorization": f"Bearer {keys['dispatcher']}"},
        timeout=20,
    )
    assert created.status_code == 201 and created.json()["vehicle_id"] == fastest["id"]


def test_eta_to_a_hospital_or_a_point(api_server: str, keys: dict[str, str], db: psycopg.Connection) -> None:
    ids = fleet_of_three(db)
    hospital = db.execute("SELECT id FROM hospitals WHERE name_vi = %s", (DA_NANG_HOSPITAL,)).fetchone()[0]  # type: ignore[index]
    eta = get(
        api_server, "/api/v1/eta", keys["dispatcher"], vehicle_id=ids["115-A"], hospital_id=hospital
    ).json()
    assert 2_000 < eta["distance_m"] < 8_000 and eta["route"]["type"] == "LineString"
    assert eta["arrival_at"].endswith("Z")
    to_point = get(
        api_server, "/api/v1/eta", keys["dispatcher"], vehicle_id=ids["115-A"], lat=SCENE[0], lon=SCENE[1]
    )
    assert to_point.status_code == 200
    assert get(api_server, "/api/v1/eta", keys["dispatcher"], vehicle_id=ids["115-A"]).status_code == 422
    assert (
        get(
            api_server, "/api/v1/eta", keys["hospital"], vehicle_id=ids["115-A"], hospital_id=hospital
        ).status_code
        == 403
    )


async def test_inbound_list_and_live_feed_of_a_hospital(
    api_server: str, keys: dict[str, str], db: psycopg.Connection, database_url: str, vehicle: tuple[int, str]
) -> None:
    vehicle_id, device = vehicle
    hospital = db.execute("SELECT min(id) FROM hospitals").fetchone()[0]  # type: ignore[index]  # the hospital key's own
    place_vehicle(db, vehicle_id, device, *SON_TRA)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        journey, _ = await journeys.create_journey(conn, vehicle_id, *SCENE, "scene", 1, hospital, 150, "t")
        await journeys.set_status(conn, journey["id"], "transporting", "crew", "t")
        (eta,) = await update_etas(conn, [vehicle_id])
    inbound = get(api_server, f"/api/v1/hospitals/{hospital}/inbound", keys["hospital"]).json()["inbound"]
    assert [(i["journey_id"], i["eta_s"]) for i in inbound] == [(journey["id"], eta["remaining_s"])]
    assert get(api_server, f"/api/v1/hospitals/{hospital + 1}/inbound", keys["hospital"]).status_code == 403
    async with connect(ws_url(api_server, keys["hospital"])) as ws:
        snapshot = json.loads(await ws.recv())
        assert snapshot["type"] == "snapshot" and [i["journey_id"] for i in snapshot["inbound"]] == [
            journey["id"]
        ]
        assert "vehicles" not in snapshot  # a hospital does not watch the fleet
        # A dispatcher's change concerning this hospital reaches it at once.
        httpx.post(
            f"{api_server}/api/v1/journeys/{journey['id']}/status",
            json={"status": "at_hospital"},
            headers={"Authorization": f"Bearer {keys['dispatcher']}"},
            timeout=20,
        )
        message = await next_of_type(ws, "events")
    assert message["events"][0]["details"]["to"] == "at_hospital"


@pytest.mark.parametrize("role", ["viewer", "hospital"])
def test_fastest_units_role_matrix(api_server: str, keys: dict[str, str], role: str) -> None:
    expected = 200 if role == "viewer" else 403
    assert (
        get(api_server, "/api/v1/units/fastest", keys[role], lat=SCENE[0], lon=SCENE[1]).status_code
        == expected
    )
