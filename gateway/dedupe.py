"""Drops a fix already seen from the same device (same fix time), within a bounded recent window,
but never the alarm a repeated fix carries.

A position is stored once per (device, fix time). A fix at a time already seen that carries an
alarm not yet recorded at that time (a GT06 alarm packet with the GPS block of that second's
location report, or a unit repeating its last GPS block) is admitted as *alarm only*: the ingest
stores it under the fix time plus `offset` microseconds, so its alarm is recorded and raised once
while the position is not stored twice. The database's primary key (device, fix time) catches
any repeat older than the window, which makes those offsets idempotent too.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

NEW = 0  # `admit`: a fix time not seen before
DUPLICATE = -1  # `admit`: nothing new (same time, and no alarm not recorded already)


def alarm_of(attributes: Mapping[str, Any] | None) -> str | None:
    """The alarm a fix carries (what the tracking worker raises `sos` and `alarm` events from)."""
    alarm = (attributes or {}).get("alarm")
    return alarm if isinstance(alarm, str) else None


class RecentFixes:
    """The newest `window` fix times of each device (with the alarms recorded at each), and of at
    most `max_devices` devices (the least recently heard is forgotten first).

    Compact because a gateway holds every device's window: the times are a sorted array of
    microseconds (8 bytes each, ~4 KiB a device at the default 512), and only the times that
    carried an alarm have an entry in a small dict. A lookup is a binary search; a fix newer than
    all the others (the usual case) is appended. Measured in docs/benchmarks.md ("10,000 devices").
    """

    def __init__(self, window: int, max_devices: int = 100_000) -> None:
        self._window = window
        self._max_devices = max_devices
        self._seen: OrderedDict[str, _Window] = OrderedDict()

    def knows(self, device_id: str) -> bool:
        return device_id in self._seen

    def admit(self, device_id: str, fix_time: datetime, alarm: str | None) -> int:
        """NEW, DUPLICATE, or the offset (µs, ≥ 1) at which to store the alarm of a fix whose time
        was seen already; remembers what it admits."""
        window = self._window_of(device_id)
        at = _micros(fix_time)
        if window.add(at, alarm, self._window):
            return NEW
        recorded = window.alarms.get(at)
        if alarm is None or alarm in (recorded or _POSITION):
            return DUPLICATE
        if recorded is None:
            recorded = window.alarms[at] = [None]
        recorded.append(alarm)
        return len(recorded) - 1

    def seen_before(self, device_id: str, fix_time: datetime) -> bool:
        """True when this fix time was seen already; otherwise remember it and return False."""
        return self.admit(device_id, fix_time, None) != NEW

    def remember(self, device_id: str, fix_time: datetime, alarm: str | None) -> None:
        """Note a fix stored before (read back from the database when the device is first heard)."""
        window = self._window_of(device_id)
        at = _micros(fix_time)
        if window.add(at, alarm, self._window) or alarm is None:
            return
        recorded = window.alarms.setdefault(at, [None])
        if alarm not in recorded:
            recorded.append(alarm)

    def _window_of(self, device_id: str) -> _Window:
        window = self._seen.get(device_id)
        if window is None:
            window = self._seen[device_id] = _Window()
            if len(self._seen) > self._max_devices:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end(device_id)
        return window


_POSITION: list[str | None] = [None]  # what is recorded at a time seen without an alarm
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(fix_time: datetime) -> int:
    return (fix_time - _EPOCH) // _MICROSECOND


class _Window:
    """One device's newest fix times (sorted µs) and the alarms recorded at some of them."""

    __slots__ = ("alarms", "times")

    def __init__(self) -> None:
        self.times = array("q")
        self.alarms: dict[int, list[str | None]] = {}  # only times that carried an alarm

    def add(self, at: int, alarm: str | None, limit: int) -> bool:
        """Remember `at` (recording `alarm` there) and return True, or False if it was there."""
        times = self.times
        i = bisect_left(times, at)
        if i < len(times) and times[i] == at:
            return False
        if i == len(times):
            times.append(at)
        else:
            times.insert(i, at)
        if alarm is not None:
            self.alarms[at] = [alarm]
        if len(times) > limit:
            self.alarms.pop(times.pop(0), None)
        return True
