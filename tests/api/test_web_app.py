"""The web app in Debian's headless Chromium: signing in as each role, dispatching from the map
(ambulances ranked by road, the route and a live ETA, status overrides, the caller link), the
hospital board updating live, the caller's tracking page, replay and geofence editing.

The API process is real; the tracker's output (fixes, ETAs) is published on the committed topics
the API relays, so every test controls exactly what the pages receive."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from fixes.model import Fix
from fixes.positions import PartitionCache, prepare_connection, store_fixes
from tests.api.conftest import PASSWORD
from tests.api.test_dispatcher_page import CHROMIUM, CHROMIUM_ARGS
from tests.mqtt import publish_committed
from tests.services import Broker
from tests.tracking.test_eta import place_vehicle
from tracking.fleet import register_device, register_vehicle

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed"),
]

# Three ambulances waiting around Hải Châu, on the imported road network.
PLACES = [(16.0680, 108.2120), (16.0545, 108.2085), (16.0735, 108.2230)]
SCENE = (16.0612, 108.2240)


@pytest.fixture
def fleet(db: psycopg.Connection) -> list[int]:
    """Three available ambulances with a fresh position: their vehicle ids."""
    ids = []
    for n, (lat, lon) in enumerate(PLACES, start=1):
        v = register_vehicle(db, f"43A9990{n}", f"115-W{n}")
        register_device(db, f"web-{n}", "mqtt_json", v.plate)
        place_vehicle(db, v.id, f"web-{n}", lat, lon, seconds_ago=1)
        ids.append(v.id)
    return ids


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def api(base: str, key: str, method: str, path: str, body: object | None = None) -> Any:
    resp = httpx.request(
        method, f"{base}{path}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    assert resp.status_code < 300, resp.text
    return resp.json() if resp.content else None


def set_status(base: str, key: str, journey: dict[str, Any], status: str) -> None:
    api(base, key, "POST", f"/api/v1/journeys/{journey['id']}/status", {"status": status})


def dispatch(base: str, key: str, vehicle_id: int, hospital_id: int | None = None) -> dict[str, Any]:
    body = {
        "vehicle_id": vehicle_id,
        "incident": {"lat": SCENE[0], "lon": SCENE[1], "address": "12 Bạch Đằng, Hải Châu"},
        "priority": 1,
        "destination_hospital_id": hospital_id,
    }
    journey: dict[str, Any] = api(base, key, "POST", "/api/v1/journeys", body)
    return journey


def run_async(task: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Runs a coroutine on its own thread: Playwright's sync API holds this thread's event loop."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, task()).result(timeout=20)


def publish(broker: Broker, kind: str, items: list[dict[str, Any]]) -> None:
    """Publishes what the tracker or a gateway would after a commit (the API relays it)."""

    async def send() -> None:
        await publish_committed(broker, kind, items)

    run_async(send)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def eta(
    journey: dict[str, Any], target: str, remaining_s: int, remaining_m: int, hospital_id: int | None = None
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "journey_id": journey["id"],
        "vehicle_id": journey["vehicle_id"],
        "hospital_id": hospital_id,
        "target": target,
        "remaining_m": remaining_m,
        "remaining_s": remaining_s,
        "arrival_at": iso(now + timedelta(seconds=remaining_s)),
        "arrival_window": {
            "early_at": iso(now + timedelta(seconds=0.8 * remaining_s)),
            "late_at": iso(now + timedelta(seconds=1.3 * remaining_s)),
        },
        "fix_time": iso(now),
        "computed_at": iso(now),
        "lat": PLACES[0][0],
        "lon": PLACES[0][1],
    }


def sign_in(page: Any, base: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/login")
    page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("#login-submit")


def test_sign_in_as_each_role(api_server: str, users: dict[str, str], browser: Any, artifacts: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    # No session: the board sends people to the login page, which will bring them back.
    page.goto(f"{api_server}/board")
    page.wait_for_url("**/login?next=%2Fboard", timeout=10_000)
    page.wait_for_selector("body[data-ready='1']")
    page.screenshot(path=str(artifacts / "web-login-vi.png"))
    page.fill("#login-username", users["dispatcher"])
    page.fill("#login-password", "not the password")
    page.click("#login-submit")
    page.wait_for_selector("#login-error:not([hidden])")
    assert "Sai tên đăng nhập hoặc mật khẩu" in page.inner_text("#login-error")
    page.click("#lang-en")
    assert "Wrong username or password" in page.inner_text("#login-error")
    page.screenshot(path=str(artifacts / "web-login-error-en.png"))
    # Too many attempts: the wait the server asks for counts down, the button waits with it.
    page.route(
        "**/api/v1/auth/login",
        lambda route: route.fulfill(
            status=429, headers={"Retry-After": "42"}, json={"detail": "too many failed logins"}
        ),
    )
    page.click("#login-submit")
    page.wait_for_selector("#login-error[data-tone='wait']")
    assert any(f"{n}\u00a0s" in page.inner_text("#login-error") for n in range(30, 43))
    assert page.is_disabled("#login-submit")
    page.close()

    landing = {"admin": "/", "dispatcher": "/", "viewer": "/", "hospital": "/board"}
    for role, username in users.items():
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        sign_in(page, api_server, username)
        page.wait_for_url(f"{api_server}{landing[role]}", timeout=10_000)
        page.wait_for_selector("#user-menu:not([hidden])", timeout=10_000)
        assert page.inner_text("#user-name") == username.title()
        assert page.get_attribute("#user-role", "data-role") == role
        if role == "hospital":
            page.wait_for_selector("body[data-ready='1']", timeout=10_000)
            assert page.evaluate("() => window.ambState.hospitalId") is not None
        else:
            page.wait_for_selector("body[data-ready='1']", timeout=15_000)
            page.wait_for_function("() => window.ambState.connected", timeout=10_000)
            editor = role in ("admin", "dispatcher")
            assert page.locator("#new-journey").count() == (1 if editor else 0)
            page.click("#tab-geofences")
            assert page.locator("#draw-polygon").is_visible() == editor
            if role == "viewer":
                page.screenshot(path=str(artifacts / "web-viewer.png"))
        # Signing out ends the session: the API no longer knows this browser.
        page.click("#logout")
        page.wait_for_url("**/login", timeout=10_000)
        assert context.request.get(f"{api_server}/api/v1/auth/me").status == 401
        context.close()


def test_dispatcher_creates_a_journey_from_the_map(
    api_server: str,
    broker: Broker,
    users: dict[str, str],
    fleet: list[int],
    own_hospital: int,
    browser: Any,
    artifacts: Path,
) -> None:
    page = browser.new_page(viewport={"width": 1600, "height": 900})
    sign_in(page, api_server, users["dispatcher"])
    page.wait_for_url(f"{api_server}/")
    page.wait_for_selector("body[data-ready='1']", timeout=15_000)
    page.wait_for_function(
        "() => window.ambState.connected && Object.keys(window.ambState.vehicles).length === 3"
    )

    # Vehicles move with the fixes the gateway commits.
    moved = {
        "vehicle_id": fleet[0],
        "device_id": "web-1",
        "time": iso(datetime.now(UTC)),
        "received_at": iso(datetime.now(UTC)),
        "lat": 16.0690,
        "lon": 108.2125,
        "speed_kmh": 35,
        "heading": 20,
        "latest": True,
        "late": False,
    }
    publish(broker, "fixes", [moved])
    page.wait_for_function(
        f"() => window.ambState.vehicles[{fleet[0]}].position.lat === 16.069", timeout=10_000
    )

    # "Tạo hành trình", then a click on the map places the incident.
    page.click("#new-journey")
    assert "is-placing" in (page.get_attribute("#map", "class") or "")
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector("#dispatch-units li", timeout=10_000)
    page.wait_for_function("() => window.ambState.dispatch.hospitals.length > 0", timeout=10_000)
    units = page.evaluate("() => window.ambState.dispatch.units")
    assert {u["id"] for u in units} == set(fleet)
    assert [u["duration_s"] for u in units] == sorted(u["duration_s"] for u in units)
    assert page.is_checked(f"input[name='dispatch-unit'][value='{units[0]['id']}']")  # the fastest
    assert "phút" in page.inner_text("#dispatch-units li:first-child .choice-travel")
    page.fill("#dispatch-address", "45 Lê Duẩn, Hải Châu — người già ngất xỉu")
    page.click("[data-priority-choice='1']")
    page.click(f"#dispatch-hospitals li[data-hospital-id='{own_hospital}'] label")
    page.screenshot(path=str(artifacts / "web-dispatch-panel.png"))
    page.click("#dispatch-submit")

    page.wait_for_function("() => window.ambState.dispatch.lastJourneyId", timeout=10_000)
    jid = page.evaluate("() => window.ambState.dispatch.lastJourneyId")
    page.wait_for_selector(f"#journey-list li[data-journey-id='{jid}']")
    journey = page.evaluate(f"() => window.ambState.journeys[{jid}]")
    assert journey["vehicle_id"] == units[0]["id"] and journey["priority"] == 1
    assert journey["destination_hospital_id"] == own_hospital
    # The road route to the scene is drawn, then the ETA follows the stream.
    page.wait_for_function(f"() => (window.ambState.etas[{jid}]?.route_points ?? 0) > 1", timeout=10_000)
    publish(broker, "etas", [eta(journey, "scene", 240, 1800, own_hospital)])
    page.wait_for_function(f"() => window.ambState.etas[{jid}]?.remaining_s === 240", timeout=10_000)
    assert "Đến hiện trường" in page.inner_text("#journey-detail-eta")
    assert "1,8 km" in page.inner_text(f"#journey-list li[data-journey-id='{jid}'] .journey-eta")
    page.screenshot(path=str(artifacts / "web-journey-card.png"))

    # The caller's link, then a status set by hand.
    page.click("#caller-link")
    page.wait_for_selector("#caller-link-url")
    assert "/track/" in page.input_value("#caller-link-url")
    page.click("[data-status-action='on_scene']")
    page.wait_for_function(f"() => window.ambState.journeys[{jid}]?.status === 'on_scene'", timeout=10_000)
    page.click("#lang-en")
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    page.screenshot(path=str(artifacts / "web-journey-card-en.png"))


def test_hospital_board_follows_its_inbound_ambulances(
    api_server: str,
    broker: Broker,
    users: dict[str, str],
    keys: dict[str, str],
    fleet: list[int],
    own_hospital: int,
    browser: Any,
    artifacts: Path,
) -> None:
    journey = dispatch(api_server, keys["dispatcher"], fleet[0], own_hospital)
    set_status(api_server, keys["dispatcher"], journey, "transporting")

    page = browser.new_page(viewport={"width": 1600, "height": 900})
    sign_in(page, api_server, users["hospital"])
    page.wait_for_url(f"{api_server}/board")
    row = f"tr[data-journey-id='{journey['id']}']"
    page.wait_for_selector(row, timeout=10_000)
    page.wait_for_function("() => window.ambState.connected")
    assert page.get_attribute(row, "data-status") == "transporting"

    publish(broker, "etas", [eta(journey, "hospital", 300, 2400, own_hospital)])
    page.wait_for_function("() => window.ambState.inbound[0]?.distance_left_m === 2400", timeout=10_000)
    left = page.evaluate("() => window.ambState.inbound[0].seconds_left")
    assert 280 <= left <= 300
    assert page.inner_text(f"{row} .eta-countdown") in {"5:00", "4:59", "4:58", "4:57", "4:56", "4:55"}
    assert page.inner_text(f"{row} .cell-distance") == "2,4 km"
    assert "(trong khoảng " in page.inner_text(f"{row} .eta-note")  # the p10-p90 arrival window
    # Counting down each second (waited for, not timed: a loaded machine may skip a tick).
    page.wait_for_function(f"() => window.ambState.inbound[0].seconds_left < {left}", timeout=10_000)
    page.screenshot(path=str(artifacts / "web-board-vi.png"))
    page.click("#lang-en")
    assert page.inner_text(f"{row} .cell-distance") == "2.4 km"
    assert "(between " in page.inner_text(f"{row} .eta-note")
    page.screenshot(path=str(artifacts / "web-board-en.png"))

    # It arrives: the status change reaches the board, which takes the list again.
    set_status(api_server, keys["dispatcher"], journey, "at_hospital")
    page.wait_for_selector(f"{row}[data-phase='arrived']", timeout=10_000)

    # A dispatcher may open any hospital's board.
    other = browser.new_page(viewport={"width": 1280, "height": 800})
    sign_in(other, api_server, users["dispatcher"])
    other.wait_for_url(f"{api_server}/")
    other.goto(f"{api_server}/board?hospital={own_hospital}")
    other.wait_for_selector(row, timeout=10_000)


def test_caller_tracking_page(
    api_server: str, keys: dict[str, str], fleet: list[int], browser: Any, artifacts: Path
) -> None:
    journey = dispatch(api_server, keys["dispatcher"], fleet[1])
    link = api(api_server, keys["dispatcher"], "POST", f"/api/v1/journeys/{journey['id']}/caller-link")
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.goto(f"{api_server}{link['url']}")
    page.wait_for_selector("body[data-state='approaching']", timeout=10_000)
    assert page.inner_text("#track-title") == "Xe cứu thương đang đến"
    page.wait_for_function("() => window.ambState.eta_s !== null")
    assert "phút" in page.inner_text("#eta-minutes") or "Sắp đến" in page.inner_text("#eta-minutes")
    assert "(trong khoảng " in page.inner_text("#eta-clock")  # the p10-p90 arrival window
    assert page.inner_text("#eta-distance").endswith("km") or page.inner_text("#eta-distance").endswith(" m")
    assert "OpenStreetMap" in page.inner_text("#track-map .leaflet-control-attribution")
    page.screenshot(path=str(artifacts / "web-track-vi.png"))
    page.click("#lang-en")
    assert page.inner_text("#track-title") == "Your ambulance is on its way"
    assert "(between " in page.inner_text("#eta-clock")
    page.screenshot(path=str(artifacts / "web-track-en.png"))

    # On scene: the next poll (every 5 s) says it arrived; a closed journey's link has expired.
    set_status(api_server, keys["dispatcher"], journey, "on_scene")
    page.wait_for_selector("body[data-state='arrived']", timeout=10_000)
    set_status(api_server, keys["dispatcher"], journey, "cancelled")
    page.reload()
    page.wait_for_selector("body[data-state='expired']", timeout=10_000)
    page.screenshot(path=str(artifacts / "web-track-expired.png"))
    page.goto(f"{api_server}/track/not-a-real-token")
    page.wait_for_selector("body[data-state='invalid']", timeout=10_000)
    context.close()


def store_trail(database_url: str, vehicle_id: int, device_id: str, start: datetime, n: int) -> None:
    """n fixes 15 s apart driving east along Lê Duẩn, as the gateway would have stored them."""

    async def run() -> None:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await prepare_connection(conn)
            fixes = [
                Fix(
                    device_id,
                    vehicle_id,
                    start + timedelta(seconds=15 * i),
                    start + timedelta(seconds=15 * i),
                    16.0700,
                    108.2100 + 0.0012 * i,
                    "mqtt_json",
                    speed_kmh=30 + i,
                    course=90,
                )
                for i in range(n)
            ]
            await PartitionCache().ensure(conn, fixes)
            await store_fixes(conn, fixes)

    run_async(run)


def test_replay_and_geofence_editing(
    api_server: str,
    database_url: str,
    db: psycopg.Connection,
    users: dict[str, str],
    keys: dict[str, str],
    fleet: list[int],
    browser: Any,
    artifacts: Path,
) -> None:
    journey = dispatch(api_server, keys["dispatcher"], fleet[2])
    start = datetime.now(UTC) - timedelta(minutes=5)
    db.execute("UPDATE journeys SET dispatched_at = %s WHERE id = %s", (start, journey["id"]))
    db.execute("UPDATE journey_status_log SET at = %s WHERE journey_id = %s", (start, journey["id"]))
    store_trail(database_url, fleet[2], "web-3", start + timedelta(seconds=10), 12)
    set_status(api_server, keys["dispatcher"], journey, "completed")

    page = browser.new_page(viewport={"width": 1600, "height": 900})
    sign_in(page, api_server, users["dispatcher"])
    page.wait_for_url(f"{api_server}/")
    page.wait_for_selector("body[data-ready='1']", timeout=15_000)

    # Replay from the closed journeys: a marker moving along the fixes, with time, status and speed.
    page.click("#tab-journeys")
    page.click("[data-journey-scope='closed']")
    page.click(f"#journey-history li[data-journey-id='{journey['id']}'] button")
    page.wait_for_function("() => window.ambState.replay?.frames === 12", timeout=10_000)
    page.wait_for_function("() => window.ambState.replay.index > 0", timeout=10_000)
    page.click("#replay-play")  # pause
    page.fill("#replay-slider", "1000")
    state = page.evaluate("() => window.ambState.replay")
    assert state["index"] == 11 and not state["playing"]
    assert page.inner_text("#replay-speed-kmh") == "41 km/h"
    assert page.locator("path.replay-path").count() >= 1
    page.screenshot(path=str(artifacts / "web-replay.png"))
    page.click("#replay-close")

    # A polygon drawn on the map, saved, renamed, then deleted.
    page.click("#tab-geofences")
    page.click("#draw-polygon")
    box = page.locator("#map").bounding_box()
    assert box is not None
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for dx, dy in [(-80, -60), (60, -70), (90, 50), (-70, 60)]:
        page.mouse.click(cx + dx, cy + dy)
        page.wait_for_timeout(120)
    page.mouse.dblclick(cx - 70, cy + 60)
    page.wait_for_selector("#geofence-form[data-mode='new']")
    page.fill("#geofence-name", "Chợ Hàn — cấm dừng")
    page.select_option("#geofence-kind", "restricted_zone")
    page.click("#geofence-save")
    page.wait_for_function("() => window.ambState.geofences.lastSavedId", timeout=10_000)
    gid = page.evaluate("() => window.ambState.geofences.lastSavedId")
    saved = api(api_server, keys["viewer"], "GET", f"/api/v1/geofences/{gid}")
    assert saved["properties"]["name"] == "Chợ Hàn — cấm dừng"
    assert saved["properties"]["shape"]["type"] == "polygon"
    assert len(saved["properties"]["shape"]["coordinates"][0]) == 5  # four corners, closed
    page.screenshot(path=str(artifacts / "web-geofence-edit.png"))

    page.fill("#geofence-name", "Chợ Hàn")
    page.select_option("#geofence-kind", "speed_zone")
    page.fill("#geofence-limit", "30")
    page.click("#geofence-save")
    page.wait_for_function(
        f"() => document.querySelector('#geofence-list li[data-geofence-id=\"{gid}\"] .zone-name')?.textContent === 'Chợ Hàn'",
        timeout=10_000,
    )
    renamed = api(api_server, keys["viewer"], "GET", f"/api/v1/geofences/{gid}")["properties"]
    assert (renamed["name"], renamed["kind"], renamed["speed_limit_kmh"]) == ("Chợ Hàn", "speed_zone", 30)

    page.click("#geofence-delete")
    page.click("#geofence-delete")  # the second click confirms
    page.wait_for_selector(f"#geofence-list li[data-geofence-id='{gid}']", state="detached", timeout=10_000)
    listed = api(api_server, keys["viewer"], "GET", "/api/v1/geofences")["features"]
    assert gid not in {f["id"] for f in listed}
