"""Thresholds of the tracking rules (environment variables prefixed AMB_TRACKING_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TrackingSettings(BaseSettings):
    """Geofence hysteresis, automatic journey status and event rules."""

    model_config = SettingsConfigDict(env_prefix="AMB_TRACKING_", extra="ignore", frozen=True)

    hysteresis_m: float = Field(
        15.0, ge=0, description="Default geofence hysteresis: enter this far inside, exit this far outside."
    )
    moving_kmh: float = Field(
        10.0, gt=0, description="At or above this speed a vehicle is moving (dispatched -> en_route)."
    )
    stopped_kmh: float = Field(
        5.0, gt=0, description="Below this speed a vehicle is stopped (on scene, at hospital)."
    )
    dwell_s: float = Field(
        20.0, ge=0, description="Stopped this long inside the scene radius or the hospital area."
    )
    default_speed_limit_kmh: float = Field(
        60.0,
        gt=0,
        description="Limit where no speed zone or road class applies (Vietnamese urban roads: 60 km/h).",
    )
    speed_limit_primary_kmh: float = Field(60.0, gt=0, description="Urban limit on primary roads.")
    speed_limit_secondary_kmh: float = Field(60.0, gt=0, description="Urban limit on secondary roads.")
    speed_limit_tertiary_kmh: float = Field(
        50.0, gt=0, description="Urban limit on tertiary and smaller roads."
    )
    overspeed_tolerance_kmh: float = Field(
        5.0, ge=0, description="Speeds up to limit + tolerance are not overspeed."
    )
    overspeed_min_s: float = Field(
        10.0, ge=0, description="An overspeed episode is reported once it lasts this long."
    )
    long_stop_s: float = Field(
        600.0, gt=0, description="A stop this long (outside scene, hospital, station) is reported."
    )
    continuous_driving_s: float = Field(
        4 * 3600.0, gt=0, description="Vietnamese limit on continuous driving: 4 h."
    )
    driving_warning_s: float = Field(
        300.0, ge=0, description="Warn this long before the continuous-driving limit."
    )
    driving_break_s: float = Field(
        900.0, gt=0, description="A stop this long resets continuous driving (15 min)."
    )
    offline_on_journey_s: float = Field(
        90.0, gt=0, description="No fix this long on a journey: device offline."
    )
    offline_parked_s: float = Field(
        900.0, gt=0, description="No fix this long otherwise (Vietnamese rule: 15 min)."
    )
    batch_size: int = Field(5000, ge=1, description="Fixes evaluated per worker transaction.")
    batch_interval_ms: float = Field(
        0.0,
        ge=0,
        description="0 (group commit): a batch starts as soon as the previous one ended and fixes were "
        "committed meanwhile; more: at most one batch this often.",
    )
    eta_interval_ms: float = Field(
        1000.0,
        ge=0,
        description="At most one ETA round this often, on its own task and connection (never delays a batch).",
    )


# Urban Vietnamese speeds (km/h) of an ambulance with sirens, per OSM highway class.
