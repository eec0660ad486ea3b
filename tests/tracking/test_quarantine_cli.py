"""`amb-admin quarantine list|replay` against the real database: rows the gateway quarantined are
listed, replayed through store_fixes when they can be stored now, and left open (with the error
printed) when they still cannot."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from admin import cli
from fixes import quarantine
from fixes.model import Fix


def a_fix(device_id: str, vehicle_id: int, attributes: dict[str, object] | None = None) -> Fix:
    moment = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    return Fix(device_id, vehicle_id, moment, moment, 16.06, 108.21, "mqtt_json", attributes=attributes or {})


def quarantined(database_url: str, fix: Fix, error: str) -> int:
    async def add() -> int:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            return await quarantine.add_fix(conn, fix, error)

    return asyncio.run(add())


def test_payload_round_trips_even_when_jsonb_cannot_hold_it() -> None:
    fix = a_fix("d", 1, {"note": "\ud800", "n": 1})
    assert quarantine.fix_from_payload(quarantine.fix_payload(fix)) == fix


def test_list_prints_open_rows(
    db: psycopg.Connection, database_url: str, vehicle: tuple[int, str], capsys: pytest.CaptureFixture[str]
) -> None:
    vehicle_id, device = vehicle
    first = quarantined(database_url, a_fix(device, vehicle_id), "forced: value too long\nDETAIL: x")
    second = quarantined(database_url, a_fix(device, vehicle_id, {"note": "\ud800"}), "surrogate")
    db.execute("UPDATE quarantine SET replayed_at = now() WHERE id = %s", (first,))
    assert cli.main(["--database-url", database_url, "quarantine", "list", "--stage", "gateway"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{second}\t") and device in lines[0]
    assert cli.main(["--database-url", database_url, "quarantine", "list", "--stage", "tracker"]) == 0
    assert capsys.readouterr().out.strip() == "no open quarantine rows"


def test_replay_stores_what_can_be_stored_and_leaves_the_rest(
    db: psycopg.Connection, database_url: str, vehicle: tuple[int, str], capsys: pytest.CaptureFixture[str]
) -> None:
    vehicle_id, device = vehicle
    good = quarantined(database_url, a_fix(device, vehicle_id), "forced: the database was rejecting it")
    bad = quarantined(database_url, a_fix(device + "-2", vehicle_id, {"note": "\ud800"}), "surrogate")
    assert cli.main(["--database-url", database_url, "quarantine", "replay", "--all"]) == 0
    out = capsys.readouterr().out
    assert f"{good}: replayed (stored)" in out
    assert f"{bad}: still failing" in out and "surrogate" in out
    assert "1 replayed, 1 left open" in out
    rows = db.execute("SELECT id, replayed_at IS NOT NULL, attempts FROM quarantine ORDER BY id").fetchall()
    assert rows == [(good, True, 1), (bad, False, 2)]
    assert db.execute("SELECT count(*) FROM positions WHERE device_id = %s", (device,)).fetchone() == (1,)
    # Replaying again touches only what is still open; one id at a time works too.
    assert cli.main(["--database-url", database_url, "quarantine", "replay", str(bad)]) == 0
    assert "0 replayed, 1 left open" in capsys.readouterr().out
    assert cli.main(["--database-url", database_url, "quarantine", "replay"]) == 2  # IDs or --all
