"""The journey status machine and the geofence diff, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracking.geofencing import Zone, geofence_diff
from tracking.journey_machine import (
    JourneyState,
    JourneyStatusError,
    Observation,
    advance,
    check_manual_transition,
)
from tracking.settings import TrackingSettings

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
CFG = TrackingSettings()


def obs(
    s: float, speed: float, scene_m: float = 5000, dest: bool = False, station: bool = False
) -> Observation:
    return Observation(T0 + timedelta(seconds=s), speed, scene_m, dest, station)


def run(
    state: JourneyState, observations: list[Observation]
) -> tuple[JourneyState, list[tuple[str, datetime, str]]]:
    log = []
    for o in observations:
        state, transitions = advance(state, o, CFG)
        log += [(t.to_status, t.at, t.rule) for t in transitions]
    return state, log


def test_a_whole_mission_goes_through_every_status_with_the_right_times() -> None:
    state = JourneyState(1, "dispatched", has_destination=True, scene_radius_m=150)
    fixes = [
        obs(0, 0),  # waiting at the station
        obs(30, 25),  # moving: en route
        obs(300, 40, scene_m=400),
        obs(320, 3, scene_m=60),  # stops near the scene...
        obs(330, 0, scene_m=55),
        obs(345, 0, scene_m=55),  # ...for 25 s: on scene since 320
        obs(900, 15, scene_m=140),  # still within the radius plus hysteresis
        obs(905, 30, scene_m=300),  # left: transporting
        obs(1500, 2, dest=True),
        obs(1530, 0, dest=True),  # at hospital since 1500
        obs(2400, 20, dest=False),  # left the hospital: returning
        obs(3000, 0, station=True),
        obs(3025, 0, station=True),  # back at a station for 25 s: completed since 3000
    ]
    state, log = run(state, fixes)
    assert [(s, (at - T0).total_seconds()) for s, at, _ in log] == [
        ("en_route", 30),
        ("on_scene", 320),
        ("transporting", 905),
        ("at_hospital", 1500),
        ("returning", 2400),
        ("completed", 3000),
    ]
    assert state.status == "completed"


def test_a_short_stop_near_the_scene_is_not_arrival() -> None:
    state = JourneyState(1, "en_route", True, 150)
    state, log = run(
        state,
        [obs(0, 0, scene_m=50), obs(10, 0, scene_m=50), obs(15, 20, scene_m=50), obs(30, 0, scene_m=50)],
    )
    assert log == [] and state.stopped_since == T0 + timedelta(seconds=30)


def test_stopping_outside_the_scene_radius_is_not_arrival() -> None:
    state, log = run(
        JourneyState(1, "en_route", True, 150), [obs(s, 0, scene_m=200) for s in range(0, 120, 10)]
    )
    assert log == [] and state.status == "en_route"


def test_leaving_the_scene_without_a_destination_is_returning() -> None:
    _, log = run(JourneyState(1, "on_scene", False, 150), [obs(0, 30, scene_m=400)])
    assert [s for s, _, _ in log] == ["returning"]


def test_stopping_at_another_hospital_is_not_at_hospital() -> None:
    state, log = run(
        JourneyState(1, "transporting", True, 150), [obs(s, 0, dest=False) for s in range(0, 120, 10)]
    )
    assert log == [] and state.status == "transporting"


@pytest.mark.parametrize(
    ("current", "target", "ok"),
    [
        ("en_route", "on_scene", True),
        ("on_scene", "en_route", True),
        ("en_route", "cancelled", True),
        ("completed", "en_route", False),
        ("cancelled", "completed", False),
        ("en_route", "en_route", False),
        ("en_route", "flying", False),
    ],
)
def test_manual_transitions(current: str, target: str, ok: bool) -> None:
    if ok:
        check_manual_transition(current, target)
    else:
        with pytest.raises(JourneyStatusError):
            check_manual_transition(current, target)


def test_geofence_hysteresis_never_flaps_on_border_noise() -> None:
    inside: frozenset[int] = frozenset()
    entered, exited = [], []
    # Outside, then noise at the border, deep in, noise at the border again, then out.
    for seen in [
        {},
        {7: Zone.BORDER},
        {},
        {7: Zone.BORDER},
        {7: Zone.DEEP_IN},
        {7: Zone.BORDER},
        {7: Zone.DEEP_IN},
        {7: Zone.BORDER},
        {7: Zone.BORDER},
        {},
        {7: Zone.BORDER},
    ]:
        diff = geofence_diff(inside, seen)
        inside = diff.inside
        entered += list(diff.entered)
        exited += list(diff.exited)
    assert entered == [7] and exited == [7] and inside == frozenset()
