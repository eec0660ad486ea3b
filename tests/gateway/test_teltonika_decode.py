"""Teltonika framing and decoding on real captures, field by field, and fuzzed with hypothesis."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.decoded import FixFields
from gateway.protocols.teltonika import (
    Datagram,
    DataPacket,
    Handshake,
    Ping,
    TeltonikaSplitter,
    crc16_arc,
    decode_datagram,
    decode_frame,
    encode_imei_reply,
    encode_record_count,
    encode_udp_ack,
)
from gateway.protocols.teltonika_avl import AvlData, AvlError, AvlRecord, decode_avl, fixes_of, to_fix_fields
from gateway.refusals import Reason, Refusal
from gateway.transports.stream import FrameError
from tests.gateway.teltonika_captures import (
    CAPTURES,
    IMEI_TRACCAR,
    IMEI_WIKI,
    TRACCAR_8_NEWEST_FIRST,
    TRACCAR_8_ONE,
    TRACCAR_8E_ALARM,
    TRACCAR_8E_VIN,
    TRACCAR_12,
    TRACCAR_16_BAD_CRC,
    TRACCAR_16_ONE,
    TRACCAR_UDP,
    TRACCAR_ZERO_LENGTH,
    WIKI_8_ONE,
    WIKI_8_TWO,
    WIKI_8E,
    WIKI_16,
    WIKI_UDP,
)


def packet(capture: str) -> DataPacket:
    message = decode_frame(bytes.fromhex(capture))
    assert isinstance(message, DataPacket)
    return message


def fixes(capture: str) -> list[FixFields]:
    items = fixes_of(decode_avl(packet(capture).avl))
    assert all(isinstance(i, FixFields) for i in items)
    return items  # type: ignore[return-value]


def utc(year: int, month: int, day: int, hour: int, minute: int, second: int, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def test_crc16_arc_check_value_and_every_capture() -> None:
    assert crc16_arc(b"123456789") == 0xBB3D  # the catalogue check value of CRC-16/ARC
    for capture in CAPTURES:
        assert packet(capture).checksum_ok, capture[:40]
    bad = packet(TRACCAR_16_BAD_CRC)
    assert not bad.checksum_ok
    assert (bad.crc_sent, bad.crc_computed) == (0x09A5, crc16_arc(bad.avl))


def test_imei_handshakes() -> None:
    assert decode_frame(bytes.fromhex(IMEI_TRACCAR)) == Handshake("123456789012345")
    assert decode_frame(bytes.fromhex(IMEI_WIKI)) == Handshake("356307042441013")
    assert encode_imei_reply(True) == b"\x01"
    assert encode_imei_reply(False) == b"\x00"
    assert decode_frame(b"\xff") == Ping()


def test_wiki_codec8_record_field_by_field() -> None:
    data = decode_avl(packet(WIKI_8_ONE).avl)
    assert (data.codec, data.count) == (0x08, 1)
    (f,) = fixes(WIKI_8_ONE)
    assert f.fix_time == utc(2019, 6, 10, 10, 4, 46)  # 0x16B40D8EA30 = 1560161086000 ms
    assert (f.lat, f.lon, f.altitude_m, f.course, f.speed_kmh, f.satellites) == (0, 0, 0, 0, 0, 0)
    assert f.valid is False  # 0 satellites: no fix
    assert f.backlog is False
    assert f.attributes == {
        "priority": 1,
        "event": 1,
        "gsm_signal": 3,  # IO 21 = 03
        "din1": True,  # IO 1 = 01
        "power_v": 24.079,  # IO 66 = 0x5E0F mV
        "io": {"241": 0x601A, "78": 0},  # operator code, iButton
    }
    assert encode_record_count(data.count) == bytes.fromhex("00000001")


def test_wiki_codec8_two_records_are_backlog() -> None:
    first, second = fixes(WIKI_8_TWO)
    assert (first.fix_time, second.fix_time) == (utc(2019, 6, 10, 10, 1, 1), utc(2019, 6, 10, 10, 1, 19))
    assert first.backlog and second.backlog
    assert (first.attributes or {})["din1"] is False
    assert (second.attributes or {})["din1"] is True
    assert encode_record_count(2) == bytes.fromhex("00000002")


def test_wiki_codec8_extended_two_byte_ids() -> None:
    (f,) = fixes(WIKI_8E)
    assert f.fix_time == utc(2019, 6, 10, 11, 36, 32)
    assert f.attributes == {
        "priority": 1,
        "event": 1,
        "din1": True,
        "odometer_m": 0x015E2C88,  # IO 16, 4 bytes
        "io": {"17": 0x1D, "11": 0x3544C87A, "14": 0x1DD7E06A},  # axis X, ICCID parts
    }


def test_wiki_codec16_generation_type() -> None:
    first, second = fixes(WIKI_16)
    assert first.fix_time == utc(2019, 7, 10, 12, 6, 54)
    assert second.fix_time == utc(2019, 7, 10, 12, 6, 55)
    assert first.attributes == {
        "priority": 0,
        "event": 11,  # 2-byte event id 0x000B
        "generation": 5,
        "din1": False,
        "din3": False,
        "power_v": 22.074,  # IO 66 = 0x563A mV
        "io": {"11": 0x27},
    }
    assert (second.attributes or {})["io"] == {"11": 0x26}


def test_traccar_codec8_moving_vehicle() -> None:
    (f,) = fixes(TRACCAR_8_ONE)
    assert f.fix_time == utc(2017, 9, 25, 3, 17, 54)
    assert (f.lat, f.lon) == (56.8255366, 60.4544333)
    assert (f.altitude_m, f.course, f.satellites, f.speed_kmh) == (311, 95, 18, 95)
    assert f.valid and not f.backlog
    assert f.hdop == 0.6
    attrs = f.attributes or {}
    assert attrs["ignition"] is True and attrs["motion"] is True
    assert (attrs["gsm_signal"], attrs["pdop"], attrs["hdop"]) == (3, 1.1, 0.6)
    assert (attrs["power_v"], attrs["battery_v"]) == (14.375, 3.927)
    assert attrs["io"] == {"80": 1, "200": 0, "69": 1, "24": 95, "205": 1402, "206": 6611, "68": 0}
    assert "alarm" not in attrs


def test_traccar_codec8_newest_first_kept_in_device_order() -> None:
    items = fixes(TRACCAR_8_NEWEST_FIRST)
    assert [f.fix_time for f in items] == [
        utc(2022, 3, 28, 4, 53, 34, 230000),
        utc(2022, 3, 28, 4, 52, 53, 270000),
        utc(2021, 6, 4, 3, 19, 23, 160000),
    ]
    assert all(f.backlog and f.valid for f in items)
    oldest = items[2]
    assert (oldest.lat, oldest.lon, oldest.speed_kmh, oldest.course) == (24.893493, 67.0457151, 97, 241)
    assert (oldest.attributes or {})["trip_odometer_m"] == 327  # IO 199


def test_traccar_codec8_extended_variable_length_elements() -> None:
    (f,) = fixes(TRACCAR_8E_VIN)
    assert f.fix_time == utc(2021, 4, 8, 10, 52, 26)
    assert (f.lat, f.lon, f.speed_kmh, f.course, f.satellites) == (52.0296716, 6.7877833, 19, 225, 19)
    attrs = f.attributes or {}
    assert attrs["odometer_m"] == 41397 and attrs["ignition"] is True
    assert bytes.fromhex(attrs["io"]["256"]) == b"WV1ZZZ2EZ86015388"  # VIN
    assert bytes.fromhex(attrs["io"]["281"]).startswith(b"P0299,P0675")  # DTCs


def test_traccar_codec8_extended_alarm_without_fix() -> None:
    first, second = fixes(TRACCAR_8E_ALARM)
    assert (first.lat, first.lon) == (-33.9656016, 18.8357883)  # last known position, repeated
    assert not first.valid and first.backlog
    assert (first.attributes or {})["alarm"] == "general"  # IO 236 = 1
    assert (first.attributes or {})["priority"] == 1
    assert "alarm" not in (second.attributes or {})


def test_traccar_codec16_negative_coordinates() -> None:
    (f,) = fixes(TRACCAR_16_ONE)
    assert f.fix_time == utc(2018, 7, 26, 20, 43, 43)
    assert (f.lat, f.lon, f.altitude_m, f.course, f.satellites) == (-33.4379166, -70.64967, 571, 282, 6)


def test_panic_priority_is_an_sos_alarm() -> None:
    record = AvlRecord(1_700_000_000_000, 2, 1082000000, 160500000, 5, 90, 9, 40, 236, None, {236: 1})
    fields = to_fix_fields(record, backlog=False)
    assert isinstance(fields, FixFields)
    assert (fields.attributes or {})["alarm"] == "sos"
    assert (fields.lat, fields.lon) == (16.05, 108.2)


def test_absurd_timestamp_is_a_refusal() -> None:
    record = AvlRecord(2**64 - 1, 0, 0, 0, 0, 0, 0, 0, 0, None, {})
    refusal = to_fix_fields(record, backlog=False)
    assert isinstance(refusal, Refusal) and refusal.reason == Reason.BAD_TIME


def test_record_count_mismatch_and_unsupported_codec_are_refused() -> None:
    # The wiki packet with N2 = 02, as in the C# Codec8DecoderTests "NumberOfDataMismatch" case.
    mismatch = bytes.fromhex(WIKI_8_ONE[:-10] + "020000C7CF")
    with pytest.raises(AvlError, match="N1 1, N2 2"):
        decode_avl(packet(mismatch.hex()).avl)
    with pytest.raises(AvlError, match="unsupported codec 12"):
        decode_avl(packet(TRACCAR_12).avl)


def test_udp_captures_and_acknowledgements() -> None:
    traccar = decode_datagram(bytes.fromhex(TRACCAR_UDP))
    assert isinstance(traccar, Datagram)
    assert (traccar.packet_id, traccar.avl_packet_id, traccar.imei) == (0xCAFE, 0x22, "357454072713975")
    (f,) = fixes_of(decode_avl(traccar.avl))
    assert isinstance(f, FixFields)
    assert f.fix_time == utc(2017, 7, 12, 15, 24, 41)
    assert (f.lat, f.lon, f.altitude_m, f.course, f.satellites, f.speed_kmh) == (
        51.630115,
        0.4124566,
        99,
        109,
        9,
        49,
    )
    wiki = decode_datagram(bytes.fromhex(WIKI_UDP))
    assert isinstance(wiki, Datagram)
    assert (wiki.packet_id, wiki.avl_packet_id, wiki.imei) == (0xCAFE, 0x05, "352093086403655")
    assert encode_udp_ack(wiki.packet_id, wiki.avl_packet_id, 1) == bytes.fromhex("0005CAFE010501")
    truncated = decode_datagram(bytes.fromhex(TRACCAR_UDP)[:-5])
    assert isinstance(truncated, Refusal) and truncated.reason == Reason.BAD_FRAME


# --- Framing


def split_all(data: bytes, splitter: TeltonikaSplitter | None = None) -> tuple[list[bytes], bytearray]:
    splitter = splitter or TeltonikaSplitter()
    buffer = bytearray(data)
    return splitter.split(buffer), buffer


def test_traccar_frame_decoder_cases() -> None:
    frames, rest = split_all(bytes.fromhex("FF" + IMEI_TRACCAR))
    assert frames == [b"\xff", bytes.fromhex(IMEI_TRACCAR)] and not rest


def test_a_session_stream_is_cut_into_its_frames() -> None:
    stream = bytes.fromhex(IMEI_WIKI + WIKI_8_ONE + "FF" + TRACCAR_8E_VIN)
    frames, rest = split_all(stream)
    assert [f.hex().upper() for f in frames] == [IMEI_WIKI, WIKI_8_ONE, "FF", TRACCAR_8E_VIN.upper()]
    assert not rest


def test_garbage_is_skipped_and_counted() -> None:
    counted: list[int] = []
    splitter = TeltonikaSplitter(on_skip=counted.append)
    garbage = b"GET / HTTP/1.1\r\n\r\n"
    frames, rest = split_all(garbage + bytes.fromhex(WIKI_8_ONE), splitter)
    assert frames == [bytes.fromhex(WIKI_8_ONE)] and not rest
    assert sum(counted) == splitter.skipped == len(garbage)


def test_zero_length_packet_is_garbage_not_a_frame() -> None:
    splitter = TeltonikaSplitter()
    frames, _ = split_all(bytes.fromhex(TRACCAR_ZERO_LENGTH), splitter)
    assert all(f == b"\xff" for f in frames)  # nothing but the FF bytes inside it
    assert splitter.skipped > 0


def test_absurd_length_cannot_be_framed() -> None:
    with pytest.raises(FrameError, match="length"):
        split_all(bytes.fromhex("00000000FFFFFFFF08"))


@given(st.data())
def test_any_chunking_gives_the_same_frames(data: st.DataObject) -> None:
    stream = bytes.fromhex(IMEI_TRACCAR + TRACCAR_8_NEWEST_FIRST + "FF" + WIKI_16 + TRACCAR_16_ONE)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    splitter, buffer, frames = TeltonikaSplitter(), bytearray(), []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        buffer += stream[start:end]
        frames += splitter.split(buffer)
    assert b"".join(frames) == stream and not buffer and splitter.skipped == 0


@given(st.binary(max_size=600))
def test_random_bytes_never_raise_but_frame_errors(blob: bytes) -> None:
    splitter = TeltonikaSplitter()
    buffer = bytearray(blob)
    try:
        frames = splitter.split(buffer)
    except FrameError:
        return
    for frame in frames:
        message = decode_frame(frame)
        if isinstance(message, DataPacket):
            try_decode(message.avl)


def try_decode(avl: bytes) -> None:
    try:
        data = decode_avl(avl)
    except AvlError:
        return
    assert isinstance(data, AvlData)
    for item in fixes_of(data):
        assert isinstance(item, FixFields | Refusal)


@given(st.sampled_from(CAPTURES), st.data())
def test_truncated_and_corrupted_captures(capture: str, data: st.DataObject) -> None:
    raw = bytes.fromhex(capture)
    cut = data.draw(st.integers(0, len(raw) - 1))
    frames, _ = split_all(raw[:cut])  # a prefix is an incomplete frame: wait for the rest
    assert frames == [] or all(f == b"\xff" for f in frames)
    position = data.draw(st.integers(8, len(raw) - 5))
    value = data.draw(st.integers(0, 255))
    corrupted = raw[:position] + bytes([value]) + raw[position + 1 :]
    message = decode_frame(corrupted)
    assert isinstance(message, DataPacket)
    try_decode(message.avl)
    assert message.checksum_ok == (value == raw[position])  # CRC-16 catches any one-byte error


@given(st.binary(max_size=300))
def test_random_datagrams_never_raise(blob: bytes) -> None:
    result = decode_datagram(blob)
    if isinstance(result, Datagram):
        try_decode(result.avl)
    else:
        assert result.reason == Reason.BAD_FRAME


@given(st.binary(min_size=3, max_size=400), st.sampled_from([0x08, 0x8E, 0x10]))
def test_random_avl_data_raises_only_avl_errors(body: bytes, codec: int) -> None:
    try_decode(bytes([codec]) + body)
