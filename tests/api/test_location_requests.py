"""Caller location requests over real HTTP and in Chromium: the dispatcher makes a link, the
caller's phone (geolocation granted, faked by Playwright) sends its position, the dispatcher sees
it on the map and accepts it as the incident's; the link is single-use and expires in 30 min;
refusals and expired links get their own page; the token never reaches a log."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import psycopg
import pytest

from accounts.access import create_api_key
from accounts.location_requests import token_hash
from api.redact import redact
from tests.api.test_dispatcher_page import CHROMIUM, CHROMIUM_ARGS, open_journey_card
from tests.api.test_journeys_api import call, dispatch
from tracking.fleet import register_vehicle

CALLER_AT = {"latitude": 16.0680, "longitude": 108.2210}


def public(api: str, method: str, token: str, body: object | None = None, suffix: str = "") -> httpx.Response:
    return httpx.request(method, f"{api}/api/v1/public/locate/{token}{suffix}", json=body, timeout=10)


def test_the_caller_sends_a_position_and_the_dispatcher_accepts_it(
    api_server: str, keys: dict[str, str], db: psycopg.Connection
) -> None:
    vehicle_id = register_vehicle(db, "43A66001", "115-L1").id
    key = keys["dispatcher"]
    jid = dispatch(api_server, key, vehicle_id).json()["id"]
    made = call(api_server, "POST", f"/api/v1/journeys/{jid}/location-request", key)
    assert made.status_code == 201, made.text
    request = made.json()
    token = request["token"]
    assert request["url"] == f"/locate/{token}" and request["state"] == "waiting"
    assert made.headers["cache-control"] == "no-store"
    stored = db.execute("SELECT token_hash FROM location_requests WHERE id = %s", (request["id"],)).fetchone()
    assert stored == (token_hash(token),)  # only the hash

    assert public(api_server, "GET", token).json()["state"] == "waiting"
    assert public(api_server, "GET", "not-a-token").status_code == 404
    assert public(api_server, "POST", token, {"lat": 95, "lon": 108}).status_code == 422
    sent = public(api_server, "POST", token, {"lat": 16.068, "lon": 108.221, "accuracy_m": 14.5})
    assert sent.status_code == 200 and sent.json() == {"state": "located"}
    seen = call(api_server, "GET", f"/api/v1/location-requests/{request['id']}", key).json()
    assert seen["state"] == "located" and seen["position"] == {
        "lat": 16.068,
        "lon": 108.221,
        "accuracy_m": 14.5,
    }
    events = db.execute(
        "SELECT kind, details FROM events WHERE journey_id = %s ORDER BY id", (jid,)
    ).fetchall()
    assert events[-1][0] == "caller_location" and events[-1][1]["accuracy_m"] == 14.5

    accepted = call(api_server, "POST", f"/api/v1/location-requests/{request['id']}/accept", key)
    assert accepted.status_code == 200, accepted.text
    journey = accepted.json()["journey"]
    assert (journey["incident_lat"], journey["incident_lon"]) == pytest.approx((16.068, 108.221))
    # Used: the link is over for the caller, and cannot be accepted twice.
    assert public(api_server, "POST", token, {"lat": 16.07, "lon": 108.22}).status_code == 410
    assert public(api_server, "GET", token).status_code == 410
    again = call(api_server, "POST", f"/api/v1/location-requests/{request['id']}/accept", key)
    assert again.status_code == 410
    assert (
        call(
            api_server, "POST", f"/api/v1/location-requests/{request['id']}/accept", keys["viewer"]
        ).status_code
        == 403
    )


def test_links_expire_refuse_and_work_before_dispatch(
    api_server: str, keys: dict[str, str], db: psycopg.Connection
) -> None:
    key = keys["dispatcher"]
    before = call(api_server, "POST", "/api/v1/location-requests", key)
    assert before.status_code == 201 and before.json()["journey_id"] is None
    token = before.json()["token"]
    nothing = call(api_server, "POST", f"/api/v1/location-requests/{before.json()['id']}/accept", key)
    assert nothing.status_code == 409  # nothing to accept yet
    assert (
        public(api_server, "POST", token, {"lat": 16.05, "lon": 108.2, "accuracy_m": 30}).status_code == 200
    )
    accepted = call(api_server, "POST", f"/api/v1/location-requests/{before.json()['id']}/accept", key).json()
    assert accepted["journey"] is None and accepted["request"]["position"]["lat"] == 16.05

    refused = call(api_server, "POST", "/api/v1/location-requests", key).json()
    assert public(api_server, "POST", refused["token"], {}, "/refuse").status_code == 200
    assert public(api_server, "GET", refused["token"]).status_code == 410
    state = call(api_server, "GET", f"/api/v1/location-requests/{refused['id']}", key).json()["state"]
    assert state == "refused"

    old = call(api_server, "POST", "/api/v1/location-requests", key).json()
    db.execute(
        "UPDATE location_requests SET expires_at = now() - interval '1 second' WHERE id = %s", (old["id"],)
    )
    assert public(api_server, "POST", old["token"], {"lat": 16.05, "lon": 108.2}).status_code == 410
    assert call(api_server, "GET", f"/api/v1/location-requests/{old['id']}", key).json()["state"] == "expired"
    assert call(api_server, "POST", "/api/v1/journeys/999999/location-request", key).status_code == 404
    # The token never reaches a log line.
    assert old["token"] not in redact(f'"GET /locate/{old["token"]} HTTP/1.1" 200')
    assert old["token"] not in redact(f'"POST /api/v1/public/locate/{old["token"]}/refuse HTTP/1.1" 200')


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_a_callers_phone_shares_its_position_and_the_dispatcher_accepts_it(
    api_server: str, db: psycopg.Connection, artifacts: Path
) -> None:
    from playwright.sync_api import sync_playwright

    vehicle_id = register_vehicle(db, "43A66010", "115-L2").id
    key = create_api_key(db, "location test", "dispatcher")
    jid = dispatch(api_server, key, vehicle_id).json()["id"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        desk = open_journey_card(browser, api_server, key, jid)
        desk.click("#location-request")
        desk.wait_for_selector("#location-request-url")
        url = desk.input_value("#location-request-url")
        assert "/locate/" in url

        phone = browser.new_context(
            viewport={"width": 390, "height": 844},
            is_mobile=True,
            geolocation={**CALLER_AT, "accuracy": 12},
            permissions=["geolocation"],
        ).new_page()
        phone.goto(url)
        phone.wait_for_function("() => window.ambLocate.state === 'ask'", timeout=10_000)
        assert "Chia sẻ vị trí" in phone.inner_text("#locate-share")
        phone.screenshot(path=str(artifacts / "locate-ask.png"))
        phone.click("#locate-share")
        phone.wait_for_function("() => window.ambLocate.state === 'sent'", timeout=10_000)
        phone.screenshot(path=str(artifacts / "locate-sent.png"))

        desk.wait_for_selector("#location-accept", timeout=10_000)
        assert "~12 m" in desk.inner_text("#location-request-state")
        desk.screenshot(path=str(artifacts / "dispatcher-caller-location.png"))
        desk.click("#location-accept")
        desk.wait_for_function(
            f"() => window.ambLocation.requests[{jid}]?.state === 'accepted'", timeout=10_000
        )
        desk.wait_for_function(
            f"() => Math.abs((window.ambState.journeys[{jid}]?.incident_lat ?? 0) - {CALLER_AT['latitude']}) < 1e-6",
            timeout=10_000,
        )
        # The used link: a clear page, in both languages.
        phone.reload()
        phone.wait_for_function("() => window.ambLocate.state === 'expired'", timeout=10_000)
        assert "hết hạn" in phone.inner_text("#locate-title")
        phone.click("#lang-en")
        assert "expired" in phone.inner_text("#locate-title")
        phone.screenshot(path=str(artifacts / "locate-expired-en.png"))

        # A caller who refuses the permission.
        second = call(api_server, "POST", f"/api/v1/journeys/{jid}/location-request", key).json()
        refusing = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True).new_page()
        refusing.goto(f"{api_server}{second['url']}")
        refusing.wait_for_function("() => window.ambLocate.state === 'ask'", timeout=10_000)
        refusing.click("#locate-share")  # headless Chromium denies a permission never granted
        refusing.wait_for_function("() => window.ambLocate.state === 'refused'", timeout=10_000)
        assert "từ chối" in refusing.inner_text("#locate-title") or "chưa cho phép" in refusing.inner_text(
            "#locate-title"
        )
        refusing.screenshot(path=str(artifacts / "locate-refused.png"))
        browser.close()
