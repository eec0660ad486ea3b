"""H02 text sentences: `*HQ,<id>,<cmd>,<hhmmss>,<A|V>,<lat>,<N|S>,<lon>,<E|W>,<knots>,<course>,<ddmmyy>,
<status>[,...]#`, their variants (V2/V5/V6/V19/VI1, V4 command replies carrying a position), HTBT/V0
heartbeats and NBR cell reports. Pure. Layouts from PROTOCOLS.md 3.2 (Traccar `H02ProtocolDecoder`).
"""

from __future__ import annotations

import re
from typing import Any

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
from gateway.refusals import Reason, Refusal

HEARTBEATS = frozenset({"HTBT", "V0"})
NOT_LOCATIONS = frozenset({"V0", "V3", "V4", "VP1"})  # V-commands with another layout
_DEVICE_ID = re.compile(r"[A-Za-z0-9]{1,32}")
_HHMMSS = re.compile(r"\d{6}")
_DDMMYY = re.compile(r"\d{6}")
_STATUS = re.compile(r"[0-9A-Fa-f]{8}")
_COORDINATE_FORMS = (
    re.compile(r"-(\d+)-(\d+\.\d+)"),  # -dd-mm.mmmm
    re.compile(r"(\d*?)(\d{1,2}\.\d+)"),  # (d)ddmm.mmmm, or minutes only
)
_NO_DOT = re.compile(r"(\d+)(\d\d)(\d{4})")  # dddmmmmmm: minutes with 4 implied decimals


class _Bad(ValueError):
    """A field that makes the position unusable; carries its refusal."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.refusal = Refusal(reason, detail)


def decode_text(frame: bytes) -> Message | Refusal:
    """Decode one `*...#` sentence."""
    sentence = frame.decode("ascii", errors="replace").strip()
    if not (sentence.startswith("*") and sentence.endswith("#")):
        return Refusal(Reason.BAD_FRAME, f"not an H02 sentence: {sentence[:40]!r}")
    fields = sentence[1:-1].split(",")
    if len(fields) < 3 or not fields[2]:
        return Refusal(Reason.BAD_FRAME, f"H02 sentence without a command: {sentence[:60]!r}")
    device_id, command = fields[1], fields[2]
    if not _DEVICE_ID.fullmatch(device_id):
        return Refusal(Reason.BAD_FRAME, f"H02 device id {device_id[:40]!r}")
    if command in HEARTBEATS:
        battery = fields[3] if len(fields) > 3 and fields[3].isdigit() else None
        prefix = "*" + ",".join(fields[:3])
        return Heartbeat(device_id, command, prefix, None if battery is None else int(battery))
    if command == "NBR":
        return CellReport(device_id)
    if command == "V4":
        return _command_reply(device_id, fields)
    if command.startswith("V") and command not in NOT_LOCATIONS:
        return Report(device_id, command, _position(fields, 3, command))
    return Other(device_id, command)


def _command_reply(device_id: str, fields: list[str]) -> Message:
    """`*HQ,<id>,V4,<cmd>,<result...>,<hhmmss>,<A|V>,...`: the position after the result fields."""
    for at in range(4, len(fields) - 1):
        if fields[at + 1] in ("A", "V", "B") and _HHMMSS.fullmatch(fields[at]):
            return Report(device_id, "V4", _position(fields, at, "V4"))
    return Other(device_id, "V4")


def _position(fields: list[str], at: int, command: str) -> FixFields | Refusal:
    """The fix whose time-of-day field is `fields[at]`."""
    try:
        return _parse_position(fields, at, command)
    except _Bad as exc:
        return exc.refusal
    except (ValueError, IndexError) as exc:
        return Refusal(Reason.BAD_FRAME, f"{command}: {exc}")


def _parse_position(fields: list[str], at: int, command: str) -> FixFields:
    if len(fields) < at + 9:
        raise _Bad(Reason.BAD_FRAME, f"{command} with {len(fields)} fields")
    hhmmss, validity = fields[at], fields[at + 1]
    lat = _coordinate(fields[at + 2], fields[at + 3], "N", "S")
    lon = _coordinate(fields[at + 4], fields[at + 5], "E", "W")
    speed, course = fields[at + 6].strip(), fields[at + 7].strip()
    date_at = at + 8
    if not _DDMMYY.fullmatch(fields[date_at]) and fields[date_at].isdigit():
        date_at += 1  # a battery field between course and date (some models)
    ddmmyy = fields[date_at] if date_at < len(fields) else ""
    if not (_HHMMSS.fullmatch(hhmmss) and _DDMMYY.fullmatch(ddmmyy)):
        raise _Bad(Reason.BAD_TIME, f"time {hhmmss!r} date {ddmmyy!r}")
    try:
        fix_time = report_time(hhmmss, ddmmyy)
    except ValueError as exc:
        raise _Bad(Reason.BAD_TIME, f"time {hhmmss} date {ddmmyy}") from exc
    attributes: dict[str, Any] = {}
    status_at = date_at + (4 if command == "V19" else 1)  # V19: SIM and IP fields first
    if status_at < len(fields) and _STATUS.fullmatch(fields[status_at]):
        attributes.update(status_attributes(int(fields[status_at], 16)))
        extra = [value.strip() for value in fields[status_at + 1 :]]
        if any(extra):
            attributes["io"] = {str(i): value for i, value in enumerate(extra, 1) if value}
    return FixFields(
        fix_time=fix_time,
        lat=lat,
        lon=lon,
        speed_kmh=float(speed) * KNOTS_TO_KMH if speed else None,
        course=float(course) if course else None,
        valid=_valid(validity),
        attributes=attributes,
    )


def _valid(validity: str) -> bool:
    """A = valid; V, B or empty = invalid; a numeric coding scheme instead counts as valid (Traccar)."""
    if validity in ("A", "V", "B", ""):
        return validity == "A"
    if validity.isdigit():
        return True
    raise _Bad(Reason.BAD_FRAME, f"validity {validity[:8]!r}")


def _coordinate(text: str, hemisphere: str, positive: str, negative: str) -> float:
    """Degrees from `ddmm.mmmm`, `-dd-mm.mmmm`, `mm.mmmm` (minutes only) or `ddmmmmmm` (no dot)."""
    if hemisphere not in (positive, negative):
        raise _Bad(Reason.BAD_FRAME, f"hemisphere {hemisphere[:4]!r}")
    for form in _COORDINATE_FORMS:
        match = form.fullmatch(text)
        if match:
            degrees, minutes = int(match[1] or 0), float(match[2])
            break
    else:
        match = _NO_DOT.fullmatch(text)
        if match is None:
            raise _Bad(Reason.BAD_FRAME, f"coordinate {text[:16]!r}")
        degrees, minutes = int(match[1]), int(match[2]) + int(match[3]) / 10_000
    if minutes >= 60:
        raise _Bad(Reason.BAD_FRAME, f"coordinate {text!r}: {minutes} minutes")
    value = degrees + minutes / 60
    return -value if hemisphere == negative else value
