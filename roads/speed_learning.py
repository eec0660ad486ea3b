"""Speeds learned per road edge, direction and hour of day from the fleet's own stored fixes.

One statement (roads/sql/learn_speeds.sql) does it all in PostGIS, set-based:

- **Matching**: each valid, moving fix of a vehicle goes to the nearest edge within
  `learn_match_m` that it drives along: its course within `learn_heading_tolerance_deg` of the
  edge's direction at the nearest spot (forward) or of the opposite direction on a two-way edge
  (reverse); a one-way edge is never matched against its direction. The candidates come from
  one spatial join (`ST_DWithin` on the GiST index of `road_edges.geom_merc`, about half the time
  of a KNN search per fix), and the nearest that agrees wins.
  Fixes without a course are left out (their direction is unknown), and so are fixes slower than
  `learn_min_speed_kmh` (parked, and a GPS course is noise at walking pace).
- **Grouping** by (edge, direction, local hour in Asia/Ho_Chi_Minh).
- **Statistics**: the median (`p50_kmh`) and the trimmed mean (`speed_kmh`, the mean of the
  middle after `learn_trim` of the slowest and of the fastest fixes are left out), with the count
  (`samples`). Why a mean of the speeds and not their harmonic mean: routing turns a speed into a
  travel time (length / speed), so the right speed is the one whose travel time is the mean
  traversal time, length / mean time. Fixes come at a fixed *time* interval, so each is a sample
  of the traversal's time, and the plain mean of time-sampled speeds is exactly distance / time
  (a traversal spending half its time at 10 km/h and half at 50 km/h covers 30 km/h on average);
  the harmonic mean is right for samples taken per distance (one speed per traversal, or per
  metre), and over time samples it weighs the slow seconds twice (16.7 km/h for that traversal).
  Trimming keeps GPS glitches (absurd speeds) out, at a small cost: speeds on an edge skew low
  (junctions, bends), so the trimmed mean runs about 1 % above the plain one on the benchmark's
  traces. The median is kept beside it as the robust central value.
- **Smoothing**: a cell with fewer than `learned_min_samples` fixes of its own pools the fixes of
  the `learn_smooth_hours` hours either side (its `samples` then counts the pool).
- **Upsert** into `road_speeds`; a row changes only when its figures do (`updated_at` says when),
  and the rows no fix of the period supports any more are removed: the table is a function of the
  fixes of the period, so learning again over the same period gives the same rows. Rows with too
  few samples are kept, and routing ignores them (it checks `samples`).

`amb-admin learn-speeds` runs it once; amb-tracker runs `SpeedLearningJob` beside its worker.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from roads.routing import LOCAL_TIME
from roads.settings import RoutingSettings
from runtime.db import query

log = logging.getLogger(__name__)

LEARN_LOCK = 7_216_116  # transaction advisory lock: one learning run at a time
LEARNER_LOCK = 7_216_117  # session advisory lock of the amb-tracker process that runs the job
# The learning transaction's settings: the spatial join's cost estimates would trigger JIT, whose
# compilation costs seconds; the sorts by cell hold a few tens of MB per million fixes.
LEARN_SETTINGS = ("SET LOCAL jit = off", "SET LOCAL work_mem = '64MB'")


@dataclass(frozen=True, slots=True)
class LearnReport:
    """What one learning run did."""

    since: datetime
    until: datetime
    fixes: int  # moving fixes with a course in the period
    matched: int  # of them, matched to an edge and direction
    cells: int  # (edge, direction, hour) rows learned
    usable: int  # of them, with at least learned_min_samples samples: routing uses these
    written: int  # rows inserted or changed
    removed: int  # rows no fix of the period supports any more
    seconds: float

    def summary(self) -> str:
        share = self.matched / self.fixes if self.fixes else 0.0
        return (
            f"learned speeds from {self.fixes} moving fixes ({self.matched} matched to a road,"
            f" {share:.0%}) of {self.since:%Y-%m-%d %H:%M} - {self.until:%Y-%m-%d %H:%M} UTC:"
            f" {self.cells} edge-direction-hours, {self.usable} with enough samples;"
            f" {self.written} rows written, {self.removed} removed, in {self.seconds:.1f} s"
        )


async def learn_speeds(
    conn: AsyncConnection[Any], since: datetime, until: datetime, settings: RoutingSettings | None = None
) -> LearnReport:
    """Learn `road_speeds` from the fixes stored between `since` and `until` (aware datetimes), in
    one transaction (see the module docstring). Runs wait for each other."""
    params = learn_params(since, until, settings or RoutingSettings())
    started = time.perf_counter()
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT pg_advisory_xact_lock(%s)", (LEARN_LOCK,))
        for setting in LEARN_SETTINGS:
            await cur.execute(setting)
        await cur.execute(query("roads/learn_speeds"), params)
        row = await cur.fetchone()
    assert row is not None
    return LearnReport(
        since=since,
        until=until,
        fixes=row["fixes"],
        matched=row["matched"],
        cells=row["cells"],
        usable=row["usable"],
        written=row["written"],
        removed=row["removed"],
        seconds=time.perf_counter() - started,
    )


def learn_params(since: datetime, until: datetime, settings: RoutingSettings) -> dict[str, Any]:
    """The bind parameters of roads/sql/learn_speeds.sql."""
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("learning periods must be timezone-aware")
    return {
        "since": since,
        "until": until,
        "tz": str(LOCAL_TIME),
        "min_kmh": settings.learn_min_speed_kmh,
        "max_kmh": settings.learn_max_speed_kmh,
        "match_m": settings.learn_match_m,
        "cos_tolerance": math.cos(math.radians(settings.learn_heading_tolerance_deg)),
        "smooth_hours": settings.learn_smooth_hours,
        "min_samples": settings.learned_min_samples,
        "trim": settings.learn_trim,
    }


class SpeedLearningJob:
    """amb-tracker's periodic job: every `learn_interval_s`, learn from the last `learn_days` days.

    It runs as its own task on its own connection beside the tracking worker and never holds it
    up: the statement runs in PostgreSQL while the event loop goes on, and a failure is logged and
    retried at the next period. With several amb-tracker processes one learns (the holder of a
    session advisory lock); another takes over if it dies. The first run comes one period after
    the start (`first_delay_s` otherwise): a restart does not learn again at once, and short-lived
    trackers (tests, benchmarks) never learn; `amb-admin learn-speeds` learns now.
    """

    def __init__(
        self, conninfo: str, settings: RoutingSettings | None = None, first_delay_s: float | None = None
    ) -> None:
        self._conninfo = conninfo
        self._settings = settings or RoutingSettings()
        self._first_delay_s = self._settings.learn_interval_s if first_delay_s is None else first_delay_s
        self._conn: AsyncConnection[Any] | None = None
        self._leader = False
        self.last: LearnReport | None = None

    async def run(self) -> None:
        interval = self._settings.learn_interval_s
        if interval <= 0:
            log.info("speed learning is off (AMB_ROUTING_LEARN_INTERVAL_S=0)")
            return
        await asyncio.sleep(self._first_delay_s)
        try:
            while True:
                started = time.monotonic()
                await self.run_once()
                await asyncio.sleep(max(0.0, started + interval - time.monotonic()))
        finally:
            await self.close()

    async def run_once(self) -> LearnReport | None:
        """One learning run if this process leads; None when it does not, or on failure."""
        try:
            conn = await self._connection()
            if not self._leader:
                cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (LEARNER_LOCK,))
                lead = await cur.fetchone()
                self._leader = bool(lead and lead[0])
            if not self._leader:
                return None  # another amb-tracker learns
            until = datetime.now(UTC)
            report = await learn_speeds(
                conn, until - timedelta(days=self._settings.learn_days), until, self._settings
            )
        except psycopg.Error as exc:
            log.warning("learning speeds failed: %s; retrying at the next period", exc)
            await self.close()
            return None
        except Exception:  # a bug here must not stop the tracking worker beside it
            log.exception("learning speeds failed; retrying at the next period")
            return None
        log.info("%s", report.summary())
        self.last = report
        return report

    async def _connection(self) -> AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await AsyncConnection.connect(
                self._conninfo, autocommit=True, application_name="amb-speed-learning"
            )
            self._leader = False
        return self._conn

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
        self._conn, self._leader = None, False
