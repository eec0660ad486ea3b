"""Accounts and signed-in browsers for the API tests: a user and a session per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from accounts.users import hash_password
from tracking.fleet import register_vehicle

ROLES = ("admin", "dispatcher", "hospital", "viewer")
PASSWORD = "correct horse battery staple"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class Browser:
    """A signed-in browser: its cookie jar (the session) and the CSRF token it was given."""

    client: httpx.Client
    csrf_token: str
    user: dict[str, object]

    def call(
        self, method: str, path: str, body: object | None = None, *, csrf: bool = True, **params: str
    ) -> httpx.Response:
        headers = {"X-CSRF-Token": self.csrf_token} if csrf and method in UNSAFE else {}
        return self.client.request(method, path, json=body, headers=headers, params=params)


def add_user(
    db: psycopg.Connection,
    username: str,
    role: str,
    hospital_id: int | None = None,
    password: str = PASSWORD,
    vehicle_id: int | None = None,
) -> int:
    row = db.execute(
        "INSERT INTO users (username, display_name, password_hash, role, hospital_id, vehicle_id)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (username, username.title(), hash_password(password), role, hospital_id, vehicle_id),
    ).fetchone()
    assert row is not None
    return int(row[0])


def sign_in(api_server: str, username: str, password: str = PASSWORD) -> Browser:
    client = httpx.Client(base_url=api_server, timeout=10)
    resp = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    return Browser(client, body["csrf_token"], body["user"])


@pytest.fixture
def own_hospital(db: psycopg.Connection) -> int:
    """The hospital of the hospital key and the hospital user (the first one)."""
    return int(db.execute("SELECT min(id) FROM hospitals").fetchone()[0])  # type: ignore[index]


@pytest.fixture
def users(db: psycopg.Connection, own_hospital: int) -> dict[str, str]:
    """A user per role (the hospital one bound to the first hospital): role -> username."""
    for role in ROLES:
        add_user(db, f"test-{role}", role, own_hospital if role == "hospital" else None)
    return {role: f"test-{role}" for role in ROLES}


@pytest.fixture
def browsers(api_server: str, users: dict[str, str]) -> Iterator[dict[str, Browser]]:
    """A signed-in browser per role."""
    signed_in = {role: sign_in(api_server, name) for role, name in users.items()}
    yield signed_in
    for browser in signed_in.values():
        browser.client.close()


@pytest.fixture
def crew_vehicle(db: psycopg.Connection) -> int:
    """The vehicle of the crew account (115-C1)."""
    return register_vehicle(db, "43A77001", "115-C1").id


@pytest.fixture
def crew_browser(api_server: str, db: psycopg.Connection, crew_vehicle: int) -> Iterator[Browser]:
    """A tablet signed in as the crew of `crew_vehicle`."""
    add_user(db, "test-crew", "crew", vehicle_id=crew_vehicle)
    browser = sign_in(api_server, "test-crew")
    yield browser
    browser.client.close()
