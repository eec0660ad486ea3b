"""Road speeds learned from the fleet's own stored fixes: the time vehicles actually took to get
through each edge, per direction and local hour, stops included.

Two steps, each set-based in PostGIS:

1. **Reading the fixes, incrementally** (roads/sql/learn_traversals.sql): each whole UTC hour of
   `positions` is read once, in its own short transaction, and summed into
   `road_traversal_hours` (edge, direction, hour: seconds, metres, pairs); `road_learning_state`
   says how far it got. A run reads only the hours since the last one, plus the last
   `learn_reprocess_hours` again (uploads that came late). So the hourly job stays cheap as the
   history grows and never holds a long read on `positions`.
   - **Matching**: each valid fix moving at `learn_min_speed_kmh` or more, with a course, goes to
     the nearest edge within `learn_match_m` that it drives along (its course within
     `learn_heading_tolerance_deg` of the edge's direction, or of the opposite one on a two-way
     edge), with its position along the direction driven.
   - **Attribution**: consecutive matched fixes of a vehicle at most `learn_max_gap_s` apart make a
     pair, and the pair's time goes to the edges between them. On one edge: all of it (a queue in
     the middle of a street). Across a junction into the next edge: that edge gets the time to
     drive its start at the later fix's speed, the first edge the rest - so a red light's wait
     (the fixes of a stopped vehicle are left out, its time is in the pair around the stop) lands
     on the edge that leads into the junction. Pairs on edges that do not join (a skipped edge, a
     lost match) are left out whole, time and distance, which leaves the ratio unbiased; so are
     pairs around a change of the vehicle's journey (dispatched, on scene, at the hospital...): a
     stop at the scene or at the hospital's door is the mission's, not a wait in traffic, and
     learned as one it made every ETA to that place a minute late at its last junction.
2. **Rebuilding the speeds** (roads/sql/learn_speeds.sql) from `road_traversal_hours` of the
   period (`learn_days`), a small table: per (edge, direction, local hour), the speed whose travel
   time is the mean traversal time, 3.6 x metres / seconds. A thin cell (fewer than
   `learned_min_samples` pairs) pools the hours next to it, out to `learn_smooth_hours` either
   side; and `road_area_factors` says, per highway class, area (about 2 km square) and hour, how
   much slower than the class profile the learned edges run: every edge, direction and hour
   without enough traversals of its own gets a row from it (`basis` 'class') instead of the
   free-flow profile, so routing reads one table (no extra join per routing call).

The rows of `road_speeds` change only when their figures do, and the rows no traversal supports
any more are removed: learning again over the same period gives the same rows, and a run that
reads only the new hours gives what a run reading everything gives.

`amb-admin learn-speeds` runs it once; amb-tracker runs `SpeedLearningJob` beside its worker.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from roads.routing import LOCAL_TIME
from roads.settings import RoutingSettings
from roads.timing import forget_costs
from runtime.db import query

log = logging.getLogger(__name__)

LEARN_LOCK = 7_216_116  # transaction advisory lock: one learning step at a time
LEARNER_LOCK = 7_216_117  # session advisory lock of the amb-tracker process that runs the job
# The learning transactions' settings: the spatial join's cost estimates would trigger JIT, whose
# compilation costs seconds; the sorts by cell hold a few tens of MB per million fixes.
LEARN_SETTINGS = ("SET LOCAL jit = off", "SET LOCAL work_mem = '64MB'")
HOUR = timedelta(hours=1)
# An edge's turn factors are pooled with the network's as if it had this many crossings more at
# them (roads/sql/learn_turns.sql): the red lights' draws would make 20 crossings' factor noise.
TURN_PRIOR = 50
STOP_DELAY_S = 8.0  # a crossing delayed this much stopped (a red light): more than a corner slows


@dataclass(frozen=True, slots=True)
class LearnReport:
    """What one learning run did."""

    since: datetime
    until: datetime
    hours: int  # hours of fixes read from `positions` in this run
    fixes: int  # moving fixes with a course in those hours
    matched: int  # of them, matched to an edge and direction
    pairs: int  # consecutive matched pairs whose time was attributed
    cells: int  # (edge, direction, hour) rows learned
    usable: int  # of them, with at least learned_min_samples pairs: routing uses these
    written: int  # rows inserted or changed
    removed: int  # rows no traversal of the period supports any more
    factors: int  # (class, area, hour) factors for the edges without their own
    filled: int  # edge-direction-hours routed at their class's factor (road_speeds basis 'class')
    seconds: float
    read_from: datetime | None = None  # the first hour read, None when none was

    def summary(self) -> str:
        share = self.matched / self.fixes if self.fixes else 0.0
        return (
            f"learned traversal times over {self.since:%Y-%m-%d %H:%M} - {self.until:%Y-%m-%d %H:%M} UTC:"
            f" read {self.hours} new hours of fixes ({self.fixes} moving, {self.matched} matched to a road,"
            f" {share:.0%}; {self.pairs} pairs); {self.cells} edge-direction-hours, {self.usable} with"
            f" enough samples, {self.factors} class factors filling {self.filled}; {self.written} rows written,"
            f" {self.removed} removed, in {self.seconds:.1f} s"
        )


def floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


async def learn_speeds(
    conn: AsyncConnection[Any], since: datetime, until: datetime, settings: RoutingSettings | None = None
) -> LearnReport:
    """Learn `road_speeds` from the fixes of [since, until) (aware datetimes; whole hours): read
    the hours not read yet, one short transaction each, then rebuild the speeds from the hourly
    sums of the period (see the module docstring). Runs wait for each other."""
    settings = settings or RoutingSettings()
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("learning periods must be timezone-aware")
    started = time.perf_counter()
    since, until = floor_hour(since), floor_hour(until)
    totals = {"fixes": 0, "matched": 0, "pairs": 0}
    hours = 0
    read_from = None
    hour = await _first_unread_hour(conn, since, settings)
    while hour < until:
        row = await _read_hour(conn, hour, settings)
        for key in totals:
            totals[key] += row[key]
        read_from = read_from or hour
        hours += 1
        hour += HOUR
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT pg_advisory_xact_lock(%s)", (LEARN_LOCK,))
        for setting in LEARN_SETTINGS:
            await cur.execute(setting)
        params = rebuild_params(since, until, settings)
        await cur.execute("DELETE FROM road_area_factors")
        await cur.execute(query("roads/learn_speeds"), params)
        built = await cur.fetchone()
        await cur.execute("DELETE FROM road_turn_factors")
        await cur.execute(query("roads/learn_turns"), params)
        await cur.execute("DELETE FROM road_junction_stops")
        await cur.execute(query("roads/learn_stops"), params)
    assert built is not None
    return LearnReport(
        since=since,
        until=until,
        hours=hours,
        seconds=time.perf_counter() - started,
        read_from=read_from,
        cells=built["cells"],
        usable=built["usable"],
        written=built["written"],
        removed=built["removed"],
        factors=built["factors"],
        filled=built["filled"],
        **totals,
    )


async def _first_unread_hour(
    conn: AsyncConnection[Any], since: datetime, settings: RoutingSettings
) -> datetime:
    cur = await conn.execute("SELECT learned_until FROM road_learning_state")
    row = await cur.fetchone()
    if row is None or row[0] < since:
        return since
    return max(since, floor_hour(row[0]) - settings.learn_reprocess_hours * HOUR)


async def _read_hour(conn: AsyncConnection[Any], hour: datetime, settings: RoutingSettings) -> dict[str, int]:
    """One hour of fixes into road_traversal_hours, and the state moved past it, in one transaction."""
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT pg_advisory_xact_lock(%s)", (LEARN_LOCK,))
        for setting in LEARN_SETTINGS:
            await cur.execute(setting)
        period = (hour, hour + HOUR)
        await cur.execute(
            "DELETE FROM road_traversal_hours WHERE hour_start >= %s AND hour_start < %s", period
        )
        await cur.execute("DELETE FROM road_turn_hours WHERE hour_start >= %s AND hour_start < %s", period)
        await cur.execute(query("roads/learn_traversals"), traversal_params(hour, hour + HOUR, settings))
        row = await cur.fetchone()
        await cur.execute(
            "INSERT INTO road_learning_state (learned_until) VALUES (%(until)s) ON CONFLICT (singleton)"
            " DO UPDATE SET learned_until = greatest(road_learning_state.learned_until, EXCLUDED.learned_until)",
            {"until": hour + HOUR},
        )
    assert row is not None
    return {"fixes": row["fixes"], "matched": row["matched"], "pairs": row["pairs"]}


def traversal_params(since: datetime, until: datetime, settings: RoutingSettings) -> dict[str, Any]:
    """The bind parameters of roads/sql/learn_traversals.sql."""
    return {
        "since": since,
        "until": until,
        "min_kmh": settings.learn_min_speed_kmh,
        "max_kmh": settings.learn_max_speed_kmh,
        "match_m": settings.learn_match_m,
        "cos_tolerance": math.cos(math.radians(settings.learn_heading_tolerance_deg)),
        "max_gap_s": settings.learn_max_gap_s,
        "stop_delay_s": STOP_DELAY_S,
    }


def rebuild_params(since: datetime, until: datetime, settings: RoutingSettings) -> dict[str, Any]:
    """The bind parameters of the rebuild: roads/sql/learn_speeds.sql, learn_turns.sql, learn_stops.sql."""
    return {
        "since": since,
        "until": until,
        "tz": str(LOCAL_TIME),
        "smooth_hours": settings.learn_smooth_hours,
        "min_samples": settings.learned_min_samples,
        "prior_crossings": TURN_PRIOR,
    }


async def forget_before(conn: AsyncConnection[Any], before: datetime) -> int:
    """Drop the hourly sums older than the learning period; how many rows went."""
    cur = await conn.execute("DELETE FROM road_traversal_hours WHERE hour_start < %s", (before,))
    await conn.execute("DELETE FROM road_turn_hours WHERE hour_start < %s", (before,))
    return cur.rowcount


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
        self,
        conninfo: str,
        settings: RoutingSettings | None = None,
        first_delay_s: float | None = None,
        after: Callable[[AsyncConnection[Any]], Awaitable[Any]] | None = None,
    ) -> None:
        self._conninfo = conninfo
        self._after = after  # run after each learning run, on its connection (ETA calibration)
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
            since = until - timedelta(days=self._settings.learn_days)
            report = await learn_speeds(conn, since, until, self._settings)
            forget_costs()  # this process's routes take the new costs at once (others within minutes)
            await forget_before(conn, floor_hour(since))
            if self._after is not None:
                await self._after(conn)
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
