"""Teltonika FMB-style frames for emulator fixes: IMEI handshake, Codec 8 AVL packets (TCP, with CRC)
and the UDP form, plus the server replies the emulator waits for.

Written from the vendor's description (Teltonika wiki "Teltonika Data Sending Protocols"), apart
from the gateway's decoder on purpose: the round-trip tests then check one against the other.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from datetime import UTC

from device_emulator.fixes import Fix

CODEC_8 = 0x08
PRIORITY_LOW, PRIORITY_HIGH, PRIORITY_PANIC = 0, 1, 2
MAX_RECORDS = 255  # N1 is one byte
# IO elements an FMB tracker in a vehicle sends with every record.
IO_IGNITION, IO_MOVEMENT, IO_GSM_SIGNAL, IO_EXTERNAL_VOLTAGE, IO_HDOP = 239, 240, 21, 66, 182
VEHICLE_VOLTAGE_MV = 13_800


def crc16_ibm(data: bytes) -> int:
    """CRC-16/IBM as Teltonika computes it (reflected poly 0xA001, initial value 0)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def handshake(imei: str) -> bytes:
    """The first thing a device sends on a TCP connection: 2-byte length, then the IMEI in ASCII."""
    if not imei.isdigit():
        raise ValueError(f"an IMEI is digits: {imei!r}")
    return len(imei).to_bytes(2, "big") + imei.encode("ascii")


def default_io(fix: Fix) -> dict[int, tuple[int, int]]:
    """IO elements for a fix as {id: (value, size in bytes)}: ignition on, movement, GSM signal,
    external voltage (mV) and HDOP (x10) guessed from the fix's accuracy."""
    hdop_x10 = max(5, min(255, round(fix.accuracy_m * 2)))  # about 5 m per HDOP unit
    return {
        IO_IGNITION: (1, 1),
        IO_MOVEMENT: (1 if fix.speed_kmh > 0 else 0, 1),
        IO_GSM_SIGNAL: (4, 1),
        IO_EXTERNAL_VOLTAGE: (VEHICLE_VOLTAGE_MV, 2),
        IO_HDOP: (hdop_x10, 2),
    }


def encode_record(
    fix: Fix,
    priority: int = PRIORITY_LOW,
    event_io: int = 0,
    io: Mapping[int, tuple[int, int]] | None = None,
) -> bytes:
    """One Codec 8 AVL record."""
    elements = default_io(fix) if io is None else io
    millis = round(fix.time.astimezone(UTC).timestamp() * 1000)
    gps = struct.pack(
        ">QBiihHBH",
        millis,
        priority,
        round(fix.lon * 1e7),
        round(fix.lat * 1e7),
        max(-32768, min(32767, fix.alt_m)),
        fix.heading % 360,
        fix.sats,
        max(0, min(65535, round(fix.speed_kmh))),
    )
    groups = b""
    for size in (1, 2, 4, 8):
        members = [(io_id, value) for io_id, (value, s) in elements.items() if s == size]
        groups += bytes([len(members)])
        for io_id, value in members:
            groups += bytes([io_id]) + value.to_bytes(size, "big")
    return gps + bytes([event_io, len(elements)]) + groups


def avl_data(records: Sequence[bytes]) -> bytes:
    """CODEC | N1 | records | N2: the part both transports carry."""
    if not 1 <= len(records) <= MAX_RECORDS:
        raise ValueError(f"a packet holds 1 to {MAX_RECORDS} records, not {len(records)}")
    count = bytes([len(records)])
    return bytes([CODEC_8]) + count + b"".join(records) + count


def tcp_packet(fixes: Sequence[Fix], priority: int = PRIORITY_LOW) -> bytes:
    """A TCP AVL data packet: one live fix, or many (a backlog, oldest first as FMB devices
    are usually set up)."""
    data = avl_data([encode_record(f, priority) for f in fixes])
    return b"\x00\x00\x00\x00" + len(data).to_bytes(4, "big") + data + crc16_ibm(data).to_bytes(4, "big")


def udp_packet(
    imei: str, fixes: Sequence[Fix], packet_id: int, avl_packet_id: int, priority: int = PRIORITY_LOW
) -> bytes:
    """The UDP form: length, packet id, 01 (no channel ack wanted), AVL packet id, IMEI, AVL data."""
    body = (
        packet_id.to_bytes(2, "big")
        + b"\x01"
        + bytes([avl_packet_id & 0xFF])
        + handshake(imei)
        + avl_data([encode_record(f, priority) for f in fixes])
    )
    return len(body).to_bytes(2, "big") + body


def accepted_count(reply: bytes) -> int:
    """The record count of the server's 4-byte TCP reply."""
    if len(reply) != 4:
        raise ValueError(f"a Teltonika TCP acknowledgement is 4 bytes, got {reply.hex()}")
    return int.from_bytes(reply, "big")


def udp_accepted(reply: bytes, packet_id: int, avl_packet_id: int) -> int | None:
    """The accepted record count if `reply` acknowledges this UDP packet, else None."""
    if len(reply) != 7 or reply[:2] != b"\x00\x05" or reply[5] != avl_packet_id & 0xFF:
        return None
    if int.from_bytes(reply[2:4], "big") != packet_id:
        return None
    return reply[6]
