"""Offline is not "no GPS" (issue 11, item 5): a tracker that keeps sending fixes without GPS (a
garage, a tunnel) is connected without a fix, never offline; one that comes back from silence
without a fix is back online, and says so."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from tests.tracking.conftest import T0, Put, RecordingWorker, at

CENTRE = (16.0400, 108.2400)


def now_s() -> int:
    """Seconds from the fixtures' clock (T0, 3 h before the conftest's import) to the real now: read
    in each test, since a long suite reaches this file well after the import, and "a minute ago"
    must be a minute before the offline check runs."""
    return int((datetime.now(UTC) - T0).total_seconds())


def link_state(db: psycopg.Connection, vehicle_id: int) -> tuple[object, ...]:
    row = db.execute(
        "SELECT offline_since, heard_at, no_fix_since FROM vehicle_state WHERE vehicle_id = %s", (vehicle_id,)
    ).fetchone()
    assert row is not None
    return tuple(row)


async def test_a_tracker_sending_without_gps_is_connected_not_offline(
    put: Put, worker: RecordingWorker, db: psycopg.Connection, vehicle: tuple[int, str]
) -> None:
    NOW = now_s()
    vehicle_id, _ = vehicle
    await put((NOW - 1800, *CENTRE, 0.0))  # the last fix with GPS, 30 minutes ago (past the 15)
    # Since then, into a garage: a fix without GPS every minute, the last one a minute ago.
    await put(*[(s, *CENTRE, 0.0, {}, False) for s in range(NOW - 1740, NOW - 59, 60)])
    await worker.drain()
    assert await worker.check_offline() == 0
    assert [e["kind"] for e in worker.published if e["kind"].startswith("device")] == []
    assert link_state(db, vehicle_id) == (None, at(NOW - 60), at(NOW - 1740))
    # GPS again: no longer without a fix.
    await put((NOW - 30, *CENTRE, 0.0))
    await worker.drain()
    assert link_state(db, vehicle_id) == (None, at(NOW - 30), None)


async def test_back_from_silence_without_gps_is_online_without_a_fix(
    put: Put, worker: RecordingWorker, db: psycopg.Connection, vehicle: tuple[int, str]
) -> None:
    NOW = now_s()
    vehicle_id, _ = vehicle
    await put((0, *CENTRE, 0.0))  # three hours ago, then silence
    await worker.drain()
    assert await worker.check_offline() == 1
    await put((NOW - 60, *CENTRE, 0.0, {}, False))  # it speaks again, without GPS
    await worker.drain()
    assert await worker.check_offline() == 0
    kinds = [e["kind"] for e in worker.published if e["kind"].startswith("device")]
    assert kinds == ["device_offline", "device_online"]
    offline, online = [e for e in worker.published if e["kind"].startswith("device")]
    assert offline["details"]["gps_fix"] is True  # its last message had a fix
    assert online["details"] == {"silent_s": NOW - 60, "gps_fix": False}
    assert link_state(db, vehicle_id) == (None, at(NOW - 60), at(NOW - 60))


async def test_rows_the_gateway_flagged_do_not_mean_the_gps_fix_was_lost(
    put: Put, worker: RecordingWorker, db: psycopg.Connection, vehicle: tuple[int, str]
) -> None:
    """An alarm stored apart from its position (`alarm_only`) and a suspect jump are not valid
    rows, but the receiver still had its fix: no "connected without a fix" from them."""
    NOW = now_s()
    vehicle_id, _ = vehicle
    await put((NOW - 60, *CENTRE, 20.0))
    await put((NOW - 59, *CENTRE, 0.0, {"alarm": "sos", "alarm_only": True}, False))
    await put((NOW - 58, 16.2, 108.5, 20.0, {"suspect": "impossible_jump"}, False))
    await worker.drain()
    assert link_state(db, vehicle_id) == (None, at(NOW - 58), None)
    assert [e["kind"] for e in worker.published].count("sos") == 1


def heartbeat(db: psycopg.Connection, vehicle: tuple[int, str], seconds: float) -> None:
    """What a gateway writes when the tracker's heartbeat arrives (gateway/contact.py)."""
    vehicle_id, device_id = vehicle
    db.execute(
        "INSERT INTO device_contact (device_id, vehicle_id, heard_at) VALUES (%s, %s, %s)"
        " ON CONFLICT (device_id) DO UPDATE SET heard_at = EXCLUDED.heard_at",
        (device_id, vehicle_id, at(seconds)),
    )


async def test_a_tracker_sending_only_heartbeats_is_connected_not_offline(
    put: Put, worker: RecordingWorker, db: psycopg.Connection, vehicle: tuple[int, str]
) -> None:
    NOW = now_s()
    await put((NOW - 1800, *CENTRE, 0.0))  # the last fix, 30 minutes ago (past the 15)
    await worker.drain()
    heartbeat(db, vehicle, NOW - 60)  # a GT06 in a garage: heartbeats, no location packets
    assert await worker.check_offline() == 0
    assert [e["kind"] for e in worker.published if e["kind"].startswith("device")] == []


async def test_a_heartbeat_after_silence_is_online_without_a_fix(
    put: Put, worker: RecordingWorker, db: psycopg.Connection, vehicle: tuple[int, str]
) -> None:
    NOW = now_s()
    vehicle_id, _ = vehicle
    await put((0, *CENTRE, 0.0))  # three hours ago, then silence
    await worker.drain()
    assert await worker.check_offline() == 1
    heartbeat(db, vehicle, NOW - 60)
    assert await worker.check_offline() == 1  # the device_online
    assert await worker.check_offline() == 0  # once
    offline, online = [e for e in worker.published if e["kind"].startswith("device")]
    assert (offline["kind"], online["kind"]) == ("device_offline", "device_online")
    assert online["details"] == {"silent_s": NOW - 60, "gps_fix": False, "heartbeat": True}
    assert link_state(db, vehicle_id) == (None, at(NOW - 60), at(NOW - 60))
    # Then a fix with GPS: evaluated as usual, no second device_online.
    await put((NOW - 30, *CENTRE, 0.0))
    await worker.drain()
    assert [e["kind"] for e in worker.published if e["kind"].startswith("device")] == [
        "device_offline",
        "device_online",
    ]
    assert link_state(db, vehicle_id) == (None, at(NOW - 30), None)
