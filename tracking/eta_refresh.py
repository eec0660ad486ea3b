"""The tracker's ETA task: ETAs of the vehicles that moved, refreshed on their own connection and
their own budget, off the evaluation path (routing would delay the next batch, and any alarm in
it; issue 11, item 6)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import psycopg

from tracking import metrics
from tracking.eta import EtaPolicy, update_etas

log = logging.getLogger(__name__)

OnEtas = Callable[[list[dict[str, Any]]], Awaitable[None]]


def is_transient(exc: BaseException) -> bool:
    """An error of the moment, not of the data: retrying the same rows later can succeed.

    psycopg's OperationalError covers a lost connection, lock and statement timeouts,
    serialization failures and deadlocks; InterfaceError a connection already closed."""
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


class EtaRefresher:
    """Rounds of ETA updates: one per wake, at most every `interval_s`; vehicles that move during a
    round wait for the next one, together."""

    def __init__(self, conninfo: str, policy: EtaPolicy, on_etas: OnEtas | None, interval_s: float) -> None:
        self._conninfo = conninfo
        self._policy = policy
        self._on_etas = on_etas
        self._interval_s = interval_s
        self._conn: psycopg.AsyncConnection | None = None
        self._vehicles: set[int] = set()  # moved since the last round
        self._wake = asyncio.Event()

    def moved(self, vehicle_ids: Iterable[int]) -> None:
        """These vehicles' fixes were evaluated: their ETAs are due."""
        self._vehicles.update(vehicle_ids)
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            started = time.monotonic()
            try:
                await self.update_pending()
            except Exception:  # a bug in routing must not end ETAs for good
                log.exception("ETA round failed")
            await asyncio.sleep(max(0.0, started + self._interval_s - time.monotonic()))

    async def update_pending(self) -> int:
        """One round over the vehicles that moved since the last one; returns how many ETAs
        changed. Never raises a database error: a failed round is logged, and on a transient
        error its vehicles wait for the next round."""
        vehicle_ids, self._vehicles = sorted(self._vehicles), set()
        if not vehicle_ids:
            return 0
        started = time.perf_counter()
        try:
            conn = await self._connection()
            async with conn.transaction():
                etas = await update_etas(conn, vehicle_ids, self._policy)
        except psycopg.Error as exc:
            log.exception("updating ETAs failed")
            if is_transient(exc):
                self._vehicles.update(vehicle_ids)
                await self.close()
            return 0
        metrics.ETA_SECONDS.observe(time.perf_counter() - started)
        if etas and self._on_etas is not None:
            try:
                await self._on_etas(etas)
            except Exception:
                log.exception("publishing %d ETAs failed", len(etas))
        return len(etas)

    async def _connection(self) -> psycopg.AsyncConnection:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, application_name="amb-tracking-eta"
            )
        return self._conn

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()
