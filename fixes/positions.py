"""Durable storage of fixes: one COPY and one statement per batch, in one transaction; and the
daily partitions of `positions` they go to, created and dropped without stalling the writers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb

from fixes.model import Fix, StoredFix
from runtime.db import query

log = logging.getLogger(__name__)

# amb_ensure_position_partition gives up on a lock after its lock_timeout (500 ms); try this often.
ENSURE_ATTEMPTS = 6
ENSURE_FIRST_DELAY_S = 0.05
# How long a concurrent detach may wait for the transactions using `positions` (it blocks no
# reader or writer meanwhile, only other DDL such as attaching a new day's partition).
DETACH_LOCK_TIMEOUT = "1s"
MAINTENANCE_PERIOD_S = 3600.0
MAINTENANCE_RETRY_S = 60.0  # sooner, when something was postponed
# A fix stamped further ahead of the database's clock is stored but never becomes the vehicle's
# latest position nor moves its tracking state (see store_fixes.sql): clocks of trackers (GPS)
# and servers (NTP) agree within this.
LATEST_MAX_AHEAD_S = 5.0

# Notified (in the storing transaction, so delivered at its commit) when fixes were queued in
# `tracking_inbox`: the tracking worker LISTENs and evaluates them at once instead of polling.
INBOX_CHANNEL = "amb_tracking_inbox"
_COPY_INCOMING = (
    "COPY incoming (seq, device_id, vehicle_id, fix_time, received_at, lat, lon, speed_kmh, course,"
    " altitude_m, accuracy_m, hdop, satellites, valid, backlog, protocol, attributes) FROM STDIN"
)


class PartitionCache:
    """Remembers which daily partitions of `positions` exist, so each is ensured once per process."""

    def __init__(self) -> None:
        self._known: set[date] = set()

    async def ensure(self, conn: AsyncConnection, fixes: Sequence[Fix]) -> None:
        """Create the partitions this batch needs (outside the batch's transaction)."""
        days = {f.fix_time.astimezone(UTC).date() for f in fixes} - self._known
        for day in sorted(days):
            await ensure_partition(conn, day)
            self._known.add(day)


async def ensure_partition(conn: AsyncConnection, day: date, attempts: int = ENSURE_ATTEMPTS) -> str:
    """Create the partition of `day` if it is missing; returns its name.

    The SQL function bounds its lock waits (lock_timeout) so that it never becomes the head of a
    lock queue that writers wait in; a timeout is retried here with backoff, then raised (the
    gateway's writer retries its whole batch, so a fix for a new day is still stored)."""
    delay = ENSURE_FIRST_DELAY_S
    for attempt in range(1, attempts):
        try:
            return await _ensure_once(conn, day)
        except psycopg.errors.LockNotAvailable:
            log.info("creating the partition of %s timed out on a lock (attempt %d); retrying", day, attempt)
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay *= 2
    return await _ensure_once(conn, day)  # the last attempt raises its timeout


async def _ensure_once(conn: AsyncConnection, day: date) -> str:
    async with conn.transaction():  # a savepoint if the caller is in a transaction
        cur = await conn.execute("SELECT amb_ensure_position_partition(%s)", (day,))
        row = await cur.fetchone()
    assert row is not None
    return str(row[0])


@dataclass(slots=True)
class PartitionReport:
    """What one maintenance run did; `postponed` is left for the next run (a lock timed out)."""

    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    postponed: list[str] = field(default_factory=list)


_MISSING_DAYS = """
SELECT d::date
FROM generate_series(
    (now() AT TIME ZONE 'UTC')::date - 1,
    (now() AT TIME ZONE 'UTC')::date
        + (SELECT value::int FROM amb_settings WHERE key = 'positions_partitions_ahead_days'),
    interval '1 day') AS d
WHERE NOT EXISTS (
    SELECT 1 FROM pg_inherits
    WHERE inhrelid = to_regclass(format('positions_%s', to_char(d, 'YYYYMMDD')))
      AND inhparent = 'positions'::regclass)
ORDER BY 1
"""

# Expired day tables: attached, pending detach (an interrupted DETACH CONCURRENTLY: finalized
# first, as only one partition may be pending at a time) or already detached (only dropped).
_EXPIRED = """
SELECT c.relname, i.inhrelid IS NOT NULL AS attached, coalesce(i.inhdetachpending, false) AS pending
FROM pg_class c
LEFT JOIN pg_inherits i ON i.inhrelid = c.oid AND i.inhparent = 'positions'::regclass
WHERE c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = 'positions'::regclass)
  AND c.relkind = 'r'
  AND c.relname ~ '^positions_[0-9]{8}$'
  AND to_date(substr(c.relname, 11), 'YYYYMMDD')
      < (now() AT TIME ZONE 'UTC')::date
        - (SELECT value::int FROM amb_settings WHERE key = 'positions_retention_days')
ORDER BY pending DESC, c.relname
"""

# Another maintainer got there first, or a lock timed out: try again at the next run.
_POSTPONED = (psycopg.errors.LockNotAvailable, psycopg.errors.ObjectNotInPrerequisiteState)


async def maintain_partitions(conn: AsyncConnection) -> PartitionReport:
    """Create the partitions from yesterday to the days ahead, and drop the expired ones.

    The stall-free counterpart of `SELECT * FROM amb_maintain_position_partitions()`: dropping
    needs a DETACH first, and only `DETACH PARTITION ... CONCURRENTLY` (SHARE UPDATE EXCLUSIVE
    on `positions`: readers and writers go on) avoids the ACCESS EXCLUSIVE lock of a plain one.
    It cannot run in a transaction block, hence here, on an autocommit connection. Creating
    comes first: while a detach waits for old readers, it keeps new partitions from attaching."""
    if not conn.autocommit:
        raise ValueError("maintain_partitions needs an autocommit connection (DETACH CONCURRENTLY)")
    report = PartitionReport()
    for (day,) in await (await conn.execute(_MISSING_DAYS)).fetchall():
        try:
            report.created.append(await ensure_partition(conn, day))
        except psycopg.errors.LockNotAvailable:
            report.postponed.append(f"positions_{day:%Y%m%d}")
    for name, attached, pending in await (await conn.execute(_EXPIRED)).fetchall():
        try:
            await _detach_and_drop(conn, name, attached=attached, pending=pending)
            report.dropped.append(name)
        except _POSTPONED as exc:
            log.info("partition %s not dropped yet (%s); retried at the next run", name, exc)
            report.postponed.append(name)
        except psycopg.errors.InsufficientPrivilege:
            # The services' role (admin.db_role) writes rows only: dropping is the owner's job.
            log.debug(
                "partition %s expired: left to the schema's owner (python -m admin.db_role maintain)", name
            )
            break
    return report


async def _detach_and_drop(conn: AsyncConnection, name: str, *, attached: bool, pending: bool) -> None:
    """Detach `name` from `positions` without ACCESS EXCLUSIVE on it, then drop it. A timed-out
    concurrent detach leaves the partition pending; the next run finalizes it."""
    table = sql.Identifier(name)
    async with _lock_timeout(conn, DETACH_LOCK_TIMEOUT):
        if pending:
            await conn.execute(sql.SQL("ALTER TABLE positions DETACH PARTITION {} FINALIZE").format(table))
        elif attached:
            await conn.execute(
                sql.SQL("ALTER TABLE positions DETACH PARTITION {} CONCURRENTLY").format(table)
            )
        # No longer a partition: dropping it locks only itself.
        await conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))


@contextlib.asynccontextmanager
async def _lock_timeout(conn: AsyncConnection, limit: str) -> AsyncIterator[None]:
    """Bound lock waits on this (autocommit) connection for a while, then restore the default."""
    await conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(limit)))
    try:
        yield
    finally:
        if not conn.closed:
            await conn.execute("RESET lock_timeout")


async def maintain_partitions_periodically(conninfo: str, period_s: float = MAINTENANCE_PERIOD_S) -> None:
    """Run `maintain_partitions` every `period_s` (sooner after a postponement) on its own
    connection; a failure is logged and retried, never raised (it runs beside the worker)."""
    while True:
        delay = period_s
        try:
            async with await psycopg.AsyncConnection.connect(
                conninfo, autocommit=True, application_name="amb-partition-maintenance"
            ) as conn:
                report = await maintain_partitions(conn)
            if report.created or report.dropped:
                log.info("partitions: created %s, dropped %s", report.created, report.dropped)
            if report.postponed:
                log.info("partitions postponed (lock timeouts): %s", report.postponed)
                delay = min(period_s, MAINTENANCE_RETRY_S)
        except Exception:
            log.exception("partition maintenance failed; retrying in %.0f s", MAINTENANCE_RETRY_S)
            delay = min(period_s, MAINTENANCE_RETRY_S)
        await asyncio.sleep(delay)


async def prepare_connection(conn: AsyncConnection) -> None:
    """Create the connection's staging table (call once per connection)."""
    await conn.execute(query("fixes/create_incoming"))


async def store_fixes(
    conn: AsyncConnection, fixes: Sequence[Fix], latest_max_ahead_s: float = LATEST_MAX_AHEAD_S
) -> list[StoredFix]:
    """Store `fixes` in one transaction; returns those newly stored (duplicates are skipped).

    A fix more than `latest_max_ahead_s` ahead of the database's clock is stored, but is not the
    vehicle's latest position and is queued for the tracking worker as not valid (its alarms still
    count, it moves no geofence or journey state): a forged fix from the future cannot become the
    vehicle's position nor turn the real fixes after it into late ones.

    Idempotent: storing the same batch again stores nothing more, so a retried or redelivered
    batch is safe. The connection must have been prepared with `prepare_connection`.
    """
    if not fixes:
        return []
    async with conn.transaction(), conn.cursor() as cur:
        async with cur.copy(_COPY_INCOMING) as copy:
            for seq, f in enumerate(fixes):
                await copy.write_row(
                    (
                        seq,
                        f.device_id,
                        f.vehicle_id,
                        f.fix_time,
                        f.received_at,
                        f.lat,
                        f.lon,
                        f.speed_kmh,
                        f.course,
                        f.altitude_m,
                        f.accuracy_m,
                        f.hdop,
                        f.satellites,
                        f.valid,
                        f.backlog,
                        f.protocol,
                        Jsonb(f.attributes),
                    )
                )
        await cur.execute(query("fixes/store_fixes"), {"ahead_s": latest_max_ahead_s})
        flags: dict[tuple[str, datetime], tuple[bool, bool]] = {
            (device_id, fix_time): (late, latest)
            for device_id, fix_time, late, latest in await cur.fetchall()
        }
        if flags:  # wake the tracking worker, wherever it runs, once this commits
            await cur.execute("SELECT pg_notify(%s, '')", (INBOX_CHANNEL,))
    stored: list[StoredFix] = []
    for f in fixes:
        flag = flags.pop((f.device_id, f.fix_time), None)
        if flag is not None:
            stored.append(StoredFix(f, late=flag[0], latest=flag[1]))
    return stored
