"""The tracking worker: evaluates committed fixes from `tracking_inbox` in fix-time order, stores
events, geofence memberships and journey transitions in one transaction with the removal of the
fixes from the inbox, then hands the new events on (to the websocket relay).

ETAs are off that path: a batch only notes which vehicles moved; a separate ETA task, on its own
connection and at most once per `eta_interval_ms`, routes them (pgRouting, up to
`EtaPolicy.max_routes` routes a round). A slow round delays the next ETAs, never the next batch,
so an SOS is evaluated and published while routing goes on.

One worker at a time holds the leader lock (a PostgreSQL advisory lock), so several gateway
processes may each run one: the others wait, and take over if the leader dies.

Acknowledged means stored, and stored means evaluated or quarantined: no error ends `run()`.
Transient errors (a lost connection, a lock or statement timeout, a serialization failure or
deadlock) are retried with backoff for as long as they last. Any other error fails the batch; a
batch failing `batch_retries` times in a row makes the worker evaluate vehicle by vehicle, and a
failing vehicle row by row, each in a savepoint, so the good rows go on; a row failing alone
`quarantine_attempts` times moves to the `quarantine` table (stage 'tracker') in the transaction
that deletes it from the inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from prometheus_client import Counter
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tracking import metrics
from tracking import tracking_store as store
from tracking.eta import EtaPolicy
from tracking.eta_refresh import EtaRefresher, is_transient
from tracking.inbox import by_vehicle, evaluate_in_savepoint, evaluate_rows, fetch_batch, quarantine_row
from tracking.inbox_wake import listen_for_fixes
from tracking.settings import TrackingSettings

log = logging.getLogger(__name__)

LEADER_LOCK = 7_216_115  # advisory lock key of the tracking leader
OFFLINE_CHECK_S = 10.0
POLL_S = 0.25  # without a wake (the listening connection lost), look for new fixes this often
OnEvents = Callable[[list[dict[str, Any]]], Awaitable[None]]
RowKey = tuple[int, str, datetime]  # an inbox row: vehicle id, device id, fix time

FAILED_ROUNDS = Counter(
    "amb_tracking_failed_rounds_total",
    "Worker rounds that failed and were retried after a back-off, by cause: transient or error.",
    ["cause"],
)
FAILURES = Counter(
    "amb_tracking_evaluation_failures_total",
    "Evaluations that failed on something else than a transient error, by what was evaluated:"
    " batch (a whole batch), vehicle (one vehicle's fixes alone), row (one fix alone).",
    ["kind"],
)
QUARANTINED = Counter(
    "amb_tracking_quarantined_total", "Inbox rows moved to quarantine after failing alone repeatedly."
)

# The inbox row as it was (its point as lat/lon), with the error, in the deleting transaction.


class WorkerRetrySettings(BaseSettings):
    """How the worker copes with failures (environment variables prefixed AMB_TRACKING_)."""

    model_config = SettingsConfigDict(env_prefix="AMB_TRACKING_", extra="ignore", frozen=True)

    batch_retries: int = Field(
        3, ge=1, description="A batch failing this often in a row: evaluate vehicle by vehicle."
    )
    quarantine_attempts: int = Field(
        3, ge=1, description="An inbox row failing alone this often is moved to quarantine."
    )
    retry_first_s: float = Field(0.2, gt=0, description="First back-off after a failure (doubles).")
    retry_max_s: float = Field(30.0, gt=0, description="Longest back-off between retries.")


@dataclass(slots=True)
class _Round:
    """What an isolated round (vehicle by vehicle, row by row) did."""

    evaluated: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    quarantined: int = 0
    failed: int = 0  # rows that failed and stay in the inbox for another attempt


class TrackingWorker:
    def __init__(
        self,
        conninfo: str,
        settings: TrackingSettings,
        on_events: OnEvents | None = None,
        on_etas: OnEvents | None = None,
        eta_policy: EtaPolicy | None = None,
        retry: WorkerRetrySettings | None = None,
    ) -> None:
        self._conninfo = conninfo
        self._settings = settings
        self._retry = retry or WorkerRetrySettings()
        self._on_events = on_events
        # ETAs are kept only when someone listens for them (the gateway), or a policy is given.
        policy = eta_policy or (EtaPolicy(stopped_kmh=settings.stopped_kmh) if on_etas is not None else None)
        self._etas = (
            None
            if policy is None
            else EtaRefresher(conninfo, policy, on_etas, settings.eta_interval_ms / 1000)
        )
        self._wake = asyncio.Event()
        self._conn: psycopg.AsyncConnection | None = None
        self._leader = False
        self._next_offline_check = 0.0
        self._batch_failures = 0  # whole batches failed in a row (not transiently)
        self._isolating = False  # evaluating vehicle by vehicle until a round has no failure
        self._attempts: dict[RowKey, int] = {}  # failures of rows evaluated alone
        self.evaluated = 0
        self.quarantined = 0

    def wake(self) -> None:
        """New fixes were committed: evaluate them now rather than at the next tick."""
        self._wake.set()

    async def run(self) -> None:
        """Evaluate what waits, round after round (group commit): a round starts as soon as the
        previous one has ended and fixes were committed meanwhile (a wake: the gateway's commit
        notifies `amb_tracking_inbox`, see tracking.inbox_wake; or the poll period), and takes
        everything waiting. A light load is evaluated about as soon as it is committed; a heavy
        one makes rounds longer and batches larger by themselves, and a vehicle's state is loaded
        and saved once per batch. `batch_interval_ms` > 0 also spaces rounds that far apart.

        Never ends on an error (only on cancellation): a crash would only restart into the same
        rows. Each failure is logged with its traceback, counted, and followed by a back-off.
        With ETAs on, their task runs alongside and ends with this one."""
        tasks = [asyncio.create_task(listen_for_fixes(self._conninfo, self.wake))]
        if self._etas is not None:
            tasks.append(asyncio.create_task(self._etas.run()))
        try:
            await self._evaluate_forever()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _evaluate_forever(self) -> None:
        interval = self._settings.batch_interval_ms / 1000
        failures = 0  # rounds failed in a row, for the back-off
        while True:
            started = time.monotonic()
            try:
                await self._round()
                failures = 0
            except Exception as exc:
                failures += 1
                await self._recover(exc, failures)
            await asyncio.sleep(max(0.0, started + interval - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_S)
            self._wake.clear()

    async def _round(self) -> None:
        if not await self._lead():
            return
        while await self.process_once() == self._settings.batch_size:
            pass  # a full batch: more are waiting
        if time.monotonic() >= self._next_offline_check:
            await self.check_offline()
            self._next_offline_check = time.monotonic() + OFFLINE_CHECK_S

    async def _recover(self, exc: Exception, failures: int) -> None:
        """Log and count a failed round, drop a connection that may be broken, and back off
        (exponentially with jitter, up to `retry_max_s`)."""
        delay = min(self._retry.retry_max_s, self._retry.retry_first_s * 2 ** min(failures - 1, 30))
        delay *= random.uniform(0.5, 1.5)
        if is_transient(exc):
            FAILED_ROUNDS.labels("transient").inc()
            log.warning("tracking worker: %s; retrying in %.1f s", exc, delay, exc_info=exc)
            await self._reset()
        else:
            FAILED_ROUNDS.labels("error").inc()
            log.error("tracking worker failed; retrying in %.1f s", delay, exc_info=exc)
        await asyncio.sleep(delay)

    async def _lead(self) -> bool:
        conn = await self._connection()
        if not self._leader:
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,))
            row = await cur.fetchone()
            self._leader = bool(row and row[0])
            if self._leader:
                log.info("tracking worker is the leader")
        return self._leader

    async def _connection(self) -> psycopg.AsyncConnection:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, application_name="amb-tracking-worker"
            )
            self._leader = False
        return self._conn

    async def _reset(self) -> None:
        if self._conn is not None:
            await self._conn.close()
        self._conn, self._leader = None, False

    async def close(self) -> None:
        await self._reset()
        if self._etas is not None:
            await self._etas.close()

    async def process_once(self) -> int:
        """Evaluate one batch of waiting fixes; returns how many left the inbox (evaluated or
        quarantined). Raises what failed the batch; after `batch_retries` such failures in a row,
        batches are evaluated vehicle by vehicle until one round has no failure left."""
        if self._isolating:
            return await self._process_isolated()
        try:
            count = await self._process_batch()
        except Exception as exc:
            if not is_transient(exc):
                self._batch_failed(exc)
            raise
        self._batch_failures = 0
        return count

    def _batch_failed(self, exc: Exception) -> None:
        FAILURES.labels("batch").inc()
        self._batch_failures += 1
        if self._batch_failures >= self._retry.batch_retries:
            log.warning(
                "a batch failed %d times (%s); evaluating vehicle by vehicle", self._batch_failures, exc
            )
            self._isolating = True

    async def _process_batch(self) -> int:
        """The fast path: the whole batch in one transaction."""
        conn = await self._connection()
        started = time.perf_counter()
        async with conn.transaction():
            rows = await fetch_batch(conn, self._settings.batch_size)
            if not rows:
                return 0
            events = await evaluate_rows(conn, rows, self._settings)
            await store.delete_from_inbox(conn, rows)
        await self._after_commit(conn, rows, events, started)
        return len(rows)

    async def _process_isolated(self) -> int:
        """The careful path: one transaction still, but each vehicle in a savepoint, and a
        failing vehicle's rows each in their own, so one poison row holds back nothing else."""
        conn = await self._connection()
        started = time.perf_counter()
        done = _Round()
        async with conn.transaction():
            rows = await fetch_batch(conn, self._settings.batch_size)
            for vehicle_rows in by_vehicle(rows).values():
                await self._isolate_vehicle(conn, vehicle_rows, done)
        self.quarantined += done.quarantined
        QUARANTINED.inc(done.quarantined)
        if done.failed == 0:
            log.info("no failure left; evaluating whole batches again")
            self._isolating, self._batch_failures = False, 0
            self._attempts.clear()
        if done.evaluated:
            await self._after_commit(conn, done.evaluated, done.events, started)
        return len(done.evaluated) + done.quarantined

    async def _isolate_vehicle(
        self, conn: psycopg.AsyncConnection, rows: list[dict[str, Any]], done: _Round
    ) -> None:
        try:
            done.events += await evaluate_in_savepoint(conn, rows, self._settings)
            done.evaluated += rows
            return
        except Exception as exc:
            if is_transient(exc):
                raise
            FAILURES.labels("vehicle").inc()
            log.warning("vehicle %s: %d fixes failed (%r); one by one", rows[0]["vehicle_id"], len(rows), exc)
        for row in rows:
            await self._isolate_row(conn, row, done)

    async def _isolate_row(self, conn: psycopg.AsyncConnection, row: dict[str, Any], done: _Round) -> None:
        key: RowKey = (row["vehicle_id"], row["device_id"], row["fix_time"])
        try:
            done.events += await evaluate_in_savepoint(conn, [row], self._settings)
        except Exception as exc:
            if is_transient(exc):
                raise
            await self._row_failed(conn, key, row, exc, done)
            return
        done.evaluated.append(row)
        self._attempts.pop(key, None)

    async def _row_failed(
        self, conn: psycopg.AsyncConnection, key: RowKey, row: dict[str, Any], exc: Exception, done: _Round
    ) -> None:
        """Count a failure of a row evaluated alone; at `quarantine_attempts`, quarantine it (in
        the round's transaction, which also deletes it from the inbox)."""
        FAILURES.labels("row").inc()
        attempts = self._attempts[key] = self._attempts.get(key, 0) + 1
        if attempts < self._retry.quarantine_attempts:
            log.warning("inbox row %s failed alone (attempt %d)", key, attempts, exc_info=exc)
            done.failed += 1
            return
        log.error("inbox row %s failed alone %d times; quarantined", key, attempts, exc_info=exc)
        await quarantine_row(conn, row, exc, attempts)
        del self._attempts[key]
        done.quarantined += 1

    async def _after_commit(
        self,
        conn: psycopg.AsyncConnection,
        rows: list[dict[str, Any]],
        events: list[dict[str, Any]],
        started: float,
    ) -> None:
        self.evaluated += len(rows)
        metrics.EVALUATED.inc(len(rows))
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        await self._publish(events)
        if self._etas is not None:
            # Noted for the ETA task, never routed here: routing would delay the next batch.
            self._etas.moved(row["vehicle_id"] for row in rows)

    async def update_pending_etas(self) -> int:
        """One ETA round now (tests, benchmarks); see EtaRefresher.update_pending."""
        return 0 if self._etas is None else await self._etas.update_pending()

    async def check_offline(self) -> int:
        """Close the device-offline events of vehicles heard since by a heartbeat, and open one for
        each vehicle silent past its threshold."""
        conn = await self._connection()
        async with conn.transaction():
            events = await store.close_offline_by_contact(conn)
            events += await store.open_offline_events(conn, self._settings)
        await self._publish(events)
        return len(events)

    async def _publish(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            metrics.EVENTS.labels(event["kind"]).inc()
        if events and self._on_events is not None:
            try:
                await self._on_events(events)
            except Exception:  # the events are stored; the live feed is best effort
                log.exception("publishing %d events failed", len(events))
