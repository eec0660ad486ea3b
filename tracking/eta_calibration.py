"""ETAs calibrated by the fleet's own recent arrivals, with an arrival window.

Every routed ETA is kept as predicted (`eta_predictions`, raw: the router's seconds). When its
journey reaches the target (on_scene_at for a scene, at_hospital_at for a hospital) it becomes an
outcome (`eta_outcomes`: predicted vs. actual seconds left); journeys that end otherwise drop
theirs. Calibration takes the outcomes of the last `days` days (one: what the day is like - a
slow day, rain - reaches the ETAs within the hour) and keeps, per local hour band
(3 hours) and length band (< 2, 2-5, 5-15, 15+ minutes predicted), the 10th and 90th
percentiles of actual / predicted and the correction factor that makes the median relative error
smallest (`eta_calibration`; a band with fewer than `min_samples` falls back to its length band
over all hours, then to everything). Not the median ratio: arrivals scatter late far more than
early (a red light, a queue), and centring on them moves the many close ETAs off (measured:
docs/benchmarks.md).

The ETA the API shows is then the raw prediction times the band's factor (what the router
misses on the whole - a slow day - is corrected), and the window is the raw prediction times its
p10 and p90: about 80 % of arrivals fall inside it. `Calibration.window`
applies it where ETAs are written (tracking/eta.py) and shown (the API's /eta, the caller page's
fallback route), from a per-process copy of the table refreshed every `CACHE_S` (no SQL per ETA);
without any outcomes yet it leaves the prediction as it is with an assumed window of 0.85-1.30
of it. The bands are SQL's `eta_hour_band` / `eta_length_band` (grouping the outcomes) and
`hour_band` / `length_band` here (test_eta_calibration.py checks they agree).

amb-tracker runs `calibrate_etas` after each speed-learning run (hourly).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from runtime.db import query

LOCAL_TIME = ZoneInfo("Asia/Ho_Chi_Minh")
CACHE_S = 60.0
ASSUMED = (0.85, 1.0, 1.30)  # (p10, factor, p90) before any outcome
LENGTH_BANDS_S = (120.0, 300.0, 900.0)
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
    forget_calibration()  # this process's ETAs take it at once
    return int(row["outcomes"]), int(row["bands"])


async def calibrate_etas(conn: AsyncConnection[Any], now: datetime | None = None) -> CalibrationReport:
    """Collect the new outcomes and calibrate again."""
    started = time.perf_counter()
    now = now or datetime.now().astimezone()
    closed, collected = await collect_outcomes(conn, now)
    outcomes, bands = await calibrate(conn, now)
    return CalibrationReport(closed, collected, outcomes, bands, time.perf_counter() - started)


@dataclass(frozen=True, slots=True)
class AccuracyRow:
    """How the ETAs of one leg did (tracking/sql/eta_accuracy.sql): shares of the time left."""

    leg: str  # scene, hospital, all
    which: str  # true: the first ETA of each leg (at dispatch / leaving the scene); any
    n: int
    median: float
    p90: float
    bias: float
    raw_median: float
    raw_bias: float
    window: float | None  # share of arrivals inside the p10-p90 window shown
    median_actual_s: float


async def eta_accuracy(conn: AsyncConnection[Any], since: datetime) -> list[AccuracyRow]:
    """The ETAs against the arrivals since `since` (what `amb-admin eta-accuracy` prints)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query("tracking/eta_accuracy"), {"since": since})
        return [AccuracyRow(**row) for row in await cur.fetchall() if row["n"]]  # () gives a row for none


def hour_band(at: datetime) -> int:
    """The local 3-hour band of a prediction (SQL eta_hour_band)."""
    return at.astimezone(LOCAL_TIME).hour // 3


def length_band(predicted_s: float) -> int:
    """The length band of a prediction (SQL eta_length_band)."""
    return sum(predicted_s >= limit for limit in LENGTH_BANDS_S)


@dataclass(frozen=True, slots=True)
class Calibration:
    """eta_calibration as loaded: (hour band, length band) -> (p10 of actual / predicted, the
    correction factor, p90)."""

    bands: dict[tuple[int, int], tuple[float, float, float]] = field(default_factory=dict)

    def window(self, at: datetime, predicted_s: float) -> tuple[float, float, float]:
        """(expected, early, late) seconds left for a raw prediction made at `at`: its narrowest
        band with enough outcomes, then its length band over all hours, then everything."""
        hb, lb = hour_band(at), length_band(predicted_s)
        q10, factor, q90 = next(
            (self.bands[k] for k in ((hb, lb), (-1, lb), (-1, -1)) if k in self.bands), ASSUMED
        )
        return predicted_s * factor, predicted_s * q10, predicted_s * q90


async def load_calibration(conn: AsyncConnection[Any]) -> Calibration:
    cur = await conn.execute("SELECT hour_band, length_band, q10, factor, q90 FROM eta_calibration")
    return Calibration(
        {(int(h), int(b)): (float(a), float(m), float(z)) for h, b, a, m, z in await cur.fetchall()}
    )


_cached: tuple[float, Calibration] | None = None


async def cached_calibration(conn: AsyncConnection[Any]) -> Calibration:
    """The calibration, read again at most every CACHE_S."""
    global _cached
    now = time.monotonic()
    if _cached is None or now - _cached[0] > CACHE_S:
        _cached = (now, await load_calibration(conn))
    return _cached[1]


def forget_calibration() -> None:
    global _cached
    _cached = None


async def eta_windows(
    conn: AsyncConnection[Any], at: list[datetime], predicted_s: list[float]
) -> list[tuple[float, float, float]]:
    """(expected, early, late) seconds of raw predictions, by the calibration as it is now."""
    calibration = await load_calibration(conn)
    return [calibration.window(a, p) for a, p in zip(at, predicted_s, strict=True)]
