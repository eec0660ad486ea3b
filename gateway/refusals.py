"""Why a message or a fix was refused: stable reason names, used in logs and metric labels."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum

from gateway import metrics

log = logging.getLogger(__name__)


class Reason(StrEnum):
    # whole message
    PAYLOAD_TOO_LARGE = "payload_too_large"
    BAD_JSON = "bad_json"
    BAD_SHAPE = "bad_shape"
    EMPTY_BATCH = "empty_batch"
    TOO_MANY_FIXES = "too_many_fixes"
    BAD_TOPIC = "bad_topic"
    UNKNOWN_DEVICE = "unknown_device"
    DEVICE_DISABLED = "device_disabled"
    BAD_FRAME = "bad_frame"  # a binary frame that cannot be decoded (truncated, inconsistent counts...)
    BAD_CHECKSUM = "bad_checksum"  # a frame whose checksum does not match its content
    WRONG_PROTOCOL = "wrong_protocol"  # a registered id speaking another protocol than its registration
    BAD_TOKEN = "bad_token"  # noqa: S105 - a reason name: a missing or wrong device token (OsmAnd HTTP)
    RATE_LIMITED = "rate_limited"  # a device sending faster than its allowed rate (OsmAnd HTTP)
    ENCRYPTED = "encrypted_payload"  # an end-to-end encrypted payload the gateway has no key for (OwnTracks)
    SOURCE_NOT_ALLOWED = "source_not_allowed"  # a device speaking from outside its allowed networks
    DUPLICATE_SESSION = "duplicate_session"  # a second live TCP session of a device from another address
    TOO_MANY_CONNECTIONS = "too_many_connections"  # TCP connection caps (total, per source address)
    QUEUE_FULL = "queue_full"  # a UDP datagram dropped: the processing queue is full
    # decoding or checking the message raised: a poison message or a decoder bug, never fatal
    DECODE_ERROR = "decode_error"
    # one fix
    MISSING_FIELD = "missing_field"
    BAD_TYPE = "bad_type"
    BAD_TIME = "bad_time"
    LAT_OUT_OF_RANGE = "lat_out_of_range"
    LON_OUT_OF_RANGE = "lon_out_of_range"
    ZERO_COORDINATES = "zero_coordinates"
    TIME_IN_FUTURE = "time_in_future"
    TOO_OLD = "too_old"
    BAD_SPEED = "bad_speed"
    BAD_HEADING = "bad_heading"
    DUPLICATE = "duplicate"
    # No longer a refusal: such a fix is stored flagged (attributes.suspect), see gateway.jumps.LastFixes.
    IMPOSSIBLE_JUMP = "impossible_jump"
    BAD_VALUE = "bad_value"  # accuracy, hdop, satellites or altitude out of any plausible range
    BAD_ATTRIBUTES = "bad_attributes"  # attributes jsonb cannot hold (NaN, NUL characters) or too big


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refused message or fix: the reason, and a short human detail for the log."""

    reason: Reason
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else str(self.reason)


def error_refusal(exc: BaseException) -> Refusal:
    """The refusal of a message whose decoding or checking raised. Only the exception's type is
    kept: its text may quote the payload, which must not reach the log."""
    return Refusal(Reason.DECODE_ERROR, type(exc).__name__)


class RefusalLog:
    """Counts every refusal; logs at most `burst` lines per reason per minute, then one summary of
    how many were suppressed, so a flood of garbage cannot flood the log."""

    def __init__(self, burst: int = 10) -> None:
        self._burst = burst
        self._window_start = time.monotonic()
        self._counts: defaultdict[Reason, int] = defaultdict(int)

    def refused(self, refusal: Refusal, transport: str, source: str) -> None:
        metrics.REFUSED.labels(refusal.reason.value).inc()
        metrics.REFUSED_BY_PROTOCOL.labels(transport, refusal.reason.value).inc()
        now = time.monotonic()
        if now - self._window_start > 60:
            suppressed = {str(r): n - self._burst for r, n in self._counts.items() if n > self._burst}
            if suppressed:
                log.warning("suppressed refusal logs in the last minute: %s", suppressed)
            self._counts.clear()
            self._window_start = now
        self._counts[refusal.reason] += 1
        if self._counts[refusal.reason] <= self._burst:
            log.warning("refused %s from %s: %s", transport, source, refusal)

    def failed(self, exc: BaseException, transport: str, source: str) -> None:
        """Refuse a message whose handling raised `exc` (DECODE_ERROR); the traceback goes to the
        debug log only, for whoever hunts the decoder bug."""
        self.refused(error_refusal(exc), transport, source)
        log.debug("%s message from %s raised", transport, source, exc_info=exc)


# For the transports' own error boundaries (stream and datagram loops), which hold no ingest.
TRANSPORT_REFUSALS = RefusalLog()
