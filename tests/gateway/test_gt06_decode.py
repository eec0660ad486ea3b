"""GT06 decoding on real captures, field by field, and the replies byte by byte."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.decoded import FixFields
from gateway.protocols.gt06 import (
    Gt06Frame,
    Location,
    Login,
    Status,
    TimeRequest,
    Unsupported,
    crc16_x25,
    decode,
    encode_reply,
    encode_time_reply,
    parse_frame,
)
from gateway.refusals import Reason, Refusal

# Unless noted, captures come from traccar/traccar src/test/java/org/traccar/protocol/Gt06ProtocolDecoderTest.java.


def frame_of(hex_capture: str) -> Gt06Frame:
    frame = parse_frame(bytes.fromhex(hex_capture))
    assert not isinstance(frame, Refusal)
    return frame


def fix_of(hex_capture: str, offset_min: int = 0) -> FixFields:
    message = decode(frame_of(hex_capture), offset_min)
    assert isinstance(message, Location)
    assert isinstance(message.item, FixFields), message.item
    return message.item


def test_login_with_imei_and_serial() -> None:
    frame = frame_of("78780D01012345678901234500018CDD0D0A")
    assert frame.checksum_ok and frame.serial == 1
    assert decode(frame) == Login(imei="123456789012345")


def test_login_with_type_and_time_zone_west() -> None:
    # Also in traccar/traccar issue #604: this device (GMT-4) then sends local times, hence the shift.
    frame = frame_of("787811010864717003664467100f190a0002c6d20d0a")
    assert frame.checksum_ok and frame.serial == 2
    # 0x190A: 0x190 = 400 -> 4 h 00, bit 3 set -> west.
    assert decode(frame) == Login(imei="864717003664467", type_id=0x100F, utc_offset_min=-240)


def test_login_with_time_zone_east() -> None:
    # Traccar's capture carries a wrong CRC (it is refused in strict mode); the layout is what matters here.
    frame = frame_of("787811010123456789012345100B3201000171930D0A")
    assert not frame.checksum_ok
    assert decode(frame) == Login(imei="123456789012345", type_id=0x100B, utc_offset_min=480)


def test_location_0x22_buffered_fix() -> None:
    fix = fix_of("787822220F0C1D023305C9027AC8180C46586000140001CC00287D001F71000001000820860D0A")
    assert fix.fix_time == datetime(2015, 12, 29, 2, 51, 5, tzinfo=UTC)
    assert fix.lat == pytest.approx(0x027AC818 / 1_800_000)  # 23.11169 N
    assert fix.lon == pytest.approx(0x0C465860 / 1_800_000)  # 114.40930 E
    assert fix.satellites == 9
    assert fix.speed_kmh == 0.0 and fix.course == 0.0
    assert fix.valid is True
    assert fix.backlog is True  # re-upload flag 01
    assert fix.attributes == {
        "cell": {"mcc": 460, "mnc": 0, "lac": 0x287D, "cid": 0x1F71},
        "ignition": False,
        "upload_mode": 0,
    }


def test_location_0x22_south_west_with_acc_on() -> None:
    fix = fix_of("787822220e0914160f07c9021a362805090a7800d8b802d402c30e00a98a0105010213f4bb0d0a")
    assert fix.fix_time == datetime(2014, 9, 20, 22, 15, 7, tzinfo=UTC)
    assert fix.lat == pytest.approx(-19.595684, abs=1e-6)  # bit 10 clear: south
    assert fix.lon == pytest.approx(-46.932547, abs=1e-6)  # bit 11 set: west
    assert fix.course == 184.0 and fix.valid is True and fix.backlog is True
    assert fix.attributes is not None
    assert fix.attributes["ignition"] is True and fix.attributes["upload_mode"] == 5
    assert fix.attributes["cell"] == {"mcc": 724, "mnc": 2, "lac": 0xC30E, "cid": 0xA98A}


def test_location_0x22_not_positioned_is_an_invalid_fix() -> None:
    fix = fix_of("787822221106160a1016c60278019407c7783800040001940504700046fc01030100065f570d0a")
    assert fix.fix_time == datetime(2017, 6, 22, 10, 16, 22, tzinfo=UTC)
    assert fix.valid is False  # course/status 0x0400: bit 12 clear
    assert fix.backlog is True
    assert fix.attributes is not None and fix.attributes["ignition"] is True


def test_location_0x22_live_fix() -> None:
    fix = fix_of("78782222120616083817c5050cc8c801a819d600152400e8011dbf003332000000004862500d0a")
    assert fix.fix_time == datetime(2018, 6, 22, 8, 56, 23, tzinfo=UTC)
    assert fix.lat == pytest.approx(47.068840, abs=1e-6) and fix.lon == pytest.approx(0x01A819D6 / 1_800_000)
    assert fix.course == 292.0 and fix.satellites == 5 and fix.backlog is False


def test_location_0x12_matches_traccars_expected_values() -> None:
    # Traccar's test expects 2015-10-20 14:21:11, valid, 54.94535, 24.01762.
    fix = fix_of("78781f120f0a140e150bc505e51e780293a9e800540000f601006e0055da00035f240d0a")
    assert fix.fix_time == datetime(2015, 10, 20, 14, 21, 11, tzinfo=UTC)
    assert fix.valid is True
    assert fix.lat == pytest.approx(54.94535, abs=1e-5) and fix.lon == pytest.approx(24.01762, abs=1e-5)
    assert fix.attributes == {"ignition": False, "cell": {"mcc": 246, "mnc": 1, "lac": 110, "cid": 0x55DA}}


def test_location_0x10_gps_only_with_reserved_bytes() -> None:
    fix = fix_of("787819100B031A0B1B31CC027AC7FD0C4657BF0115210001001CC6070D0A")
    assert fix.fix_time == datetime(2011, 3, 26, 11, 27, 49, tzinfo=UTC)
    assert fix.satellites == 12 and fix.speed_kmh == 1.0 and fix.course == 289.0
    assert fix.lat == pytest.approx(0x027AC7FD / 1_800_000) and fix.attributes == {}


def test_login_time_zone_shifts_gps_times_to_utc() -> None:
    fix = fix_of("78781f120f0a140e150bc505e51e780293a9e800540000f601006e0055da00035f240d0a", 480)
    assert fix.fix_time == datetime(2015, 10, 20, 6, 21, 11, tzinfo=UTC)


def test_alarm_0x16_overspeed_with_status() -> None:
    fix = fix_of("78782516110819110208d402f264dc08289a4058d4c70901944600d300c0954606040600014057e90d0a")
    assert fix.fix_time == datetime(2017, 8, 25, 17, 2, 8, tzinfo=UTC)
    assert fix.speed_kmh == 88.0 and fix.course == 199.0 and fix.valid is True
    assert fix.attributes == {
        "cell": {"mcc": 404, "mnc": 70, "lac": 0xD3, "cid": 0xC095},
        "status": 0x46,
        "armed": False,
        "ignition": True,
        "charging": True,
        "blocked": False,
        "battery_pct": 100,
        "gsm_signal": 4,
        "alarm_code": 0x06,
        "alarm": "overspeed",
    }


def test_alarm_0x26_vibration() -> None:
    fix = fix_of("7878252612030C063816C3026C10540C38C9700144030901CC002866000EEE0C06040302000DA2DB0D0A")
    assert fix.fix_time == datetime(2018, 3, 12, 6, 56, 22, tzinfo=UTC)
    assert fix.valid is False and fix.speed_kmh == 1.0 and fix.course == 3.0
    assert fix.attributes is not None
    assert fix.attributes["alarm"] == "vibration" and fix.attributes["alarm_code"] == 3
    assert fix.attributes["charging"] is True and fix.attributes["ignition"] is False


def test_alarm_0x16_removal_from_the_status_bits_is_tampering() -> None:
    # Traccar: ALARM_REMOVING (terminal information bits 3-5 = 7, alarm byte 00).
    fix = fix_of("7878251613020C12141AC5027951430C2A16F60014000900000000001A00007C550300020002F1E70D0A")
    assert fix.attributes is not None
    assert fix.attributes["alarm"] == "tampering" and "alarm_code" not in fix.attributes
    assert fix.attributes["battery_pct"] == 85  # a level above 6 is a percentage


def test_heartbeat_0x13() -> None:
    frame = frame_of("78780a13c40604000201298f5b0d0a")
    assert frame.checksum_ok and frame.serial == 0x0129
    assert decode(frame) == Status(
        {
            "status": 0xC4,
            "armed": False,
            "ignition": False,
            "charging": True,
            "blocked": True,
            "battery_pct": 100,
            "gsm_signal": 4,
        }
    )


def test_time_request_and_its_reply() -> None:
    frame = frame_of("7878058A000688290D0A")
    assert decode(frame) == TimeRequest()
    reply = encode_time_reply(frame.serial, datetime(2026, 11, 27, 8, 0, 5, tzinfo=UTC))
    # LEN 0B, 8A, 26-11-27 08:00:05, the request's serial 0006, CRC, 0D 0A
    body = bytes.fromhex("0B8A1A0B1B0800050006")
    assert reply == b"\x78\x78" + body + crc16_x25(body).to_bytes(2, "big") + b"\r\n"


def test_acknowledgements_echo_type_and_serial() -> None:
    assert encode_reply(0x01, 1) == bytes.fromhex("787805010001D9DC0D0A")  # PROTOCOLS.md 1.3
    for protocol, serial in ((0x22, 0x0008), (0x13, 0x0129), (0x16, 0x0140)):
        ack = parse_frame(encode_reply(protocol, serial))
        assert not isinstance(ack, Refusal)
        assert (ack.protocol, ack.serial, ack.info, ack.checksum_ok) == (protocol, serial, b"", True)


def test_unknown_types_are_reported_not_decoded() -> None:
    frame = frame_of("78780d1f000000000000000200b196a20d0a")  # 0x1F: time zone / language report
    assert decode(frame) == Unsupported(0x1F)


def test_impossible_date_is_a_bad_time_refusal_of_a_location() -> None:
    message = decode(
        frame_of("78782516000000000000c000000000000000000020000900fa0210ef00fb620006640301000468030d0a")
    )
    assert isinstance(message, Location)
    assert isinstance(message.item, Refusal) and message.item.reason is Reason.BAD_TIME


def test_truncated_location_is_a_refusal() -> None:
    message = decode(Gt06Frame(False, 0x12, bytes(10), 1, 0, 0))
    assert isinstance(message, Location) and isinstance(message.item, Refusal)


@given(st.integers(0, 255), st.binary(max_size=80), st.integers(-720, 720))
def test_any_content_decodes_or_is_refused(protocol: int, info: bytes, offset: int) -> None:
    message = decode(Gt06Frame(False, protocol, info, 1, 0, 0), offset)
    assert isinstance(message, Login | Location | Status | TimeRequest | Unsupported | Refusal)
