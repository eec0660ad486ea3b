"""The crew's tablet over real HTTP: its own vehicle and journey only, status presses with the
tablet's time (queued offline, resent once), a destination change with a reason, sign-in codes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psycopg

from accounts.access import AccessError, create_api_key
from tests.api.conftest import Browser, sign_in
from tests.api.test_journeys_api import call, dispatch, first_hospitals
from tracking.fleet import register_vehicle


def press(
    crew: Browser, journey_id: int, status: str, at: datetime, queued: bool = False, pid: str = ""
) -> httpx.Response:
    body = {
        "journey_id": journey_id,
        "status": status,
        "at": at.isoformat(),
        "queued": queued,
        "press_id": pid or str(uuid.uuid4()),
    }
    return crew.call("POST", "/api/v1/crew/status", body)


def test_the_crew_sees_its_journey_and_presses_with_the_tablet_time(
    api_server: str, keys: dict[str, str], crew_browser: Browser, crew_vehicle: int, db: psycopg.Connection
) -> None:
    view = crew_browser.call("GET", "/api/v1/crew/journey").json()
    assert view["vehicle"]["id"] == crew_vehicle and view["journey"] is None
    h1, _ = first_hospitals(db)
    journey = dispatch(api_server, keys["dispatcher"], crew_vehicle, h1).json()
    view = crew_browser.call("GET", "/api/v1/crew/journey").json()
    assert view["journey"]["id"] == journey["id"]
    assert view["journey"]["incident_address"] == "Bạch Đằng"
    assert "hospital_full" in view["destination_reasons"]

    pressed_at = datetime.now(UTC) - timedelta(seconds=20)
    pid = str(uuid.uuid4())
    first = press(crew_browser, journey["id"], "en_route", pressed_at, queued=True, pid=pid)
    assert first.status_code == 200, first.text
    again = press(crew_browser, journey["id"], "en_route", pressed_at, queued=True, pid=pid)
    assert again.status_code == 200  # the resend of a press whose answer was lost: stored once
    detail = call(api_server, "GET", f"/api/v1/journeys/{journey['id']}", keys["dispatcher"]).json()
    crew_rows = [r for r in detail["status_log"] if r["source"] == "crew"]
    assert len(crew_rows) == 1
    row = crew_rows[0]
    assert row["to_status"] == "en_route" and row["queued"] is True and row["rule"] == "test-crew"
    # The tablet's time (not before the dispatch), not the time it arrived.
    at = datetime.fromisoformat(row["at"])
    assert at < datetime.fromisoformat(row["logged_at"])
    assert at >= datetime.fromisoformat(detail["dispatched_at"])
    # Pressing the status the journey is in: 409, nothing logged.
    assert press(crew_browser, journey["id"], "en_route", datetime.now(UTC)).status_code == 409

    # The crew changes the destination with a reason: both hospitals hear it.
    _, h2 = first_hospitals(db)
    moved = crew_browser.call(
        "POST",
        "/api/v1/crew/destination",
        {"journey_id": journey["id"], "hospital_id": h2, "reason": "hospital_full"},
    )
    assert moved.status_code == 200 and moved.json()["destination_hospital_id"] == h2
    details = db.execute(
        "SELECT details FROM events WHERE kind = 'destination_changed' AND journey_id = %s", (journey["id"],)
    ).fetchall()
    assert len(details) == 2 and all(
        d[0]["reason"] == "hospital_full" and d[0]["source"] == "crew" for d in details
    )
    bad = crew_browser.call(
        "POST",
        "/api/v1/crew/destination",
        {"journey_id": journey["id"], "hospital_id": h1, "reason": "bored"},
    )
    assert bad.status_code == 422

    # "Available" ends the journey.
    for status in ("on_scene", "transporting", "at_hospital", "completed"):
        assert press(crew_browser, journey["id"], status, datetime.now(UTC)).status_code == 200, status
    assert crew_browser.call("GET", "/api/v1/crew/journey").json()["journey"] is None


def test_the_crew_sees_nothing_of_other_vehicles(
    api_server: str, keys: dict[str, str], crew_browser: Browser, crew_vehicle: int, db: psycopg.Connection
) -> None:
    other = register_vehicle(db, "43A77002", "115-C2").id
    theirs = dispatch(api_server, keys["dispatcher"], other).json()
    assert crew_browser.call("GET", "/api/v1/crew/journey").json()["journey"] is None
    assert press(crew_browser, theirs["id"], "en_route", datetime.now(UTC)).status_code == 404
    moved = crew_browser.call(
        "POST", "/api/v1/crew/destination", {"journey_id": theirs["id"], "hospital_id": 1, "reason": "other"}
    )
    assert moved.status_code == 404
    for path in (
        "/api/v1/journeys",
        f"/api/v1/journeys/{theirs['id']}",
        "/api/v1/vehicles",
        "/api/v1/events",
    ):
        assert crew_browser.call("GET", path).status_code == 403, path
    # A tablet press far in the future is kept at "now", never ahead of the server.
    mine = dispatch(api_server, keys["dispatcher"], crew_vehicle).json()
    assert (
        press(crew_browser, mine["id"], "en_route", datetime.now(UTC) + timedelta(hours=3)).status_code == 200
    )
    at = db.execute(
        "SELECT at FROM journey_status_log WHERE journey_id = %s AND source = 'crew'", (mine["id"],)
    ).fetchone()[0]  # type: ignore[index]
    assert at <= datetime.now(UTC)


def test_a_crew_sign_in_code_works_once(
    api_server: str, keys: dict[str, str], crew_vehicle: int, db: psycopg.Connection
) -> None:
    issued = call(api_server, "POST", f"/api/v1/vehicles/{crew_vehicle}/crew-code", keys["dispatcher"])
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert body["url"] == f"/crew#code={body['code']}" and body["qr_svg"].startswith("<svg")
    assert body["qr_data_uri"].startswith("data:image/svg+xml")
    assert issued.headers["cache-control"] == "no-store"
    assert db.execute(
        "SELECT count(*) FROM crew_sign_in_codes WHERE code_hash = %s", (body["code"],)
    ).fetchone() == (0,)
    tablet = httpx.Client(base_url=api_server, timeout=10)
    signed = tablet.post("/api/v1/auth/crew-code", json={"code": body["code"]})
    assert signed.status_code == 200, signed.text
    assert signed.json()["user"]["role"] == "crew" and signed.json()["user"]["vehicle_id"] == crew_vehicle
    assert tablet.get("/api/v1/crew/journey").json()["vehicle"]["id"] == crew_vehicle
    again = httpx.post(f"{api_server}/api/v1/auth/crew-code", json={"code": body["code"]}, timeout=10)
    assert again.status_code == 401
    assert (
        call(api_server, "POST", "/api/v1/vehicles/999999/crew-code", keys["dispatcher"]).status_code == 404
    )
    # The same account for the next code; a crew role is never an API key's.
    second = call(api_server, "POST", f"/api/v1/vehicles/{crew_vehicle}/crew-code", keys["dispatcher"]).json()
    assert second["username"] == body["username"] == "crew-115-C1"
    try:
        create_api_key(db, "tablet", "crew")
        raise AssertionError("a crew API key was issued")
    except AccessError:
        pass
    tablet.close()


def test_make_runs_crew_login_comes_from_the_command_line(
    api_server: str, crew_vehicle: int, db: psycopg.Connection
) -> None:
    from tests.api.test_accounts import amb_admin

    made = amb_admin(
        "create-user",
        "demo-crew",
        "--role",
        "crew",
        "--vehicle",
        "115-C1",
        "--password-stdin",
        "--replace",
        stdin="a long crew passphrase\n",
    )
    assert made.returncode == 0, made.stderr
    row = db.execute("SELECT role, vehicle_id FROM users WHERE username = 'demo-crew'").fetchone()
    assert row == ("crew", crew_vehicle)
    tablet = sign_in(api_server, "demo-crew", "a long crew passphrase")
    assert tablet.user["role"] == "crew"
    assert tablet.call("GET", "/api/v1/crew/journey").json()["vehicle"]["call_sign"] == "115-C1"
    tablet.client.close()
    unknown = amb_admin(
        "create-user",
        "crew-x",
        "--role",
        "crew",
        "--vehicle",
        "115-XX",
        "--password-stdin",
        stdin="a long crew passphrase\n",
    )
    assert unknown.returncode == 2 and "no vehicle" in unknown.stderr
    no_vehicle = amb_admin(
        "create-user", "crew-y", "--role", "crew", "--password-stdin", stdin="a long crew passphrase\n"
    )
    assert no_vehicle.returncode == 2 and "needs a vehicle" in no_vehicle.stderr
