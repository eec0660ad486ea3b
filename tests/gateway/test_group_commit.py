"""Group commit (issue 14): the batch writer commits as soon as the previous commit has ended,
and the next batch is whatever arrived meanwhile: one commit for all of it, acknowledged after."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import psycopg

from gateway.settings import GatewaySettings
from tests.gateway.test_pipeline import Harness, fix


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(30):  # a bound against hanging, not a measure
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


def writer_waits_on_a_lock(db: psycopg.Connection) -> bool:
    row = db.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'amb-gateway-writer'"
        " AND wait_event_type = 'Lock' AND datname = current_database()"
    ).fetchone()
    return bool(row and row[0])


def test_the_gateway_commits_without_waiting_by_default() -> None:
    assert GatewaySettings(metrics_port=0).flush_interval_ms == 0


async def test_what_arrives_during_a_commit_is_the_next_batch(
    db: psycopg.Connection, database_url: str, vehicle: tuple[int, str]
) -> None:
    _, device = vehicle
    locker = psycopg.connect(database_url)  # holds the lock until it commits
    try:
        async with Harness(database_url) as h:
            await h.send(device, fix(0), "a")
            await h.writer.drain()  # the writer connected, the partition exists
            locker.execute("LOCK TABLE tracking_inbox IN SHARE MODE")  # blocks the writer's INSERT
            await h.send(device, fix(1), "b")  # committed alone, at once: the writer blocks on it
            await until(lambda: writer_waits_on_a_lock(db))
            for i, name in enumerate("cdef", start=2):
                await h.send(device, fix(i), name)
            assert h.acked == ["a"]  # nothing acknowledged before its commit
            locker.commit()
            await h.writer.drain()
            assert h.acked == list("abcdef")
            # a; b alone; then c-f together in the one commit that followed b's.
            assert h.rows_at_ack == [1, 2, 6, 6, 6, 6]
    finally:
        locker.rollback()
        locker.close()
