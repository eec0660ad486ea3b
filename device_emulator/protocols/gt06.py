"""GT06 (Concox GT06N-style) frames for emulator fixes: the login (IMEI) and 0x22 GPS+LBS
locations with rolling serial numbers and CRC-ITU, live or re-uploaded (backlog), plus a heartbeat
and the parsing of the server's 5-byte acknowledgements the device waits for.

Written from the Concox GT06 communication protocol description (packet layout, CRC-ITU, the 0x22
"GPS real-time re-upload" byte) as summarised in PROTOCOLS.md section 1, apart from the gateway's
decoder on purpose: the round-trip tests then check one against the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC

from device_emulator.fixes import Fix

START, STOP = b"\x78\x78", b"\x0d\x0a"
LOGIN, HEARTBEAT, GPS_LBS_2 = 0x01, 0x13, 0x22
UPLOAD_INTERVAL = 0x00  # data upload mode: "upload by time interval"
# A Viettel cell in Da Nang (MCC 452 Vietnam, MNC 04): trackers report their serving cell.
DA_NANG_CELL = (452, 4, 0x2B67, 0x00A1B2)


def crc_itu(data: bytes) -> int:
    """CRC-ITU as Concox computes it (CRC-16/X-25: reflected 0x1021, init and final XOR 0xFFFF)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def packet(protocol: int, content: bytes, serial: int) -> bytes:
    """78 78 | LEN | PROTO | content | SERIAL | CRC | 0D 0A; LEN counts PROTO through CRC."""
    body = bytes([len(content) + 5, protocol]) + content + (serial & 0xFFFF).to_bytes(2, "big")
    return START + body + crc_itu(body).to_bytes(2, "big") + STOP


def login_packet(imei: str, serial: int) -> bytes:
    """The first packet on a connection: the IMEI as 8 BCD bytes (a leading 0 nibble)."""
    if not (imei.isdigit() and len(imei) == 15):
        raise ValueError(f"a GT06 login carries a 15-digit IMEI, not {imei!r}")
    return packet(LOGIN, bytes.fromhex("0" + imei), serial)


def gps_block(fix: Fix, positioned: bool = True) -> bytes:
    """Date-time (UTC, whole seconds), satellites, latitude/longitude (minutes x 30 000), speed
    (km/h) and the course/status word (course, north, west, positioned)."""
    when = fix.time.astimezone(UTC)
    course_status = (fix.heading % 360) | (0x0400 if fix.lat >= 0 else 0) | (0x0800 if fix.lon < 0 else 0)
    if positioned:
        course_status |= 0x1000
    return (
        bytes([when.year - 2000, when.month, when.day, when.hour, when.minute, when.second])
        + bytes([0xC0 | min(fix.sats, 15)])  # high nibble: GPS info length (12)
        + round(abs(fix.lat) * 1_800_000).to_bytes(4, "big")
        + round(abs(fix.lon) * 1_800_000).to_bytes(4, "big")
        + bytes([max(0, min(255, round(fix.speed_kmh)))])
        + course_status.to_bytes(2, "big")
    )


def location_packet(
    fix: Fix,
    serial: int,
    backlog: bool = False,
    ignition: bool = True,
    cell: tuple[int, int, int, int] = DA_NANG_CELL,
) -> bytes:
    """A 0x22 GPS+LBS packet; `backlog` sets the re-upload byte of a fix buffered while offline."""
    mcc, mnc, lac, cid = cell
    lbs = mcc.to_bytes(2, "big") + bytes([mnc]) + lac.to_bytes(2, "big") + cid.to_bytes(3, "big")
    trailer = bytes([1 if ignition else 0, UPLOAD_INTERVAL, 1 if backlog else 0])
    return packet(GPS_LBS_2, gps_block(fix) + lbs + trailer, serial)


def heartbeat_packet(
    serial: int, ignition: bool = True, voltage_level: int = 6, gsm_signal: int = 4
) -> bytes:
    """A 0x13 status packet: terminal information (GPS on, charging, ACC), voltage 0-6, GSM 0-4."""
    info = 0x40 | 0x04 | (0x02 if ignition else 0)
    return packet(HEARTBEAT, bytes([info, voltage_level, gsm_signal, 0x00, 0x02]), serial)


def parse_ack(reply: bytes) -> tuple[int, int] | None:
    """(protocol, serial) of a server acknowledgement `78 78 05 PROTO SERIAL CRC 0D 0A`, or None."""
    if len(reply) != 10 or reply[:3] != b"\x78\x78\x05" or reply[-2:] != STOP:
        return None
    if crc_itu(reply[2:6]) != int.from_bytes(reply[6:8], "big"):
        return None
    return reply[3], int.from_bytes(reply[4:6], "big")


@dataclass
class Gt06Device:
    """One tracker's packet stream: serial numbers run 1, 2, ... and wrap after 0xFFFF."""

    imei: str
    serial: int = field(default=0)

    def next_serial(self) -> int:
        self.serial = self.serial % 0xFFFF + 1
        return self.serial

    def login(self) -> bytes:
        return login_packet(self.imei, self.next_serial())

    def location(self, fix: Fix, backlog: bool = False, ignition: bool = True) -> bytes:
        return location_packet(fix, self.next_serial(), backlog=backlog, ignition=ignition)

    def heartbeat(self, ignition: bool = True) -> bytes:
        return heartbeat_packet(self.next_serial(), ignition=ignition)
