"""The gateway's ingest and batch writer running in the test's event loop against the real
PostGIS, recording acknowledgements and relayed fixes. Transports and handlers go on top."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from fixes.model import StoredFix
from gateway.batch_writer import Ack, PositionBatchWriter
from gateway.contact import ContactLog
from gateway.ingest import FixIngest
from gateway.registry import DeviceRegistry
from gateway.settings import GatewaySettings
from runtime.config import DatabaseSettings
from runtime.db import open_pool


class IngestHarness:
    def __init__(self, database_url: str, **settings: Any) -> None:
        self.settings = GatewaySettings(metrics_port=0, **settings)
        self.database_url = database_url
        self.acked: list[str] = []
        self.relayed: list[StoredFix] = []
        self.rows_at_ack: list[int] = []

    async def __aenter__(self) -> IngestHarness:
        self.pool = open_pool(DatabaseSettings(database_url=self.database_url), "test-gateway")
        await self.pool.open()
        registry = DeviceRegistry(self.pool, 30, 0.01)

        async def relay(stored: list[StoredFix]) -> None:
            self.relayed.extend(stored)

        self.writer = PositionBatchWriter(
            self.database_url, self.settings.batch_max_fixes, self.settings.flush_interval_ms / 1000, relay
        )
        self.registry = registry
        self.ingest = FixIngest(self.settings, registry, self.writer)
        self.contact = self.ingest.contact = ContactLog(self.pool)
        self.task = asyncio.create_task(self.writer.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ingest.settle()  # events it raised on its own tasks
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.pool.close()

    def recording_ack(self, name: str | None = None) -> Ack:
        """An ack that records its name and how many positions were committed when it ran."""
        label = name or f"m{len(self.acked)}"

        def ack() -> None:
            self.acked.append(label)
            with psycopg.connect(self.database_url) as conn:
                row = conn.execute("SELECT count(*) FROM positions").fetchone()
                self.rows_at_ack.append(row[0] if row else 0)

        return ack

    def stored(self, device_id: str) -> list[tuple[Any, ...]]:
        """(fix_time, lat, lon, speed_kmh, course, late, attributes) of a device, in time order."""
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(
                "SELECT fix_time, ST_Y(geom), ST_X(geom), speed_kmh, course, late, attributes"
                " FROM positions WHERE device_id = %s ORDER BY fix_time",
                (device_id,),
            ).fetchall()


def recent_utc(seconds_ago: float = 60) -> datetime:
    """A fix time the gateway accepts (not in the future, not too old), whole seconds."""
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).replace(microsecond=0)
