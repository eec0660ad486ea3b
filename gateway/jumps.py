"""The impossible-jump judge: which live fixes of a device cannot be where they say they are."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from fixes.geodesy import haversine_m
from gateway.decoded import FixFields

Place = tuple[datetime, float, float]  # fix time, lat, lon


@dataclass(slots=True)
class _Track:
    """A device's trusted reference (its newest fix judged genuine) and the newest suspect fixes
    that agree with each other but not with it."""

    reference: Place | None
    chain: list[Place] = field(default_factory=list)


class LastFixes:
    """The impossible-jump judge: each device's newest trusted fix time and place.

    A live fix reached from the reference only faster than `max_kmh` is *suspect*: stored flagged
    (not valid, `attributes.suspect`), never refused, and the reference stays. When `confirm`
    suspect fixes in a row agree with each other (each reachable from the one before), it was the
    reference that was wrong (a glitch remembered first): the newest of them becomes the reference
    and is trusted. So one outlier is flagged wherever it comes, and never locks a vehicle out.
    The reference of a device not yet heard by this process is the vehicle's stored latest
    position (`seed`), not whatever fix comes first after a restart.
    """

    def __init__(self, max_devices: int = 100_000) -> None:
        self._max_devices = max_devices
        self._tracks: dict[str, _Track] = {}

    def knows(self, device_id: str) -> bool:
        return device_id in self._tracks

    def seed(self, device_id: str, reference: Place | None) -> None:
        """Start judging `device_id` against `reference` (None: its first live fix)."""
        if device_id not in self._tracks:
            if len(self._tracks) >= self._max_devices:
                self._tracks.pop(next(iter(self._tracks)))
            self._tracks[device_id] = _Track(reference)

    def last_position(self, device_id: str) -> Place | None:
        track = self._tracks.get(device_id)
        return None if track is None else track.reference

    def judge(self, device_id: str, f: FixFields, max_kmh: float, min_m: float, confirm: int) -> str | None:
        """Why `f` is suspect (how far, how fast), or None when it is trusted.

        Only fixes newer than the reference are judged (and remembered): backlog records are
        checked by time and range only, as their neighbours are not known here.
        """
        self.seed(device_id, None)
        track = self._tracks[device_id]
        ref = track.reference
        here = (f.fix_time, f.lat, f.lon)
        if ref is not None and f.fix_time <= ref[0]:
            return None
        jump = None if ref is None else _jump(ref, here, max_kmh, min_m)
        if jump is None:
            track.reference, track.chain = here, []
            return None
        chain = track.chain
        agrees = bool(chain) and f.fix_time > chain[-1][0] and _jump(chain[-1], here, max_kmh, min_m) is None
        track.chain = [*chain, here] if agrees else [here]
        if len(track.chain) >= confirm:  # the reference was the glitch
            track.reference, track.chain = here, []
            return None
        return jump


def _jump(a: Place, b: Place, max_kmh: float, min_m: float) -> str | None:
    """How `b` is out of reach from `a` (both (time, lat, lon), `b` newer), or None."""
    dt = (b[0] - a[0]).total_seconds()
    distance = haversine_m(a[1], a[2], b[1], b[2])
    if distance > min_m and distance / dt * 3.6 > max_kmh:
        return f"{distance:.0f} m in {dt:.0f} s"
    return None
