"""The benchmark's own PostGIS database (never the tests'): created when missing, loaded with Da
Nang's places and default geofences as `make run` loads them, emptied per run, and filled with an
emulated fleet, its broker accounts and a websocket key."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

from accounts.access import create_api_key
from admin.broker_auth import issue_device_password, render_definitions
from admin.places import load_hospitals, load_road_lines, load_stations
from runtime.config import DEFAULT_DATA_DIR
from runtime.db import apply_schema
from tracking.fleet import register_device, register_vehicle
from tracking.geofences import ensure_default_geofences
from tracking.settings import TrackingSettings

REPO = Path(__file__).resolve().parent.parent
PROJECT_PG_PORT = 5488  # scripts/postgres.sh: the project's own PostgreSQL server
BENCH_DATABASE_URL = os.environ.get(
    "AMB_BENCH_DATABASE_URL", "postgresql://amb:amb@127.0.0.1:5488/ambulance_bench"
)
# Emptied before every scenario (CASCADE takes journeys, events and vehicle state with the vehicles).
MUTABLE_TABLES = (
    "positions, vehicle_latest, tracking_inbox, devices, vehicles, api_keys, mqtt_service_accounts"
)
DEVICE_PREFIX = "bench-"


def device_ids(count: int) -> list[str]:
    """bench-0001, bench-0002...: the emulated trackers of a run."""
    return [f"{DEVICE_PREFIX}{i:04d}" for i in range(1, count + 1)]


def ensure_database(url: str = BENCH_DATABASE_URL) -> None:
    """Create the database and its extensions as the postgres superuser when it does not exist yet."""
    try:
        psycopg.connect(url, connect_timeout=5).close()
        return
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
    parts = urlsplit(url)
    if parts.port != PROJECT_PG_PORT:
        raise SystemExit(
            f"{url}: create this database yourself (only the project's server, port {PROJECT_PG_PORT}, is set up here)"
        )
    # The project's own server (scripts/postgres.sh) creates it, with PostGIS and pgRouting.
    env = {**os.environ, "AMB_PG_DB": parts.path.lstrip("/"), "AMB_PG_PORT": str(PROJECT_PG_PORT)}
    subprocess.run(["bash", str(REPO / "scripts/postgres.sh"), "start"], env=env, check=True)


@contextlib.contextmanager
def exclusive_use(url: str, max_wait_s: float = 900.0) -> Iterator[None]:
    """One benchmark at a time on the database (each empties it): a session advisory lock, held
    for the whole run and released with the connection."""
    with psycopg.connect(url, autocommit=True) as conn:
        deadline = time.monotonic() + max_wait_s
        while not _try_lock(conn):
            if time.monotonic() > deadline:
                raise TimeoutError(f"another benchmark held {url} for {max_wait_s:.0f} s")
            print("   another benchmark is using the database; waiting ...", flush=True)
            time.sleep(5)
        yield


def _try_lock(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(hashtext('amb-bench'))").fetchone()
    return bool(row and row[0])


def prepare_database(url: str) -> None:
    """The schema, and the places the tracking worker evaluates fixes against (as `amb-admin
    load-danang` loads them): hospitals, stations, roads and the default geofences."""
    apply_schema(url)
    with psycopg.connect(url, autocommit=True) as conn:
        load_hospitals(conn, DEFAULT_DATA_DIR / "hospitals.csv")
        load_stations(conn, DEFAULT_DATA_DIR / "stations.csv")
        load_road_lines(conn, DEFAULT_DATA_DIR / "roads-central.geojson")
        ensure_default_geofences(conn, TrackingSettings().hysteresis_m)


def reset_database(url: str) -> None:
    """Every fleet, position and tracking table emptied, today's partitions in place."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {MUTABLE_TABLES} RESTART IDENTITY CASCADE")
        conn.execute("SELECT * FROM amb_maintain_position_partitions()")
        conn.execute("VACUUM ANALYZE vehicle_latest")


def register_fleet(url: str, devices: Sequence[str]) -> str:
    """One ambulance per device (plates 43B00001...), one transaction; returns a dispatcher API key."""
    with psycopg.connect(url) as conn:
        for i, device_id in enumerate(devices, start=1):
            vehicle = register_vehicle(conn, f"43B{i:05d}", f"B-{i:04d}")
            register_device(conn, device_id, "mqtt_json", vehicle.plate)
        return create_api_key(conn, "benchmark websocket", "dispatcher")


@dataclass(frozen=True, slots=True)
class BrokerAccounts:
    """Device credentials of a run, as the production broker requires them (no anonymous client),
    and the broker definitions (users, topic permissions) to apply once the broker runs."""

    device_passwords: dict[str, str]
    definitions: dict[str, Any]


def issue_broker_accounts(url: str, devices: Sequence[str]) -> BrokerAccounts:
    """A password per device, and the registry's broker definitions."""
    with psycopg.connect(url) as conn:
        passwords = {d: issue_device_password(conn, d) for d in devices}
        conn.commit()
        definitions = render_definitions(conn)
    return BrokerAccounts(passwords, definitions)


def count_stored(conn: psycopg.Connection) -> int:
    row = conn.execute(
        "SELECT count(*) FROM positions WHERE device_id LIKE %s", (DEVICE_PREFIX + "%",)
    ).fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True, slots=True)
class StoredSummary:
    """What the database holds for a run; times are Unix seconds (wall clock) of the inserts."""

    rows: int
    distinct_fixes: int
    first_stored: float | None
    last_stored: float | None
    per_second: list[int]  # rows stored in each whole second after the first publish


def summarise_stored(conn: psycopg.Connection, started: float) -> StoredSummary:
    params = {"started": started, "prefix": DEVICE_PREFIX + "%"}
    row = conn.execute(
        """
        SELECT count(*), count(DISTINCT (device_id, fix_time)),
               extract(epoch FROM min(stored_at))::float8, extract(epoch FROM max(stored_at))::float8
        FROM positions WHERE device_id LIKE %(prefix)s
        """,
        params,
    ).fetchone()
    assert row is not None
    seconds: dict[int, int] = dict(
        conn.execute(
            """
            SELECT floor(extract(epoch FROM stored_at) - %(started)s)::int AS second, count(*)
            FROM positions WHERE device_id LIKE %(prefix)s GROUP BY 1
            """,
            params,
        ).fetchall()
    )
    per_second = [seconds.get(i, 0) for i in range(max(seconds, default=-1) + 1)]
    return StoredSummary(int(row[0]), int(row[1]), row[2], row[3], per_second)


def tracking_inbox_count(conn: psycopg.Connection) -> int:
    """Committed fixes the tracking worker has not evaluated yet."""
    row = conn.execute("SELECT count(*) FROM tracking_inbox").fetchone()
    return int(row[0]) if row else 0


def backend_pids(conn: psycopg.Connection) -> dict[int, str]:
    """The other PostgreSQL backends on this database, by application name (amb-gateway-writer,
    amb-tracking-worker, amb-api...): their CPU is the database's share of the pipeline."""
    rows = conn.execute(
        "SELECT pid, application_name FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    ).fetchall()
    return {int(pid): str(name) for pid, name in rows}


def empty_positions(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE positions, vehicle_latest")
