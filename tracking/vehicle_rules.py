"""Per-vehicle event rules over a vehicle's fixes in time order, as pure functions:
overspeed episodes, long stops, continuous driving (Vietnamese 4 h limit, warned 5 min before),
alarms from the tracker (SOS first), door openings and a device coming back online."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from tracking.settings import TrackingSettings

ALARM_REPEAT_S = 60.0  # trackers repeat an alarm until acknowledged: one event per minute at most


@dataclass(frozen=True, slots=True)
class EventDraft:
    kind: str
    at: datetime
    severity: str = "info"
    details: dict[str, Any] = field(default_factory=dict)
    geofence_id: int | None = None
    hospital_id: int | None = None


@dataclass(frozen=True, slots=True)
class RuleMemory:
    """What the rules remember between fixes (stored as JSON in vehicle_state.rules)."""

    overspeed_since: datetime | None = None
    overspeed_reported: bool = False
    overspeed_max_kmh: float = 0.0
    overspeed_limit_kmh: float = 0.0
    stopped_since: datetime | None = None
    long_stop_reported: bool = False
    driving_since: datetime | None = None
    driving_warned: bool = False
    driving_limit_reported: bool = False
    last_alarm: str | None = None
    last_alarm_at: datetime | None = None
    door_open: bool = False

    def to_json(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RuleMemory:
        known = {f: data[f] for f in cls.__dataclass_fields__ if f in data}
        for name in ("overspeed_since", "stopped_since", "driving_since", "last_alarm_at"):
            if isinstance(known.get(name), str):
                known[name] = datetime.fromisoformat(known[name])
        return cls(**known)


@dataclass(frozen=True, slots=True)
class FixFacts:
    """One fix, with what the batch query found around it."""

    fix_time: datetime
    speed_kmh: float
    speed_limit_kmh: float
    at_known_place: bool  # inside a scene, hospital or station area: stops there are expected
    attributes: dict[str, Any]


def apply_rules(
    memory: RuleMemory, f: FixFacts, cfg: TrackingSettings
) -> tuple[RuleMemory, list[EventDraft]]:
    events: list[EventDraft] = []
    memory = _alarms(memory, f, events)
    memory = _doors(memory, f, events)
    memory = _overspeed(memory, f, cfg, events)
    memory = _stops_and_driving(memory, f, cfg, events)
    return memory, events


def _alarms(m: RuleMemory, f: FixFacts, events: list[EventDraft]) -> RuleMemory:
    alarm = f.attributes.get("alarm")
    if not isinstance(alarm, str):
        return m
    repeated = (
        alarm == m.last_alarm
        and m.last_alarm_at is not None
        and 0 <= (f.fix_time - m.last_alarm_at).total_seconds() < ALARM_REPEAT_S
    )
    if not repeated:
        kind, severity = ("sos", "critical") if alarm == "sos" else ("alarm", "warning")
        events.append(EventDraft(kind, f.fix_time, severity, {"alarm": alarm}))
    return replace(m, last_alarm=alarm, last_alarm_at=f.fix_time)


def _doors(m: RuleMemory, f: FixFacts, events: list[EventDraft]) -> RuleMemory:
    door = f.attributes.get("door")
    if not isinstance(door, bool) or door == m.door_open:
        return m
    if door:
        events.append(EventDraft("door_opened", f.fix_time))
    return replace(m, door_open=door)


def _overspeed(m: RuleMemory, f: FixFacts, cfg: TrackingSettings, events: list[EventDraft]) -> RuleMemory:
    if f.speed_kmh > f.speed_limit_kmh + cfg.overspeed_tolerance_kmh:
        if m.overspeed_since is None:
            m = replace(
                m,
                overspeed_since=f.fix_time,
                overspeed_max_kmh=f.speed_kmh,
                overspeed_limit_kmh=f.speed_limit_kmh,
            )
        m = replace(m, overspeed_max_kmh=max(m.overspeed_max_kmh, f.speed_kmh))
        assert m.overspeed_since is not None
        if (
            not m.overspeed_reported
            and (f.fix_time - m.overspeed_since).total_seconds() >= cfg.overspeed_min_s
        ):
            details = {"speed_kmh": round(f.speed_kmh, 1), "limit_kmh": m.overspeed_limit_kmh}
            events.append(EventDraft("overspeed", m.overspeed_since, "warning", details))
            m = replace(m, overspeed_reported=True)
        return m
    if m.overspeed_since is not None:
        if m.overspeed_reported:
            duration = (f.fix_time - m.overspeed_since).total_seconds()
            summary: dict[str, Any] = {
                "max_speed_kmh": round(m.overspeed_max_kmh, 1),
                "limit_kmh": m.overspeed_limit_kmh,
                "duration_s": round(duration, 1),
                "started_at": m.overspeed_since.isoformat(),
            }
            events.append(EventDraft("overspeed_end", f.fix_time, "info", summary))
        m = replace(m, overspeed_since=None, overspeed_reported=False, overspeed_max_kmh=0.0)
    return m


def _stops_and_driving(
    m: RuleMemory, f: FixFacts, cfg: TrackingSettings, events: list[EventDraft]
) -> RuleMemory:
    if f.speed_kmh < cfg.stopped_kmh:
        since = m.stopped_since or f.fix_time
        m = replace(m, stopped_since=since)
        stopped_s = (f.fix_time - since).total_seconds()
        if not m.long_stop_reported and not f.at_known_place and stopped_s >= cfg.long_stop_s:
            events.append(EventDraft("long_stop", since, "warning", {"stopped_s": round(stopped_s)}))
            m = replace(m, long_stop_reported=True)
        if stopped_s >= cfg.driving_break_s and m.driving_since is not None:
            # A 15-minute break ends the continuous-driving period.
            m = replace(m, driving_since=None, driving_warned=False, driving_limit_reported=False)
        return m
    if f.speed_kmh >= cfg.moving_kmh:
        m = replace(m, stopped_since=None, long_stop_reported=False)
        if m.driving_since is None:
            m = replace(m, driving_since=f.fix_time)
    if m.driving_since is None:
        return m
    driving_s = (f.fix_time - m.driving_since).total_seconds()
    if not m.driving_warned and driving_s >= cfg.continuous_driving_s - cfg.driving_warning_s:
        left = max(0.0, cfg.continuous_driving_s - driving_s)
        events.append(
            EventDraft(
                "driving_limit_warning",
                f.fix_time,
                "warning",
                {"driving_s": round(driving_s), "left_s": round(left)},
            )
        )
        m = replace(m, driving_warned=True)
    if not m.driving_limit_reported and driving_s >= cfg.continuous_driving_s:
        events.append(EventDraft("driving_limit", f.fix_time, "critical", {"driving_s": round(driving_s)}))
        m = replace(m, driving_limit_reported=True)
    return m
