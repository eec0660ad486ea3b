"""The intervals and percentiles of the summary table equal those computed directly from the
journey status log for a known set of journeys."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from analytics import stats
from analytics.intervals import refresh_intervals
from tests.analytics.conftest import T0, AddJourney

FULL = [
    ("dispatched", 0),
    ("en_route", 60),
    ("on_scene", 420),
    ("transporting", 1320),
    ("at_hospital", 1800),
    ("returning", 2700),
    ("completed", 3300),
]


def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (PostgreSQL's percentile_cont)."""
    xs = sorted(values)
    pos = p * (len(xs) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def first_times(db: psycopg.Connection) -> dict[int, dict[str, Any]]:
    """The first transition into each status, per journey, read straight from the log."""
    out: dict[int, dict[str, Any]] = {}
    for journey_id, status, at in db.execute(
        "SELECT journey_id, to_status, at FROM journey_status_log ORDER BY at, id"
    ).fetchall():
        out.setdefault(journey_id, {}).setdefault(status, at)
    for journey_id, call in db.execute("SELECT id, call_received_at FROM journeys").fetchall():
        out[journey_id]["call"] = call
    return out


def expected_intervals(log: dict[str, Any]) -> dict[str, float | None]:
    def secs(a: str, *b: str) -> float | None:
        end = next((log[s] for s in b if log.get(s) is not None), None)
        start = log.get(a)
        if start is None or end is None or end < start:
            return None
        return (end - start).total_seconds()

    call = log["call"] or log["dispatched"]
    return {
        "call_to_dispatch_s": secs("call", "dispatched") if log["call"] else None,
        "turnout_s": secs("dispatched", "en_route"),
        "travel_s": secs("en_route", "on_scene"),
        "response_s": (log["on_scene"] - call).total_seconds() if log.get("on_scene") else None,
        "on_scene_s": secs("on_scene", "transporting", "returning"),
        "transport_s": secs("transporting", "at_hospital"),
        "handover_s": secs("at_hospital", "returning", "completed"),
        "mission_s": secs("dispatched", "completed", "cancelled"),
    }


@pytest.fixture
def known_set(db: psycopg.Connection, add_journey: AddJourney) -> list[int]:
    hospital = db.execute("SELECT min(id) FROM hospitals WHERE has_emergency").fetchone()[0]  # type: ignore[index]
    ids = [add_journey(FULL, call_s=-90, hospital=hospital)]
    # Response times of 5..20 minutes over several units, priorities, days and places.
    for k, minutes in enumerate((5, 7, 7.5, 8, 9, 11, 14, 15, 16, 20)):
        on_scene = minutes * 60
        steps = [
            ("dispatched", 0),
            ("en_route", 45 + k),
            ("on_scene", on_scene),
            ("transporting", on_scene + 600),
            ("at_hospital", on_scene + 1500 + 30 * k),
            ("returning", on_scene + 2400 + 90 * k),
            ("completed", on_scene + 3000 + 90 * k),
        ]
        ids.append(
            add_journey(
                steps,
                unit=f"115-B{k % 3}",
                priority=1 + k % 3,
                hospital=hospital,
                lat=16.04 + 0.004 * k,
                lon=108.20 + 0.003 * k,
                day=k % 4,
                call_s=-30 * k if k % 2 else None,
                demo=k == 9,
            )
        )
    # No destination: on scene, then back; and one cancelled before reaching the scene.
    ids.append(
        add_journey(
            [("dispatched", 0), ("en_route", 50), ("on_scene", 500), ("returning", 900), ("completed", 1500)]
        )
    )
    ids.append(add_journey([("dispatched", 0), ("en_route", 40), ("cancelled", 200)], unit="115-C"))
    return ids


async def test_intervals_equal_those_from_the_log(
    db: psycopg.Connection, database_url: str, known_set: list[int]
) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        assert await refresh_intervals(conn) == len(known_set)
    logs = first_times(db)
    columns = list(expected_intervals(next(iter(logs.values()))))
    rows = db.execute(f"SELECT journey_id, {', '.join(columns)} FROM journey_intervals").fetchall()
    assert len(rows) == len(known_set)
    for journey_id, *values in rows:
        assert dict(zip(columns, values, strict=True)) == pytest.approx(expected_intervals(logs[journey_id]))
    first = dict(zip(columns, rows[[r[0] for r in rows].index(known_set[0])][1:], strict=True))
    assert first["response_s"] == 90 + 420 and first["handover_s"] == 900 and first["turnout_s"] == 60


async def test_percentiles_and_targets_equal_those_from_the_log(
    db: psycopg.Connection, database_url: str, known_set: list[int]
) -> None:
    logs = first_times(db)
    responses = [
        e["response_s"] for e in map(expected_intervals, logs.values()) if e["response_s"] is not None
    ]
    handovers = [
        e["handover_s"] for e in map(expected_intervals, logs.values()) if e["handover_s"] is not None
    ]
    f = stats.Filter(T0 - timedelta(days=1), T0 + timedelta(days=10))
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await refresh_intervals(conn)
        summary = await stats.response_summary(conn, f)
        intervals = await stats.interval_stats(conn, f)
        hospitals = await stats.handover_by_hospital(conn, f)
        real_only = await stats.response_summary(conn, stats.Filter(f.start, f.end, include_demo=False))
        histogram = await stats.histogram(conn, f)
    overall = summary["overall"]
    assert overall["n"] == len(responses) == 12
    assert overall["p50_s"] == pytest.approx(percentile(responses, 0.5))
    assert overall["p90_s"] == pytest.approx(percentile(responses, 0.9))
    assert overall["within_8"] == pytest.approx(sum(r <= 480 for r in responses) / len(responses))
    assert overall["within_15"] == pytest.approx(sum(r <= 900 for r in responses) / len(responses))
    by_interval = {i["column"]: i for i in intervals["intervals"]}
    assert by_interval["handover_s"]["p90_s"] == pytest.approx(percentile(handovers, 0.9))
    assert hospitals[0]["n"] == len(handovers) and hospitals[0]["p50_s"] == pytest.approx(
        percentile(handovers, 0.5)
    )
    assert intervals["journeys"] == len(known_set) and intervals["demo_journeys"] == 1
    assert real_only["overall"]["n"] == 11
    assert sum(b["n"] for b in histogram) == 12
    # Each grouping equals the same computation over its own journeys.
    for group in ("periods", "priorities", "hours", "weekdays"):
        assert sum(g["n"] for g in summary[group]) == 12, group
    day_rows = db.execute(
        "SELECT (j.call_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date, j.response_s FROM journey_intervals j WHERE j.response_s IS NOT NULL"
    ).fetchall()
    for period in summary["periods"]:
        values = [r for d, r in day_rows if d.isoformat() == period["period"]]
        assert period["p90_s"] == pytest.approx(percentile(values, 0.9))
    centres = {r[0] for r in db.execute("SELECT id FROM hospitals WHERE category = 'district_health_centre'")}
    assert summary["areas"] and {a["area_id"] for a in summary["areas"]} <= centres


async def test_refresh_picks_up_changes(
    db: psycopg.Connection, database_url: str, add_journey: AddJourney
) -> None:
    journey = add_journey([("dispatched", 0), ("en_route", 60)])
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await refresh_intervals(conn)
        assert db.execute("SELECT response_s FROM journey_intervals").fetchone() == (None,)
        # The tracker records arrival on scene: the next refresh sees it.
        db.execute(
            "INSERT INTO journey_status_log (journey_id, from_status, to_status, at, source) VALUES (%s, 'en_route', 'on_scene', %s, 'rule')",
            (journey, T0 + timedelta(seconds=400)),
        )
        db.execute(
            "UPDATE journeys SET status = 'on_scene', on_scene_at = %s, updated_at = now() WHERE id = %s",
            (T0 + timedelta(seconds=400), journey),
        )
        assert await refresh_intervals(conn) == 1
        assert db.execute("SELECT response_s, status FROM journey_intervals").fetchone() == (400, "on_scene")
        db.execute("DELETE FROM journeys")
        assert db.execute("SELECT count(*) FROM journey_intervals").fetchone() == (0,)
