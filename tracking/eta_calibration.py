"""ETAs calibrated by the fleet's own recent arrivals, with an arrival window.

Every routed ETA is kept as predicted (`eta_predictions`, raw: the router's seconds). When its
journey reaches the target (on_scene_at for a scene, at_hospital_at for a hospital) it becomes an
outcome (`eta_outcomes`: predicted vs. actual seconds left); journeys that end otherwise drop
theirs. Calibration takes the outcomes of the last `days` days (one: what the day is like - a
slow day, rain - reaches the ETAs within the hour) and keeps, per local hour band
(3 hours) and length band (< 2, 2-5, 5-15, 15+ minutes predicted), the 10th, 50th and 90th
percentiles of actual / predicted (`eta_calibration`; a band with fewer than `min_samples` falls
back to its length band over all hours, then to everything).

The ETA the API shows is then the raw prediction times the band's median (what the router
misses on the whole - stops it cannot see, a slow day - is corrected), and the window is the raw
prediction times its p10 and p90: about 80 % of arrivals fall inside it. SQL's
`eta_window(at, predicted_s)` applies it where ETAs are written (tracking/sql/eta_*.sql); without
any outcomes yet it leaves the prediction as it is with an assumed window of 0.85-1.30 of it.

amb-tracker runs `calibrate_etas` after each speed-learning run (hourly).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from runtime.db import query

CALIBRATION_DAYS = 1  # the last 24 hours: a slow day is corrected within hours
MIN_SAMPLES = 50


@dataclass(frozen=True, slots=True)
class CalibrationReport:
    closed: int  # predictions whose journey ended since the last run
    collected: int  # of them, outcomes (the journey reached the target)
    outcomes: int  # outcomes calibration used
    bands: int  # calibration rows written
    seconds: float

    def summary(self) -> str:
        return (
            f"calibrated ETAs from {self.outcomes} outcomes ({self.collected} new of {self.closed} predictions"
            f" closed): {self.bands} bands, in {self.seconds:.1f} s"
        )


async def collect_outcomes(
    conn: AsyncConnection[Any], now: datetime, days: int = CALIBRATION_DAYS
) -> tuple[int, int]:
    """Predictions of journeys that arrived become outcomes; (closed, collected)."""
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query("tracking/eta_outcomes_collect"), {"since": now - timedelta(days=days)})
        row = await cur.fetchone()
    assert row is not None
    return int(row["closed"]), int(row["outcomes"])


async def calibrate(
    conn: AsyncConnection[Any], now: datetime, days: int = CALIBRATION_DAYS, min_samples: int = MIN_SAMPLES
) -> tuple[int, int]:
    """eta_calibration rebuilt from the outcomes of the last `days` days (older ones go);
    (outcomes used, bands written)."""
    since = now - timedelta(days=days)
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("DELETE FROM eta_outcomes WHERE at < %s", (since,))
        await cur.execute("DELETE FROM eta_calibration")
        await cur.execute(query("tracking/eta_calibrate"), {"since": since, "min_samples": min_samples})
        row = await cur.fetchone()
    assert row is not None
    return int(row["outcomes"]), int(row["bands"])


async def calibrate_etas(conn: AsyncConnection[Any], now: datetime | None = None) -> CalibrationReport:
    """Collect the new outcomes and calibrate again."""
    started = time.perf_counter()
    now = now or datetime.now().astimezone()
    closed, collected = await collect_outcomes(conn, now)
    outcomes, bands = await calibrate(conn, now)
    return CalibrationReport(closed, collected, outcomes, bands, time.perf_counter() - started)


async def eta_windows(
    conn: AsyncConnection[Any], at: list[datetime], predicted_s: list[float]
) -> list[tuple[float, float, float]]:
    """(expected, low, high) seconds of raw predictions, as the ETAs written get them."""
    cur = await conn.execute(
        "SELECT w.expected_s, w.low_s, w.high_s"
        " FROM unnest(%s::timestamptz[], %s::float8[]) WITH ORDINALITY AS u(at, predicted_s, i),"
        " LATERAL eta_window(u.at, u.predicted_s) AS w ORDER BY u.i",
        (at, predicted_s),
    )
    return [(float(a), float(b), float(c)) for a, b, c in await cur.fetchall()]
