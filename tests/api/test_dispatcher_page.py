"""The dispatcher page in Debian's headless Chromium, on the running system: the emulated fleet
drives, the gateway stores, the API streams, and the map shows vehicles moving."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from accounts.access import create_api_key
from tests.services import Broker, start_gateway
from tracking.fleet import register_device, register_vehicle, seed_demo_fleet

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def open_journey_card(browser, api_server: str, key: str, journey_id: int):  # type: ignore[no-untyped-def]
    """A dispatcher's page (signed in with `key`) with the journey's card open; the page."""
    desk = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    desk.goto(f"{api_server}/#token={key}")
    desk.wait_for_function("() => window.ambState.connected", timeout=20_000)
    desk.click("#tab-journeys")
    desk.click(f"#journey-list li[data-journey-id='{journey_id}']")
    return desk


def positions(page) -> dict[str, tuple[float, float]]:  # type: ignore[no-untyped-def]
    return page.evaluate(
        """() => Object.fromEntries(Object.values(window.ambState.vehicles)
              .filter(v => v.position).map(v => [v.call_sign, [v.position.lat, v.position.lon]]))"""
    )


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_dispatcher_page_shows_the_fleet_moving(
    broker: Broker,
    api_server: str,
    db: psycopg.Connection,
    tmp_path: Path,
    unique: str,
    artifacts: Path,
) -> None:
    from playwright.sync_api import sync_playwright

    prefix = f"b{unique}-"
    seed_demo_fleet(db, 4, prefix)
    key = create_api_key(db, "browser test", "dispatcher")
    gw = start_gateway(broker, tmp_path, f"gw-{unique}")
    emulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "device_emulator",
            "--vehicles",
            "4",
            "--rate",
            "2",
            "--dwell-scale",
            "0.01",
            "--noise-m",
            "0",
            "--duration",
            "60",
            "--device-prefix",
            prefix,
        ],
        env={**os.environ, "AMB_MQTT_URL": broker.url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 900})
            page.goto(f"{api_server}/#token={key}")
            page.wait_for_selector("body[data-ready='1']", timeout=20_000)
            assert "#token" not in page.url  # the key leaves the address bar
            page.wait_for_function(
                "() => window.ambState.connected && window.ambState.fixesReceived > 0", timeout=20_000
            )
            page.wait_for_function(
                "() => Object.values(window.ambState.vehicles).filter(v => v.position).length === 4",
                timeout=20_000,
            )
            first = positions(page)
            time.sleep(4)
            second = positions(page)
            moved = [sign for sign in first if first[sign] != second[sign]]
            assert moved, f"no vehicle moved: {first} -> {second}"
            assert "Giám sát hành trình xe cứu thương" in page.inner_text("#app-title")
            assert page.locator(".leaflet-control-attribution").inner_text().find("OpenStreetMap") >= 0
            page.screenshot(path=str(artifacts / "dispatcher-vi.png"))

            page.click("#lang-en")
            page.wait_for_function("() => document.documentElement.lang === 'en'")
            assert "Ambulance" in page.inner_text("#app-title")
            assert "Fleet" in page.inner_text("#fleet-title")
            page.screenshot(path=str(artifacts / "dispatcher-en.png"))
            browser.close()
    finally:
        emulator.terminate()
        emulator.wait(10)
        gw.stop()


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_dispatcher_page_without_a_key_asks_for_one(api_server: str, artifacts: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{api_server}/")
        page.wait_for_selector("#access-required", state="visible", timeout=10_000)
        assert "mã truy cập" in page.inner_text("#access-required").lower()
        browser.close()


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_a_tracker_heard_without_a_fix_is_shown_connected_without_gps(
    api_server: str, db: psycopg.Connection, unique: str, artifacts: Path
) -> None:
    """Issue 11, item 5, on the map: a tracker whose last fix is 10 minutes old but which the
    tracker heard 5 s ago (invalid fixes in a garage) is 'connected, no GPS', not 'disconnected';
    one heard of nothing for 10 minutes is disconnected."""
    from playwright.sync_api import sync_playwright

    number = int(unique, 16) % 99_000
    garage = register_vehicle(db, f"43A-{number:05d}", f"G{unique}")
    silent = register_vehicle(db, f"43A-{number + 1:05d}", f"S{unique}")
    for vehicle in (garage, silent):
        device = f"dev-{vehicle.id}-{unique}"
        register_device(db, device, plate=vehicle.plate)
        db.execute(
            "INSERT INTO vehicle_latest (vehicle_id, device_id, fix_time, received_at, geom)"
            " VALUES (%s, %s, now() - interval '10 minutes', now() - interval '10 minutes',"
            " ST_SetSRID(ST_MakePoint(108.2, 16.05), 4326))",
            (vehicle.id, device),
        )
    db.execute(
        "INSERT INTO vehicle_state (vehicle_id, heard_at, no_fix_since) VALUES"
        " (%s, now() - interval '5 seconds', now() - interval '9 minutes')",
        (garage.id,),
    )
    key = create_api_key(db, "no-fix test", "dispatcher")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        page.goto(f"{api_server}/#token={key}")
        page.wait_for_selector("body[data-ready='1']", timeout=20_000)
        row = f".fleet-row[data-freshness='nofix'] >> text=G{unique}"
        page.wait_for_selector(row, timeout=10_000)
        page.wait_for_selector(f".fleet-row[data-freshness='offline'] >> text=S{unique}", timeout=10_000)
        assert page.locator(".vehicle-icon[data-freshness='nofix']").count() >= 1
        assert "mất GPS" in page.inner_text("#fleet-panel")
        page.screenshot(path=str(artifacts / "dispatcher-no-gps.png"))
        page.click("#lang-en")
        page.wait_for_function("() => document.documentElement.lang === 'en'")
        assert "Connected, no GPS" in page.inner_text("#fleet-panel")
        browser.close()
