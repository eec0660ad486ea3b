"""Geofence enter/exit with hysteresis: pure functions over what one fix saw.

For each fix, PostGIS reports every active geofence within its hysteresis distance, classified:
DEEP_IN (inside, at least the hysteresis from the border), BORDER (within the hysteresis of the
border, either side). Geofences not reported are OUT. A vehicle enters on DEEP_IN and exits on
OUT; BORDER changes nothing, so GPS noise along a border never makes it flap in and out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Zone(StrEnum):
    DEEP_IN = "deep_in"
    BORDER = "border"


@dataclass(frozen=True, slots=True)
class GeofenceDiff:
    inside: frozenset[int]
    entered: frozenset[int]
    exited: frozenset[int]


def geofence_diff(inside: frozenset[int], seen: Mapping[int, Zone]) -> GeofenceDiff:
    """The vehicle's geofences after one fix, and which it entered and left."""
    entered = frozenset(g for g, zone in seen.items() if zone is Zone.DEEP_IN and g not in inside)
    exited = frozenset(g for g in inside if g not in seen)
    return GeofenceDiff((inside - exited) | entered, entered, exited)
