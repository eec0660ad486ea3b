"""The crew's tablet as the vehicle's tracker, in Chromium against a real gateway: the browser's
Geolocation API goes to the gateway's OsmAnd/HTTP listener like any phone tracker (its own device
and token), each fix dropped from the tablet only once the gateway answered after the commit; a
gap offline is buffered and resent (as a backlog array) on reconnecting; nothing is stored twice."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from accounts.access import create_api_key
from tests.api.test_crew_page import PHONE
from tests.api.test_dispatcher_page import CHROMIUM, CHROMIUM_ARGS
from tests.services import Broker, free_port, start_api, start_gateway
from tracking.crew import tablet_device_id
from tracking.fleet import register_vehicle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROUTE = [
    (16.0600, 108.2200),
    (16.0605, 108.2203),
    (16.0610, 108.2206),
    (16.0615, 108.2209),
    (16.0620, 108.2212),
]


def test_the_gateway_answers_a_listed_origins_preflight_only(broker: Broker, tmp_path: Path) -> None:
    port = free_port()
    gw = start_gateway(
        broker, tmp_path, "cors", osmand_port=str(port), osmand_allowed_origins="http://tablet.example"
    )
    try:
        headers = {"Origin": "http://tablet.example", "Access-Control-Request-Method": "POST"}
        ok = httpx.options(f"http://127.0.0.1:{port}/", headers=headers, timeout=10)
        assert ok.status_code == 204 and ok.headers["access-control-allow-origin"] == "http://tablet.example"
        assert "Authorization" in ok.headers["access-control-allow-headers"]
        other = httpx.options(
            f"http://127.0.0.1:{port}/", headers={**headers, "Origin": "http://evil.example"}
        )
        assert other.status_code == 403 and "access-control-allow-origin" not in other.headers
        # A post from an unlisted page gets its answer without CORS headers: the page cannot read it.
        posted = httpx.post(
            f"http://127.0.0.1:{port}/?id=nobody&lat=16&lon=108", headers={"Origin": "http://evil.example"}
        )
        assert "access-control-allow-origin" not in posted.headers
    finally:
        gw.stop()


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_a_tablet_tracks_its_vehicle_through_the_gateway(
    broker: Broker, db: psycopg.Connection, tmp_path: Path, artifacts: Path
) -> None:
    from playwright.sync_api import sync_playwright

    vehicle_id = register_vehicle(db, "43A55001", "115-G1").id
    key = create_api_key(db, "tracker test", "dispatcher")
    osmand = free_port()
    api, api_port = start_api(broker, tmp_path, AMB_API_TRACKER_URL=f"http://127.0.0.1:{osmand}/")
    base = f"http://127.0.0.1:{api_port}"
    gw = start_gateway(
        broker,
        tmp_path,
        "tablet",
        osmand_port=str(osmand),
        osmand_allowed_origins=base,
        registry_miss_refresh_s="0.2",
    )
    device = tablet_device_id(vehicle_id)

    def stored() -> list[tuple[float, float]]:
        rows = db.execute(
            "SELECT ST_Y(geom), ST_X(geom) FROM positions WHERE device_id = %s ORDER BY fix_time", (device,)
        ).fetchall()
        return [(round(r[0], 4), round(r[1], 4)) for r in rows]

    def wait_for(check, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.3)

    try:
        code = httpx.post(
            f"{base}/api/v1/vehicles/{vehicle_id}/crew-code", headers={"Authorization": f"Bearer {key}"}
        ).json()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            lat, lon = ROUTE[0]
            tablet = browser.new_context(
                **PHONE,
                geolocation={"latitude": lat, "longitude": lon, "accuracy": 8},
                permissions=["geolocation"],
            )
            crew = tablet.new_page()
            crew.goto(f"{base}{code['url']}")
            crew.wait_for_function("() => window.ambCrew.ready", timeout=20_000)
            crew.click("#crew-tracker")
            crew.wait_for_function("() => window.ambCrew.tracker?.on", timeout=10_000)
            wait_for(lambda: (lat, lon) in stored())
            tablet.set_geolocation({"latitude": ROUTE[1][0], "longitude": ROUTE[1][1], "accuracy": 8})
            wait_for(lambda: ROUTE[1] in stored())

            # A gap: the fixes wait on the tablet, then go together on reconnecting.
            tablet.set_offline(True)
            for lat, lon in ROUTE[2:]:
                time.sleep(0.3)
                tablet.set_geolocation({"latitude": lat, "longitude": lon, "accuracy": 8})
            crew.wait_for_function("() => window.ambCrew.tracker.buffered >= 3", timeout=10_000)
            assert not set(ROUTE[2:]) & set(stored())
            crew.screenshot(path=str(artifacts / "crew-tracker-offline.png"))
            tablet.set_offline(False)
            wait_for(lambda: set(ROUTE) <= set(stored()))
            crew.wait_for_function("() => window.ambCrew.tracker.buffered === 0", timeout=30_000)
            browser.close()
        rows = db.execute(
            "SELECT count(*), count(DISTINCT fix_time), bool_and(vehicle_id = %s) FROM positions WHERE device_id = %s",
            (vehicle_id, device),
        ).fetchone()
        assert rows is not None and rows[0] == rows[1] and rows[2]  # each fix once, for this vehicle
        latest = db.execute(
            "SELECT device_id FROM vehicle_latest WHERE vehicle_id = %s", (vehicle_id,)
        ).fetchone()
        assert latest == (device,)
    finally:
        gw.stop()
        api.stop()
