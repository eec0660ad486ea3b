"""ETAs calibrated by the fleet's own recent arrivals, with an arrival window.

Every routed ETA is kept as predicted (`eta_predictions`, raw: the router's seconds). When its
journey reaches the target (on_scene_at for a scene, at_hospital_at for a hospital) it becomes an
outcome (`eta_outcomes`: predicted vs. actual seconds left); journeys that end otherwise drop
theirs. Calibration takes the outcomes of the last `days` days (one: what the day is like - a
slow day, rain - reaches the ETAs within the hour) and keeps, per target (the scene, the
hospital: their arrivals are detected differently - stopping within the scene's radius, within
the hospital's area - and measured apart in `make run`) and length band (< 2, 2-5, 5-15,
15+ minutes predicted) - and per local hour band (3 hours) too where a band has `MIN_HOUR_SAMPLES`
outcomes, which a city's fleet reaches only in a busy day - the 10th and 90th percentiles of
actual / predicted and the correction factor that makes the median plus the 90th percentile of
the relative errors smallest (the typical ETA and the bad one), shrunk towards 1 where it is within
the band's noise (`eta_calibration`; a band with fewer than
`min_samples` falls back to its length band over both targets, then to everything). Not the median ratio: arrivals scatter late far more
than early (a red light, a queue), and centring on them moves the many close ETAs off; not hour
bands from a few hundred outcomes either: their noise moved the windows more than the hours did
(measured: docs/benchmarks.md, coverage 73 % with them, 80 % without).

Each vehicle has its own pace against the fleet's (`eta_vehicle_factors`: the median of its
outcomes of the last `VEHICLE_DAYS` days over the fleet's, shrunk towards 1 by
n / (n + `VEHICLE_SHRINK_N`)): a driver, an older vehicle.

The ETA the API shows is then the raw prediction times the band's factor (what the router
misses on the whole - a slow day - is corrected) times the vehicle's, and the window is the raw
prediction times its p10 and p90 (and the vehicle's factor): about 80 % of arrivals fall inside
it. `Calibration.window`
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
MIN_HOUR_SAMPLES = 1000
VEHICLE_DAYS = 7  # outcomes are kept this long: each vehicle's pace needs more than a day of them
VEHICLE_SHRINK_N = 200


@dataclass(frozen=True, slots=True)
class CalibrationReport:
    closed: int  # predictions whose journey ended since the last run
    collected: int  # of them, outcomes (the journey reached the target)
    outcomes: int  # outcomes calibration used
    bands: int  # calibration rows written
    vehicles: int  # vehicles with a factor of their own
    seconds: float

    def summary(self) -> str:
        return (
            f"calibrated ETAs from {self.outcomes} outcomes ({self.collected} new of {self.closed} predictions"
            f" closed): {self.bands} bands, {self.vehicles} vehicles' own factors, in {self.seconds:.1f} s"
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
    conn: AsyncConnection[Any],
    now: datetime,
    days: int = CALIBRATION_DAYS,
    min_samples: int = MIN_SAMPLES,
    min_hour_samples: int = MIN_HOUR_SAMPLES,
) -> tuple[int, int, int]:
    """eta_calibration rebuilt from the outcomes of the last `days` days, eta_vehicle_factors from
    those of the last VEHICLE_DAYS (older ones go); (outcomes used, bands, vehicles written)."""
    since = now - timedelta(days=days)
    vehicle_since = now - timedelta(days=max(days, VEHICLE_DAYS))
    params = {
        "since": since,
        "min_samples": min_samples,
        "min_hour_samples": min_hour_samples,
        "vehicle_since": vehicle_since,
        "vehicle_shrink_n": VEHICLE_SHRINK_N,
    }
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("DELETE FROM eta_outcomes WHERE at < %s", (vehicle_since,))
        await cur.execute("DELETE FROM eta_calibration")
        await cur.execute("DELETE FROM eta_vehicle_factors")
        await cur.execute(query("tracking/eta_calibrate"), params)
        row = await cur.fetchone()
    assert row is not None
    forget_calibration()  # this process's ETAs take it at once
    return int(row["outcomes"]), int(row["bands"]), int(row["vehicles"])


async def calibrate_etas(conn: AsyncConnection[Any], now: datetime | None = None) -> CalibrationReport:
    """Collect the new outcomes and calibrate again."""
    started = time.perf_counter()
    now = now or datetime.now().astimezone()
    closed, collected = await collect_outcomes(conn, now)
    outcomes, bands, vehicles = await calibrate(conn, now)
    return CalibrationReport(closed, collected, outcomes, bands, vehicles, time.perf_counter() - started)


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
    """eta_calibration as loaded: (target, hour band, length band) -> (p10 of actual / predicted,
    the correction factor, p90); and eta_vehicle_factors: vehicle id -> its factor."""

    bands: dict[tuple[str, int, int], tuple[float, float, float]] = field(default_factory=dict)
    vehicles: dict[int, float] = field(default_factory=dict)

    def window(
        self, at: datetime, predicted_s: float, vehicle_id: int | None = None, target: str | None = None
    ) -> tuple[float, float, float]:
        """(expected, early, late) seconds left for a raw prediction made at `at` for
        `vehicle_id` to a `target` ('scene', 'hospital'): its narrowest band with enough outcomes,
        then its target's length band over all hours, its length band over both targets, then
        everything; times the vehicle's own factor."""
        hb, lb = hour_band(at), length_band(predicted_s)
        kind = target or "any"
        keys = ((kind, hb, lb), (kind, -1, lb), ("any", -1, lb), ("any", -1, -1))
        q10, factor, q90 = next((self.bands[k] for k in keys if k in self.bands), ASSUMED)
        seconds = predicted_s * self.vehicles.get(vehicle_id, 1.0) if vehicle_id is not None else predicted_s
        return seconds * factor, seconds * q10, seconds * q90


async def load_calibration(conn: AsyncConnection[Any]) -> Calibration:
    cur = await conn.execute(
        "SELECT target_kind, hour_band, length_band, q10, factor, q90 FROM eta_calibration"
    )
    bands = {
        (str(k), int(h), int(b)): (float(a), float(m), float(z)) for k, h, b, a, m, z in await cur.fetchall()
    }
    cur = await conn.execute("SELECT vehicle_id, factor FROM eta_vehicle_factors")
    return Calibration(bands, {int(v): float(f) for v, f in await cur.fetchall()})


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
    conn: AsyncConnection[Any],
    at: list[datetime],
    predicted_s: list[float],
    vehicles: list[int | None] | None = None,
    targets: list[str | None] | None = None,
) -> list[tuple[float, float, float]]:
    """(expected, early, late) seconds of raw predictions (of these vehicles, to these targets), by
    the calibration as it is now."""
    calibration = await load_calibration(conn)
    vehicles = vehicles or [None] * len(at)
    targets = targets or [None] * len(at)
    return [
        calibration.window(a, p, v, t) for a, p, v, t in zip(at, predicted_s, vehicles, targets, strict=True)
    ]
