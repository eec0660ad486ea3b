"""Teltonika AVL data (Codec 8, 8 Extended, 16): records in, FixFields out. Pure, no I/O.

    AVL data = CODEC(1) | N1(1) | record x N1 | N2(1)
    record   = timestamp ms(8) | priority(1) | lon(4) | lat(4) | altitude(2) | angle(2) | satellites(1)
               | speed km/h(2) | event IO id | [generation type(1), Codec 16] | total IO count
               | 1-, 2-, 4-, 8-byte IO groups (count, then id/value pairs) | [NX group, Codec 8E]

Codec 8: ids and counts are 1 byte. Codec 8E: the event id, every count and every id are 2 bytes, and a
variable-length NX group (count, then id, length, value) follows. Codec 16: the event id and IO ids
are 2 bytes, counts stay 1 byte. (Teltonika wiki "Teltonika Data Sending Protocols"; Traccar
TeltonikaProtocolDecoder.decodeLocation.)
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.decoded import FixFields
from gateway.refusals import Reason, Refusal

CODEC_8 = 0x08
CODEC_8E = 0x8E
CODEC_16 = 0x10
SUPPORTED_CODECS = frozenset({CODEC_8, CODEC_8E, CODEC_16})
CODEC_NAMES = {
    CODEC_8: "8",
    CODEC_8E: "8E",
    CODEC_16: "16",
    0x0C: "12",
    0x0D: "13",
    0x0E: "14",
    0x07: "GH3000",
}

PRIORITY_PANIC = 2
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_GPS = struct.Struct(">QBiihHBH")  # time, priority, lon, lat, altitude, angle, satellites, speed

IoValue = int | bytes


class AvlError(ValueError):
    """AVL data that cannot be decoded (truncated, inconsistent counts, unsupported codec)."""


@dataclass(frozen=True, slots=True)
class AvlRecord:
    """One AVL record as the device encoded it (raw integers)."""

    time_ms: int
    priority: int
    lon_e7: int
    lat_e7: int
    altitude_m: int
    angle: int
    satellites: int
    speed_kmh: int
    event_io: int
    generation: int | None  # Codec 16 only
    io: Mapping[int, IoValue]  # NX values (Codec 8E) are bytes, the others unsigned integers


@dataclass(frozen=True, slots=True)
class AvlData:
    codec: int
    records: tuple[AvlRecord, ...]

    @property
    def count(self) -> int:
        return len(self.records)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self._data):
            raise AvlError(
                f"truncated at byte {self.pos}: {n} more needed, {len(self._data) - self.pos} left"
            )
        chunk = self._data[self.pos : end]
        self.pos = end
        return chunk

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    @property
    def left(self) -> int:
        return len(self._data) - self.pos


def decode_avl(data: bytes) -> AvlData:
    """Decode CODEC..N2 (the part the TCP CRC covers, also the tail of a UDP packet)."""
    if len(data) < 3:
        raise AvlError(f"{len(data)} bytes of AVL data, at least 3 needed")
    codec, n1 = data[0], data[1]
    if codec not in SUPPORTED_CODECS:
        raise AvlError(f"unsupported codec {CODEC_NAMES.get(codec, f'0x{codec:02x}')}")
    reader = _Reader(data)
    reader.take(2)
    records = tuple(_record(reader, codec) for _ in range(n1))
    if reader.left != 1:
        raise AvlError(f"{reader.left} bytes after {n1} records, 1 (N2) expected")
    n2 = reader.uint(1)
    if n2 != n1:
        raise AvlError(f"record counts differ: N1 {n1}, N2 {n2}")
    return AvlData(codec, records)


def _record(reader: _Reader, codec: int) -> AvlRecord:
    time_ms, priority, lon, lat, altitude, angle, satellites, speed = _GPS.unpack(reader.take(_GPS.size))
    wide_ids = codec in (CODEC_8E, CODEC_16)
    count_size = 2 if codec == CODEC_8E else 1
    id_size = 2 if wide_ids else 1
    event_io = reader.uint(id_size)
    generation = reader.uint(1) if codec == CODEC_16 else None
    reader.uint(count_size)  # total IO count: redundant with the group counts, not trusted
    io: dict[int, IoValue] = {}
    for value_size in (1, 2, 4, 8):
        for _ in range(reader.uint(count_size)):
            io_id = reader.uint(id_size)
            io[io_id] = reader.uint(value_size)
    if codec == CODEC_8E:
        for _ in range(reader.uint(2)):
            io_id = reader.uint(2)
            io[io_id] = reader.take(reader.uint(2))
    return AvlRecord(
        time_ms, priority, lon, lat, altitude, angle, satellites, speed, event_io, generation, io
    )


# IO ids every Teltonika FM model uses the same way (Traccar's common map, PROTOCOLS.md 2.5).
_BOOLEAN_IO = {
    239: "ignition",
    240: "motion",
    1: "din1",
    2: "din2",
    3: "din3",
    4: "din4",
    179: "out1",
    180: "out2",
}
_SCALED_IO = {66: ("power_v", 1000), 67: ("battery_v", 1000), 181: ("pdop", 10), 182: ("hdop", 10)}
_PLAIN_IO = {21: "gsm_signal", 16: "odometer_m", 199: "trip_odometer_m"}
_IO_GENERAL_ALARM = 236
_IO_GREEN_DRIVING = 253
_GREEN_DRIVING = {1: "acceleration", 2: "braking", 3: "cornering"}


def io_attributes(record: AvlRecord) -> dict[str, Any]:
    """The record's priority, event and IO as FixFields attributes; unmapped IO under "io"."""
    attrs: dict[str, Any] = {"priority": record.priority, "event": record.event_io}
    if record.generation is not None:
        attrs["generation"] = record.generation
    raw: dict[str, Any] = {}
    for io_id, value in record.io.items():
        if isinstance(value, bytes):
            raw[str(io_id)] = value.hex()
        elif io_id in _BOOLEAN_IO:
            attrs[_BOOLEAN_IO[io_id]] = value == 1
        elif io_id in _SCALED_IO:
            name, divisor = _SCALED_IO[io_id]
            attrs[name] = round(value / divisor, 3)
        elif io_id in _PLAIN_IO:
            attrs[_PLAIN_IO[io_id]] = value
        elif io_id == _IO_GENERAL_ALARM:
            if value == 1:
                attrs["alarm"] = "general"
        elif io_id == _IO_GREEN_DRIVING and value in _GREEN_DRIVING:
            attrs["green_driving"] = _GREEN_DRIVING[value]
        else:
            raw[str(io_id)] = value
    if record.priority == PRIORITY_PANIC:
        attrs["alarm"] = "sos"  # the panic button outranks a general alarm IO
    if raw:
        attrs["io"] = raw
    return attrs


def to_fix_fields(record: AvlRecord, backlog: bool) -> FixFields | Refusal:
    """One record as a fix. Satellites 0 means no fix: the device repeats its last valid position
    (Teltonika wiki), so the fix is stored as invalid, as Traccar does (`valid = satellites != 0`)."""
    try:
        fix_time = _EPOCH + timedelta(milliseconds=record.time_ms)
    except OverflowError:
        return Refusal(Reason.BAD_TIME, f"timestamp {record.time_ms} ms")
    attrs = io_attributes(record)
    return FixFields(
        fix_time=fix_time,
        lat=record.lat_e7 / 1e7,
        lon=record.lon_e7 / 1e7,
        speed_kmh=float(record.speed_kmh),
        course=float(record.angle),
        altitude_m=float(record.altitude_m),
        hdop=attrs.get("hdop"),
        satellites=record.satellites,
        valid=record.satellites != 0,
        backlog=backlog,
        attributes=attrs,
    )


def fixes_of(data: AvlData) -> list[FixFields | Refusal]:
    """Every record of a packet as a fix; a packet of several records is a backlog upload."""
    backlog = data.count > 1
    return [to_fix_fields(r, backlog) for r in data.records]
