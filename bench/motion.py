"""How the emulated ambulances move: a smooth drive inside central Da Nang (urban speeds, gentle
turns, turning back at the edges), cheap enough for thousands of fixes per second."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

# Da Nang's centre, where the emulated ambulances drive.
LAT_RANGE = (16.03, 16.09)
LON_RANGE = (108.19, 108.25)
SPEED_RANGE_KMH = (15.0, 55.0)  # below the 60 km/h urban limit: no overspeed event storm
M_PER_DEG_LAT = 111_320.0


@dataclass(slots=True)
class Motion:
    lat: float
    lon: float
    speed_kmh: float
    heading: float  # degrees clockwise from north

    @classmethod
    def somewhere(cls, rng: random.Random) -> Motion:
        return cls(
            rng.uniform(*LAT_RANGE),
            rng.uniform(*LON_RANGE),
            rng.uniform(*SPEED_RANGE_KMH),
            rng.uniform(0, 360),
        )

    def advance(self, rng: random.Random, dt_s: float) -> None:
        """Drive for `dt_s` seconds."""
        self.speed_kmh = min(
            max(self.speed_kmh + rng.uniform(-2.0, 2.0), SPEED_RANGE_KMH[0]), SPEED_RANGE_KMH[1]
        )
        self.heading = (self.heading + rng.uniform(-8.0, 8.0)) % 360.0
        metres = self.speed_kmh / 3.6 * dt_s
        heading = math.radians(self.heading)
        lat = self.lat + metres * math.cos(heading) / M_PER_DEG_LAT
        lon = self.lon + metres * math.sin(heading) / (M_PER_DEG_LAT * math.cos(math.radians(self.lat)))
        if LAT_RANGE[0] <= lat <= LAT_RANGE[1] and LON_RANGE[0] <= lon <= LON_RANGE[1]:
            self.lat, self.lon = lat, lon
        else:
            self.heading = (self.heading + 180.0) % 360.0  # the edge of the area: turn back

    def fix(self, time: str) -> dict[str, object]:
        """The project's MQTT JSON fix at this moment."""
        return {
            "time": time,
            "lat": round(self.lat, 6),
            "lon": round(self.lon, 6),
            "speed_kmh": round(self.speed_kmh, 1),
            "heading": int(self.heading) % 360,
        }
