"""The batch writer and the device registry when PostgreSQL fails: a rejected value is quarantined
while the rest commits; a shutdown during an outage is prompt and acknowledges nothing uncommitted;
`add` holds back (bounded memory) and resumes by itself; the registry serves its last copy.

The outage is real: the writer and the pool reach the real test database through a TCP relay the
test can cut (connections refused, or accepted and never answered) and restore."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import psycopg
import pytest
from prometheus_client import REGISTRY
from psycopg_pool import AsyncConnectionPool

from fixes.model import Fix, StoredFix
from gateway.batch_writer import Ack, PositionBatchWriter
from gateway.registry import DeviceRegistry
from tests.gateway.conftest import Relay
from tests.gateway.harness import recent_utc
from tests.gateway.test_poison_messages import MqttHarness, fix
from tracking.fleet import register_device, register_vehicle

SHUTDOWN_BOUND_S = 15.0


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def a_fix(device_id: str, vehicle_id: int, seconds_ago: float) -> Fix:
    moment = recent_utc(seconds_ago)
    return Fix(device_id, vehicle_id, moment, moment, 16.06, 108.21, "mqtt_json")


class Recorder:
    def __init__(self) -> None:
        self.acked: list[str] = []

    def ack(self, name: str) -> Ack:
        return lambda: self.acked.append(name)


async def no_relay(stored: list[StoredFix]) -> None:
    pass


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - polling a metric
            await asyncio.sleep(0.02)


# --- quarantine ---------------------------------------------------------------------------------------


async def test_a_fix_the_database_rejects_is_quarantined_and_the_rest_commits(
    db: psycopg.Connection, database_url: str
) -> None:
    """A lone UTF-16 surrogate in an attribute passes the checks; jsonb refuses it."""
    vehicle = register_vehicle(db, "43A77701", "115-Q1")
    register_device(db, "q-dev", "mqtt_json", vehicle.plate)
    before = metric("amb_gateway_quarantined_total", protocol="mqtt_json")
    async with MqttHarness(database_url, flush_interval_ms=100) as h:
        poison = json.dumps(fix(attrs={"note": "\ud800"}))  # json.dumps writes it as \ud800
        await h.send("q-dev", json.dumps(fix(time=recent_utc(30).isoformat())).encode(), "good")
        await h.send("q-dev", poison.encode(), "rejected")
        await h.send("q-dev", json.dumps(fix(time=recent_utc(10).isoformat())).encode(), "good too")
        await h.writer.drain()
        assert h.writer.unacknowledged == 0
        assert h.acked == ["good", "rejected", "good too"]
        assert len(h.stored("q-dev")) == 2
    assert metric("amb_gateway_quarantined_total", protocol="mqtt_json") == before + 1
    [row] = db.execute(
        "SELECT stage, protocol, device_id, vehicle_id, fix_time, payload, error, replayed_at FROM quarantine"
    ).fetchall()
    stage, protocol, device_id, vehicle_id, fix_time, payload, error, replayed_at = row
    assert (stage, protocol, device_id, vehicle_id, replayed_at) == (
        "gateway",
        "mqtt_json",
        "q-dev",
        vehicle.id,
        None,
    )
    assert fix_time is not None
    assert "raw_b64" in payload  # jsonb cannot hold the fix as it is: kept as base64 JSON
    assert "surrogate" in error


# --- shutdown -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("outage", ["refused", "hanging"])
async def test_shutdown_while_a_commit_is_retried_is_prompt_and_acknowledges_nothing(
    relay: Relay, outage: str
) -> None:
    await (relay.down() if outage == "refused" else relay.hang())
    rec = Recorder()
    writer = PositionBatchWriter(relay.url, 2, 0.01, no_relay, final_commit_s=3)
    task = asyncio.create_task(writer.run())
    failures = metric("amb_gateway_commit_failures_total")
    for i in range(2):  # a full batch: committed (tried) at once
        await writer.add([a_fix("dev-x", 1, 60 - i)], rec.ack(f"a{i}"))
    await writer.add([a_fix("dev-x", 1, 10)], rec.ack("b"))  # the next batch, pending
    if outage == "refused":
        await until(lambda: metric("amb_gateway_commit_failures_total") > failures)
    else:
        await asyncio.sleep(0.5)  # the writer is stuck connecting
    started = time.monotonic()
    drained = asyncio.create_task(writer.drain())
    task.cancel()
    async with asyncio.timeout(SHUTDOWN_BOUND_S):
        await asyncio.gather(task, return_exceptions=True)
        await drained
    assert writer.unacknowledged == 3
    assert time.monotonic() - started < 5
    assert rec.acked == []
    await writer.add([a_fix("dev-x", 1, 5)], rec.ack("late"))  # a stopped writer never blocks
    assert rec.acked == []


async def test_drain_is_bounded_while_the_database_is_down(relay: Relay) -> None:
    await relay.down()
    writer = PositionBatchWriter(relay.url, 10, 0.01, no_relay)
    task = asyncio.create_task(writer.run())
    try:
        await writer.add([a_fix("dev-x", 1, 60)], lambda: None)
        started = time.monotonic()
        await writer.drain(timeout_s=0.5)
        assert writer.unacknowledged == 1
        assert time.monotonic() - started < 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_no_later_batch_is_acknowledged_before_an_abandoned_earlier_one(
    db: psycopg.Connection, relay: Relay, vehicle: tuple[int, str]
) -> None:
    vehicle_id, device = vehicle
    await relay.down()
    rec = Recorder()
    writer = PositionBatchWriter(relay.url, 2, 0.01, no_relay, final_commit_s=5)
    task = asyncio.create_task(writer.run())
    failures = metric("amb_gateway_commit_failures_total")
    for i in range(2):
        await writer.add([a_fix(device, vehicle_id, 60 - i)], rec.ack(f"a{i}"))
    await writer.add([a_fix(device, vehicle_id, 10)], rec.ack("b"))
    await until(lambda: metric("amb_gateway_commit_failures_total") > failures)
    await relay.up()  # the database is back just as the gateway stops: B could commit, A not yet
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert rec.acked == []
    assert db.execute("SELECT count(*) FROM positions WHERE device_id = %s", (device,)).fetchone() == (0,)


# --- back-pressure ------------------------------------------------------------------------------------


async def test_add_blocks_once_the_next_batch_is_full_and_resumes_when_the_database_is_back(
    db: psycopg.Connection, relay: Relay, vehicle: tuple[int, str]
) -> None:
    vehicle_id, device = vehicle
    await relay.down()
    rec = Recorder()
    writer = PositionBatchWriter(relay.url, 3, 0.01, no_relay)
    task = asyncio.create_task(writer.run())
    added: list[int] = []

    async def produce() -> None:
        for i in range(10):
            await writer.add([a_fix(device, vehicle_id, 100 - i)], rec.ack(f"m{i}"))
            added.append(i)

    producer = asyncio.create_task(produce())
    try:
        await asyncio.sleep(1.0)
        assert len(added) == 6  # one batch being retried, one full batch waiting: no more in memory
        assert not producer.done() and rec.acked == []
        await relay.up()
        async with asyncio.timeout(15):
            await producer
        await writer.drain()
        assert writer.unacknowledged == 0
        assert rec.acked == [f"m{i}" for i in range(10)]
        assert db.execute("SELECT count(*) FROM positions WHERE device_id = %s", (device,)).fetchone() == (
            10,
        )
    finally:
        producer.cancel()
        task.cancel()
        await asyncio.gather(producer, task, return_exceptions=True)


async def test_registry_outage_serves_the_last_copy_and_holds_unknown_devices(
    db: psycopg.Connection, relay: Relay, vehicle: tuple[int, str]
) -> None:
    _, device = vehicle
    pool = AsyncConnectionPool(relay.url, min_size=1, timeout=0.5, kwargs={"autocommit": True}, open=False)
    await pool.open()
    try:
        registry = DeviceRegistry(pool, refresh_s=0.0, miss_refresh_s=0.0, max_retry_s=0.3)
        assert await registry.reload()
        await relay.down()
        assert await registry.reload() is False  # no exception: the outage is logged and retried
        async with asyncio.timeout(2):
            entry = await registry.lookup(device)  # known: served from the last copy at once
        assert entry is not None and entry.device_id == device
        register_device(db, "registered-meanwhile", "mqtt_json", "43A10001")
        waiting = asyncio.create_task(registry.lookup("registered-meanwhile"))
        await asyncio.sleep(1.0)
        assert not waiting.done()  # not refused as unknown: held until the registry can be read
        await relay.up()
        async with asyncio.timeout(10):
            found = await waiting
        assert found is not None and found.device_id == "registered-meanwhile"
        assert registry.available
    finally:
        await pool.close()


async def test_an_unknown_device_is_not_acknowledged_during_a_registry_outage(
    db: psycopg.Connection, database_url: str, relay: Relay, vehicle: tuple[int, str]
) -> None:
    """Through the ingest: the message of a device the registry cannot confirm waits (unacknowledged)
    instead of being refused, and is stored once the database is back."""
    async with MqttHarness(database_url, flush_interval_ms=20) as h:
        pool = AsyncConnectionPool(
            relay.url, min_size=1, timeout=0.5, kwargs={"autocommit": True}, open=False
        )
        await pool.open()
        try:
            h.ingest._registry = DeviceRegistry(pool, 0.0, 0.0, max_retry_s=0.3)
            await relay.down()
            register_device(db, "late-dev", "mqtt_json", "43A10001")
            sending = asyncio.create_task(h.send("late-dev", json.dumps(fix()).encode(), "late"))
            await asyncio.sleep(1.0)
            assert not sending.done() and h.acked == []
            await relay.up()
            async with asyncio.timeout(10):
                await sending
            await h.writer.drain()
            assert h.writer.unacknowledged == 0
            assert h.acked == ["late"] and len(h.stored("late-dev")) == 1
        finally:
            await pool.close()
