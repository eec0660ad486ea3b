"""Several units for one incident (a mass-casualty call), over real HTTP: each ambulance sent has
its own journey to the same scene; the journeys share the incident's id, and the journey and its
report list them together."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from accounts.access import create_api_key
from tests.api.test_dispatcher_page import CHROMIUM, CHROMIUM_ARGS, open_journey_card
from tests.api.test_journeys_api import call, dispatch, first_hospitals, standing_unit
from tracking.fleet import register_vehicle


def test_three_units_for_one_incident(api_server: str, keys: dict[str, str], db: psycopg.Connection) -> None:
    first = register_vehicle(db, "43A44001", "115-M1").id
    second = register_vehicle(db, "43A44002", "115-M2").id
    third = standing_unit(db, "43A44003", "115-M3", "dev-m3")
    h1, h2 = first_hospitals(db)
    key = keys["dispatcher"]
    journey = dispatch(api_server, key, first, h1).json()
    assert journey["incident_id"] is None
    alone = call(api_server, "GET", f"/api/v1/journeys/{journey['id']}", key).json()
    assert [u["call_sign"] for u in alone["incident_units"]] == ["115-M1"]

    more = call(
        api_server,
        "POST",
        f"/api/v1/journeys/{journey['id']}/units",
        key,
        {"vehicle_id": second, "destination_hospital_id": h2},
    )
    assert more.status_code == 201, more.text
    added = more.json()
    assert added["incident_id"] == journey["id"] and added["vehicle_id"] == second
    assert (added["incident_lat"], added["incident_lon"], added["incident_address"]) == (
        journey["incident_lat"], journey["incident_lon"], journey["incident_address"],
    )  # fmt: skip
    assert added["destination_hospital_id"] == h2 and added["priority"] == journey["priority"]
    # From the second journey too, and null: the fastest available (the only one with a position).
    fastest = call(
        api_server, "POST", f"/api/v1/journeys/{added['id']}/units", key, {"vehicle_id": None}
    ).json()
    assert fastest["vehicle_id"] == third and fastest["incident_id"] == journey["id"]
    busy = call(api_server, "POST", f"/api/v1/journeys/{journey['id']}/units", key, {"vehicle_id": second})
    assert busy.status_code == 409

    units = call(api_server, "GET", f"/api/v1/journeys/{fastest['id']}", key).json()["incident_units"]
    assert [u["call_sign"] for u in units] == ["115-M1", "115-M2", "115-M3"]
    report = call(api_server, "GET", f"/api/v1/journeys/{journey['id']}/report", key).json()
    assert [u["vehicle_id"] for u in report["incident_units"]] == [first, second, third]
    listed = call(api_server, "GET", "/api/v1/journeys", key).json()["journeys"]
    assert {j["incident_id"] for j in listed} == {journey["id"]}
    assert (
        call(api_server, "POST", "/api/v1/journeys/999999/units", key, {"vehicle_id": None}).status_code
        == 404
    )
    assert (
        call(
            api_server,
            "POST",
            f"/api/v1/journeys/{journey['id']}/units",
            keys["viewer"],
            {"vehicle_id": None},
        ).status_code
        == 403
    )


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_the_dispatcher_sends_another_unit_from_the_journey_card(
    api_server: str, db: psycopg.Connection, artifacts: Path
) -> None:
    from playwright.sync_api import sync_playwright

    first = register_vehicle(db, "43A44011", "115-N1").id
    standing_unit(db, "43A44012", "115-N2", "dev-n2")  # the fastest available
    key = create_api_key(db, "units test", "dispatcher")
    jid = dispatch(api_server, key, first).json()["id"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        desk = open_journey_card(browser, api_server, key, jid)
        desk.click("#incident-add-unit")
        desk.wait_for_function(
            f"() => Object.values(window.ambState.journeys).filter(j => j.incident_id === {jid}).length === 2",
            timeout=10_000,
        )
        desk.wait_for_function(
            "() => document.querySelector('#incident-units p')?.textContent.includes('115-N2')",
            timeout=10_000,
        )
        desk.screenshot(path=str(artifacts / "dispatcher-incident-units.png"))
        browser.close()
