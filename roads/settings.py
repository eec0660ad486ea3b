"""Settings of road routing and speed learning (environment variables prefixed AMB_ROUTING_)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_CLASS_SPEEDS_KMH: dict[str, float] = {
    "motorway": 70.0,
    "trunk": 70.0,
    "primary": 50.0,
    "secondary": 45.0,
    "tertiary": 40.0,
    "unclassified": 30.0,
    "residential": 30.0,
    "road": 25.0,
    "service": 15.0,
    "living_street": 15.0,
}


class RoutingSettings(BaseSettings):
    """Road routing: the ambulance speed profile, snapping to the network, learned speeds."""

    model_config = SettingsConfigDict(env_prefix="AMB_ROUTING_", extra="ignore", frozen=True)

    class_speeds_kmh: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_CLASS_SPEEDS_KMH),
        description="Profile speed per OSM highway class (a JSON object whose entries override the"
        " defaults); a `*_link` class without its own entry drives at its class's speed minus"
        " link_penalty_kmh.",
    )
    link_penalty_kmh: float = Field(10.0, ge=0, description="How much slower a *_link is than its class.")
    default_speed_kmh: float = Field(
        25.0, gt=0, description="Speed of a class missing from class_speeds_kmh."
    )
    cap_at_maxspeed: bool = Field(
        True,
        description="Drive no faster than a posted maxspeed below the class speed (narrow or school"
        " streets are posted low for a reason, sirens or not).",
    )
    off_network_kmh: float = Field(
        10.0, gt=0, description="Speed of the straight segment joining a point off the network."
    )
    on_road_m: float = Field(
        10.0,
        ge=0,
        description="A point with a heading (a vehicle driving) this close to its road is on it: the"
        " distance is its fix's error, and joining the road costs no time. A moving start this close to"
        " the end is there: its route costs at most the straight line at off_network_kmh.",
    )
    arrival_decel_mps2: float = Field(
        3.0,
        gt=0,
        description="How hard a vehicle brakes to stop at its target (about 3 m/s², a driver's usual"
        " stop): the router adds what braking from the last edge's speed costs over driving through.",
    )
    snap_max_m: float = Field(
        300.0, gt=0, description="A point farther than this from every drivable edge cannot be routed."
    )
    learned_min_samples: int = Field(
        20, ge=1, description="A learned speed (road_speeds) replaces the profile from this many samples."
    )
    turn_restrictions: bool = Field(
        True,
        description="Respect OSM turn restrictions (no_*/only_* relations, roads/restrictions.py). Off: a"
        " service whose crews are allowed to ignore them on a run routes through them.",
    )
    turn_costs: bool = Field(
        False,
        description="Scale the wait at each junction of a route by what the turn taken there costs against"
        " all the turns at that end of the edge (road_turn_factors, learned whether this is on or off)."
        " Off: on streets whose lights do not depend on the turn it measured slightly worse than the"
        " edge's average wait (docs/benchmarks.md); turn it on where left turns wait for their own phase.",
    )
    heading_weight_m: float = Field(
        50.0,
        ge=0,
        description="Snapping with a heading: metres of penalty per unit of (1 - cos(angle)) between the"
        " heading and the direction the edge may be driven at the snapped spot.",
    )
    small_component_penalty_m: float = Field(
        50.0,
        ge=0,
        description="Snapping: metres of penalty for an edge outside the network's largest strongly"
        " connected component (one-way stubs where roads leave an extract, which may lead nowhere).",
    )
    bbox_margin_m: float = Field(
        5000.0,
        ge=0,
        description="Routing searches the edges within this margin (or half the points' spread, if"
        " larger) around the points first, then the whole network when no path is found there.",
    )

    # Learning speeds from the fleet's own fixes (roads/speed_learning.py, `amb-admin learn-speeds`).
    learn_days: int = Field(
        28, ge=1, description="The periodic job learns from the fixes of this many days back."
    )
    learn_interval_s: float = Field(
        3600.0, ge=0, description="amb-tracker learns speeds this often (seconds); 0 turns the job off."
    )
    learn_match_m: float = Field(
        25.0, gt=0, description="A fix is matched to an edge no farther than this (metres)."
    )
    learn_heading_tolerance_deg: float = Field(
        45.0,
        gt=0,
        lt=90,
        description="A fix is matched to an edge whose direction (or, on a two-way edge, the opposite"
        " one) is within this angle of its course.",
    )
    learn_min_speed_kmh: float = Field(
        5.0, ge=0, description="Slower fixes are left out: parked, or a course too noisy to trust."
    )
    learn_max_speed_kmh: float = Field(
        150.0, gt=0, description="Faster fixes are left out as implausible (the GSHT range is 0-150 km/h)."
    )
    learn_max_gap_s: float = Field(
        120.0,
        gt=0,
        description="Consecutive fixes of a vehicle at most this far apart make a pair whose time (a red"
        " light, a queue) is learned; longer gaps (parked, coverage lost) are left out.",
    )
    learn_reprocess_hours: int = Field(
        1,
        ge=0,
        le=48,
        description="Each run reads this many hours before the last one read again (late uploads).",
    )
    learn_smooth_hours: int = Field(
        1,
        ge=0,
        le=3,
        description="A cell (edge, direction, hour) with fewer than learned_min_samples pairs of its own"
        " pools the hours next to it, out to this many either side; 0 never pools.",
    )

    @field_validator("class_speeds_kmh")
    @classmethod
    def _positive_speeds(cls, value: dict[str, float]) -> dict[str, float]:
        bad = sorted(k for k, v in value.items() if not v > 0)
        if bad:
            raise ValueError(f"speeds must be positive: {', '.join(bad)}")
        return {**DEFAULT_CLASS_SPEEDS_KMH, **value}

    def class_speed_kmh(self, highway: str) -> float:
        """Profile speed of a highway class (links: their class's speed minus the link penalty)."""
        if highway in self.class_speeds_kmh:
            return self.class_speeds_kmh[highway]
        if highway.endswith("_link"):
            base = self.class_speed_kmh(highway.removesuffix("_link"))
            return max(base - self.link_penalty_kmh, 5.0)
        return self.default_speed_kmh
