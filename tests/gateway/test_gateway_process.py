"""The gateway as its own process, on the project's broker: durable acknowledgement end to end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest

from tests.gateway.test_pipeline import T0, fix
from tests.mqtt import publish_fixes
from tests.services import Broker, start_gateway, wait_for

pytestmark = pytest.mark.slow


def count(db: psycopg.Connection, device_id: str) -> int:
    row = db.execute("SELECT count(*) FROM positions WHERE device_id = %s", (device_id,)).fetchone()
    return int(row[0]) if row else 0


async def test_published_fixes_are_stored(
    broker: Broker, db: psycopg.Connection, vehicle: tuple[int, str], tmp_path: Path, unique: str
) -> None:
    _, device = vehicle
    gw = start_gateway(broker, tmp_path, f"gw-{unique}", f"g{unique}")
    try:
        await publish_fixes(broker, device, fix(0), [fix(1), fix(2)], b"garbage", fix(3))
        wait_for(lambda: count(db, device) == 4, 10, "4 stored fixes")
        wait_for(
            lambda: gw.metric('amb_gateway_refused_total{reason="bad_json"}') == 1, 5, "bad_json counted"
        )
        assert gw.metric('amb_gateway_fixes_stored_total{protocol="mqtt_json"}') == 4
        assert f"refused mqtt_json from {device}: bad_json" in gw.log()
    finally:
        gw.stop()


async def test_killed_between_receipt_and_commit_loses_nothing_and_stores_once(
    broker: Broker, db: psycopg.Connection, vehicle: tuple[int, str], tmp_path: Path, unique: str
) -> None:
    _, device = vehicle
    client_id, group = f"gw-{unique}", f"g{unique}"
    # A one-minute flush interval holds the fix between receipt and commit.
    gw = start_gateway(broker, tmp_path, client_id, group, flush_interval_ms="60000")
    await publish_fixes(broker, device, fix(0, speed_kmh=12.5))
    wait_for(lambda: gw.metric('amb_gateway_fixes_received_total{transport="mqtt_json"}') == 1, 10, "receipt")
    assert gw.metric("amb_gateway_pending_fixes") == 1
    gw.kill()
    assert count(db, device) == 0  # received, never committed, never acknowledged

    gw = start_gateway(broker, tmp_path, client_id, group, flush_interval_ms="20")
    try:
        wait_for(lambda: count(db, device) == 1, 15, "the redelivered fix stored")
        await asyncio.sleep(0.5)
        assert count(db, device) == 1
        row = db.execute(
            "SELECT fix_time, speed_kmh FROM positions WHERE device_id = %s", (device,)
        ).fetchone()
        assert row == (T0, 12.5)
        # Acknowledged now: a third session gets nothing more.
        wait_for(lambda: gw.metric("amb_gateway_pending_fixes") == 0, 5, "nothing pending")
    finally:
        gw.stop()
    gw = start_gateway(broker, tmp_path, client_id, group, flush_interval_ms="20")
    try:
        await asyncio.sleep(1.0)
        assert gw.metric('amb_gateway_fixes_received_total{transport="mqtt_json"}') == 0
        assert count(db, device) == 1
    finally:
        gw.stop()


async def test_gateway_down_then_up_receives_the_backlog(
    broker: Broker, db: psycopg.Connection, vehicle: tuple[int, str], tmp_path: Path, unique: str
) -> None:
    """The persistent session queues fixes published while the gateway is stopped."""
    _, device = vehicle
    client_id, group = f"gw-{unique}", f"g{unique}"
    start_gateway(broker, tmp_path, client_id, group).stop()
    await publish_fixes(broker, device, *[fix(i) for i in range(50)])
    gw = start_gateway(broker, tmp_path, client_id, group)
    try:
        wait_for(lambda: count(db, device) == 50, 15, "50 queued fixes stored")
    finally:
        gw.stop()
