"""Traffic the router does not know: rush hours on the simulated clock and a fixed speed per road.

Two factors multiply a vehicle's cruise speed (off unless `FleetConfig.traffic` / `--traffic`):
- the time of day in Da Nang (Asia/Ho_Chi_Minh), piecewise linear between the `RUSH_HOURS`
  knots: slow in the morning (7:00-8:30) and evening (16:30-18:30) rush hours, a little slow at
  lunch, faster at night. The figures are assumed: nobody publishes Da Nang's hourly speeds.
- a fixed factor per road segment and direction, drawn from `SEGMENT_FACTOR_RANGE` by a hash of
  the seed, the segment and the direction (a market street, a school, a wide clear avenue): the
  same seed gives every segment the same factor in every run.

Both are what speeds learned per road segment and hour of day (roads/speed_learning.py) can
pick up from the fleet's traces and a class speed profile cannot.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from device_emulator.roads import RoadEdge

LOCAL_TIME = ZoneInfo("Asia/Ho_Chi_Minh")
# (local hour of day, speed factor): linear in between, 24:00 = 0:00.
RUSH_HOURS: tuple[tuple[float, float], ...] = (
    (0.0, 1.10),
    (5.0, 1.10),
    (6.0, 1.00),
    (7.0, 0.60),
    (8.5, 0.60),
    (9.5, 0.88),
    (11.0, 0.90),
    (12.0, 0.82),
    (13.5, 0.90),
    (16.0, 0.85),
    (16.5, 0.58),
    (18.5, 0.58),
    (19.5, 0.80),
    (21.0, 0.95),
    (22.0, 1.10),
    (24.0, 1.10),
)
SEGMENT_FACTOR_RANGE = (0.70, 1.10)


@dataclass(frozen=True, slots=True)
class Traffic:
    """The speed factors of one emulated city; `seed` decides the per-segment factors."""

    seed: int
    rush_hours: tuple[tuple[float, float], ...] = RUSH_HOURS
    segment_range: tuple[float, float] = SEGMENT_FACTOR_RANGE

    def time_factor(self, at: datetime) -> float:
        """The city-wide speed factor at `at` (aware) on the local clock."""
        local = at.astimezone(LOCAL_TIME)
        hour = local.hour + local.minute / 60 + local.second / 3600
        knots = self.rush_hours
        i = max(1, bisect.bisect_right([h for h, _ in knots], hour))
        (h0, f0), (h1, f1) = knots[i - 1], knots[min(i, len(knots) - 1)]
        return f0 if h1 <= h0 else f0 + (f1 - f0) * (hour - h0) / (h1 - h0)

    def segment_factor(self, edge: RoadEdge) -> float:
        """The fixed speed factor of a segment in one direction."""
        key = f"{self.seed}/{edge.segment}/{int(edge.forward)}".encode()
        unit = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") / 2**64
        low, high = self.segment_range
        return low + (high - low) * unit

    @property
    def max_factor(self) -> float:
        """The largest combined factor: the fastest any road gets."""
        return max(f for _, f in self.rush_hours) * self.segment_range[1]
