"""A fix from the future (issue 10, item 2): written as the attack. Someone who knows an IMEI sends a
fix stamped ahead of the clock; it used to become the vehicle's latest position and turn every
real fix behind it into a "late" one for the tracker (a journey could be walked through its
statuses). Now it is stored, but it is neither the latest position nor live for the tracker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from fixes.model import Fix
from fixes.positions import LATEST_MAX_AHEAD_S, PartitionCache, prepare_connection, store_fixes
from tests.tracking.conftest import RecordingWorker

CENTRE = (16.0400, 108.2400)  # away from every hospital and station area


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[psycopg.AsyncConnection]:
    conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    await prepare_connection(conn)
    yield conn
    await conn.close()


def fix(vehicle: tuple[int, str], when: datetime, lat: float, **kw: object) -> Fix:
    return Fix(vehicle[1], vehicle[0], when, datetime.now(UTC), lat, CENTRE[1], "gt06", **kw)  # type: ignore[arg-type]


async def put(conn: psycopg.AsyncConnection, fixes: list[Fix]) -> list[tuple[datetime, bool, bool]]:
    await PartitionCache().ensure(conn, fixes)
    return [(s.fix.fix_time, s.late, s.latest) for s in await store_fixes(conn, fixes)]


def latest(db: psycopg.Connection, vehicle_id: int) -> datetime | None:
    row = db.execute("SELECT fix_time FROM vehicle_latest WHERE vehicle_id = %s", (vehicle_id,)).fetchone()
    return row[0] if row else None


async def test_a_forged_future_fix_is_stored_but_never_the_latest_position(
    store: psycopg.AsyncConnection, db: psycopg.Connection, vehicle: tuple[int, str]
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    real = fix(vehicle, now - timedelta(seconds=10), CENTRE[0])
    assert await put(store, [real]) == [(real.fix_time, False, True)]
    # The attacker's fix, 25 s ahead (inside the gateway's accepted window): stored, not the latest.
    forged = fix(vehicle, now + timedelta(seconds=25), CENTRE[0] + 0.05)
    assert await put(store, [forged]) == [(forged.fix_time, False, False)]
    assert latest(db, vehicle[0]) == real.fix_time
    # The real fixes that follow are live: latest, not late as "late".
    follow = [fix(vehicle, now - timedelta(seconds=s), CENTRE[0] + 0.0001 * s) for s in (5, 2)]
    assert await put(store, follow) == [(f.fix_time, False, f is follow[-1]) for f in follow]
    assert latest(db, vehicle[0]) == follow[-1].fix_time
    stored = db.execute("SELECT count(*) FROM positions WHERE device_id = %s", (vehicle[1],)).fetchone()
    assert stored == (4,)  # the forged fix is kept (evidence), only not believed live


async def test_within_the_skew_a_fix_ahead_is_still_the_latest(
    store: psycopg.AsyncConnection, db: psycopg.Connection, vehicle: tuple[int, str]
) -> None:
    ahead = datetime.now(UTC) + timedelta(seconds=LATEST_MAX_AHEAD_S / 2)
    assert await put(store, [fix(vehicle, ahead, CENTRE[0])]) == [(ahead, False, True)]


async def test_the_tracker_never_treats_the_real_fixes_as_late(
    store: psycopg.AsyncConnection, db: psycopg.Connection, vehicle: tuple[int, str], worker: RecordingWorker
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    await put(store, [fix(vehicle, now - timedelta(seconds=30), CENTRE[0])])
    await worker.drain()
    # Forged: 25 s ahead, with an SOS (its alarm is still raised with its stated time).
    await put(
        store, [fix(vehicle, now + timedelta(seconds=25), CENTRE[0] + 0.05, attributes={"alarm": "sos"})]
    )
    row = db.execute("SELECT valid FROM tracking_inbox WHERE vehicle_id = %s", (vehicle[0],)).fetchone()
    assert row == (False,)  # queued as not valid: it cannot move the vehicle's state
    await worker.drain()
    await put(store, [fix(vehicle, now - timedelta(seconds=1), CENTRE[0] + 0.0001)])
    await worker.drain()
    (evaluated_until,) = db.execute(
        "SELECT evaluated_until FROM vehicle_state WHERE vehicle_id = %s", (vehicle[0],)
    ).fetchone() or (None,)
    assert evaluated_until == now - timedelta(seconds=1)  # the real fix moved the state on
    assert [e["kind"] for e in worker.published if e["kind"] == "sos"] == ["sos"]
