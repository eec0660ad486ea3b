"""Evaluates one vehicle's fixes in time order against its remembered state: geofence enter/exit,
event rules and the journey status machine. Pure: the worker loads and stores around it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from tracking.geofencing import Zone, geofence_diff
from tracking.journey_machine import JourneyState, Observation, Transition, advance
from tracking.settings import TrackingSettings
from tracking.vehicle_rules import EventDraft, FixFacts, RuleMemory, apply_rules

KNOWN_PLACE_KINDS = ("hospital_area", "station", "scene")
SEVERITY_BY_KIND = {"restricted_zone": "warning"}


@dataclass(frozen=True, slots=True)
class GeofenceInfo:
    id: int
    kind: str
    name: str
    hospital_id: int | None
    speed_limit_kmh: float | None


@dataclass(frozen=True, slots=True)
class BatchFix:
    """One fix as the batch query returned it."""

    vehicle_id: int
    device_id: str
    fix_time: datetime
    lat: float
    lon: float
    speed_kmh: float
    valid: bool
    attributes: dict[str, Any]
    seen: dict[int, Zone]
    geofences: dict[int, GeofenceInfo]
    highway: str | None
    journey_id: int | None
    scene_distance_m: float | None


@dataclass(frozen=True, slots=True)
class VehicleMemory:
    """vehicle_state as the evaluation sees it."""

    vehicle_id: int
    evaluated_until: datetime | None
    rules: RuleMemory
    inside: frozenset[int]
    offline_since: datetime | None
    journey: JourneyState | None
    destination_hospital_id: int | None
    # The last status change by hand of the open journey (a dispatcher's or crew's): automatic
    # transitions are never stamped at or before it (see `_advance_journey`).
    manual_at: datetime | None = None
    # The newest fix of any kind (with or without GPS), and since when the tracker has been
    # sending without a GPS fix (None: its last fix had one). Connected without a fix is not
    # offline: `device_offline` counts from `heard_at`, not from the last position.
    heard_at: datetime | None = None
    no_fix_since: datetime | None = None


@dataclass(slots=True)
class Outcome:
    """What evaluating one vehicle's fixes produced."""

    memory: VehicleMemory
    events: list[tuple[EventDraft, BatchFix]] = field(default_factory=list)
    transitions: list[tuple[Transition, BatchFix]] = field(default_factory=list)
    geofence_names: dict[int, GeofenceInfo] = field(default_factory=dict)


def evaluate_vehicle(
    memory: VehicleMemory, fixes: list[BatchFix], cfg: TrackingSettings, known: Mapping[int, GeofenceInfo]
) -> Outcome:
    """Run `fixes` (one vehicle, fix-time order) through the rules; `known` describes at least the
    geofences the vehicle is inside already."""
    out = Outcome(memory, geofence_names=dict(known))
    for fix in fixes:
        out.geofence_names.update(fix.geofences)
        m = out.memory
        facts = FixFacts(
            fix.fix_time,
            fix.speed_kmh,
            _speed_limit(fix, m.inside, cfg),
            _at_known_place(fix, m, cfg),
            fix.attributes,
        )
        late = m.evaluated_until is not None and fix.fix_time <= m.evaluated_until
        if late or not fix.valid:
            # A late or invalid fix cannot move the vehicle's state on: only its alarms count...
            _, events = apply_rules(RuleMemory(), replace(facts, speed_kmh=0.0), cfg)
            out.events += [(e, fix) for e in events if e.kind in ("sos", "alarm")]
            if not late:  # ...but a fix without GPS says the tracker is connected.
                out.memory = _heard(out, fix)
            continue
        out.memory = replace(_heard(out, fix), no_fix_since=None)
        m = out.memory
        diff = geofence_diff(m.inside, fix.seen)
        for gid in sorted(diff.entered):
            out.events.append((_geofence_event("geofence_enter", gid, fix), fix))
        for gid in sorted(diff.exited):
            out.events.append((_geofence_event("geofence_exit", gid, fix, out.geofence_names.get(gid)), fix))
        rules, events = apply_rules(m.rules, facts, cfg)
        out.events += [(e, fix) for e in events]
        journey = m.journey
        if journey is not None and fix.scene_distance_m is not None:
            obs = Observation(
                fix.fix_time,
                fix.speed_kmh,
                fix.scene_distance_m,
                in_destination=_in_destination(diff.inside, m.destination_hospital_id, out.geofence_names),
                in_station=any(out.geofence_names.get(g, _NONE).kind == "station" for g in diff.inside),
            )
            journey, transitions = _advance_journey(journey, obs, m.manual_at, cfg)
            out.transitions += [(t, fix) for t in transitions]
            if journey.status in ("completed", "cancelled"):
                journey = None
        out.memory = replace(
            m,
            evaluated_until=fix.fix_time,
            rules=rules,
            inside=diff.inside,
            offline_since=None,
            journey=journey,
        )
    return out


_NONE = GeofenceInfo(0, "", "", None, None)


def _heard(out: Outcome, fix: BatchFix) -> VehicleMemory:
    """The tracker spoke (with a GPS fix or without): it is connected. Back from silence, it is
    `device_online`, saying whether it has a fix (`gps_fix`)."""
    m = out.memory
    if m.offline_since is not None:
        gap = (fix.fix_time - m.offline_since).total_seconds()
        details = {"silent_s": round(gap), "gps_fix": fix.valid}
        out.events.append((EventDraft("device_online", fix.fix_time, "info", details), fix))
    heard = fix.fix_time if m.heard_at is None else max(m.heard_at, fix.fix_time)
    # Rows the gateway stored flagged (an alarm apart from its position, a suspect jump) are not
    # valid, yet say nothing about the receiver having lost its fix.
    flagged = bool(fix.attributes.get("alarm_only") or fix.attributes.get("suspect"))
    no_fix = None if fix.valid else m.no_fix_since if flagged else (m.no_fix_since or fix.fix_time)
    return replace(m, offline_since=None, heard_at=heard, no_fix_since=no_fix)


def _advance_journey(
    journey: JourneyState, obs: Observation, manual_at: datetime | None, cfg: TrackingSettings
) -> tuple[JourneyState, list[Transition]]:
    """The journey machine, under the status a person set by hand.

    A fix from before that change (a backlog uploaded after a coverage gap) is history: it still
    counts for distance, stops and overspeed, but it cannot move today's status, which a person
    set knowing more than that fix did. A dwell begun before the change starts again after it, so
    no automatic transition is ever stamped at or before a manual one."""
    if manual_at is None:
        return advance(journey, obs, cfg)
    if obs.fix_time <= manual_at:
        return replace(journey, stopped_since=None), []
    if journey.stopped_since is not None and journey.stopped_since <= manual_at:
        journey = replace(journey, stopped_since=None)
    return advance(journey, obs, cfg)


def _geofence_event(kind: str, gid: int, fix: BatchFix, known: GeofenceInfo | None = None) -> EventDraft:
    info = fix.geofences.get(gid) or known or replace(_NONE, id=gid)
    return EventDraft(
        kind,
        fix.fix_time,
        SEVERITY_BY_KIND.get(info.kind, "info"),
        {"geofence": info.name, "geofence_kind": info.kind},
        geofence_id=gid,
        hospital_id=info.hospital_id,
    )


def _speed_limit(fix: BatchFix, inside: frozenset[int], cfg: TrackingSettings) -> float:
    zones = [
        g.speed_limit_kmh
        for gid, g in fix.geofences.items()
        if g.kind == "speed_zone"
        and g.speed_limit_kmh
        and (gid in inside or fix.seen.get(gid) is Zone.DEEP_IN)
    ]
    if zones:
        return min(zones)
    by_class = {
        "primary": cfg.speed_limit_primary_kmh,
        "secondary": cfg.speed_limit_secondary_kmh,
        "tertiary": cfg.speed_limit_tertiary_kmh,
    }
    return by_class.get(fix.highway or "", cfg.default_speed_limit_kmh)


def _at_known_place(fix: BatchFix, m: VehicleMemory, cfg: TrackingSettings) -> bool:
    near_scene = (
        fix.scene_distance_m is not None
        and m.journey is not None
        and fix.scene_distance_m <= m.journey.scene_radius_m
    )
    return near_scene or any(g.kind in KNOWN_PLACE_KINDS for g in fix.geofences.values())


def _in_destination(inside: frozenset[int], hospital_id: int | None, names: dict[int, GeofenceInfo]) -> bool:
    return hospital_id is not None and any(
        names.get(g, _NONE).kind == "hospital_area" and names[g].hospital_id == hospital_id for g in inside
    )
