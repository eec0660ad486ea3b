"""H02 decoding on real captures, field by field: every coordinate form, status alarms, replies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.decoded import FixFields
from gateway.protocols.h02 import (
    CellReport,
    Heartbeat,
    Other,
    Report,
    decode,
    encode_heartbeat_reply,
    encode_v4_reply,
)
from gateway.protocols.h02_messages import status_attributes
from gateway.refusals import Reason, Refusal

# Captures from traccar/traccar src/test/java/org/traccar/protocol/H02ProtocolDecoderTest.java unless noted.


def report(capture: str | bytes) -> Report:
    message = decode(capture.encode() if isinstance(capture, str) else capture)
    assert isinstance(message, Report), message
    return message


def fix(capture: str | bytes) -> FixFields:
    item = report(capture).item
    assert isinstance(item, FixFields), item
    return item


def test_v1_matches_traccars_expected_values() -> None:
    # Traccar's test expects 2015-12-22 16:45:49, valid, 9.93978, -84.11178.
    r = report("*HQ,4210051415,V1,164549,A,0956.3869,N,08406.7068,W,000.00,000,221215,FFFFFBFF,712,01,0,0,6#")
    assert (r.device_id, r.command) == ("4210051415", "V1")
    f = r.item
    assert isinstance(f, FixFields)
    assert f.fix_time == datetime(2015, 12, 22, 16, 45, 49, tzinfo=UTC)
    assert f.valid is True
    assert f.lat == pytest.approx(9 + 56.3869 / 60) and f.lon == pytest.approx(-(84 + 6.7068 / 60))
    assert (f.speed_kmh, f.course) == (0.0, 0.0)
    assert f.attributes == {
        "status": 0xFFFFFBFF,
        "ignition": False,  # bit 10 clear
        "io": {"1": "712", "2": "01", "3": "0", "4": "0", "5": "6"},
    }


def test_negative_dash_form_and_knots() -> None:
    # Traccar expects 2015-03-07 03:01:49, valid, -23.48349, -46.85975.
    f = fix("*HQ,1451316409,V1,030149,A,-23-29.0095,S,-46-51.5852,W,2.4,065,070315,FFFFFFFF#")
    assert f.fix_time == datetime(2015, 3, 7, 3, 1, 49, tzinfo=UTC)
    assert f.lat == pytest.approx(-23.48349, abs=1e-5) and f.lon == pytest.approx(-46.85975, abs=1e-5)
    assert f.speed_kmh == pytest.approx(2.4 * 1.852) and f.course == 65.0
    assert f.attributes == {"status": 0xFFFFFFFF, "ignition": True}


def test_empty_validity_is_an_invalid_fix() -> None:
    # Traccar expects 2015-10-03 05:04:18, not valid, 28.46021, 77.06414.
    f = fix("*HQ,355488020119695,V1,050418,,2827.61232,N,07703.84822,E,0.00,0,031015,FFFEFBFF#")
    assert f.valid is False
    assert f.lat == pytest.approx(28.46021, abs=1e-5) and f.lon == pytest.approx(77.06414, abs=1e-5)


def test_coordinates_without_a_dot() -> None:
    f = fix("*HQ,5905101893,V1,105759,A,37573392,S,145037022,E,000.00,173,280122,FF7FFBFF,,,9059e2c,8232,4#")
    assert f.lat == pytest.approx(-(37 + 57.3392 / 60)) and f.lon == pytest.approx(145 + 3.7022 / 60)
    assert f.fix_time == datetime(2022, 1, 28, 10, 57, 59, tzinfo=UTC) and f.course == 173.0


def test_short_degree_fields() -> None:
    f = fix(
        "*HQ,354188045498669,V1,195200,A,701.8915,S,3450.3399,W,0.00,205.70,050213,ffffffff,000243,000000,000000#"
    )
    assert f.lat == pytest.approx(-(7 + 1.8915 / 60)) and f.lon == pytest.approx(-(34 + 50.3399 / 60))
    assert f.course == 205.7


def test_minutes_only_coordinate() -> None:
    # PROTOCOLS.md 3.2: `38.6508` = 0 degrees 38.6508 minutes (capture adapted from the V1 above).
    f = fix("*HQ,4210051415,V1,164549,A,38.6508,N,08406.7068,W,000.00,000,221215,FFFFFBFF#")
    assert f.lat == pytest.approx(38.6508 / 60)


def test_space_padded_speed_and_th_manufacturer() -> None:
    f = fix("*HQ,865205035331981,V1,132926,A,1935.3933,N,07920.4134,E,  3.34,342,280519,FFFFFFFF#")
    assert f.speed_kmh == pytest.approx(3.34 * 1.852) and f.course == 342.0
    r = report("*TH,2020916012,V1,050316,A,2212.8745,N,11346.6574,E,14.28,028,220902,FFFFFBFF#\r\n")
    assert r.device_id == "2020916012"


def test_battery_field_before_the_date_and_power_cut_alarm() -> None:
    f = fix("*HQ,4210209006,V1,054048,A,2828.2297,N,07733.4332,E,000.5,047,4,080918,EEE7FBDF,4261193,0#")
    assert f.fix_time == datetime(2018, 9, 8, 5, 40, 48, tzinfo=UTC)
    assert f.attributes is not None
    assert f.attributes["alarm"] == "power_cut"  # bit 19 clear
    assert f.attributes["io"] == {"1": "4261193", "2": "0"}


def test_sos_alarm_and_speed() -> None:
    f = fix(
        "*HQ,353588020068342,V1,084436,A,3257.01525,N,00655.03865,W,57.78,40,011216,FFFBFFFF,25c,a, 154,b04c#"
    )
    assert f.speed_kmh == pytest.approx(107.00856)
    assert f.attributes is not None
    assert f.attributes["alarm"] == "sos" and f.attributes["ignition"] is True  # bit 18 clear, bit 10 set


def test_v19_skips_sim_fields_before_the_status() -> None:
    r = report(
        "*HQ,4109179024,V19,181519,V,3853.2587,S,06205.9175,W,000.00,000,090217,,5492932630888,"
        "8954315265044716555?,FFFFFBFF#"
    )
    assert r.command == "V19" and isinstance(r.item, FixFields)
    assert r.item.valid is False and r.item.attributes == {"status": 0xFFFFFBFF, "ignition": False}


def test_v5_and_v2_variants() -> None:
    v5 = fix(
        "*HQ,9180271064,V5,091233,V,2348.8912,N,09021.3302,E,000.00,000,051219,FFFFBBFF,470,01,21019,2033,2921283#"
    )
    assert v5.fix_time == datetime(2019, 12, 5, 9, 12, 33, tzinfo=UTC)
    v2 = fix(
        "*HQ,353505221264507,V2,100220,0,5238.26259,N,00507.33983,E,0.25,0,280917,FFFFFFFF,cc,28,  db,d75b#"
    )
    assert v2.valid is True  # a numeric coding scheme instead of A/V


def test_v4_command_reply_carries_a_position() -> None:
    r = report(
        "*TH,2020916012,V4,S20,DONE,130305,050316,A,2212.8745,N,11346.6574,E,14.28,028,220902,F7FFFBFF#"
    )
    assert r.command == "V4" and isinstance(r.item, FixFields)
    assert r.item.fix_time == datetime(2002, 9, 22, 5, 3, 16, tzinfo=UTC)


def test_missing_time_and_bad_hemisphere_are_refused_for_a_known_device() -> None:
    r = report("*HQ,353505220873067,V1,,V,4605.75732,N,01430.73863,E,0.00,0,,FFFFFFEF,125,194,  64,d3#")
    assert isinstance(r.item, Refusal) and r.item.reason is Reason.BAD_TIME
    r = report("*HQ,353588020068342,V1,000000,V,0.0000,0,0.0000,0,0.00,0.00,000000,ffffffff,000106,16#")
    assert isinstance(r.item, Refusal) and r.item.reason is Reason.BAD_FRAME


def test_heartbeats() -> None:
    assert decode(b"*HQ,135790246811220,HTBT,100#") == Heartbeat(
        "135790246811220", "HTBT", "*HQ,135790246811220,HTBT", 100
    )
    beat = decode(b"*HQ,135790246811220,HTBT#")
    assert isinstance(beat, Heartbeat) and beat.battery_pct is None
    assert encode_heartbeat_reply(beat.prefix) == b"*HQ,135790246811220,HTBT#"


def test_nbr_and_other_sentences() -> None:
    nbr = (
        "*HQ,4109179024,NBR,103732,722,310,0,6,8106,32010,23,8101,22007,25,8106,12010,23,8106,22105,22,"
        "8101,22012,16,8106,42010,5,100217,FFFFFBFF,5#"
    )
    assert decode(nbr.encode()) == CellReport("4109179024")
    assert decode(b"*HQ,1700086468,LINK,180902,15,0,84,0,0,240517,FFFFFBFF#") == Other("1700086468", "LINK")
    assert isinstance(decode(b"*HQ,4109198974,#"), Refusal)
    assert isinstance(decode(b"*HQ,,V1,173212,A,2225.78879,S,02829.19021,E,0.00,0,290418,FFFFFBFF#"), Refusal)


def test_binary_long_frame_matches_traccars_expected_values() -> None:
    # Traccar expects 2015-08-31 21:53:21, valid, 4.69898, -74.06971.
    r = report(
        bytes.fromhex(
            "24410600082621532131081504419390060740418306000000fffffbfdff0015060000002c02dc0c000000001f"
        )
    )
    assert (r.device_id, r.command) == ("4106000826", "$")
    f = r.item
    assert isinstance(f, FixFields)
    assert f.fix_time == datetime(2015, 8, 31, 21, 53, 21, tzinfo=UTC)
    assert f.valid is True
    assert f.lat == pytest.approx(4.69898, abs=1e-5) and f.lon == pytest.approx(-74.06971, abs=1e-5)
    assert f.attributes == {"status": 0xFFFFFBFD, "ignition": False, "alarm": "sos", "battery_pct": 100}


def test_binary_short_frame_and_its_text_twin() -> None:
    # H02FrameDecoderTest.java: the same device sends a binary report and a V1 sentence.
    binary = fix(bytes.fromhex("2441060116601245431311165035313006004318210e000000fffffbffff0024"))
    text = fix("*HQ,4106011660,V1,124552,A,5035.3129,N,00431.8211,E,000.20,000,131116,FFFFFBFF#")
    assert binary.fix_time == datetime(2016, 11, 13, 12, 45, 43, tzinfo=UTC)
    assert binary.lat == pytest.approx(text.lat, abs=1e-5) and binary.lon == pytest.approx(text.lon, abs=1e-5)


def test_binary_speed_is_knots_and_course_digits() -> None:
    f = fix(bytes.fromhex("2410307310010503162209022212874500113466574C014028fffffbffff0000"))
    assert f.speed_kmh == pytest.approx(14 * 1.852) and f.course == 28.0
    assert f.lat == pytest.approx(22 + 12.8745 / 60) and f.lon == pytest.approx(113 + 46.6574 / 60)


@pytest.mark.parametrize(
    ("status", "alarm"),
    [
        (0xFFFFFFFE, "vibration"),
        (0xFFFFFFFD, "sos"),
        (0xFFFBFFFF, "sos"),
        (0xFFFFFFFB, "overspeed"),
        (0xFFF7FFFF, "power_cut"),
        (0xFFFFFFFA, "vibration"),  # Traccar's order: the first cleared bit wins
        (0xFFFFFFFF, None),
    ],
)
def test_status_word_alarms_are_active_low(status: int, alarm: str | None) -> None:
    assert status_attributes(status).get("alarm") == alarm


def test_v4_replies() -> None:
    now = datetime(2026, 11, 27, 8, 0, 5, tzinfo=UTC)
    assert encode_v4_reply("4210051415", "V1", now) == b"*HQ,4210051415,V4,V1,20261127080005#"
    assert encode_v4_reply("4109179024", "NBR", now) == b"*HQ,4109179024,V4,NBR,20261127080005#"


@given(st.binary(min_size=32, max_size=45).map(lambda b: b"$" + b[1:]))
def test_any_binary_frame_decodes_or_is_refused(frame: bytes) -> None:
    decode(frame)


@given(
    st.lists(
        st.sampled_from(
            ["", "A", "V", "-1-2.5", "12.5", "9999", "N", "S", "E", "W", "x", "FFFFFFFF", "010203"]
        ),
        max_size=16,
    )
)
def test_any_field_mix_decodes_or_is_refused(fields: list[str]) -> None:
    decode(("*HQ,123,V1," + ",".join(fields) + "#").encode())
