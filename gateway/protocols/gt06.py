"""GT06 (Concox/Jimi) binary protocol: framing, CRC-16/X-25, message decoding and replies. Pure.

    78 78 | LEN(1) | PROTO | INFO | SERIAL(2) | CRC(2) | 0D 0A      LEN counts PROTO..CRC
    79 79 | LEN(2) | PROTO | INFO | SERIAL(2) | CRC(2) | 0D 0A      CRC covers LEN..SERIAL

Some firmwares send a wrong LEN, so the splitter does what Traccar's `Gt06FrameDecoder` does: the
declared length if it lands on 0D 0A, else two bytes further, else the next 0D 0A (PROTOCOLS.md 1.1).
Field layouts are in `gt06_fields`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.decoded import FixFields
from gateway.protocols.gt06_fields import (
    GPS_BLOCK_SIZE,
    FieldError,
    decode_gps,
    decode_lbs,
    decode_terminal_status,
    merged,
)
from gateway.refusals import Reason, Refusal
from gateway.transports.stream import FrameError

STANDARD = b"\x78\x78"
EXTENDED = b"\x79\x79"
END = b"\x0d\x0a"
# Concox documents packets under 1 KiB; past this without a frame end the stream is not GT06.
MAX_FRAME_BYTES = 2048

LOGIN = 0x01
GPS = 0x10
GPS_LBS = 0x12
STATUS = 0x13
ALARM = 0x16
GPS_LBS_2 = 0x22
ALARM_2 = 0x26
TIME_REQUEST = 0x8A
COMMAND_TYPES = frozenset({0x80, 0x81, 0x82})  # server commands: never echoed
LOCATION_TYPES = frozenset({GPS, GPS_LBS, GPS_LBS_2, ALARM, ALARM_2})


def crc16_x25(data: bytes | bytearray) -> int:
    """CRC-16/X-25 ("CRC-ITU"): reflected poly 0x1021, init and final XOR 0xFFFF."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


class Gt06Splitter:
    """Cuts a TCP stream into GT06 frames (both start markers), tolerating wrong lengths.

    Bytes before a start marker are skipped and reported to `on_skip` (and summed in `skipped`).
    A frame whose declared length misses 0D 0A ends at the first 0D 0A that is followed by a
    start marker or by the end of the received data, or after which the CRC matches. A stream
    with no frame end within MAX_FRAME_BYTES of a start marker raises FrameError.
    """

    def __init__(self, on_skip: Callable[[int], None] | None = None) -> None:
        self._on_skip = on_skip
        self.skipped = 0

    def split(self, buffer: bytearray) -> list[bytes]:
        frames: list[bytes] = []
        while buffer:
            self._resync(buffer)
            if len(buffer) < 5:
                break
            end = _exact_end(buffer)
            # 78 78 78: a garbage 78 before a start marker, unless LEN really is 0x78.
            if end is None and buffer[0] == buffer[1] == buffer[2] and _exact_end(buffer[1:]):
                self._skip(buffer, 1)
                continue
            end = end or _fallback_end(buffer)
            if end is None:
                break
            frames.append(bytes(buffer[:end]))
            del buffer[:end]
        return frames

    def _resync(self, buffer: bytearray) -> None:
        if buffer[:2] in (STANDARD, EXTENDED) or (len(buffer) == 1 and buffer[0] in (0x78, 0x79)):
            return
        starts = [i for i in (buffer.find(STANDARD, 1), buffer.find(EXTENDED, 1)) if i > 0]
        # Without a marker, keep a last byte that may be half of one.
        half_marker = buffer[-1] in (0x78, 0x79)
        self._skip(buffer, min(starts) if starts else len(buffer) - 1 if half_marker else len(buffer))

    def _skip(self, buffer: bytearray, count: int) -> None:
        del buffer[:count]
        self.skipped += count
        if self._on_skip is not None:
            self._on_skip(count)


def _exact_end(buf: bytearray) -> int | None:
    """The frame's length if its declared length (or two more, a known firmware quirk) lands on
    0D 0A; None otherwise, or while too few bytes are in."""
    if len(buf) < 5:
        return None
    extended = buf[:2] == EXTENDED
    declared = (int.from_bytes(buf[2:4], "big") + 6) if extended else buf[2] + 5
    if declared >= (7 if extended else 6) and buf[declared - 2 : declared] == END:
        return declared
    if buf[declared : declared + 2] == END:
        return declared + 2
    return None


def _fallback_end(buf: bytearray) -> int | None:
    """For a wrong declared length: the first 0D 0A followed by a start marker or by the end of
    the data received, or after which the CRC matches; None while there is none."""
    first: int | None = None
    at = buf.find(END, 4 if buf[:2] == EXTENDED else 3)
    while at >= 0:
        end = at + 2
        first = end if first is None else first
        if end == len(buf) or buf[end : end + 2] in (STANDARD, EXTENDED) or _crc_matches(buf[:end]):
            return end
        at = buf.find(END, at + 1)
    if len(buf) > MAX_FRAME_BYTES:
        if first is not None:
            return first
        raise FrameError(f"no GT06 frame end within {len(buf)} bytes")
    return None


def _crc_matches(frame: bytes | bytearray) -> bool:
    return len(frame) >= 10 and crc16_x25(frame[2:-4]) == int.from_bytes(frame[-4:-2], "big")


@dataclass(frozen=True, slots=True)
class Gt06Frame:
    """One frame's parts: `info` is the content between PROTO and SERIAL."""

    extended: bool
    protocol: int
    info: bytes
    serial: int
    crc_sent: int
    crc_computed: int

    @property
    def checksum_ok(self) -> bool:
        return self.crc_sent == self.crc_computed


def parse_frame(frame: bytes) -> Gt06Frame | Refusal:
    """Split a frame from `Gt06Splitter` into its parts (by its real size, not its LEN)."""
    extended = frame[:2] == EXTENDED
    header = 4 if extended else 3
    if frame[:2] not in (STANDARD, EXTENDED) or frame[-2:] != END:
        return Refusal(Reason.BAD_FRAME, f"not a GT06 frame: {frame[:16].hex()}")
    if len(frame) < header + 7:
        return Refusal(Reason.BAD_FRAME, f"GT06 frame of {len(frame)} bytes: {frame.hex()}")
    return Gt06Frame(
        extended=extended,
        protocol=frame[header],
        info=frame[header + 1 : -6],
        serial=int.from_bytes(frame[-6:-4], "big"),
        crc_sent=int.from_bytes(frame[-4:-2], "big"),
        crc_computed=crc16_x25(frame[2:-4]),
    )


@dataclass(frozen=True, slots=True)
class Login:
    imei: str
    type_id: int | None = None
    # The login's time zone: later GPS times on the connection are local to it (traccar#604).
    utc_offset_min: int | None = None


@dataclass(frozen=True, slots=True)
class Location:
    """A GPS report (0x10, 0x12, 0x22, 0x16, 0x26); `item` is a Refusal if its content is bad."""

    item: FixFields | Refusal


@dataclass(frozen=True, slots=True)
class Status:
    """Heartbeat 0x13: the terminal's state, no position."""

    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TimeRequest:
    pass


@dataclass(frozen=True, slots=True)
class Unsupported:
    protocol: int


Message = Login | Location | Status | TimeRequest | Unsupported


def decode(frame: Gt06Frame, utc_offset_min: int = 0) -> Message | Refusal:
    """Decode one frame's content; GPS times are shifted by the login's `utc_offset_min`."""
    try:
        if frame.protocol == LOGIN:
            return _login(frame.info)
        if frame.protocol in LOCATION_TYPES:
            return Location(_location(frame.protocol, frame.info, utc_offset_min))
        if frame.protocol == STATUS:
            if len(frame.info) < 3:
                raise FieldError(f"status of {len(frame.info)} bytes")
            return Status(decode_terminal_status(frame.info))
        if frame.protocol == TIME_REQUEST:
            return TimeRequest()
        return Unsupported(frame.protocol)
    except FieldError as exc:
        refusal = Refusal(exc.reason, f"0x{frame.protocol:02x}: {exc}")
        return Location(refusal) if frame.protocol in LOCATION_TYPES else refusal


def _login(info: bytes) -> Login:
    if len(info) < 8:
        raise FieldError(f"login of {len(info)} bytes")
    digits = info[:8].hex()
    if not digits.isdigit():
        raise FieldError(f"IMEI is not BCD: {digits}")
    type_id = int.from_bytes(info[8:10], "big") if len(info) >= 10 else None
    offset = None
    if len(info) >= 12:  # hhmm in bits 15..4 (decimal), bit 3 = west
        word = int.from_bytes(info[10:12], "big")
        hours, minutes = divmod(word >> 4, 100)
        offset = (hours * 60 + minutes) * (-1 if word & 0x08 else 1)
    return Login(imei=digits[1:], type_id=type_id, utc_offset_min=offset)


def _location(protocol: int, info: bytes, utc_offset_min: int) -> FixFields:
    fix = decode_gps(info, utc_offset_min)
    rest = info[GPS_BLOCK_SIZE:]
    attributes: dict[str, Any] = {}
    backlog = False
    if protocol in (ALARM, ALARM_2):
        if not rest:
            raise FieldError("alarm without LBS and status")
        length, rest = rest[0], rest[1:]
        if length:
            cell, used = decode_lbs(rest)
            attributes["cell"] = cell
            rest = rest[used + max(0, length - 9) :]  # the length counts itself: normally 9
        if len(rest) < 4:
            raise FieldError(f"alarm status of {len(rest)} bytes")
        attributes.update(decode_terminal_status(rest))
    elif protocol in (GPS_LBS, GPS_LBS_2) and len(rest) >= 8:
        cell, used = decode_lbs(rest)
        attributes["cell"] = cell
        rest = rest[used:]
        if protocol == GPS_LBS_2 and len(rest) >= 3:
            attributes["ignition"] = rest[0] > 0
            attributes["upload_mode"] = rest[1]
            backlog = rest[2] > 0  # GPS "re-upload": buffered while offline
            if len(rest) == 7:
                attributes["odometer_m"] = int.from_bytes(rest[3:7], "big")
    return merged(fix, attributes, backlog)


def encode_reply(protocol: int, serial: int, content: bytes = b"", extended: bool = False) -> bytes:
    """A server frame: the 5-byte acknowledgement (PROTO echo + SERIAL) when `content` is empty."""
    length = 5 + len(content)
    head = EXTENDED + length.to_bytes(2, "big") if extended else STANDARD + bytes([length])
    body = head[2:] + bytes([protocol]) + content + (serial & 0xFFFF).to_bytes(2, "big")
    return head[:2] + body + crc16_x25(body).to_bytes(2, "big") + END


def encode_time_reply(serial: int, now: datetime) -> bytes:
    """Reply to a time request (0x8A): YY MM DD hh mm ss of `now` (UTC)."""
    content = bytes([now.year - 2000, now.month, now.day, now.hour, now.minute, now.second])
    return encode_reply(TIME_REQUEST, serial, content)
