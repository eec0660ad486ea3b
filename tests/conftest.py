"""Fixtures on real services: PostGIS (the test database) and the project's own Mosquitto."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, settings

from accounts.access import create_api_key
from admin.places import load_hospitals, load_road_lines, load_stations
from roads.importer import import_roads
from runtime.config import DEFAULT_DATA_DIR
from runtime.db import apply_schema
from tests.services import TEST_DATABASE_URL, Broker, start_api
from tracking.fleet import register_device, register_vehicle
from tracking.geofences import ensure_default_geofences
from tracking.settings import TrackingSettings

# Two shared cores run the services next to the tests: no wall-clock health checks or deadlines.
settings.register_profile("shared-machine", suppress_health_check=[HealthCheck.too_slow], deadline=None)
settings.load_profile("shared-machine")

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

MUTABLE_TABLES = (
    "positions, vehicle_latest, devices, vehicles, api_keys, events, journeys, journey_status_log,"
    " vehicle_state, tracking_inbox, mqtt_service_accounts, users, sessions, login_failures, caller_links,"
    " request_counters, quarantine, device_contact, crew_sign_in_codes, journey_legs, location_requests"
)


@pytest.fixture(scope="session")
def database_url() -> str:
    apply_schema(TEST_DATABASE_URL)
    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
        load_hospitals(conn, DEFAULT_DATA_DIR / "hospitals.csv")
        load_road_lines(conn, DEFAULT_DATA_DIR / "roads-central.geojson")
        load_stations(conn, DEFAULT_DATA_DIR / "stations.csv")
        ensure_default_geofences(conn, TrackingSettings().hysteresis_m)
        # The routable network `make run` loads: central main roads and the Hải Châu extract.
        import_roads(
            conn,
            [DEFAULT_DATA_DIR / "roads-central.geojson", DEFAULT_DATA_DIR / "haichau-central.osm.pbf"],
            replace=True,
        )
    return TEST_DATABASE_URL


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to an emptied test database (hospitals and roads are kept)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {MUTABLE_TABLES} RESTART IDENTITY CASCADE")
        # Geofences made by tests go; the defaults around hospitals and stations stay.
        conn.execute("DELETE FROM geofences WHERE hospital_id IS NULL AND station_id IS NULL")
        yield conn


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = Broker(tmp_path_factory.mktemp("broker")).start()
    yield b
    b.stop()


@pytest.fixture
def unique() -> str:
    """A short id making device ids, client ids and share groups unique to one test."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def vehicle(db: psycopg.Connection, unique: str) -> tuple[int, str]:
    """One registered ambulance with one MQTT JSON tracker: (vehicle id, device id)."""
    v = register_vehicle(db, "43A10001", "115-T1")
    device_id = f"dev-{unique}"
    register_device(db, device_id, "mqtt_json", v.plate)
    return v.id, device_id


@pytest.fixture(scope="session")
def api_server(broker: Broker, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One API process for the session; yields its base URL."""
    proc, port = start_api(broker, tmp_path_factory.mktemp("api"))
    yield f"http://127.0.0.1:{port}"
    proc.stop()


@pytest.fixture
def keys(db: psycopg.Connection) -> dict[str, str]:
    """An API key per role (the hospital one bound to the first hospital)."""
    hospital_id = db.execute("SELECT min(id) FROM hospitals").fetchone()[0]  # type: ignore[index]
    return {
        role: create_api_key(db, f"test {role}", role, hospital_id if role == "hospital" else None)
        for role in ("admin", "dispatcher", "hospital", "viewer")
    }
