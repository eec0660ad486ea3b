"""Journeys, geofences and events over real HTTP: dispatch, overrides, destination changes,
validation, the role matrix and hospital scoping, and events on the websocket."""

from __future__ import annotations

import json

import httpx
import psycopg
import pytest
from websockets.asyncio.client import connect

from tests.api.test_stream import next_of_type, ws_url
from tracking.fleet import register_device, register_vehicle

CIRCLE = {"type": "circle", "center": [108.2400, 16.0400], "radius_m": 200}


def call(base: str, method: str, path: str, key: str, body: object | None = None) -> httpx.Response:
    return httpx.request(
        method, base + path, headers={"Authorization": f"Bearer {key}"}, json=body, timeout=10
    )


def standing_unit(db: psycopg.Connection, plate: str, call_sign: str, device_id: str) -> int:
    """A registered ambulance with an MQTT tracker, standing (0 km/h) in central Đà Nẵng now: the
    one "the fastest available" picks. Its vehicle id."""
    vehicle_id = register_vehicle(db, plate, call_sign).id
    register_device(db, device_id, "mqtt_json", plate)
    db.execute(
        "INSERT INTO vehicle_latest (vehicle_id, device_id, fix_time, received_at, geom, speed_kmh)"
        " VALUES (%s, %s, now(), now(), ST_SetSRID(ST_MakePoint(108.2200, 16.0600), 4326), 0)",
        (vehicle_id, device_id),
    )
    return vehicle_id


def dispatch(api: str, key: str, vehicle_id: int, hospital_id: int | None = None) -> httpx.Response:
    body = {
        "vehicle_id": vehicle_id,
        "incident": {"lat": 16.061, "lon": 108.224, "address": "Bạch Đằng"},
        "priority": 1,
        "destination_hospital_id": hospital_id,
    }
    return call(api, "POST", "/api/v1/journeys", key, body)


def first_hospitals(db: psycopg.Connection) -> list[int]:
    return [r[0] for r in db.execute("SELECT id FROM hospitals ORDER BY id LIMIT 2").fetchall()]


def test_dispatch_then_override_then_close(
    api_server: str, keys: dict[str, str], vehicle: tuple[int, str], db: psycopg.Connection
) -> None:
    vehicle_id, _ = vehicle
    h1, _ = first_hospitals(db)
    created = dispatch(api_server, keys["dispatcher"], vehicle_id, h1)
    assert created.status_code == 201, created.text
    journey = created.json()
    assert journey["status"] == "dispatched" and journey["destination_hospital_id"] == h1 and journey["open"]
    assert (
        dispatch(api_server, keys["dispatcher"], vehicle_id).status_code == 409
    )  # one open journey per vehicle
    jid = journey["id"]
    on_scene = call(
        api_server,
        "POST",
        f"/api/v1/journeys/{jid}/status",
        keys["dispatcher"],
        {"status": "on_scene", "source": "crew"},
    )
    assert on_scene.status_code == 200 and on_scene.json()["on_scene_at"] is not None
    vehicles = call(api_server, "GET", "/api/v1/vehicles", keys["viewer"]).json()["vehicles"]
    assert vehicles[0]["status"] == "on_scene" and vehicles[0]["journey_id"] == jid
    done = call(
        api_server, "POST", f"/api/v1/journeys/{jid}/status", keys["dispatcher"], {"status": "completed"}
    )
    assert done.json()["status"] == "completed" and not done.json()["open"]
    again = call(
        api_server, "POST", f"/api/v1/journeys/{jid}/status", keys["dispatcher"], {"status": "en_route"}
    )
    assert again.status_code == 409
    detail = call(api_server, "GET", f"/api/v1/journeys/{jid}", keys["viewer"]).json()
    assert [(c["to_status"], c["source"]) for c in detail["status_log"]] == [
        ("dispatched", "dispatcher"),
        ("on_scene", "crew"),
        ("completed", "dispatcher"),
    ]
    assert (
        call(api_server, "GET", "/api/v1/vehicles", keys["viewer"]).json()["vehicles"][0]["status"]
        == "available"
    )


def test_destination_change_tells_both_hospitals(
    api_server: str, keys: dict[str, str], vehicle: tuple[int, str], db: psycopg.Connection
) -> None:
    vehicle_id, _ = vehicle
    h1, h2 = first_hospitals(db)
    jid = dispatch(api_server, keys["dispatcher"], vehicle_id, h1).json()["id"]
    changed = call(
        api_server, "PATCH", f"/api/v1/journeys/{jid}", keys["dispatcher"], {"destination_hospital_id": h2}
    )
    assert changed.status_code == 200 and changed.json()["destination_hospital_id"] == h2
    events = call(api_server, "GET", "/api/v1/events?kind=destination_changed", keys["admin"]).json()[
        "events"
    ]
    assert sorted(e["hospital_id"] for e in events) == sorted([h1, h2])


def test_hospital_accounts_see_only_their_inbound_journeys(
    api_server: str, keys: dict[str, str], vehicle: tuple[int, str], db: psycopg.Connection
) -> None:
    vehicle_id, _ = vehicle
    own, other = first_hospitals(db)  # the hospital key is bound to the first hospital
    jid = dispatch(api_server, keys["dispatcher"], vehicle_id, other).json()["id"]
    hospital = keys["hospital"]
    assert call(api_server, "GET", "/api/v1/journeys", hospital).json()["journeys"] == []
    assert call(api_server, "GET", f"/api/v1/journeys/{jid}", hospital).status_code == 404
    assert call(api_server, "GET", f"/api/v1/journeys/{jid}/report", hospital).status_code == 404
    call(api_server, "PATCH", f"/api/v1/journeys/{jid}", keys["dispatcher"], {"destination_hospital_id": own})
    assert [j["id"] for j in call(api_server, "GET", "/api/v1/journeys", hospital).json()["journeys"]] == [
        jid
    ]
    assert call(api_server, "GET", f"/api/v1/journeys/{jid}/replay", hospital).status_code == 200


@pytest.mark.parametrize(
    ("role", "method", "path", "expected"),
    [
        ("viewer", "POST", "/api/v1/journeys", 403),
        ("hospital", "POST", "/api/v1/journeys", 403),
        ("viewer", "POST", "/api/v1/geofences", 403),
        ("hospital", "POST", "/api/v1/geofences", 403),
        ("viewer", "GET", "/api/v1/geofences", 200),
        ("hospital", "GET", "/api/v1/events", 200),
        ("viewer", "GET", "/api/v1/journeys", 200),
        ("viewer", "PUT", "/api/v1/vehicles/1/status", 403),
    ],
)
def test_role_matrix(
    api_server: str,
    keys: dict[str, str],
    vehicle: tuple[int, str],
    role: str,
    method: str,
    path: str,
    expected: int,
) -> None:
    body = (
        {"name": "x", "kind": "scene", "shape": CIRCLE}
        if "geofences" in path
        else {"status": "out_of_service"}
    )
    if path == "/api/v1/journeys" and method == "POST":
        body = {"vehicle_id": vehicle[0], "incident": {"lat": 16.06, "lon": 108.22}}
    assert (
        call(api_server, method, path, keys[role], body if method != "GET" else None).status_code == expected
    )


def test_geofence_crud_and_validation(api_server: str, keys: dict[str, str]) -> None:
    key = keys["dispatcher"]
    created = call(
        api_server,
        "POST",
        "/api/v1/geofences",
        key,
        {"name": "Trường học", "kind": "speed_zone", "shape": CIRCLE, "speed_limit_kmh": 30},
    )
    assert created.status_code == 201, created.text
    fence = created.json()
    assert fence["type"] == "Feature" and fence["geometry"]["type"] == "Polygon"
    assert fence["properties"]["hysteresis_m"] == 15.0
    gid = fence["id"]
    corridor = {"type": "corridor", "coordinates": [[108.2235, 16.0614], [108.2293, 16.0613]], "width_m": 30}
    patched = call(
        api_server, "PATCH", f"/api/v1/geofences/{gid}", key, {"shape": corridor, "name": "Cầu Rồng"}
    )
    assert patched.status_code == 200 and patched.json()["properties"]["name"] == "Cầu Rồng"
    # A 30 m wide corridor: the hysteresis shrinks to a quarter of its half width.
    assert patched.json()["properties"]["hysteresis_m"] == pytest.approx(3.75, abs=0.3)
    bowtie = {
        "type": "polygon",
        "coordinates": [
            [[108.20, 16.05], [108.21, 16.06], [108.21, 16.05], [108.20, 16.06], [108.20, 16.05]]
        ],
    }
    bad = [
        bowtie,
        {"type": "circle", "center": [108.2, 16.05], "radius_m": 2},
        {"type": "circle", "center": [208.2, 16.05], "radius_m": 100},
        {"type": "corridor", "coordinates": [[108.2, 16.05]], "width_m": 20},
        {"type": "hexagon"},
    ]
    for shape in bad:
        response = call(
            api_server, "POST", "/api/v1/geofences", key, {"name": "bad", "kind": "scene", "shape": shape}
        )
        assert response.status_code == 422, (shape, response.text)
    assert call(api_server, "DELETE", f"/api/v1/geofences/{gid}", key).status_code == 204
    assert call(api_server, "GET", f"/api/v1/geofences/{gid}", key).status_code == 404


def test_bad_journey_requests(api_server: str, keys: dict[str, str], vehicle: tuple[int, str]) -> None:
    key = keys["dispatcher"]
    assert dispatch(api_server, key, 999_999).status_code == 422
    assert dispatch(api_server, key, vehicle[0], 999_999).status_code == 422
    bad = {"vehicle_id": vehicle[0], "incident": {"lat": 95, "lon": 108.2}}
    assert call(api_server, "POST", "/api/v1/journeys", key, bad).status_code == 422
    assert call(api_server, "GET", "/api/v1/journeys/999999", key).status_code == 404


async def test_a_dispatch_reaches_the_websocket_as_an_event(
    api_server: str, keys: dict[str, str], vehicle: tuple[int, str]
) -> None:
    async with connect(ws_url(api_server, keys["viewer"])) as ws:
        assert json.loads(await ws.recv())["type"] == "snapshot"
        jid = dispatch(api_server, keys["dispatcher"], vehicle[0]).json()["id"]
        message = await next_of_type(ws, "events")
    (event,) = message["events"]
    assert (event["kind"], event["journey_id"], event["details"]["to"]) == (
        "status_change",
        jid,
        "dispatched",
    )
