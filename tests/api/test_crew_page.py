"""The crew's tablet in Debian's headless Chromium, beside a dispatcher's page: a phone-sized crew
page signed in with the QR code's address receives a dispatch made in another browser context,
presses through every status (one while offline, sent after reconnecting, with its original time),
and the dispatcher's page shows each change. Screenshots in test-artifacts/."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path

import httpx
import psycopg
import pytest

from accounts.access import create_api_key
from tests.api.test_dispatcher_page import CHROMIUM, CHROMIUM_ARGS
from tracking.fleet import register_vehicle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
DISPATCH_JS = """async ([key, body]) => {
  const r = await fetch('/api/v1/journeys', {method: 'POST',
    headers: {'Authorization': 'Bearer ' + key, 'Content-Type': 'application/json'}, body: JSON.stringify(body)});
  return [r.status, await r.json()];
}"""


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_a_crew_runs_a_journey_from_a_phone(api_server: str, db: psycopg.Connection, artifacts: Path) -> None:
    from playwright.sync_api import sync_playwright

    vehicle_id = register_vehicle(db, "43A77010", "115-P1").id
    hospital_id = db.execute("SELECT min(id) FROM hospitals WHERE has_emergency").fetchone()[0]  # type: ignore[index]
    key = create_api_key(db, "crew page test", "dispatcher")
    latencies: dict[str, float] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        desk = browser.new_context(viewport={"width": 1400, "height": 900})
        dispatcher = desk.new_page()
        dispatcher.goto(f"{api_server}/#token={key}")
        dispatcher.wait_for_function("() => window.ambState.connected", timeout=20_000)
        # The dispatcher shows the tablet a QR sign-in code from the vehicle's card.
        dispatcher.click(f"#fleet-list li[data-vehicle-id='{vehicle_id}'] button")
        dispatcher.click("#crew-code-issue")
        dispatcher.wait_for_selector("#crew-code-qr")
        dispatcher.screenshot(path=str(artifacts / "dispatcher-crew-qr.png"))
        code_url = dispatcher.evaluate("window.ambCrewCode.url")
        assert "/crew#code=" in code_url

        tablet = browser.new_context(**PHONE)
        crew = tablet.new_page()
        crew.goto(code_url)
        crew.wait_for_function("() => window.ambCrew.ready && window.ambCrew.polls > 0", timeout=20_000)
        assert "#code" not in crew.url  # the code leaves the address bar
        assert crew.inner_text("#crew-idle").startswith("Chưa có nhiệm vụ")

        body = {
            "vehicle_id": vehicle_id,
            "incident": {"lat": 16.0612, "lon": 108.2240, "address": "12 Bạch Đằng, Hải Châu"},
            "priority": 1,
            "destination_hospital_id": hospital_id,
            "note": "ngã xe máy, chảy máu đầu",
        }
        status, journey = dispatcher.evaluate(DISPATCH_JS, [key, body])
        assert status == 201, journey
        jid = journey["id"]
        crew.wait_for_function(f"() => window.ambCrew.journeyId === {jid}", timeout=10_000)
        assert crew.evaluate("window.ambCrew.alerts") == 1  # the dispatch was announced
        assert "12 Bạch Đằng" in crew.inner_text("#crew-address")
        assert "chảy máu" in crew.inner_text("#crew-note")
        dispatcher.wait_for_function(f"() => window.ambState.journeys[{jid}]", timeout=10_000)
        crew.screenshot(path=str(artifacts / "crew-phone-dispatched.png"))

        def press(status: str) -> float:
            started = time.monotonic()
            crew.click(f"#crew-buttons button[data-status='{status}']")
            return started

        def dispatcher_shows(status: str, started: float) -> float:
            """Seconds from the press (or the reconnection) to the dispatcher's page showing it."""
            if status == "completed":
                dispatcher.wait_for_function(f"() => !window.ambState.journeys[{jid}]", timeout=10_000)
            else:
                dispatcher.wait_for_function(
                    f"() => window.ambState.journeys[{jid}]?.status === '{status}'", timeout=10_000
                )
            return time.monotonic() - started

        latencies["en_route"] = dispatcher_shows("en_route", press("en_route"))

        # Offline: the press waits on the tablet with its time, then goes when the network is back.
        tablet.set_offline(True)
        press("on_scene")
        crew.wait_for_function("() => window.ambCrew.pending === 1 && window.ambCrew.status === 'on_scene'")
        assert crew.get_attribute("body", "data-online") == "0"
        crew.screenshot(path=str(artifacts / "crew-phone-offline.png"))
        time.sleep(2)  # the press is older than its sending
        assert dispatcher.evaluate(f"window.ambState.journeys[{jid}].status") == "en_route"
        reconnected = time.monotonic()
        tablet.set_offline(False)
        latencies["on_scene (from reconnecting)"] = dispatcher_shows("on_scene", reconnected)
        crew.wait_for_function("() => window.ambCrew.pending === 0", timeout=10_000)

        for status in ("transporting", "at_hospital"):
            latencies[status] = dispatcher_shows(status, press(status))
        crew.wait_for_function(
            "() => document.querySelectorAll('#crew-log li.queued').length === 1", timeout=10_000
        )
        crew.screenshot(path=str(artifacts / "crew-phone-log.png"), full_page=True)
        dispatcher.screenshot(path=str(artifacts / "dispatcher-crew-statuses.png"))
        latencies["completed (available)"] = dispatcher_shows("completed", press("completed"))
        crew.wait_for_function("() => window.ambCrew.journeyId === null", timeout=10_000)

        crew.click("#lang-en")
        assert "No assignment" in crew.inner_text("#crew-idle")
        assert crew.evaluate("window.ambCrew.refused") == []
        browser.close()

    log = httpx.get(f"{api_server}/api/v1/journeys/{jid}", headers={"Authorization": f"Bearer {key}"}).json()[
        "status_log"
    ]
    crew_rows = [r for r in log if r["source"] == "crew"]
    assert [r["to_status"] for r in crew_rows] == [
        "en_route",
        "on_scene",
        "transporting",
        "at_hospital",
        "completed",
    ]
    queued = [r for r in crew_rows if r["queued"]]
    assert [r["to_status"] for r in queued] == ["on_scene"]
    # Its original time, by the tablet's clock: at least the 2 s it waited before it was sent.
    waited = (
        datetime.fromisoformat(queued[0]["logged_at"]) - datetime.fromisoformat(queued[0]["at"])
    ).total_seconds()
    assert waited >= 2
    (artifacts / "crew-status-latency.json").write_text(json.dumps(latencies, indent=2))
    print("crew press -> dispatcher page (s):", {k: round(v, 3) for k, v in latencies.items()})
