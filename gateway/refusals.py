"""Why a message or a fix was refused: stable reason names, used in logs and metric labels."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
