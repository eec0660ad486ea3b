"""Re-dispatch when a unit fails, over real HTTP: the failed vehicle's leg is closed with its
reason and times, the journey goes on with the new vehicle (chosen, or the fastest by road), the
caller's link follows it, the report shows both legs."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from tests.api.test_dispatcher_page import CHROMIUM, CHROMIUM_ARGS
from tests.api.test_journeys_api import call, dispatch, first_hospitals, standing_unit
from tracking.fleet import register_vehicle


def test_a_broken_down_unit_is_replaced_and_the_caller_follows_the_new_one(
    api_server: str, keys: dict[str, str], db: psycopg.Connection
) -> None:
    first = register_vehicle(db, "43A88001", "115-R1").id
    second = standing_unit(db, "43A88002", "115-R2", "dev-r2")
    h1, _ = first_hospitals(db)
    key = keys["dispatcher"]
    journey = dispatch(api_server, key, first, h1).json()
    jid = journey["id"]
    assert (
        call(api_server, "POST", f"/api/v1/journeys/{jid}/status", key, {"status": "en_route"}).status_code
        == 200
    )
    link = call(api_server, "POST", f"/api/v1/journeys/{jid}/caller-link", key).json()
    assert (
        call(api_server, "GET", f"/api/v1/public/track/{link['token']}", key).json()["call_sign"] == "115-R1"
    )

    bad = call(
        api_server, "POST", f"/api/v1/journeys/{jid}/reassign", key, {"vehicle_id": second, "reason": "tired"}
    )
    assert bad.status_code == 422
    same = call(
        api_server,
        "POST",
        f"/api/v1/journeys/{jid}/reassign",
        key,
        {"vehicle_id": first, "reason": "breakdown"},
    )
    assert same.status_code == 422
    # null: the fastest available by road (the only available one with a position).
    moved = call(
        api_server,
        "POST",
        f"/api/v1/journeys/{jid}/reassign",
        key,
        {"vehicle_id": None, "reason": "breakdown"},
    )
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["vehicle_id"] == second and body["status"] == "dispatched" and body["en_route_at"] is None
    assert body["id"] == jid and body["destination_hospital_id"] == h1

    # The caller's same link now shows the new ambulance.
    assert (
        call(api_server, "GET", f"/api/v1/public/track/{link['token']}", key).json()["call_sign"] == "115-R2"
    )
    # The failed vehicle is out of service; the new one is on the journey.
    states = dict(db.execute("SELECT vehicle_id, unit_status FROM vehicle_state").fetchall())
    assert states[first] == "out_of_service" and states[second] == "on_journey"
    logged = db.execute("SELECT status FROM unit_status_log WHERE vehicle_id = %s", (first,)).fetchall()
    assert logged == [("out_of_service",)]
    kinds = [
        r[0]
        for r in db.execute("SELECT kind FROM events WHERE journey_id = %s ORDER BY id", (jid,)).fetchall()
    ]
    assert "journey_reassigned" in kinds

    report = call(api_server, "GET", f"/api/v1/journeys/{jid}/report", key).json()
    (leg,) = report["legs"]
    assert leg["vehicle_id"] == first and leg["call_sign"] == "115-R1" and leg["end_reason"] == "breakdown"
    assert leg["ended_status"] == "en_route" and set(leg["times"]) == {"dispatched_at", "en_route_at"}
    assert report["journey"]["vehicle_id"] == second and report["timestamps"]["en_route_at"] is None
    # The hospital sees the journey still inbound, with the new ambulance.
    inbound = call(api_server, "GET", f"/api/v1/hospitals/{h1}/inbound", keys["hospital"]).json()
    assert [a["call_sign"] for a in inbound["inbound"]] == ["115-R2"]

    # A closed journey cannot be reassigned; nor to a vehicle that is out of service.
    third = register_vehicle(db, "43A88003", "115-R3").id
    refused = call(
        api_server,
        "POST",
        f"/api/v1/journeys/{jid}/reassign",
        key,
        {"vehicle_id": first, "reason": "diverted"},
    )
    assert refused.status_code == 409
    assert (
        call(api_server, "POST", f"/api/v1/journeys/{jid}/status", key, {"status": "cancelled"}).status_code
        == 200
    )
    closed = call(
        api_server,
        "POST",
        f"/api/v1/journeys/{jid}/reassign",
        key,
        {"vehicle_id": third, "reason": "diverted"},
    )
    assert closed.status_code == 409
    assert (
        call(
            api_server,
            "POST",
            "/api/v1/journeys/999999/reassign",
            key,
            {"vehicle_id": third, "reason": "diverted"},
        ).status_code
        == 404
    )
    assert (
        call(
            api_server,
            "POST",
            f"/api/v1/journeys/{jid}/reassign",
            keys["viewer"],
            {"vehicle_id": third, "reason": "diverted"},
        ).status_code
        == 403
    )


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_the_callers_page_moves_to_the_new_ambulance(
    api_server: str, keys: dict[str, str], db: psycopg.Connection, artifacts: Path
) -> None:
    from playwright.sync_api import sync_playwright

    first = register_vehicle(db, "43A88011", "115-B1").id
    second = register_vehicle(db, "43A88012", "115-B2").id
    key = keys["dispatcher"]
    jid = dispatch(api_server, key, first).json()["id"]
    link = call(api_server, "POST", f"/api/v1/journeys/{jid}/caller-link", key).json()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        caller = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True).new_page()
        caller.goto(f"{api_server}{link['url']}")
        caller.wait_for_function("() => window.ambState.call_sign === '115-B1'", timeout=15_000)
        caller.screenshot(path=str(artifacts / "caller-before-reassign.png"))
        moved = call(
            api_server,
            "POST",
            f"/api/v1/journeys/{jid}/reassign",
            key,
            {"vehicle_id": second, "reason": "accident"},
        )
        assert moved.status_code == 200, moved.text
        caller.wait_for_function("() => window.ambState.call_sign === '115-B2'", timeout=15_000)
        assert "115-B2" in caller.inner_text("#track-subtitle")
        caller.screenshot(path=str(artifacts / "caller-after-reassign.png"))
        browser.close()
