"""`amb-admin backfill-demo`: past journeys over the real road network, marked as demo data,
replacing earlier demo journeys only, with progress on the terminal."""

from __future__ import annotations

import psycopg
import pytest

from admin import cli
from tests.analytics.conftest import AddJourney
from tracking import fleet


def test_backfill_writes_marked_journeys_and_replaces_only_demo_ones(
    db: psycopg.Connection, database_url: str, add_journey: AddJourney, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet.seed_demo_fleet(db, 6, "emu-", "mqtt_json")
    real = add_journey(
        [("dispatched", 0), ("en_route", 60), ("on_scene", 400), ("returning", 900), ("completed", 1300)]
    )
    assert cli.main(["--database-url", database_url, "backfill-demo", "--days", "3", "--per-day", "40"]) == 0
    out = capsys.readouterr()
    assert "back-filled" in out.out and "back-fill: done" in out.err and "3/3 days" in out.err
    demo = db.execute("SELECT count(*) FROM journeys WHERE demo").fetchone()[0]  # type: ignore[index]
    assert 60 <= demo <= 200
    # Every demo journey is closed, its log starts with the dispatch and follows the timestamps.
    assert db.execute(
        "SELECT count(*) FROM journeys WHERE demo AND status NOT IN ('completed', 'cancelled')"
    ).fetchone() == (0,)
    mismatched = db.execute(
        """
        SELECT count(*) FROM journeys j
        WHERE j.demo AND (j.on_scene_at IS DISTINCT FROM
              (SELECT min(at) FROM journey_status_log l WHERE l.journey_id = j.id AND l.to_status = 'on_scene')
           OR j.call_received_at > j.dispatched_at OR j.en_route_at < j.dispatched_at)
        """
    ).fetchone()
    assert mismatched == (0,)
    # Response times are those of a city: minutes, mostly within 15.
    p50, p90, within_15 = db.execute(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY response_s), percentile_cont(0.9) WITHIN GROUP"
        " (ORDER BY response_s), avg((response_s <= 900)::int) FROM journey_intervals WHERE demo"
    ).fetchone()  # type: ignore[misc]
    assert 240 < p50 < 900 and p90 < 1800 and within_15 > 0.6
    assert db.execute("SELECT count(*) FROM journey_intervals").fetchone() == (demo + 1,)
    # Again with another seed: the demo month is replaced, the real journey stays.
    assert cli.main(["--database-url", database_url, "backfill-demo", "--days", "1", "--seed", "7"]) == 0
    assert db.execute(
        "SELECT count(*) FROM journeys WHERE demo AND dispatched_at < now() - interval '2 days'"
    ).fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM journeys WHERE id = %s AND NOT demo", (real,)).fetchone() == (1,)


def test_backfill_without_vehicles_says_what_is_missing(
    db: psycopg.Connection, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--database-url", database_url, "backfill-demo", "--days", "1"]) == 2
    assert "seed-fleet" in capsys.readouterr().err
