"""GT06 framing and CRC on real captures: wrong lengths, garbage, fragments, and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.protocols.gt06 import (
    MAX_FRAME_BYTES,
    Gt06Splitter,
    crc16_x25,
    encode_reply,
    parse_frame,
)
from gateway.refusals import Refusal
from gateway.transports.stream import FrameError

# Captures from traccar/traccar src/test/java/org/traccar/protocol/Gt06ProtocolDecoderTest.java
LOGIN = bytes.fromhex("78780D01012345678901234500018CDD0D0A")
LOCATION_0x22 = bytes.fromhex(
    "787822220F0C1D023305C9027AC8180C46586000140001CC00287D001F71000001000820860D0A"
)
ALARM_0x16 = bytes.fromhex(
    "78782516110819110208d402f264dc08289a4058d4c70901944600d300c0954606040600014057e90d0a"
)
# From traccar/traccar src/test/java/org/traccar/protocol/Gt06FrameDecoderTest.java: LEN 08 where
# the frame holds 0x0A bytes (the "LEN short by two" firmware quirk), and LEN 03 on a WiFi report.
HEARTBEAT_LEN_SHORT = bytes.fromhex("787808134606020002044dc5050d0a")
WIFI_LEN_WRONG = bytes.fromhex(
    "787803691604130318491475905BD30E25001E10BBF7635D14759006E626560501CC0028660F213228660F1F282866"
    "0EA81E286610731428660F20140D0A"
)
# Gt06ProtocolDecoderTest.java: a login whose LEN (0x0D) is longer than the frame (no serial, no CRC).
LOGIN_LEN_LONG = bytes.fromhex("78780d010359339075005244340d0a")
# Gt06ProtocolDecoderTest.java: an extended (79 79) frame with a 2-byte length.
EXTENDED = bytes.fromhex("7979000e941b02084277efef350303eadaed0d0a")

CAPTURES = [LOGIN, LOCATION_0x22, ALARM_0x16, HEARTBEAT_LEN_SHORT, WIFI_LEN_WRONG, LOGIN_LEN_LONG, EXTENDED]


def split_all(data: bytes, chunk: int | None = None) -> tuple[list[bytes], int, bytearray]:
    splitter = Gt06Splitter()
    buffer, frames = bytearray(), []
    step = chunk or len(data) or 1
    for at in range(0, len(data), step):
        buffer += data[at : at + step]
        frames += splitter.split(buffer)
    return frames, splitter.skipped, buffer


def test_crc_x25_check_value() -> None:
    # PROTOCOLS.md 1.1: the body 05 01 00 01 gives D9DC; the standard check value of "123456789" is 906E.
    assert crc16_x25(bytes.fromhex("05010001")) == 0xD9DC
    assert crc16_x25(b"123456789") == 0x906E


@pytest.mark.parametrize("capture", [LOGIN, LOCATION_0x22, ALARM_0x16, HEARTBEAT_LEN_SHORT, EXTENDED])
def test_real_frames_have_a_valid_crc(capture: bytes) -> None:
    frame = parse_frame(capture)
    assert not isinstance(frame, Refusal)
    assert frame.checksum_ok


def test_login_ack_byte_by_byte() -> None:
    # PROTOCOLS.md 1.3: IMEI 123456789012345 with serial 1 is acknowledged with this frame.
    assert encode_reply(0x01, 1) == bytes.fromhex("787805010001D9DC0D0A")
    assert encode_reply(0x01, 1, extended=True) == bytes.fromhex("79790005010001") + crc_tail("0005010001")


def crc_tail(body_hex: str) -> bytes:
    return crc16_x25(bytes.fromhex(body_hex)).to_bytes(2, "big") + b"\r\n"


def test_each_capture_is_one_frame_whatever_its_declared_length() -> None:
    for capture in CAPTURES:
        frames, skipped, rest = split_all(capture)
        assert frames == [capture], capture.hex()
        assert skipped == 0 and not rest


def test_a_stream_of_captures_in_any_chunking_gives_the_same_frames() -> None:
    stream = b"".join(CAPTURES)
    for chunk in (1, 2, 3, 7, 16, 64, len(stream)):
        frames, skipped, rest = split_all(stream, chunk)
        assert frames == CAPTURES, chunk
        assert skipped == 0 and not rest


def test_garbage_before_and_between_frames_is_skipped_and_counted() -> None:
    garbage = b"\x00\x01GET / HTTP/1.0\r\n\x78"
    frames, skipped, rest = split_all(garbage + LOGIN + b"\xff\xfe" + LOCATION_0x22)
    assert frames == [LOGIN, LOCATION_0x22]
    assert skipped == len(garbage) + 2
    assert not rest


def test_a_partial_frame_waits_for_the_rest() -> None:
    splitter = Gt06Splitter()
    buffer = bytearray(LOCATION_0x22[:20])
    assert splitter.split(buffer) == []
    assert bytes(buffer) == LOCATION_0x22[:20]
    buffer += LOCATION_0x22[20:]
    assert splitter.split(buffer) == [LOCATION_0x22]


def test_skipped_bytes_are_reported_as_they_are_skipped() -> None:
    reported: list[int] = []
    splitter = Gt06Splitter(on_skip=reported.append)
    buffer = bytearray(b"\x01\x02\x03")
    assert splitter.split(buffer) == []
    assert reported == [3] and not buffer


def test_a_start_marker_never_followed_by_a_frame_end_is_a_framing_error() -> None:
    splitter = Gt06Splitter()
    buffer = bytearray(b"\x78\x78\x10" + b"\x00" * (MAX_FRAME_BYTES + 10))
    with pytest.raises(FrameError):
        splitter.split(buffer)


def test_short_and_odd_frames_are_refused_by_the_parser_not_the_splitter() -> None:
    frames, _, _ = split_all(bytes.fromhex("787801080d0a"))  # Gt06ProtocolDecoderTest.java
    assert len(frames) == 1
    assert isinstance(parse_frame(frames[0]), Refusal)
    frame = parse_frame(LOGIN_LEN_LONG)  # no room for serial and CRC: the CRC cannot match
    assert isinstance(frame, Refusal) or not frame.checksum_ok


@given(st.binary(max_size=600))
def test_random_bytes_never_raise_anything_but_frame_error(data: bytes) -> None:
    splitter = Gt06Splitter()
    buffer = bytearray(data)
    try:
        frames = splitter.split(buffer)
    except FrameError:
        return
    consumed = sum(len(f) for f in frames) + splitter.skipped
    assert consumed + len(buffer) == len(data)
    for frame in frames:
        parse_frame(frame)  # never raises


@given(st.lists(st.sampled_from(CAPTURES), min_size=1, max_size=6), st.binary(max_size=40), st.data())
def test_captures_after_garbage_are_all_recovered(
    frames: list[bytes], garbage: bytes, data: st.DataObject
) -> None:
    # Garbage without a start marker or a frame end, so that it cannot be mistaken for a frame.
    garbage = garbage.replace(b"\x78", b"").replace(b"\x79", b"").replace(b"\r", b"")
    chunk = data.draw(st.integers(1, 50))
    got, skipped, rest = split_all(garbage + b"".join(frames), chunk)
    assert got == frames
    assert skipped == len(garbage) and not rest


@given(st.sampled_from(CAPTURES), st.integers(1, 60))
def test_a_truncated_frame_never_raises(capture: bytes, cut: int) -> None:
    splitter = Gt06Splitter()
    buffer = bytearray(capture[: max(1, len(capture) - cut)])
    for frame in splitter.split(buffer):
        parse_frame(frame)
