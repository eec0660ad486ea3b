"""The API process over real HTTP: authentication by role, the fleet, tracks as GeoJSON, health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from tracking.fleet import register_vehicle

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def insert_fix(
    db: psycopg.Connection, vehicle_id: int, device: str, when: datetime, lat: float, lon: float
) -> None:
    db.execute("SELECT amb_ensure_position_partition(%s)", (when.date(),))
    db.execute(
        "INSERT INTO positions (device_id, vehicle_id, fix_time, received_at, geom, speed_kmh, course, protocol,"
        " attributes) VALUES (%s, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), 30, 90, 'mqtt_json', %s)",
        (device, vehicle_id, when, when, lon, lat, Jsonb({})),
    )


def get(base: str, path: str, key: str | None = None, **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(base + path, headers=headers, params=params, timeout=10)


ENDPOINTS = ["/api/v1/vehicles", "/api/v1/config", "/api/v1/roads", "/api/v1/hospitals"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_every_endpoint_needs_a_key(api_server: str, keys: dict[str, str], path: str) -> None:
    assert get(api_server, path).status_code == 401
    assert get(api_server, path, "amb_not-a-real-key").status_code == 401


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        ("admin", "/api/v1/vehicles", 200),
        ("dispatcher", "/api/v1/vehicles", 200),
        ("viewer", "/api/v1/vehicles", 200),
        ("hospital", "/api/v1/vehicles", 403),  # hospitals see only ambulances inbound to them
        ("hospital", "/api/v1/config", 200),
        ("hospital", "/api/v1/hospitals", 200),
        ("viewer", "/api/v1/roads", 200),
    ],
)
def test_roles(api_server: str, keys: dict[str, str], role: str, path: str, status: int) -> None:
    assert get(api_server, path, keys[role]).status_code == status


def test_revoked_key_is_refused(api_server: str, keys: dict[str, str], db: psycopg.Connection) -> None:
    db.execute("UPDATE api_keys SET revoked_at = now() WHERE role = 'viewer'")
    assert get(api_server, "/api/v1/vehicles", keys["viewer"]).status_code == 401


def test_vehicles_with_latest_position_and_age(
    api_server: str, keys: dict[str, str], db: psycopg.Connection, vehicle: tuple[int, str]
) -> None:
    vehicle_id, device = vehicle
    register_vehicle(db, "43B-555.55", "115-T2")
    now = datetime.now(UTC).replace(microsecond=0)
    insert_fix(db, vehicle_id, device, now - timedelta(seconds=5), 16.05, 108.2)
    db.execute(
        "INSERT INTO vehicle_latest (vehicle_id, device_id, fix_time, received_at, geom, speed_kmh, course)"
        " VALUES (%s, %s, %s, %s, ST_SetSRID(ST_MakePoint(108.2, 16.05), 4326), 30, 90)",
        (vehicle_id, device, now - timedelta(seconds=5), now),
    )
    body = get(api_server, "/api/v1/vehicles", keys["dispatcher"]).json()
    by_sign = {v["call_sign"]: v for v in body["vehicles"]}
    moving = by_sign["115-T1"]
    assert moving["plate"] == "43A10001" and moving["device_id"] == device
    assert moving["position"]["lat"] == 16.05 and moving["position"]["heading"] == 90
    assert moving["position"]["time"] == (now - timedelta(seconds=5)).isoformat().replace("+00:00", ".000Z")
    assert 4 <= moving["age_s"] < 60
    assert moving["gps_fix"] is True and moving["no_fix_since"] is None and 4 <= moving["heard_age_s"] < 60
    assert by_sign["115-T2"]["position"] is None and by_sign["115-T2"]["plate"] == "43B55555"
    # In a garage: the tracker keeps talking without a GPS fix. Connected, not offline.
    db.execute(
        "INSERT INTO vehicle_state (vehicle_id, heard_at, no_fix_since) VALUES (%s, %s, %s)",
        (vehicle_id, now - timedelta(seconds=1), now - timedelta(minutes=20)),
    )
    garage = {
        v["call_sign"]: v for v in get(api_server, "/api/v1/vehicles", keys["dispatcher"]).json()["vehicles"]
    }
    assert (
        garage["115-T1"]["gps_fix"] is False
        and garage["115-T1"]["heard_age_s"] < 5 <= garage["115-T1"]["age_s"]
    )
    assert garage["115-T1"]["no_fix_since"] == (now - timedelta(minutes=20)).isoformat().replace(
        "+00:00", ".000Z"
    )


def test_track_is_rfc7946_geojson_in_time_order(
    api_server: str, keys: dict[str, str], db: psycopg.Connection, vehicle: tuple[int, str]
) -> None:
    vehicle_id, device = vehicle
    for i, lat in [(2, 16.02), (0, 16.00), (1, 16.01), (9, 16.09)]:
        insert_fix(db, vehicle_id, device, T0 + timedelta(minutes=i), lat, 108.2)
    resp = get(
        api_server,
        f"/api/v1/vehicles/{vehicle_id}/track",
        keys["viewer"],
        **{"from": T0.isoformat(), "to": (T0 + timedelta(minutes=5)).isoformat()},
    )
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/geo+json"
    doc = resp.json()
    assert doc["type"] == "FeatureCollection"
    path, *points = doc["features"]
    assert path["geometry"] == {
        "type": "LineString",
        "coordinates": [[108.2, 16.0], [108.2, 16.01], [108.2, 16.02]],
    }
    assert path["properties"]["times"][0] == "2026-11-20T03:00:00.000Z"
    assert [p["geometry"]["coordinates"][1] for p in points] == [16.0, 16.01, 16.02]
    assert doc["properties"]["count"] == 3


def test_track_errors(api_server: str, keys: dict[str, str], vehicle: tuple[int, str]) -> None:
    vehicle_id, _ = vehicle
    assert get(api_server, "/api/v1/vehicles/999999/track", keys["viewer"]).status_code == 404
    later, earlier = T0.isoformat(), (T0 - timedelta(hours=1)).isoformat()
    bad_order = get(
        api_server, f"/api/v1/vehicles/{vehicle_id}/track", keys["viewer"], **{"from": later, "to": earlier}
    )
    assert bad_order.status_code == 422
    too_long = get(
        api_server,
        f"/api/v1/vehicles/{vehicle_id}/track",
        keys["viewer"],
        **{"from": (T0 - timedelta(days=8)).isoformat(), "to": later},
    )
    assert too_long.status_code == 422


def test_map_layers(api_server: str, keys: dict[str, str], db: psycopg.Connection) -> None:
    roads = get(api_server, "/api/v1/roads", keys["viewer"]).json()
    # The routable network the session imported: central main roads and the Hải Châu extract.
    edges = db.execute("SELECT count(*) FROM road_edges").fetchone()
    assert edges is not None and len(roads["features"]) == edges[0] > 732
    assert roads["features"][0]["geometry"]["type"] == "LineString"
    hospitals = get(api_server, "/api/v1/hospitals", keys["viewer"]).json()["hospitals"]
    assert any(h["name_vi"] == "Bệnh viện Đà Nẵng" and h["has_emergency"] for h in hospitals)
    config = get(api_server, "/api/v1/config", keys["viewer"]).json()
    assert config["offline_after_s"] == 90 and len(config["map_center"]) == 2


def test_healthz_checks_database_and_broker(api_server: str) -> None:
    resp = httpx.get(api_server + "/healthz", timeout=5)
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_openapi_documents_the_endpoints(api_server: str) -> None:
    paths = httpx.get(api_server + "/openapi.json", timeout=5).json()["paths"]
    assert {"/api/v1/vehicles", "/api/v1/vehicles/{vehicle_id}/track", "/healthz"} <= set(paths)
