"""The gateway as its own process, on the project's broker: durable acknowledgement end to end."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.gateway.conftest import Relay
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
    gw = start_gateway(broker, tmp_path, f"gw-{unique}")
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
    # A one-minute flush interval holds the fix between receipt and commit.
    gw = start_gateway(broker, tmp_path, f"gw-{unique}-1", flush_interval_ms="60000")
    await publish_fixes(broker, device, fix(0, speed_kmh=12.5))
    wait_for(lambda: gw.metric('amb_gateway_fixes_received_total{transport="mqtt_json"}') == 1, 10, "receipt")
    assert gw.metric("amb_gateway_pending_fixes") == 1
    gw.kill()
    assert count(db, device) == 0  # received, never committed, never acknowledged

    gw = start_gateway(broker, tmp_path, f"gw-{unique}-2", flush_interval_ms="20")
    try:
        wait_for(lambda: count(db, device) == 1, 15, "the redelivered fix stored")
        await asyncio.sleep(0.5)
        assert count(db, device) == 1
        row = db.execute(
            "SELECT fix_time, speed_kmh FROM positions WHERE device_id = %s", (device,)
        ).fetchone()
        assert row == (T0, 12.5)
        # Acknowledged now: the queue holds nothing more.
        wait_for(lambda: gw.metric("amb_gateway_pending_fixes") == 0, 5, "nothing pending")
        wait_for(lambda: broker.queue_depth() == 0, 10, "the ingest queue empty")
    finally:
        gw.stop()


async def test_a_dead_gateways_messages_go_to_the_live_one(
    broker: Broker, db: psycopg.Connection, vehicle: tuple[int, str], tmp_path: Path, unique: str
) -> None:
    """Two competing gateways; one holds its share uncommitted and dies: the other stores it all."""
    _, device = vehicle
    stuck = start_gateway(broker, tmp_path, f"gw-{unique}-stuck", flush_interval_ms="600000", prefetch="100")
    await publish_fixes(broker, device, *[fix(i) for i in range(20)])
    wait_for(lambda: stuck.metric("amb_gateway_pending_fixes") == 20, 10, "the stuck gateway holds all 20")
    live = start_gateway(broker, tmp_path, f"gw-{unique}-live", flush_interval_ms="20")
    try:
        await publish_fixes(broker, device, *[fix(i) for i in range(20, 40)])
        stuck.kill()
        wait_for(lambda: count(db, device) == 40, 15, "all 40 fixes stored by the live gateway")
    finally:
        live.stop()


async def test_gateway_down_then_up_receives_the_backlog(
    broker: Broker, db: psycopg.Connection, vehicle: tuple[int, str], tmp_path: Path, unique: str
) -> None:
    """The durable queue keeps fixes published while no gateway runs."""
    _, device = vehicle
    await publish_fixes(broker, device, *[fix(i) for i in range(50)])
    assert count(db, device) == 0
    gw = start_gateway(broker, tmp_path, f"gw-{unique}")
    try:
        wait_for(lambda: count(db, device) == 50, 15, "50 queued fixes stored")
    finally:
        gw.stop()


async def eventually(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll without blocking the event loop (the database relay runs on it)."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - polling another process
            await asyncio.sleep(0.1)
    assert predicate(), what


async def test_sigterm_during_a_database_outage_is_prompt_and_acknowledges_nothing_uncommitted(
    broker: Broker,
    db: psycopg.Connection,
    vehicle: tuple[int, str],
    tmp_path: Path,
    unique: str,
    relay: Relay,
) -> None:
    _, device = vehicle
    broker.purge()
    # Started from a thread: the relay to the database runs on this event loop.
    gw = await asyncio.to_thread(
        start_gateway, broker, tmp_path, f"gw-{unique}", relay.url, flush_interval_ms="20"
    )
    received = 'amb_gateway_fixes_received_total{transport="mqtt_json"}'
    try:
        await publish_fixes(broker, device, fix(0))
        await eventually(lambda: count(db, device) == 1, 15, "the first fix stored")
        await relay.down()  # the database is gone: the writer retries, nothing is acknowledged
        await publish_fixes(broker, device, fix(1))
        await eventually(lambda: gw.metric(received) == 2, 10, "the second fix received")
        assert gw.proc is not None
        started = time.monotonic()
        gw.proc.send_signal(signal.SIGTERM)
        while gw.proc.poll() is None and time.monotonic() - started < 20:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        took = time.monotonic() - started
        print(f"SIGTERM during the outage: stopped in {took:.1f} s, exit {gw.proc.returncode}")
        assert gw.proc.returncode is not None and took < 15, gw.log()
    finally:
        gw.kill()
    # The uncommitted fix was never acknowledged: it is back in the queue for the next gateway.
    assert broker.queue_depth() == 1
    await relay.up()
    gw = start_gateway(broker, tmp_path, f"gw-{unique}-after")
    try:
        await eventually(lambda: count(db, device) == 2, 15, "the redelivered fix stored")
    finally:
        gw.stop()
