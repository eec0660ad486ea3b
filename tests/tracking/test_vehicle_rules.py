"""Event rules over one vehicle's fixes: overspeed, long stop, continuous driving, alarms, doors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tracking.settings import TrackingSettings
from tracking.vehicle_rules import EventDraft, FixFacts, RuleMemory, apply_rules

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
CFG = TrackingSettings()


def feed(
    fixes: list[tuple[float, float]],
    known_place: bool = False,
    attrs: list[dict[str, Any]] | None = None,
    memory: RuleMemory | None = None,
) -> tuple[RuleMemory, list[EventDraft]]:
    memory = memory or RuleMemory()
    events: list[EventDraft] = []
    for i, (s, speed) in enumerate(fixes):
        facts = FixFacts(T0 + timedelta(seconds=s), speed, 60.0, known_place, (attrs or [{}] * len(fixes))[i])
        memory, new = apply_rules(memory, facts, CFG)
        events += new
    return memory, events


def test_overspeed_episode_reported_after_its_minimum_and_closed_with_its_maximum() -> None:
    _, events = feed([(0, 50), (1, 70), (5, 90), (12, 80), (20, 55)])
    assert [(e.kind, (e.at - T0).total_seconds()) for e in events] == [
        ("overspeed", 1),
        ("overspeed_end", 20),
    ]
    assert events[0].details == {"speed_kmh": 80, "limit_kmh": 60.0}
    assert events[1].details["max_speed_kmh"] == 90 and events[1].details["duration_s"] == 19


def test_a_brief_spike_is_not_overspeed() -> None:
    _, events = feed([(0, 50), (1, 90), (3, 50)])
    assert events == []


def test_long_stop_outside_known_places_only() -> None:
    _, events = feed([(0, 30), (10, 0), (400, 0), (700, 0)])
    assert [(e.kind, (e.at - T0).total_seconds()) for e in events] == [("long_stop", 10)]
    _, events = feed([(0, 30), (10, 0), (700, 0)], known_place=True)
    assert events == []


def test_continuous_driving_warned_five_minutes_before_four_hours_and_reset_by_a_break() -> None:
    drive = [(s, 40.0) for s in range(0, 4 * 3600 + 60, 60)]
    _, events = feed(drive)
    kinds = [
        (e.kind, round((e.at - T0).total_seconds() / 60)) for e in events if e.kind.startswith("driving")
    ]
    assert kinds == [("driving_limit_warning", 235), ("driving_limit", 240)]
    # A 15-minute break in the middle: no limit reached.
    with_break = [(s, 40.0) for s in range(0, 2 * 3600, 60)] + [
        (s, 0.0) for s in range(2 * 3600, 2 * 3600 + 960, 60)
    ]
    with_break += [(s, 40.0) for s in range(2 * 3600 + 960, 4 * 3600 + 60, 60)]
    _, events = feed(with_break)
    assert not [e for e in events if e.kind.startswith("driving")]


def test_sos_is_critical_and_repeats_are_folded() -> None:
    attrs = [{"alarm": "sos"}, {"alarm": "sos"}, {}, {"alarm": "sos"}, {"alarm": "power_cut"}]
    _, events = feed([(0, 0), (20, 0), (40, 0), (100, 0), (101, 0)], attrs=attrs)
    assert [(e.kind, e.severity, (e.at - T0).total_seconds()) for e in events] == [
        ("sos", "critical", 0),
        ("sos", "critical", 100),
        ("alarm", "warning", 101),
    ]


def test_door_openings_are_counted_once_each() -> None:
    attrs = [{"door": False}, {"door": True}, {"door": True}, {"door": False}, {"door": True}]
    _, events = feed([(s, 0) for s in range(5)], attrs=attrs)
    assert [e.kind for e in events] == ["door_opened", "door_opened"]


def test_memory_survives_json() -> None:
    memory, _ = feed([(0, 70), (30, 80)])
    assert RuleMemory.from_json(memory.to_json()) == memory
