"""PositionBatchWriter: commits fixes in batches and acknowledges each message only after its commit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import psycopg

from fixes import quarantine
from fixes.model import Fix, StoredFix
from fixes.positions import PartitionCache, prepare_connection, store_fixes
from gateway import metrics

log = logging.getLogger(__name__)

Ack = Callable[[], None]
# Why the database may refuse a fix for good, so that retrying the same batch cannot help: the
# data itself (a value out of a column's range or type, a check, a value too large for an index)...
BAD_DATA = (
    psycopg.errors.DataError,
    psycopg.errors.CheckViolation,
    psycopg.errors.NotNullViolation,
    psycopg.errors.UniqueViolation,
    psycopg.errors.ProgramLimitExceeded,
)
# ...or a reference that is gone (a vehicle removed from the registry since the gateway read it):
# not the fix's fault and perhaps not for good, so it is quarantined to be replayed, never dropped.
MISSING_REFERENCE = (psycopg.errors.ForeignKeyViolation,)
UNSTORABLE_IN_DATABASE = (*BAD_DATA, *MISSING_REFERENCE, psycopg.errors.IntegrityError)
# ...or a value psycopg cannot even send (an attribute JSON cannot encode, an integer beyond bigint).
UNSTORABLE = (*UNSTORABLE_IN_DATABASE, TypeError, ValueError, OverflowError)
OnCommitted = Callable[[list[StoredFix]], Awaitable[None]]
DRAIN_TIMEOUT_S = 10.0  # how long `drain` waits by default: a shutdown must not hang on the database
FINAL_COMMIT_S = 4.0  # how long a stopping writer tries to commit what it still holds


@dataclass(slots=True)
class _Batch:
    fixes: list[Fix] = field(default_factory=list)
    acks: list[tuple[Ack, float, str]] = field(default_factory=list)  # ack, received, protocol
    opened_at: float | None = None
    acknowledged: bool = False

    def __len__(self) -> int:
        return len(self.acks)

    def full(self, max_fixes: int) -> bool:
        """Full of fixes, or of messages (refused messages bring none but still take memory)."""
        return len(self.fixes) >= max_fixes or len(self.acks) >= max_fixes


class PositionBatchWriter:
    """Collects whole messages into a batch; commits it in one transaction, then acknowledges its
    messages in arrival order and hands the stored fixes to `on_committed`.

    Group commit (`interval_s` 0, the default): a batch commits as soon as the previous commit
    has ended, and holds whatever arrived meanwhile (at most `max_fixes`). A light load commits
    each message about as soon as it arrives; a heavy one makes commits longer and batches larger
    by itself, so latency is about one commit and throughput is that of large batches. With
    `interval_s` > 0 a batch also waits that long after its first message (or until full).

    Batches commit one after another, so acknowledgements keep the order of receipt. A failed
    commit is retried with backoff until it succeeds (storing is idempotent); meanwhile `add`
    blocks once the next batch is full, which stops reading from the broker: backpressure, not
    loss, and memory bounded by two batches. A fix the database rejects (a value the checks let
    through) goes to the quarantine table so the rest of its batch commits.

    Cancelled (shutdown), the writer acknowledges nothing that is not committed: a batch whose
    commit was under way is abandoned, and the next one is committed (within `final_commit_s`)
    only if no earlier batch was abandoned, so a later message is never acknowledged before an
    earlier one. Unacknowledged messages are redelivered by the broker or resent by the device.
    """

    def __init__(
        self,
        conninfo: str,
        max_fixes: int,
        interval_s: float,
        on_committed: OnCommitted,
        final_commit_s: float = FINAL_COMMIT_S,
    ) -> None:
        self._conninfo = conninfo
        self._max_fixes = max_fixes
        self._interval_s = interval_s
        self._on_committed = on_committed
        self._final_commit_s = final_commit_s
        self._batch = _Batch()
        self._in_flight: _Batch | None = None
        self._changed = asyncio.Condition()
        self._conn: psycopg.AsyncConnection | None = None
        self._partitions = PartitionCache()
        self._unacked = 0  # messages added and not acknowledged yet
        self._settled = asyncio.Event()  # set when nothing is unacknowledged, or the writer stopped
        self._settled.set()
        self._stopped = False

    async def add(self, fixes: Sequence[Fix], ack: Ack, protocol: str = "unknown") -> None:
        """Queue a message's fixes (possibly none, for a refused message) and its acknowledgement.

        Blocks while the next batch is full (the database is slow or down). Once the writer has
        stopped, the message is left unacknowledged at once: it will be redelivered."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._stopped or not self._batch.full(self._max_fixes))
            if self._stopped:
                metrics.ABANDONED_MESSAGES.inc()
                return
            batch = self._batch
            if batch.opened_at is None:
                batch.opened_at = time.monotonic()
            batch.fixes.extend(fixes)
            batch.acks.append((ack, time.monotonic(), protocol))
            metrics.PENDING_FIXES.inc(len(fixes))
            self._unacked += 1
            self._settled.clear()
            self._changed.notify_all()

    async def run(self) -> None:
        """The flush loop: runs until cancelled; then see the class docstring."""
        try:
            while True:
                batch = await self._next_batch()
                self._in_flight = batch
                await self._commit(batch)
                self._in_flight = None
        finally:
            await asyncio.shield(self._stop())

    async def drain(self, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Wait until everything added so far is committed and acknowledged (`unacknowledged` is
        then 0). Bounded: gives up after `timeout_s`, or as soon as the writer has stopped, so that
        a shutdown never hangs on a database that is down (what is left unacknowledged is
        redelivered)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._settled.wait()

    @property
    def unacknowledged(self) -> int:
        """Messages added and not acknowledged (yet, or ever once the writer has stopped)."""
        return self._unacked

    async def _next_batch(self) -> _Batch:
        async with self._changed:
            await self._changed.wait_for(lambda: len(self._batch) > 0)
            opened_at = self._batch.opened_at or time.monotonic()

            def due() -> bool:
                return self._batch.full(self._max_fixes) or time.monotonic() >= opened_at + self._interval_s

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
        self._acknowledge(batch)
        if stored:
            try:
                await self._on_committed(stored)
            except Exception:  # the relay is best effort: the fixes are safely stored
                log.exception("relaying %d committed fixes failed", len(stored))

    def _acknowledge(self, batch: _Batch) -> None:
        """Run the acknowledgements of a committed batch, in arrival order (no await in between,
        so a cancellation cannot split them). One failing ack never stops the others."""
        now = time.monotonic()
        for ack, received, protocol in batch.acks:
            try:
                ack()
            except Exception:
                log.exception("acknowledging a %s message failed", protocol)
            metrics.ACK_SECONDS.labels(protocol).observe(now - received)
        batch.acknowledged = True
        metrics.PENDING_FIXES.dec(len(batch.fixes))
        self._unacked -= len(batch)
        if self._unacked == 0:
            self._settled.set()

    async def _store_with_retry(self, fixes: list[Fix]) -> list[StoredFix]:
        delay = 0.1
        while True:
            started = time.perf_counter()
            try:
                stored, rejected = await self._store(fixes)
            except Exception as exc:  # the database is down or the connection broke: retry
                metrics.COMMIT_FAILURES.inc()
                log.warning("committing %d fixes failed (%s); retrying in %.1f s", len(fixes), exc, delay)
                if not isinstance(exc, psycopg.Error):
                    log.exception("unexpected error committing a batch")
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

    async def _store(self, fixes: list[Fix]) -> tuple[list[StoredFix], int]:
        """Store the batch in one transaction; returns what was stored and how many fixes were
        rejected. If the database rejects the batch for its data, one value the checks let through
        (e.g. an attribute jsonb cannot hold) must not stall every acknowledgement behind it: the
        fixes are stored one by one and the rejected ones quarantined."""
        conn = await self._connection()
        await self._partitions.ensure(conn, fixes)
        try:
            return await store_fixes(conn, fixes), 0
        except UNSTORABLE as exc:
            log.warning("a batch of %d fixes was rejected (%s); storing them one by one", len(fixes), exc)
        return await self._store_one_by_one(conn, fixes)

    async def _store_one_by_one(
        self, conn: psycopg.AsyncConnection, fixes: list[Fix]
    ) -> tuple[list[StoredFix], int]:
        """Store each fix in its own transaction; returns what was stored and how many were rejected."""
        stored: list[StoredFix] = []
        rejected = 0
        for fix in fixes:
            try:
                stored += await store_fixes(conn, [fix])
            except UNSTORABLE as exc:
                rejected += 1
                await self._quarantine(conn, fix, exc)
        return stored, rejected

    async def _quarantine(self, conn: psycopg.AsyncConnection, fix: Fix, exc: Exception) -> None:
        """Keep a rejected fix in the quarantine table (same connection, its own transaction) for
        `amb-admin quarantine list|replay`. Losing the connection here retries the whole batch."""
        metrics.REFUSED.labels("rejected_by_database").inc()
        error = str(exc) or type(exc).__name__
        try:
            row_id = await quarantine.add_fix(conn, fix, error)
        except UNSTORABLE_IN_DATABASE as again:
            log.error(
                "refused a fix of %s at %s (%s); not even quarantined: %s",
                fix.device_id,
                fix.fix_time,
                error,
                again,
            )
            return
        metrics.QUARANTINED.labels(fix.protocol).inc()
        log.warning(
            "quarantined a fix of %s at %s (row %d): the database rejects it (%s)",
            fix.device_id,
            fix.fix_time,
            row_id,
            error.splitlines()[0],
        )

    async def _connection(self) -> psycopg.AsyncConnection:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, application_name="amb-gateway-writer"
            )
            await prepare_connection(self._conn)
        return self._conn

    async def _reset_connection(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await conn.close()

    async def _stop(self) -> None:
        """Shutdown: commit what is pending unless an earlier batch was abandoned, then refuse
        every further `add` (see the class docstring). Bounded by `final_commit_s`."""
        async with self._changed:
            pending, self._batch = self._batch, _Batch()
        in_flight = self._in_flight
        abandoned = in_flight if in_flight is not None and not in_flight.acknowledged else None
        if abandoned is None and len(pending):
            try:
                async with asyncio.timeout(self._final_commit_s):
                    await self._commit(pending)
            except Exception as exc:  # unacknowledged: the broker redelivers them to the next gateway
                log.warning("final commit of %d fixes failed (%s)", len(pending.fixes), type(exc).__name__)
        left = [b for b in (abandoned, pending) if b is not None and not b.acknowledged]
        if count := sum(len(b) for b in left):
            metrics.ABANDONED_MESSAGES.inc(count)
            metrics.PENDING_FIXES.dec(sum(len(b.fixes) for b in left))
            log.warning("stopping with %d messages not committed: left unacknowledged", count)
        async with self._changed:
            self._stopped = True
            self._settled.set()
            self._changed.notify_all()
        await self._reset_connection()
