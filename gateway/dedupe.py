"""Drops a fix already seen from the same device (same fix time), within a bounded recent window.

The database's primary key (device, fix time) catches any repeat older than the window.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime


class RecentFixes:
    """The last `window` fix times of each device, and of at most `max_devices` devices."""

    def __init__(self, window: int, max_devices: int = 100_000) -> None:
        self._window = window
        self._max_devices = max_devices
        self._seen: OrderedDict[str, OrderedDict[datetime, None]] = OrderedDict()

    def seen_before(self, device_id: str, fix_time: datetime) -> bool:
        """True when this fix was seen already; otherwise remember it and return False."""
        times = self._seen.get(device_id)
        if times is None:
            times = self._seen[device_id] = OrderedDict()
            if len(self._seen) > self._max_devices:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end(device_id)
        if fix_time in times:
            return True
        times[fix_time] = None
        if len(times) > self._window:
            times.popitem(last=False)
        return False
