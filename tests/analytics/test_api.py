"""The analytics API over a back-filled month: the figures, the incidents, the stations' reach, unit
utilisation, and the exports opened as a user would (the CSV parsed, the PDF rendered to PNG)."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest

from analytics.backfill import backfill_demo
from analytics.intervals import INTERVAL_COLUMNS, refresh_intervals_sync
from tests.analytics.conftest import AddJourney
from tracking import fleet

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
END = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # the back-filled month is November 2026 (local)


@pytest.fixture
def month(db: psycopg.Connection, database_url: str) -> None:
    fleet.seed_demo_fleet(db, 12, "emu-", "mqtt_json")
    backfill_demo(database_url, 30, 50, seed=3, end=END)


def get(api_server: str, key: str, path: str, **params: object) -> httpx.Response:
    return httpx.get(
        f"{api_server}{path}", params=params, headers={"Authorization": f"Bearer {key}"}, timeout=60
    )  # type: ignore[arg-type]


def test_summary_of_a_month(
    api_server: str, keys: dict[str, str], month: None, db: psycopg.Connection
) -> None:
    resp = get(
        api_server, keys["viewer"], "/api/v1/analytics/summary", **{"from": "2026-11-01", "to": "2026-11-30"}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    n = db.execute(
        "SELECT count(*) FROM journey_intervals WHERE response_s IS NOT NULL AND local_day BETWEEN '2026-11-01' AND '2026-11-30'"
    ).fetchone()[0]  # type: ignore[index]
    assert body["overall"]["n"] == n > 1000
    assert 0 < body["overall"]["within_8"] <= body["overall"]["within_15"] <= 1
    assert [p["period"] for p in body["periods"]][:2] == ["2026-11-01", "2026-11-02"]
    assert (
        len(body["hours"]) == 24
        and len(body["weekdays"]) == 7
        and {p["priority"] for p in body["priorities"]} == {1, 2, 3}
    )
    assert body["demo_journeys"] == body["journeys"] and body["hospitals"] and body["areas"]
    assert {i["column"] for i in body["intervals"]} == set(INTERVAL_COLUMNS)
    weekly = get(
        api_server,
        keys["admin"],
        "/api/v1/analytics/summary",
        bucket="week",
        **{"from": "2026-11-01", "to": "2026-11-30"},
    ).json()
    # 1 November 2026 is a Sunday: six ISO weeks, the first starting on Monday 26 October.
    assert sum(p["n"] for p in weekly["periods"]) == n and weekly["periods"][0]["period"] == "2026-10-26"
    assert len(weekly["periods"]) == 6
    real = get(
        api_server,
        keys["admin"],
        "/api/v1/analytics/summary",
        include_demo="false",
        **{"from": "2026-11-01", "to": "2026-11-30"},
    )
    assert real.json()["overall"]["n"] == 0
    area = body["areas"][0]["area_id"]
    one = get(
        api_server,
        keys["admin"],
        "/api/v1/analytics/summary",
        area_id=area,
        priority=1,
        **{"from": "2026-11-01", "to": "2026-11-30"},
    ).json()
    assert 0 < one["overall"]["n"] < n and {a["area_id"] for a in one["areas"]} == {area}


def test_bad_periods_are_refused_clearly(api_server: str, keys: dict[str, str]) -> None:
    backwards = get(
        api_server, keys["admin"], "/api/v1/analytics/summary", **{"from": "2026-11-10", "to": "2026-11-01"}
    )
    assert backwards.status_code == 422 and "before it starts" in backwards.json()["detail"]
    assert (
        get(
            api_server,
            keys["admin"],
            "/api/v1/analytics/summary",
            **{"from": "2024-01-01", "to": "2026-01-01"},
        ).status_code
        == 422
    )
    assert get(api_server, keys["admin"], "/api/v1/analytics/report.pdf", month="2026-13").status_code == 422
    assert get(api_server, keys["dispatcher"], "/api/v1/analytics/summary").status_code == 403


def test_incidents_reach_and_units(api_server: str, keys: dict[str, str], month: None) -> None:
    period = {"from": "2026-11-01", "to": "2026-11-30"}
    incidents = get(api_server, keys["admin"], "/api/v1/analytics/incidents", **period)
    assert incidents.headers["content-type"].startswith("application/geo+json")
    features = incidents.json()["features"]
    assert len(features) > 1000 and all(16.0 < f["geometry"]["coordinates"][1] < 16.1 for f in features)
    reach = get(api_server, keys["admin"], "/api/v1/analytics/reach", minutes=8).json()
    assert len(reach["stations"]) == 3 and all(s["hull"]["type"] == "Polygon" for s in reach["stations"])
    short = get(api_server, keys["admin"], "/api/v1/analytics/reach", minutes=2).json()
    # Two minutes from three stations leave most of the city uncovered; eight cover more.
    assert (
        short["gaps"]["junctions"] > reach["gaps"]["junctions"]
        and 0 < short["covered_share"] < reach["covered_share"]
    )
    units = get(api_server, keys["viewer"], "/api/v1/analytics/units", **period).json()["units"]
    assert len(units) == 12
    for u in units:
        assert u["mission_s"] + u["out_of_service_s"] + u["available_s"] == pytest.approx(u["period_s"])
        assert u["missions"] > 0 and 0 < u["mission_s"] < u["period_s"]
    assert any(u["out_of_service_s"] > 0 for u in units)


def test_csv_export_has_every_interval(
    api_server: str, keys: dict[str, str], db: psycopg.Connection, database_url: str, add_journey: AddJourney
) -> None:
    journey = add_journey(
        [
            ("dispatched", 0),
            ("en_route", 60),
            ("on_scene", 420),
            ("transporting", 1000),
            ("at_hospital", 1500),
            ("returning", 2400),
            ("completed", 2900),
        ],
        call_s=-45,
    )
    refresh_intervals_sync(database_url)
    resp = get(
        api_server,
        keys["admin"],
        "/api/v1/analytics/journeys.csv",
        **{"from": "2026-11-01", "to": "2026-11-30"},
    )
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert [int(r["journey_id"]) for r in rows] == [journey]
    row = rows[0]
    assert {*INTERVAL_COLUMNS} <= row.keys()
    assert (
        float(row["call_to_dispatch_s"]) == 45
        and float(row["response_s"]) == 465
        and float(row["handover_s"]) == 900
    )
    on_scene = datetime.fromisoformat(row["on_scene_at"])
    assert on_scene.utcoffset() == timedelta(hours=7)  # local time, offset included
    assert on_scene == datetime(2026, 11, 4, 2, 7, tzinfo=UTC)
    assert row["demo"] == "false" and row["priority"] == "2"


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler-utils' pdftoppm")
def test_monthly_pdf_report_renders(
    api_server: str, keys: dict[str, str], month: None, artifacts: Path, tmp_path: Path
) -> None:
    resp = get(api_server, keys["viewer"], "/api/v1/analytics/report.pdf", month="2026-11")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/pdf"
    assert resp.content.startswith(b"%PDF")
    pdf = artifacts / "analytics-report-2026-11.pdf"
    pdf.write_bytes(resp.content)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Pages:\s+4$", info, re.M), info
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", str(pdf), str(artifacts / "analytics-report")], check=True
    )
    pages = sorted(artifacts.glob("analytics-report-*.png"))
    assert len(pages) >= 4
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Báo cáo thời gian phản ứng cấp cứu — tháng 11/2026" in text and "DỮ LIỆU MẪU" in text
    assert "Thời gian phản ứng theo ngày" in text and "bàn giao" in text
    # The pages are drawn, not blank: a chart page has many distinct colours.
    from PIL import Image

    with Image.open(pages[1]) as image:
        assert len(image.convert("RGB").getcolors(maxcolors=1_000_000) or []) > 20


def test_the_call_time_starts_the_response_time(
    api_server: str, keys: dict[str, str], db: psycopg.Connection, database_url: str
) -> None:
    vehicle = fleet.register_vehicle(db, "43A55501", "115-CALL").id
    headers = {"Authorization": f"Bearer {keys['dispatcher']}"}
    body: dict[str, object] = {
        "vehicle_id": vehicle,
        "incident": {"lat": 16.06, "lon": 108.21},
        "priority": 1,
    }
    called = datetime.now(UTC) - timedelta(seconds=90)
    future = httpx.post(f"{api_server}/api/v1/journeys", json={**body, "call_received_at": (datetime.now(UTC) + timedelta(minutes=5)).isoformat()}, headers=headers, timeout=10)  # fmt: skip
    assert future.status_code == 422 and "in the future" in future.json()["detail"]
    naive = httpx.post(f"{api_server}/api/v1/journeys", json={**body, "call_received_at": "2026-11-20T10:00:00"}, headers=headers, timeout=10)  # fmt: skip
    assert naive.status_code == 422
    resp = httpx.post(f"{api_server}/api/v1/journeys", json={**body, "call_received_at": called.isoformat()}, headers=headers, timeout=10)  # fmt: skip
    assert resp.status_code == 201, resp.text
    journey = resp.json()
    shown = datetime.fromisoformat(journey["call_received_at"].replace("Z", "+00:00"))
    assert abs((shown - called).total_seconds()) < 0.001  # the journey shows it (ms precision)
    refresh_intervals_sync(database_url)
    row = db.execute(
        "SELECT call_to_dispatch_s, call_at FROM journey_intervals WHERE journey_id = %s", (journey["id"],)
    ).fetchone()
    assert row is not None and row[0] == pytest.approx(90, abs=5) and row[1] == called
