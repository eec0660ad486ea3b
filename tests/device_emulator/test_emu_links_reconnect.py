"""A gateway killed mid-run (SIGKILL: nothing flushed) and started again on the same port: the
trackers keep their fixes, reconnect with backoff, resend them, and every fix the gateway ever
acknowledged is in PostGIS, the outage's fixes included."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from device_emulator.links import ProtocolName
from tests.device_emulator.emu_links import (
    registered_fleet,
    start_protocol_gateway,
    stored,
    wait_until_stored,
)
from tests.services import Broker, Gateway

pytestmark = pytest.mark.slow
RATE_HZ, DURATION_S = 4.0, 6.0


@pytest.mark.parametrize("protocol", ["gt06", "osmand"])
async def test_a_lost_gateway_loses_nothing_acknowledged(
    protocol: ProtocolName,
    broker: Broker,
    db: psycopg.Connection,
    tmp_path: Path,
    unique: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "device_emulator")
    run = registered_fleet(db, broker, protocol, gap_ticks=None)
    gateways: list[Gateway] = [start_protocol_gateway(broker, tmp_path, unique, run)]
    outage: list[datetime] = []

    async def kill_and_restart() -> None:
        await asyncio.sleep(1.5)
        await asyncio.to_thread(gateways[0].kill)
        # Dead once kill returns: no fix taken from now on can be acknowledged live (one taken
        # while the kill was under way could, before: a race this test lost under load).
        outage.append(datetime.now(UTC))
        await asyncio.sleep(1.0)
        outage.append(datetime.now(UTC))  # nothing can be acknowledged before the new one starts
        restarted = await asyncio.to_thread(start_protocol_gateway, broker, tmp_path, unique + "b", run)
        gateways.append(restarted)

    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(kill_and_restart(), name="kill-and-restart")
            tasks.create_task(run.run(RATE_HZ, DURATION_S), name="fleet")
        assert len(gateways) == 2
        # Stored live before the kill, a fix whose acknowledgement was lost is sent again as backlog.
        counts = wait_until_stored(db, run, check_late=False)
    finally:
        for gateway in gateways:
            gateway.stop()

    assert "reconnected" in caplog.text
    assert all(len(t.outbox) == 0 and t.outbox.dropped == 0 for t in run.trackers)
    lost_from, back_at = outage
    for tracker in run.trackers:
        delivered = run.delivered[tracker.device_id]
        # Nothing was given up: about every tick's fix was acknowledged in the end...
        assert len(delivered) >= RATE_HZ * DURATION_S - 2, (tracker.device_id, len(delivered))
        # ...those of the outage too, resent once the gateway was back, as a backlog.
        during = [backlog for fix, backlog in delivered if lost_from < fix.time < back_at]
        assert len(during) >= RATE_HZ, (tracker.device_id, len(during))
        assert all(during), tracker.device_id
        times = [t for t, _, _ in stored(db, tracker.device_id)]
        assert sum(lost_from < t < back_at for t in times) >= (back_at - lost_from).total_seconds() - 1
    assert all(n >= DURATION_S - 1 for n in counts.values()), counts
