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

from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

NEW = 0  # `admit`: a fix time not seen before
DUPLICATE = -1  # `admit`: nothing new (same time, and no alarm not recorded already)


def alarm_of(attributes: Mapping[str, Any] | None) -> str | None:
    """The alarm a fix carries (what the tracking worker raises `sos` and `alarm` events from)."""
    alarm = (attributes or {}).get("alarm")
    return alarm if isinstance(alarm, str) else None


class RecentFixes:
    """The last `window` fix times of each device (with the alarms recorded at each), and of at
    most `max_devices` devices."""

    def __init__(self, window: int, max_devices: int = 100_000) -> None:
        self._window = window
        self._max_devices = max_devices
        # device -> fix time -> what was recorded at it: None (a position) and alarm names
        self._seen: OrderedDict[str, OrderedDict[datetime, list[str | None]]] = OrderedDict()

    def knows(self, device_id: str) -> bool:
        return device_id in self._seen

    def admit(self, device_id: str, fix_time: datetime, alarm: str | None) -> int:
        """NEW, DUPLICATE, or the offset (µs, ≥ 1) at which to store the alarm of a fix whose time
        was seen already; remembers what it admits."""
        times = self._times(device_id)
        recorded = times.get(fix_time)
        if recorded is None:
            self._remember(times, fix_time, alarm)
            return NEW
        if alarm is None or alarm in recorded:
            return DUPLICATE
        recorded.append(alarm)
        return len(recorded) - 1

    def seen_before(self, device_id: str, fix_time: datetime) -> bool:
        """True when this fix time was seen already; otherwise remember it and return False."""
        return self.admit(device_id, fix_time, None) != NEW

    def remember(self, device_id: str, fix_time: datetime, alarm: str | None) -> None:
        """Note a fix stored before (read back from the database when the device is first heard)."""
        times = self._times(device_id)
        recorded = times.get(fix_time)
        if recorded is None:
            self._remember(times, fix_time, alarm)
        elif alarm not in recorded:
            recorded.append(alarm)

    def _times(self, device_id: str) -> OrderedDict[datetime, list[str | None]]:
        times = self._seen.get(device_id)
        if times is None:
            times = self._seen[device_id] = OrderedDict()
            if len(self._seen) > self._max_devices:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end(device_id)
        return times

    def _remember(
        self, times: OrderedDict[datetime, list[str | None]], fix_time: datetime, alarm: str | None
    ) -> None:
        times[fix_time] = [alarm]
        if len(times) > self._window:
            times.popitem(last=False)
