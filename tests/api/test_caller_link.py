"""The caller's tracking link: issued by a dispatcher, public, unguessable; it shows only that
ambulance and its ETA while it heads to the scene, "arrived" once there, and 410 once the journey
is over or the link replaced."""

from __future__ import annotations

import hashlib
import math
from collections import Counter

import httpx
import psycopg

from tests.api.conftest import Browser
from tests.tracking.test_eta import place_vehicle

HAI_CHAU_STATION = (16.0755362, 108.2152742)  # a sample station, 2 km from the scene
SCENE = {"lat": 16.0612, "lon": 108.2240, "address": "12 Bạch Đằng, Hải Châu"}
PUBLIC_FIELDS = {
    "status",
    "call_sign",
    "vehicle",
    "scene",
    "eta_s",
    "arrival_at",
    "arrival_window",
    "distance_m",
}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def dispatch(api: str, key: str, vehicle_id: int, hospital_id: int) -> int:
    body = {
        "vehicle_id": vehicle_id,
        "incident": SCENE,
        "priority": 1,
        "destination_hospital_id": hospital_id,
    }
    resp = httpx.post(f"{api}/api/v1/journeys", headers=auth(key), json=body, timeout=10)
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def issue(api: str, key: str, journey_id: int) -> httpx.Response:
    return httpx.post(f"{api}/api/v1/journeys/{journey_id}/caller-link", headers=auth(key), timeout=10)


def track(api: str, token: str) -> httpx.Response:
    return httpx.get(f"{api}/api/v1/public/track/{token}", timeout=20)


def set_status(api: str, key: str, journey_id: int, status: str) -> None:
    resp = httpx.post(
        f"{api}/api/v1/journeys/{journey_id}/status", headers=auth(key), json={"status": status}, timeout=10
    )
    assert resp.status_code == 200, resp.text


def test_the_link_lifecycle(
    api_server: str, keys: dict[str, str], db: psycopg.Connection, vehicle: tuple[int, str], own_hospital: int
) -> None:
    vehicle_id, device = vehicle
    place_vehicle(db, vehicle_id, device, *HAI_CHAU_STATION, course=90)
    journey_id = dispatch(api_server, keys["dispatcher"], vehicle_id, own_hospital)
    issued = issue(api_server, keys["dispatcher"], journey_id)
    assert issued.status_code == 201, issued.text
    link = issued.json()
    token = link["token"]
    assert link == {"token": token, "url": f"/track/{token}", "expires_at": None}
    assert len(token) >= 32 and len(set(token)) > 10  # 192 random bits, URL-safe
    # Only a hash is stored.
    assert db.execute("SELECT token_hash FROM caller_links").fetchall() == [
        (hashlib.sha256(token.encode()).hexdigest(),)
    ]

    # Dispatched: no ETA held by the tracker yet, so the road route is computed here.
    view = track(api_server, token)
    assert view.status_code == 200, view.text
    shown = view.json()
    assert set(shown) == PUBLIC_FIELDS
    assert shown["status"] == "dispatched" and shown["call_sign"] == "115-T1"
    assert set(shown["vehicle"]) == {"lat", "lon", "heading", "speed_kmh", "age_s"}
    assert shown["scene"] == {"lat": SCENE["lat"], "lon": SCENE["lon"]}
    assert shown["distance_m"] > 500 and 30 < shown["eta_s"] < 1800 and shown["arrival_at"].endswith("Z")
    window = shown["arrival_window"]
    assert window["early_at"] < shown["arrival_at"] < window["late_at"]  # ISO UTC: ordered as text
    assert view.headers["cache-control"] == "no-store" and view.headers["referrer-policy"] == "no-referrer"
    # Nothing else: no plate, no hospital, no patient or incident details.
    hospital_name = db.execute("SELECT name_vi FROM hospitals WHERE id = %s", (own_hospital,)).fetchone()[0]  # type: ignore[index]
    for secret in ("43A10001", hospital_name, "Bạch Đằng", device, "hospital", "plate", "priority"):
        assert secret not in view.text

    # En route, with the tracker's ETA: that one is shown.
    set_status(api_server, keys["dispatcher"], journey_id, "en_route")
    db.execute(
        "INSERT INTO journey_eta (journey_id, target_kind, route_distance_m, route_duration_s, computed_at,"
        " fix_time, remaining_m, remaining_s, arrival_at)"
        " SELECT %s, 'scene', 2000, 300, now(), fix_time, 1234, 600, fix_time + interval '600 s'"
        " FROM vehicle_latest WHERE vehicle_id = %s",
        (journey_id, vehicle_id),
    )
    en_route = track(api_server, token).json()
    assert en_route["status"] == "en_route" and en_route["distance_m"] == 1234
    assert 590 <= en_route["eta_s"] <= 600

    # On scene: "arrived", and no position any more.
    set_status(api_server, keys["dispatcher"], journey_id, "on_scene")
    assert track(api_server, token).json() == {"status": "arrived"}
    set_status(api_server, keys["dispatcher"], journey_id, "transporting")
    assert track(api_server, token).json() == {"status": "arrived"}

    # Completed: gone for good.
    set_status(api_server, keys["dispatcher"], journey_id, "completed")
    gone = track(api_server, token)
    assert gone.status_code == 410 and gone.json() == {"detail": "this tracking link has expired"}
    assert (
        issue(api_server, keys["dispatcher"], journey_id).status_code == 409
    )  # no link for a closed journey


def test_a_new_link_revokes_the_old_one(
    api_server: str, keys: dict[str, str], db: psycopg.Connection, vehicle: tuple[int, str], own_hospital: int
) -> None:
    vehicle_id, _ = vehicle
    journey_id = dispatch(api_server, keys["dispatcher"], vehicle_id, own_hospital)
    first = issue(api_server, keys["admin"], journey_id).json()["token"]
    second = issue(api_server, keys["dispatcher"], journey_id).json()["token"]
    assert first != second
    assert track(api_server, first).status_code == 410
    shown = track(api_server, second).json()  # no position yet: no vehicle, no ETA
    assert shown["status"] == "dispatched" and shown["vehicle"] is None and shown["eta_s"] is None
    set_status(api_server, keys["dispatcher"], journey_id, "cancelled")
    assert track(api_server, second).status_code == 410


def test_who_may_issue_a_link(
    api_server: str,
    keys: dict[str, str],
    browsers: dict[str, Browser],
    vehicle: tuple[int, str],
    own_hospital: int,
) -> None:
    journey_id = dispatch(api_server, keys["dispatcher"], vehicle[0], own_hospital)
    for role in ("viewer", "hospital"):
        assert issue(api_server, keys[role], journey_id).status_code == 403
        assert browsers[role].call("POST", f"/api/v1/journeys/{journey_id}/caller-link").status_code == 403
    assert httpx.post(f"{api_server}/api/v1/journeys/{journey_id}/caller-link", timeout=5).status_code == 401
    by_session = browsers["dispatcher"].call("POST", f"/api/v1/journeys/{journey_id}/caller-link")
    assert by_session.status_code == 201
    assert issue(api_server, keys["dispatcher"], 999_999).status_code == 404


def test_links_cannot_be_guessed(
    api_server: str, keys: dict[str, str], vehicle: tuple[int, str], own_hospital: int
) -> None:
    journey_id = dispatch(api_server, keys["dispatcher"], vehicle[0], own_hospital)
    tokens = [issue(api_server, keys["dispatcher"], journey_id).json()["token"] for _ in range(20)]
    assert len(set(tokens)) == 20
    # About 6 bits per URL-safe character, 32 characters: no character dominates.
    counts = Counter("".join(tokens))
    assert max(counts.values()) < 40 and len(counts) > 50
    assert all(len(t) * math.log2(64) >= 128 for t in tokens)
    for guess in ("", "a", tokens[-1][:-1], tokens[-1].upper(), "x" * 200):
        assert track(api_server, guess).status_code in (404, 405), guess


def test_the_public_endpoint_is_rate_limited_per_address(api_server: str, db: psycopg.Connection) -> None:
    answered = 0
    for _ in range(245):  # 120 a minute; a minute window may roll over once meanwhile
        resp = track(api_server, "not-a-token")
        if resp.status_code == 429:
            break
        assert resp.status_code == 404
        answered += 1
    assert resp.status_code == 429 and 120 <= answered <= 240
    assert 1 <= int(resp.headers["retry-after"]) <= 60
