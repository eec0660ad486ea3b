"""H02 framing on real captures: text and binary frames, the learned binary length, garbage, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.protocols.h02 import H02Splitter, decode
from gateway.transports.stream import FrameError

# Captures from traccar/traccar src/test/java/org/traccar/protocol/H02FrameDecoderTest.java
TEXT_CRLF = bytes.fromhex(
    "2a48512c3335353438383032303131333931312c56312c3031323934352c412c353233312e37393238332c4e2c30313332342e"
    "31303731382c452c302e30352c302c3137303231372c4646464646464646230d0a"
)
BINARY_32 = bytes.fromhex("2441060116601245431311165035313006004318210e000000fffffbffff0024")
TEXT_AFTER_BINARY = bytes.fromhex(
    "2a48512c343130363031313636302c56312c3132343535322c412c353033352e333132392c4e2c30303433312e383231312c452c"
    "3030302e32302c3030302c3133313131362c464646464642464623"
)
BINARY_45 = bytes.fromhex(
    "24410600082621532131081504419390060740418306000000fffffbfdff0015060000002c02dc0c000000001f"
)
NBR = bytes.fromhex(
    "2a48512c343230363131393133302c4e42522c3130323430332c3233382c312c302c372c313131312c323236342c36332c3131"
    "31312c323236352c35382c313131312c323236362c35302c313131312c333133352c33372c313131312c3630352c33332c3131"
    "31312c343932302c33302c313131312c3630372c32382c3131303131372c46464646444646462c3623"
)


def split(data: bytes, splitter: H02Splitter | None = None, chunk: int | None = None) -> list[bytes]:
    splitter = splitter or H02Splitter()
    buffer, frames = bytearray(), []
    step = chunk or len(data) or 1
    for at in range(0, len(data), step):
        buffer += data[at : at + step]
        frames += splitter.split(buffer)
    return frames


def test_text_frame_ends_at_hash_and_the_crlf_is_dropped() -> None:
    splitter = H02Splitter()
    buffer = bytearray(TEXT_CRLF)
    assert splitter.split(buffer) == [TEXT_CRLF[:-2]]
    assert not buffer and splitter.skipped == 0


def test_binary_then_text_in_one_read_learns_the_short_length() -> None:
    splitter = H02Splitter()
    assert split(BINARY_32 + TEXT_AFTER_BINARY, splitter) == [BINARY_32, TEXT_AFTER_BINARY]
    assert splitter.message_length == 32


def test_a_lone_long_frame_learns_the_long_length_and_keeps_it() -> None:
    splitter = H02Splitter()
    assert split(BINARY_45, splitter) == [BINARY_45]
    assert splitter.message_length == 45
    assert split(BINARY_45 + NBR + BINARY_45, splitter, chunk=7) == [BINARY_45, NBR, BINARY_45]


def test_a_configured_length_is_used_from_the_first_frame() -> None:
    splitter = H02Splitter(message_length=45)
    buffer = bytearray(BINARY_45[:32])
    assert splitter.split(buffer) == []  # 32 bytes of a 45-byte frame: wait for the rest
    buffer += BINARY_45[32:]
    assert splitter.split(buffer) == [BINARY_45]


def test_a_long_frame_trickling_in_is_not_cut_at_32_bytes() -> None:
    assert split(BINARY_45 + TEXT_AFTER_BINARY, chunk=5) == [BINARY_45, TEXT_AFTER_BINARY]


def test_garbage_is_skipped_and_counted() -> None:
    reported: list[int] = []
    splitter = H02Splitter(on_skip=reported.append)
    garbage = b"\x00\x01hello\r\n"
    assert split(garbage + NBR + b"\xff" + TEXT_AFTER_BINARY, splitter) == [NBR, TEXT_AFTER_BINARY]
    assert splitter.skipped == sum(reported) == len(garbage) + 1


def test_a_star_that_starts_no_sentence_is_garbage() -> None:
    splitter = H02Splitter()
    assert split(b"*\x00\x01" + NBR, splitter) == [NBR]
    assert splitter.skipped == 3


def test_an_endless_sentence_is_a_framing_error() -> None:
    with pytest.raises(FrameError):
        H02Splitter().split(bytearray(b"*HQ," + b"1" * 2000))


def test_implausible_configured_length_is_rejected() -> None:
    with pytest.raises(ValueError, match="not plausible"):
        H02Splitter(message_length=5)


@given(st.binary(max_size=400))
def test_random_bytes_never_raise_anything_but_frame_error(data: bytes) -> None:
    splitter = H02Splitter()
    buffer = bytearray(data)
    try:
        frames = splitter.split(buffer)
    except FrameError:
        return
    for frame in frames:
        decode(frame)  # never raises


@given(st.lists(st.sampled_from([NBR, TEXT_AFTER_BINARY, BINARY_32]), max_size=6), st.integers(1, 40))
def test_any_chunking_gives_the_same_frames(frames: list[bytes], chunk: int) -> None:
    assert split(b"".join(frames), chunk=chunk) == frames


@given(st.text(alphabet="*$#,.0123456789ABCDEFHQNSWV", max_size=200))
def test_sentence_like_noise_decodes_or_is_refused(text: str) -> None:
    for frame in split(text.encode()):
        decode(frame)
