"""H02 (Sinotrack ST-901-style) text sentences for emulator fixes: V1 location reports, the HTBT
heartbeat, and the parsing of the server's V4 acknowledgement.

    *HQ,<id>,V1,<hhmmss>,<A|V>,<ddmm.mmmm>,<N|S>,<dddmm.mmmm>,<E|W>,<knots>,<course>,<ddmmyy>,<status>#

Written from the H02 sentence description in PROTOCOLS.md section 3 (speed in knots, an active-low
status word with ignition on bit 10), apart from the gateway's decoder on purpose. H02 has no
backlog flag: a fix sent late is a V1 sentence with its own, older time.
"""

from __future__ import annotations

import re
from datetime import UTC

from device_emulator.fixes import Fix

KMH_PER_KNOT = 1.852
ALL_CLEAR = 0xFFFFFFFF  # every alarm bit set means no alarm (active-low)
IGNITION_BIT = 1 << 10
SOS_BIT = 1 << 1
_V4_REPLY = re.compile(rb"\*HQ,(\w+),V4,V1,(\d{14})#")


def _coordinate(value: float, degree_digits: int) -> str:
    """`ddmm.mmmm` (or `dddmm.mmmm`) of |value|, rounded to 1/10 000 of a minute."""
    units = round(abs(value) * 60 * 10_000)  # ten-thousandths of a minute
    degrees, rest = divmod(units, 60 * 10_000)
    minutes, fraction = divmod(rest, 10_000)
    return f"{degrees:0{degree_digits}d}{minutes:02d}.{fraction:04d}"


def status_word(ignition: bool = True, sos: bool = False) -> int:
    """The status word: all alarms clear, ignition bit set when on, SOS bit cleared when pressed."""
    status = ALL_CLEAR if ignition else ALL_CLEAR & ~IGNITION_BIT
    return status & ~SOS_BIT if sos else status


def v1_sentence(
    device_id: str, fix: Fix, ignition: bool = True, sos: bool = False, valid: bool = True
) -> bytes:
    """One V1 location report (time to the second, UTC)."""
    if not device_id.isalnum():
        raise ValueError(f"an H02 id is letters and digits: {device_id!r}")
    when = fix.time.astimezone(UTC)
    fields = [
        "*HQ",
        device_id,
        "V1",
        f"{when:%H%M%S}",
        "A" if valid else "V",
        _coordinate(fix.lat, 2),
        "N" if fix.lat >= 0 else "S",
        _coordinate(fix.lon, 3),
        "E" if fix.lon >= 0 else "W",
        f"{fix.speed_kmh / KMH_PER_KNOT:.2f}",
        f"{fix.heading % 360:03d}",
        f"{when:%d%m%y}",
        f"{status_word(ignition, sos):08X}",
    ]
    return (",".join(fields) + "#").encode("ascii")


def heartbeat(device_id: str, battery_pct: int = 100) -> bytes:
    """The HTBT heartbeat with the battery level; the server echoes `*HQ,<id>,HTBT#`."""
    return f"*HQ,{device_id},HTBT,{battery_pct}#".encode("ascii")


def acknowledged_id(reply: bytes) -> str | None:
    """The device id of a server V1 acknowledgement `*HQ,<id>,V4,V1,<yyyyMMddHHmmss>#`, or None."""
    match = _V4_REPLY.fullmatch(reply.strip())
    return match[1].decode() if match else None
