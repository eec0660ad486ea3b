"""Which TCP connection speaks for each device: one live session per device.

GT06, Teltonika and H02 carry no credential: whoever knows an IMEI can log in with it. A second
session for a device while its first is live, from another address, is what such a forgery looks
like (or a misconfigured clone): it is logged, counted (`amb_gateway_duplicate_sessions_total`)
and refused by default. A new session from the same address (the device reconnected before its
old socket timed out), or after the first one went silent for `stale_s` (its modem got a new
address), replaces the first, which is closed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from gateway import metrics

log = logging.getLogger(__name__)


class Session(Protocol):
    """What the table needs of a connection (gateway.transports.stream.Connection)."""

    protocol: str

    @property
    def address(self) -> str: ...

    @property
    def open(self) -> bool: ...

    @property
    def last_seen(self) -> float: ...

    def close(self, reason: str) -> None: ...


OnDuplicate = Callable[[str, str, str, str, str], None]  # device, protocol, address, held by, outcome


class DeviceSessions:
    def __init__(
        self, allow_concurrent: bool = False, stale_s: float = 180.0, on_duplicate: OnDuplicate | None = None
    ) -> None:
        self._allow_concurrent = allow_concurrent
        self._stale_s = stale_s
        self._on_duplicate = on_duplicate
        self._current: dict[str, Session] = {}

    def claim(self, device_id: str, conn: Session) -> bool:
        """Bind `device_id` to `conn`; False if another live session from another address holds it
        and concurrent sessions are not allowed (the caller refuses and closes `conn`)."""
        held = self._current.get(device_id)
        if held is None or held is conn or not held.open:
            self._current[device_id] = conn
            return True
        silent = time.monotonic() - held.last_seen
        if held.address != conn.address and silent < self._stale_s:
            outcome = "replaced" if self._allow_concurrent else "refused"
            metrics.DUPLICATE_SESSIONS.labels(conn.protocol, outcome).inc()
            log.warning(
                "device %s: a second session from %s while its session from %s is live (last frame %.0f s ago): %s",
                device_id,
                conn.address,
                held.address,
                silent,
                outcome,
            )
            if self._on_duplicate is not None:
                self._on_duplicate(device_id, conn.protocol, conn.address, held.address, outcome)
            if not self._allow_concurrent:
                return False
        held.close("replaced by a new session")
        self._current[device_id] = conn
        return True

    def release(self, device_id: str | None, conn: Session) -> None:
        if device_id is not None and self._current.get(device_id) is conn:
            del self._current[device_id]

    def holder(self, device_id: str) -> Session | None:
        return self._current.get(device_id)
