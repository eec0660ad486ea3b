"""The analytics page in Debian's headless Chromium over a back-filled month: the figures against
the 8-minute target, the charts (Chart.js, vendored), the incidents and reach map, both languages,
the CSV export, and a dispatcher turned away. Screenshots go to test-artifacts/."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from analytics.backfill import backfill_demo
from tests.api.conftest import add_user
from tests.api.test_dispatcher_page import CHROMIUM, CHROMIUM_ARGS
from tests.api.test_web_app import sign_in
from tracking import fleet

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed"),
]


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def test_analytics_page_over_a_backfilled_month(
    api_server: str, db: psycopg.Connection, database_url: str, browser: Any, artifacts: Path
) -> None:
    fleet.seed_demo_fleet(db, 20, "emu-", "mqtt_json")
    backfill_demo(database_url, 30, 60, seed=15, end=datetime(2026, 12, 1, 0, 0, tzinfo=UTC))
    add_user(db, "manager", "viewer")
    add_user(db, "desk", "dispatcher")
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    sign_in(page, api_server, "manager")
    page.wait_for_url(f"{api_server}/", timeout=10_000)
    # From here on, no script error and no CSP refusal (both reach the console).
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{api_server}/analytics?from=2026-11-01&to=2026-11-30")
    page.wait_for_function("() => window.ambState.ready && window.ambState.summary", timeout=30_000)
    state = page.evaluate("() => window.ambState")
    overall = state["summary"]["overall"]
    assert overall["n"] > 1500 and state["incidents"] == min(state["summary"]["journeys"], 5000)
    kpis = page.inner_text("#an-kpis")
    assert "Chuyến có mặt tại hiện trường" in kpis and f"{overall['within_8'] * 100:.0f} %" in kpis
    verdict = "ĐẠT" if overall["p90_s"] <= 480 else "CHƯA ĐẠT"
    assert verdict in page.inner_text(".an-kpi[data-verdict]")
    assert "DỮ LIỆU MẪU" in page.inner_text("#an-demo")
    assert page.inner_text("#nav-link") == "Bản đồ" and page.get_attribute("#nav-link", "href") == "/"
    # Every chart drawn by Chart.js, the map with its incidents and the stations' reach.
    charts = page.evaluate(
        "() => [...document.querySelectorAll('canvas')].filter(c => window.Chart.getChart(c)).length"
    )
    assert charts == 8
    assert page.locator("#an-map .leaflet-interactive, #an-map canvas").count() > 0
    assert "nút giao thông" in page.inner_text("#an-map-legend")
    assert page.locator("#an-intervals tbody tr").count() == 8
    assert "lăn bánh" in page.inner_text("#an-intervals")
    page.screenshot(path=str(artifacts / "analytics-vi.png"), full_page=True)
    page.click("#lang-en")
    page.wait_for_function("() => window.ambState.lang === 'en'")
    assert "Journeys on scene" in page.inner_text("#an-kpis") and "wheels rolling" in page.inner_text(
        "#an-intervals"
    )
    page.screenshot(path=str(artifacts / "analytics-en.png"), full_page=True)
    # A filter: one priority by week.
    page.select_option("#f-priority", "1")
    page.select_option("#f-bucket", "week")
    page.click("#an-filter button[type=submit]")
    page.wait_for_function("() => window.ambState.summary.priorities.length === 1", timeout=15_000)
    # The CSV export downloads the filtered journeys with every interval.
    with page.expect_download(timeout=30_000) as download:
        page.click("#export-csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert rows and {r["priority"] for r in rows} == {"1"} and "handover_s" in rows[0]
    assert problems == []
    context.close()

    # A dispatcher is turned away with a message, not an empty page.
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sign_in(page, api_server, "desk")
    page.wait_for_url(f"{api_server}/", timeout=10_000)
    page.goto(f"{api_server}/analytics")
    page.wait_for_selector("#access-required:not([hidden])", timeout=15_000)
    assert "quản trị viên và người xem" in page.inner_text("#access-required")
    assert page.locator("#nav-link").count() == 0
    context.close()
