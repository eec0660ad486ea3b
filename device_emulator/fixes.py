"""GPS fixes as a tracker reports them: noisy position, speed, heading, satellites; and their JSON payloads."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from device_emulator.fleet import VehicleSample
from device_emulator.roads import LocalProjection

# GPS error drifts rather than jumping: a first-order Gauss-Markov process with this correlation time.
NOISE_CORRELATION_S = 5.0
GROUND_ALTITUDE_M = 5.0  # central Da Nang is a few metres above sea level
SATELLITES_RANGE = (6, 12)


@dataclass(frozen=True, slots=True)
class Fix:
    """One position report of one tracker."""

    time: datetime  # UTC
    lat: float
    lon: float
    speed_kmh: float
    heading: int  # degrees clockwise from north, 0-359
    alt_m: int
    accuracy_m: int
    sats: int
    state: str  # the emulator's mission phase


def format_time(when: datetime) -> str:
    """ISO 8601 in UTC with millisecond precision and a 'Z': 2026-11-27T08:00:00.000Z."""
    utc = when.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def fix_payload(fix: Fix) -> dict[str, Any]:
    return {
        "time": format_time(fix.time),
        "lat": fix.lat,
        "lon": fix.lon,
        "speed_kmh": fix.speed_kmh,
        "heading": fix.heading,
        "alt_m": fix.alt_m,
        "accuracy_m": fix.accuracy_m,
        "sats": fix.sats,
        "attrs": {"state": fix.state},
    }


def encode_fix(fix: Fix) -> bytes:
    """A live fix: one JSON object."""
    return json.dumps(fix_payload(fix), separators=(",", ":")).encode()


def encode_backlog(fixes: Iterable[Fix]) -> bytes:
    """Fixes held back by a coverage gap or a lost connection: one JSON array, oldest first."""
    return json.dumps([fix_payload(fix) for fix in fixes], separators=(",", ":")).encode()


class GpsReceiver:
    """Turns a vehicle's true state into what its GPS reports."""

    def __init__(self, rng: random.Random, projection: LocalProjection, noise_m: float = 4.0) -> None:
        if noise_m < 0:
            raise ValueError("noise_m must be >= 0")
        self._rng = rng
        self._projection = projection
        self.noise_m = noise_m
        self._sats = rng.randint(*SATELLITES_RANGE)
        # noise_m is the RMS horizontal error, so each axis gets noise_m / sqrt(2).
        self._axis_sigma = noise_m / math.sqrt(2.0)
        self._error = (rng.gauss(0.0, self._axis_sigma), rng.gauss(0.0, self._axis_sigma))
        self._last_time: datetime | None = None

    def fix(self, sample: VehicleSample, when: datetime) -> Fix:
        """The fix reported at `when` for the vehicle's true state `sample`."""
        dx, dy = self._drift_error(when)
        x, y = self._projection.to_xy(sample.lat, sample.lon)
        lat, lon = self._projection.to_latlon(x + dx, y + dy)
        if self._rng.random() < 0.05:
            self._sats = min(
                max(self._sats + self._rng.choice((-1, 1)), SATELLITES_RANGE[0]), SATELLITES_RANGE[1]
            )
        return Fix(
            time=when,
            lat=round(lat, 7),
            lon=round(lon, 7),
            speed_kmh=round(sample.speed_kmh, 1),
            heading=round(sample.heading_deg) % 360,
            alt_m=round(GROUND_ALTITUDE_M + self._rng.gauss(0.0, 1.5)),
            accuracy_m=max(1, round(max(self.noise_m, 1.0) * self._rng.uniform(0.8, 1.25))),
            sats=self._sats,
            state=str(sample.phase),
        )

    def _drift_error(self, when: datetime) -> tuple[float, float]:
        if self.noise_m == 0:
            return 0.0, 0.0
        dt = 1.0 if self._last_time is None else max((when - self._last_time).total_seconds(), 0.0)
        self._last_time = when
        keep = math.exp(-dt / NOISE_CORRELATION_S)
        fresh = self._axis_sigma * math.sqrt(1.0 - keep * keep)
        self._error = (
            keep * self._error[0] + self._rng.gauss(0.0, fresh),
            keep * self._error[1] + self._rng.gauss(0.0, fresh),
        )
        return self._error
