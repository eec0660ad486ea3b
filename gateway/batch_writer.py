"""PositionBatchWriter: commits fixes in batches and acknowledges each message only after its commit."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import psycopg

from gateway import metrics
from tracking.model import Fix, StoredFix
from tracking.positions import PartitionCache, prepare_connection, store_fixes

log = logging.getLogger(__name__)

Ack = Callable[[], None]
# Errors about the data itself: retrying the same batch can never succeed.
REJECTED_BY_DATABASE = (psycopg.errors.DataError, psycopg.errors.IntegrityError)
OnCommitted = Callable[[list[StoredFix]], Awaitable[None]]


@dataclass(slots=True)
class _Batch:
    fixes: list[Fix] = field(default_factory=list)
    acks: list[tuple[Ack, float, str]] = field(default_factory=list)  # ack, received, protocol
    opened_at: float | None = None

    def __len__(self) -> int:
        return len(self.acks)


class PositionBatchWriter:
    """Collects whole messages into a batch; commits it in one transaction when it holds
    `max_fixes` fixes or `interval_s` after its first message; then acknowledges its messages in
    arrival order and hands the stored fixes to `on_committed`.

    Batches commit one after another, so acknowledgements keep the order of receipt. A failed
    commit is retried with backoff until it succeeds (storing is idempotent); meanwhile `add`
    blocks once the next batch is full, which stops reading from the broker: backpressure, not loss.
    """

    def __init__(self, conninfo: str, max_fixes: int, interval_s: float, on_committed: OnCommitted) -> None:
        self._conninfo = conninfo
        self._max_fixes = max_fixes
        self._interval_s = interval_s
        self._on_committed = on_committed
        self._batch = _Batch()
        self._changed = asyncio.Condition()
        self._conn: psycopg.AsyncConnection | None = None
        self._partitions = PartitionCache()
        self._idle = asyncio.Event()
        self._idle.set()

    async def add(self, fixes: Sequence[Fix], ack: Ack, protocol: str = "unknown") -> None:
        """Queue a message's fixes (possibly none, for a refused message) and its acknowledgement."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self._batch.fixes) < self._max_fixes)
            batch = self._batch
            if batch.opened_at is None:
                batch.opened_at = time.monotonic()
            batch.fixes.extend(fixes)
            batch.acks.append((ack, time.monotonic(), protocol))
            metrics.PENDING_FIXES.inc(len(fixes))
            self._idle.clear()
            self._changed.notify_all()

    async def run(self) -> None:
        """The flush loop: runs until cancelled; then commits what is pending."""
        try:
            while True:
                batch = await self._next_batch()
                await self._commit(batch)
        finally:
            await asyncio.shield(self._close())

    async def drain(self) -> None:
        """Wait until everything added so far is committed and acknowledged."""
        await self._idle.wait()

    async def _next_batch(self) -> _Batch:
        async with self._changed:
            await self._changed.wait_for(lambda: len(self._batch) > 0)
            opened_at = self._batch.opened_at or time.monotonic()

            def due() -> bool:
                return (
                    len(self._batch.fixes) >= self._max_fixes
                    or time.monotonic() >= opened_at + self._interval_s
                )

            while not due():
                remaining = opened_at + self._interval_s - time.monotonic()
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=max(remaining, 0.0))
                except TimeoutError:
                    break
            batch, self._batch = self._batch, _Batch()
            self._changed.notify_all()
            return batch

    async def _commit(self, batch: _Batch) -> None:
        stored: list[StoredFix] = []
        if batch.fixes:
            stored = await self._store_with_retry(batch.fixes)
        now = time.monotonic()
        for ack, received, protocol in batch.acks:
            ack()
            metrics.ACK_SECONDS.labels(protocol).observe(now - received)
        metrics.PENDING_FIXES.dec(len(batch.fixes))
        if len(self._batch) == 0:
            self._idle.set()
        if stored:
            try:
                await self._on_committed(stored)
            except Exception:  # the relay is best effort: the fixes are safely stored
                log.exception("relaying %d committed fixes failed", len(stored))

    async def _store_with_retry(self, fixes: list[Fix]) -> list[StoredFix]:
        delay = 0.1
        while True:
            started = time.perf_counter()
            try:
                conn = await self._connection()
                await self._partitions.ensure(conn, fixes)
                rejected = 0
                try:
                    stored = await store_fixes(conn, fixes)
                except REJECTED_BY_DATABASE as exc:
                    # One value the checks let through (e.g. an attribute jsonb cannot hold) must
                    # not stall every acknowledgement behind it: store fix by fix, refuse the bad.
                    log.warning(
                        "a batch of %d fixes was rejected (%s); storing them one by one", len(fixes), exc
                    )
                    stored, rejected = await self._store_one_by_one(conn, fixes)
            except psycopg.Error as exc:
                metrics.COMMIT_FAILURES.inc()
                log.warning("committing %d fixes failed (%s); retrying in %.1f s", len(fixes), exc, delay)
                await self._reset_connection()
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 5.0)
                continue
            metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
            metrics.BATCH_FIXES.observe(len(fixes))
            for protocol, count in Counter(s.fix.protocol for s in stored).items():
                metrics.FIXES_STORED.labels(protocol).inc(count)
            if duplicates := len(fixes) - len(stored) - rejected:
                metrics.REFUSED.labels("duplicate").inc(duplicates)
            return stored

    async def _store_one_by_one(
        self, conn: psycopg.AsyncConnection, fixes: list[Fix]
    ) -> tuple[list[StoredFix], int]:
        """Store each fix in its own transaction; returns what was stored and how many were rejected."""
        stored: list[StoredFix] = []
        rejected = 0
        for fix in fixes:
            try:
                stored += await store_fixes(conn, [fix])
            except REJECTED_BY_DATABASE as exc:
                rejected += 1
                metrics.REFUSED.labels("rejected_by_database").inc()
                log.warning(
                    "refused a fix of %s at %s: the database rejects it (%s)",
                    fix.device_id,
                    fix.fix_time,
                    exc,
                )
        return stored, rejected

    async def _connection(self) -> psycopg.AsyncConnection:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, application_name="amb-gateway-writer"
            )
            await prepare_connection(self._conn)
        return self._conn

    async def _reset_connection(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _close(self) -> None:
        async with self._changed:
            pending = self._batch if len(self._batch) else None
            self._batch = _Batch()
        if pending is not None:
            try:
                await asyncio.wait_for(self._commit(pending), timeout=10)
            except Exception:  # unacknowledged: the broker redelivers them to the next gateway
                log.exception("final commit of %d fixes failed", len(pending.fixes))
        await self._reset_connection()
