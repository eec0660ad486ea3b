"""The journey status machine: automatic transitions from GPS, as pure functions.

    dispatched -> en_route -> on_scene -> transporting -> at_hospital -> returning -> completed
                                      \\-> returning (left the scene with no destination hospital)

Rules (thresholds in TrackingSettings): started moving -> en_route; stopped within the scene
radius for `dwell_s` -> on_scene (at the moment it stopped); left the scene radius (plus the
hysteresis) -> transporting; stopped inside the destination hospital's area for `dwell_s` ->
at_hospital; left that area -> returning; stopped inside a station for `dwell_s` -> completed.
Dispatchers and crews may set any status by hand; that is logged with its source.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from tracking.settings import TrackingSettings

OPEN_STATUSES = ("dispatched", "en_route", "on_scene", "transporting", "at_hospital", "returning")
CLOSED_STATUSES = ("completed", "cancelled")
STATUSES = OPEN_STATUSES + CLOSED_STATUSES


class JourneyStatusError(ValueError):
    """A status change that is not allowed (unknown status, or the journey is closed)."""


@dataclass(frozen=True, slots=True)
class JourneyState:
    journey_id: int
    status: str
    has_destination: bool
    scene_radius_m: float
    stopped_since: datetime | None = None  # stopped inside the area the current status waits for


@dataclass(frozen=True, slots=True)
class Observation:
    """What one fix says about a vehicle on a journey."""

    fix_time: datetime
    speed_kmh: float
    scene_distance_m: float
    in_destination: bool  # inside the destination hospital's area (after hysteresis)
    in_station: bool  # inside any station geofence (after hysteresis)


@dataclass(frozen=True, slots=True)
class Transition:
    journey_id: int
    from_status: str
    to_status: str
    at: datetime
    rule: str


def advance(
    state: JourneyState, obs: Observation, cfg: TrackingSettings
) -> tuple[JourneyState, list[Transition]]:
    """Apply one fix; returns the new state and the transitions it caused (possibly several)."""
    transitions: list[Transition] = []
    while True:
        state, transition = _step(state, obs, cfg)
        if transition is None:
            return state, transitions
        transitions.append(transition)


def _step(s: JourneyState, o: Observation, cfg: TrackingSettings) -> tuple[JourneyState, Transition | None]:
    stopped = o.speed_kmh < cfg.stopped_kmh
    if s.status == "dispatched":
        if o.speed_kmh >= cfg.moving_kmh:
            return _to(s, "en_route", o.fix_time, "started moving")
        return s, None
    if s.status == "en_route":
        return _dwell(
            s, o, cfg, stopped and o.scene_distance_m <= s.scene_radius_m, "on_scene", "stopped at the scene"
        )
    if s.status == "on_scene":
        if o.scene_distance_m > s.scene_radius_m + cfg.hysteresis_m:
            if s.has_destination:
                return _to(s, "transporting", o.fix_time, "left the scene")
            return _to(s, "returning", o.fix_time, "left the scene without a destination")
        return s, None
    if s.status == "transporting":
        return _dwell(
            s, o, cfg, stopped and o.in_destination, "at_hospital", "stopped at the destination hospital"
        )
    if s.status == "at_hospital":
        if not o.in_destination:
            return _to(s, "returning", o.fix_time, "left the hospital")
        return s, None
    if s.status == "returning":
        return _dwell(s, o, cfg, stopped and o.in_station, "completed", "back at a station")
    return s, None


def _dwell(
    s: JourneyState, o: Observation, cfg: TrackingSettings, stopped_there: bool, target: str, rule: str
) -> tuple[JourneyState, Transition | None]:
    if not stopped_there:
        return (replace(s, stopped_since=None) if s.stopped_since else s), None
    since = s.stopped_since or o.fix_time
    if (o.fix_time - since).total_seconds() >= cfg.dwell_s:
        # The status began when the vehicle stopped there, not when the dwell was confirmed.
        return _to(s, target, since, rule)
    return replace(s, stopped_since=since), None


def _to(s: JourneyState, status: str, at: datetime, rule: str) -> tuple[JourneyState, Transition]:
    return replace(s, status=status, stopped_since=None), Transition(s.journey_id, s.status, status, at, rule)


def check_manual_transition(current: str, target: str) -> None:
    """Dispatchers may move an open journey to any status; a closed journey stays closed."""
    if target not in STATUSES:
        raise JourneyStatusError(f"unknown status {target!r}; one of {', '.join(STATUSES)}")
    if current in CLOSED_STATUSES:
        raise JourneyStatusError(f"the journey is {current}: it cannot change any more")
    if target == current:
        raise JourneyStatusError(f"the journey is already {current}")
