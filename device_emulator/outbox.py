"""What a tracker does with fixes it cannot send yet: coverage gaps and a bounded outbox."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from device_emulator.fixes import Fix, encode_backlog, encode_fix

DEFAULT_MAX_BACKLOG = 3600  # an hour of fixes at 1 Hz; older ones are dropped first, as trackers do
# A backlog goes out in arrays of at most this many fixes (~85 KB): well inside the gateway's
# 1,000 fixes and the broker's 1 MiB per message.
MAX_FIXES_PER_MESSAGE = 500


class CoverageGaps:
    """Random losses of mobile coverage: each starts with a given probability per minute and lasts gap_s."""

    def __init__(self, rng: random.Random, probability_per_min: float = 0.0, gap_s: float = 60.0) -> None:
        if not 0.0 <= probability_per_min <= 1.0:
            raise ValueError("probability_per_min must be within 0..1")
        self._rng = rng
        self.probability_per_min = probability_per_min
        self.gap_s = gap_s
        self._gap_left_s = 0.0

    def advance(self, dt: float) -> bool:
        """Live dt more seconds; True when the tracker has coverage afterwards."""
        if self._gap_left_s > 0.0:
            self._gap_left_s -= dt
            return self._gap_left_s <= 0.0
        start_chance = 1.0 - (1.0 - self.probability_per_min) ** (dt / 60.0)
        if self.probability_per_min > 0.0 and self._rng.random() < start_chance:
            self._gap_left_s = self.gap_s
            return False
        return True


@dataclass(frozen=True, slots=True)
class PendingBatch:
    """Fixes to send together, oldest first; acknowledge `last_seq` once the gateway has them all."""

    fixes: tuple[Fix, ...]
    last_seq: int
    # Several fixes were waiting (a coverage gap, a lost connection, a slow link): the device
    # buffered them, and says so where its protocol can (arrays, re-upload flags, offline marks).
    backlog: bool


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    payload: bytes
    last_seq: int  # acknowledge this once the broker has the message
    fix_count: int


class Outbox:
    """Fixes waiting to be sent, oldest first.

    A link takes them in batches as large as its protocol carries (`next_batch`); fixes leave the
    outbox only when acknowledged, so a failed send is retried. For the project's MQTT JSON, one
    pending fix goes out as a JSON object; several (a gap's or a lost connection's backlog) go out
    together as JSON arrays of at most MAX_FIXES_PER_MESSAGE (`next_message`).
    """

    def __init__(self, max_fixes: int = DEFAULT_MAX_BACKLOG) -> None:
        self._pending: deque[tuple[int, Fix]] = deque(maxlen=max_fixes)
        self._next_seq = 0
        self.held = False  # True during a coverage gap: keep fixes, send nothing
        self.dropped = 0
        self.acknowledged = 0

    def __len__(self) -> int:
        return len(self._pending)

    def put(self, fix: Fix) -> None:
        if len(self._pending) == self._pending.maxlen:
            self.dropped += 1
        self._pending.append((self._next_seq, fix))
        self._next_seq += 1

    def next_batch(self, max_fixes: int) -> PendingBatch | None:
        """Up to max_fixes of the oldest pending fixes, or None when there is nothing or coverage is lost."""
        if self.held or not self._pending:
            return None
        chunk = [self._pending[i] for i in range(min(len(self._pending), max_fixes))]
        return PendingBatch(tuple(fix for _, fix in chunk), chunk[-1][0], backlog=len(self._pending) > 1)

    def next_message(self) -> OutgoingMessage | None:
        """The project's MQTT JSON message to publish now, or None (nothing, or coverage lost)."""
        batch = self.next_batch(MAX_FIXES_PER_MESSAGE)
        if batch is None:
            return None
        fixes = batch.fixes
        payload = encode_fix(fixes[0]) if len(fixes) == 1 else encode_backlog(fixes)
        return OutgoingMessage(payload, batch.last_seq, len(fixes))

    def acknowledge(self, last_seq: int) -> None:
        """Forget every fix up to last_seq: the gateway has them."""
        while self._pending and self._pending[0][0] <= last_seq:
            self._pending.popleft()
            self.acknowledged += 1
