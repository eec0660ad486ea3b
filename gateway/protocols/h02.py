"""H02 ("HQ", Sinotrack and clones): framing, binary `$` reports, status word and replies. Pure.

The first byte selects the format (PROTOCOLS.md 3.1): `*` a text sentence up to `#` (see
`h02_text`), `$` a binary location of a fixed length (32 or 45 bytes; configurable, otherwise
learned from the first `$` frame of the connection), `X` a 32-byte binary frame that no
decoder here reads. H02 has no checksum and no authentication: the id inside each frame is all
there is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from gateway.decoded import FixFields
from gateway.protocols.h02_messages import (
    KNOTS_TO_KMH,
    CellReport,
    Heartbeat,
    Message,
    Other,
    Report,
    report_time,
    status_attributes,
)
from gateway.protocols.h02_text import decode_text
from gateway.refusals import Reason, Refusal
from gateway.transports.stream import FrameError

__all__ = ["CellReport", "H02Splitter", "Heartbeat", "Message", "Other", "Report", "decode"]

SHORT, LONG = 32, 45  # binary frame lengths; 42 is read as a 15-digit id layout (Traccar)
MARKERS = b"*$X"
MAX_TEXT_BYTES = 1024
_PRINTABLE = frozenset(range(0x20, 0x7F))


class H02Splitter:
    """Cuts an H02 stream (or one datagram) into text and binary frames.

    Bytes before a marker are skipped and reported to `on_skip` (and summed in `skipped`), as is
    a `*` followed by a byte that cannot be in a sentence. The CR/LF after a sentence is dropped
    silently. The binary length is `message_length` if given; otherwise the first `$` frame sets
    it: 32 if a marker or the end of the data follows 32 bytes, else 45 if one follows 45 bytes,
    else 32 (Traccar's default). A sentence longer than MAX_TEXT_BYTES raises FrameError.
    """

    def __init__(self, message_length: int | None = None, on_skip: Callable[[int], None] | None = None):
        if message_length is not None and not 30 <= message_length <= 256:
            raise ValueError(f"H02 binary message length {message_length} is not plausible")
        self.message_length = message_length
        self._on_skip = on_skip
        self.skipped = 0

    def split(self, buffer: bytearray) -> list[bytes]:
        frames: list[bytes] = []
        while buffer:
            start = next((i for i, b in enumerate(buffer) if b in MARKERS), len(buffer))
            if start:
                self._skip(buffer, start)
                continue
            size = self._text_size(buffer) if buffer[0] == ord("*") else self._binary_size(buffer)
            if size is None:
                break
            if size == 0:  # a `*` that starts no sentence
                self._skip(buffer, 1)
                continue
            frames.append(bytes(buffer[:size]))
            del buffer[:size]
            while buffer[:1] in (b"\r", b"\n"):
                del buffer[:1]
        return frames

    def _skip(self, buffer: bytearray, count: int) -> None:
        del buffer[:count]
        self.skipped += count
        if self._on_skip is not None:
            self._on_skip(count)

    def _text_size(self, buffer: bytearray) -> int | None:
        for i in range(1, len(buffer)):
            byte = buffer[i]
            if byte == ord("#"):
                return i + 1
            if byte not in _PRINTABLE:
                return 0
            if i >= MAX_TEXT_BYTES:
                raise FrameError(f"H02 sentence longer than {MAX_TEXT_BYTES} bytes")
        return None

    def _binary_size(self, buffer: bytearray) -> int | None:
        n = len(buffer)
        if buffer[0] == ord("X"):
            return SHORT if n >= SHORT else None
        if self.message_length is None:
            for length in (SHORT, LONG):
                if n == length or (n > length and buffer[length] in MARKERS):
                    self.message_length = length
                    break
            else:
                if n <= LONG:
                    return None  # cannot tell 32 from 45 yet
                self.message_length = SHORT
        return self.message_length if n >= self.message_length else None


def decode(frame: bytes) -> Message | Refusal:
    """Decode one frame from `H02Splitter`."""
    if frame[:1] == b"*":
        return decode_text(frame)
    return decode_binary(frame)


def decode_binary(frame: bytes) -> Report | Other | Refusal:
    """A `$` location: BCD id, time, date, position, battery, flags, speed (knots), course, status."""
    if frame[:1] == b"X":
        return Other(None, "X")
    if frame[:1] != b"$" or len(frame) < 32:
        return Refusal(Reason.BAD_FRAME, f"not an H02 binary frame: {frame[:16].hex()}")
    digits = frame.hex()
    if len(frame) == 42:
        device_id, digits = digits[2:17], digits[18:]
    else:
        device_id, digits = digits[2:12], digits[12:]
    # digits: hhmmss ddmmyy DDMMmmmm BB DDDMMmmmm F SSS CCC SSSSSSSS (battery, flags, status: hex)
    bcd = digits[0:20] + digits[22:31] + digits[32:38]
    if len(digits) < 46 or not bcd.isdigit():
        return Report(device_id, "$", Refusal(Reason.BAD_FRAME, f"not BCD: {frame.hex()}"))
    try:
        fix_time = report_time(digits[0:6], digits[6:12])
    except ValueError:
        return Report(device_id, "$", Refusal(Reason.BAD_TIME, f"{digits[0:6]} {digits[6:12]}"))
    lat = int(digits[12:14]) + int(digits[14:20]) / 10_000 / 60
    lon = int(digits[22:25]) + int(digits[25:31]) / 10_000 / 60
    flags = int(digits[31], 16)  # bit 1 valid, bit 2 north, bit 3 east
    attributes = status_attributes(int(digits[38:46], 16))
    battery = _battery_pct(int(digits[20:22], 16))
    if battery is not None:
        attributes["battery_pct"] = battery
    fix = FixFields(
        fix_time=fix_time,
        lat=lat if flags & 0x04 else -lat,
        lon=lon if flags & 0x08 else -lon,
        speed_kmh=int(digits[32:35]) * KNOTS_TO_KMH,
        course=float(int(digits[35:38])),
        valid=bool(flags & 0x02),
        attributes=attributes,
    )
    return Report(device_id, "$", fix)


def _battery_pct(value: int) -> int | None:
    """The binary battery byte as a percentage (Traccar `decodeBattery`)."""
    if value == 0:
        return None
    if value <= 3:
        return (value - 1) * 10
    if value <= 6:
        return (value - 1) * 20
    if value <= 100:
        return value
    if 0xF1 <= value <= 0xF6:
        return value - 0xF0
    return None


def encode_v4_reply(device_id: str, command: str, now: datetime) -> bytes:
    """The server's answer to V1 and NBR: `*HQ,<id>,V4,<cmd>,<yyyyMMddHHmmss UTC>#`."""
    return f"*HQ,{device_id},V4,{command},{now.astimezone(UTC):%Y%m%d%H%M%S}#".encode()


def encode_heartbeat_reply(prefix: str) -> bytes:
    """The heartbeat echo: the sentence up to its command, then `#`."""
    return f"{prefix}#".encode()
