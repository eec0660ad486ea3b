"""OsmAnd decoding (query/form and JSON) on Traccar's real captures, field by field, and fuzzed.

Captures: traccar/traccar src/test/java/org/traccar/protocol/OsmAndProtocolDecoderTest.java
(commit 24157c0a2eb94fd6b1d6ed6698d6aedb492d288a), testDecodeQuery and testDecodeJson.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.decoded import FixFields
from gateway.protocols.osmand import OsmAndMessage, decode_query, parse_timestamp
from gateway.protocols.osmand_json import decode_json
from gateway.refusals import Reason, Refusal

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
KN = 1.852

# testDecodeQuery, in order (the URIs exactly as in the Java test).
Q_CELL_WIFI = (
    "/?id=123456&timestamp=1377177267&cell=257,02,16,2224&cell=257,02,16,2223,-90"
    "&wifi=00-14-22-01-23-45,-80&wifi=00-1C-B3-09-85-15,-70"
)
Q_NO_ID = "/?timestamp=1377177267&lat=60.0&lon=30.0"
Q_ISO = "/?id=902064&lat=42.06288&lon=-88.23412&timestamp=2016-01-27T18%3A55%3A47Z&hdop=6.0&altitude=224.0&speed=0.0"
Q_MS = "/?id=902064&lat=42.06288&lon=-88.23412&timestamp=1442068686579&hdop=6.0&altitude=224.0&speed=0.0"
Q_LOCAL = (
    "/?lat=49.60688&lon=6.15788&timestamp=2014-06-04+09%3A10%3A11&altitude=384.7&speed=0.0&id=353861053849681"
)
Q_FULL = "/?id=123456&timestamp=1377177267&lat=60.0&lon=30.0&speed=0.0&bearing=0.0&altitude=0&hdop=0.0"
Q_MIN = "/?id=123456&timestamp=1377177267&lat=60.0&lon=30.0"
Q_DEVICEID = "/?lat=60.0&lon=30.0&speed=0.0&heading=0.0&vacc=0&hacc=0&altitude=0&deviceid=123456"
Q_BATT = "/?id=861001000719969&lat=41.666667&lon=-0.883333&altitude=350.059479&speed=0.000000&batt=87"
Q_LOCATION = "/?id=123456&timestamp=1377177267&location=60.0,30.0"
Q_IGNITION = (
    "/?id=123456789012345&timestamp=1504763810&lat=40.7232948571&lon=-74.0061408571"
    "&bearing=7.19889788244&speed=40&ignition=true&rpm=933&fuel=24"
)

# testDecodeJson, in order.
J_STILL = (
    '{"location":{"timestamp":"2025-06-15T13:45:12.862Z","coords":{"latitude":37.4219983,"longitude":-122.084,'
    '"accuracy":5,"speed":0,"heading":-1,"altitude":5},"is_moving":false,"odometer":0,"event":"motionchange",'
    '"battery":{"level":1,"is_charging":false},"activity":{"type":"still"},"extras":{},'
    '"_":"&id=48241179&lat=37.4219983&lon=-122.084&timestamp=2025-06-15T13:45:12.862Z&"},"device_id":"48241179"}'
)
J_EXTRAS = (
    '{"location":{"timestamp":"2025-06-15T13:45:12.862Z","coords":{"latitude":37.4219983,"longitude":-122.084,'
    '"accuracy":5,"speed":0,"heading":-1,"altitude":5},"is_moving":false,"odometer":0,"event":"motionchange",'
    '"battery":{"level":1,"is_charging":false},"activity":{"type":"still"},"extras":{"device_string_test":'
    '"long_device_id","device_bool_test":true,"device_bool_false_test":false,"device_integer_test":1,'
    '"device_double_test":1.345,"device_very_long_double_test":1763636.3442},'
    '"_":"&id=48241179&lat=37.4219983&lon=-122.084&timestamp=2025-06-15T13:45:12.862Z&"},"device_id":"48241179"}'
)
J_IOS = (
    '{"location":{"extras":{},"mock":true,"coords":{"speed_accuracy":-1,"speed":-1,"longitude":-122.406417,'
    '"ellipsoidal_altitude":0,"floor":null,"heading_accuracy":-1,"latitude":37.785834000000001,"accuracy":5,'
    '"altitude_accuracy":-1,"altitude":0,"heading":-1},"is_moving":false,"age":188,"odometer":0,'
    '"uuid":"2FB04C65-99CF-42AB-8DD3-EBCB4B108BF8","event":"motionchange","battery":{"level":-1,'
    '"is_charging":false},"activity":{"type":"unknown","confidence":100},"timestamp":"2025-05-09T04:11:30.579Z"},'
    '"device_id":"658765"}'
)
J_MOVING = (
    '{"location":{"event":"motionchange","is_moving":false,"uuid":"0e9a2473-a9a7-4c00-997b-fb97d2154e75",'
    '"timestamp":"2021-07-21T08:06:34.444Z","odometer":0,"coords":{"latitude":-6.1148096,"longitude":106.6837015,'
    '"accuracy":3.8,"speed":18.67,"speed_accuracy":0.26,"heading":63,"heading_accuracy":0.28,"altitude":35.7,'
    '"altitude_accuracy":3.8},"activity":{"type":"still","confidence":100},"battery":{"is_charging":false,'
    '"level":0.79},"extras":{}},"device_id":"8737767034"}'
)


def query(uri: str, speed_unit: str = "knots") -> OsmAndMessage | Refusal:
    return decode_query(parse_qsl(urlsplit(uri).query, keep_blank_values=True), NOW, speed_unit)


def only_fix(message: OsmAndMessage | Refusal) -> FixFields:
    assert isinstance(message, OsmAndMessage)
    assert len(message.items) == 1 and not message.batch
    fix = message.items[0]
    assert isinstance(fix, FixFields)
    return fix


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def test_query_captures_field_by_field() -> None:
    assert only_fix(query(Q_ISO)) == FixFields(
        datetime(2016, 1, 27, 18, 55, 47, tzinfo=UTC), 42.06288, -88.23412, 0.0, None, 224.0, None, 6.0
    )
    assert only_fix(query(Q_MS)).fix_time == at(1442068686.579)
    local = only_fix(query(Q_LOCAL))
    assert (local.fix_time, local.lat, local.lon, local.altitude_m) == (
        datetime(2014, 6, 4, 9, 10, 11, tzinfo=UTC),  # no offset: read in UTC (configurable)
        49.60688,
        6.15788,
        384.7,
    )
    assert only_fix(query(Q_FULL)) == FixFields(at(1377177267), 60.0, 30.0, 0.0, 0.0, 0.0, None, 0.0)
    assert only_fix(query(Q_MIN)) == FixFields(at(1377177267), 60.0, 30.0)
    assert only_fix(query(Q_LOCATION)) == FixFields(at(1377177267), 60.0, 30.0)
    deviceid = query(Q_DEVICEID)
    assert isinstance(deviceid, OsmAndMessage) and deviceid.device_id == "123456"
    # No timestamp: the fix is dated when it was received (as in Traccar).
    assert only_fix(deviceid) == FixFields(
        NOW, 60.0, 30.0, 0.0, 0.0, 0.0, attributes={"vacc": 0.0, "hacc": 0.0}
    )
    assert only_fix(query(Q_BATT)).attributes == {"battery_pct": 87.0}
    ignition = only_fix(query(Q_IGNITION))
    assert ignition == FixFields(
        at(1504763810),
        40.7232948571,
        -74.0061408571,
        speed_kmh=pytest.approx(40 * KN),
        course=7.19889788244,
        attributes={"ignition": True, "rpm": 933.0, "fuel": 24.0},
    )


def test_a_request_without_id_or_without_position_is_refused() -> None:
    assert query(Q_NO_ID) == Refusal(Reason.MISSING_FIELD, "id (or deviceid) is required")
    # Cells and Wi-Fi only: Traccar re-uses the last position; we cannot store a fix without one.
    cells = query(Q_CELL_WIFI)
    assert isinstance(cells, OsmAndMessage) and cells.device_id == "123456"
    assert isinstance(cells.items[0], Refusal) and cells.items[0].reason == Reason.MISSING_FIELD


def test_cells_and_wifi_are_attributes() -> None:
    fix = only_fix(query(Q_CELL_WIFI + "&lat=16.05&lon=108.2"))
    assert fix.attributes == {
        "cell": {"mcc": 257, "mnc": 2, "lac": 16, "cid": 2224},
        "cells": [
            {"mcc": 257, "mnc": 2, "lac": 16, "cid": 2224},
            {"mcc": 257, "mnc": 2, "lac": 16, "cid": 2223, "rssi": -90},
        ],
        "wifi": [{"mac": "00:14:22:01:23:45", "rssi": -80}, {"mac": "00:1c:b3:09:85:15", "rssi": -70}],
    }


@pytest.mark.parametrize(("unit", "kmh"), [("knots", 10 * KN), ("kmh", 10.0), ("mps", 36.0)])
def test_speed_unit_is_a_setting(unit: str, kmh: float) -> None:
    assert only_fix(query("/?id=a&lat=16&lon=108&speed=10", unit)).speed_kmh == pytest.approx(kmh)


def test_our_attribute_names_and_fields() -> None:
    fix = only_fix(
        query(
            "/?id=a&lat=16&lon=108&speed=-1&bearing=-1&accuracy=-1&hdop=1.5&sat=9&valid=0&batt=55&charge=true"
            "&alarm=sos&odometer=12.5&driverUniqueId=D7&token=amb_dev_x&notificationToken=push&door=open"
        )
    )
    assert (fix.speed_kmh, fix.course, fix.accuracy_m) == (None, None, None)  # negative: unknown
    assert (fix.hdop, fix.satellites, fix.valid) == (1.5, 9, False)
    assert fix.attributes == {
        "battery_pct": 55.0,
        "charging": True,
        "alarm": "sos",
        "odometer_m": 12500.0,
        "driver_unique_id": "D7",
        "door": "open",  # an unknown parameter is kept under its name (a string here)
    }
    assert only_fix(query("/?id=a&lat=16&lon=108&alarm=powerCut")).attributes == {"alarm": "power_cut"}
    assert only_fix(query("/?id=a&lat=16&lon=108&alarm=jamming")).attributes == {
        "alarm": "general",
        "alarm_raw": "jamming",
    }


def test_the_token_is_returned_and_never_stored() -> None:
    message = query("/?id=a&lat=16&lon=108&token=amb_dev_secret")
    assert isinstance(message, OsmAndMessage) and message.token == "amb_dev_secret"
    assert only_fix(message).attributes is None


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("/?id=a&id=b&lat=16&lon=108", Reason.BAD_SHAPE),
        ("/?id=a&lat=north&lon=108", Reason.BAD_TYPE),
        ("/?id=a&lat=nan&lon=108", Reason.BAD_TYPE),
        ("/?id=a&location=16", Reason.BAD_TYPE),
        ("/?id=a&lat=16&lon=108&timestamp=yesterday", Reason.BAD_TIME),
        ("/?id=a&lat=16&lon=108&timestamp=99999999999999999999", Reason.BAD_TIME),
        ("/?id=a&lat=16&lon=108&altitude=1e39", Reason.BAD_TYPE),
        ("/?id=a&lat=16&lon=108&ignition=maybe", Reason.BAD_TYPE),
        ("/?id=a&lat=16&lon=108&sat=300", Reason.BAD_TYPE),
        ("/?id=a&lat=16&lon=108&cell=1,2", Reason.BAD_TYPE),
        ("/?id=a&lat=16&lon=108&x=" + "y" * 300, Reason.BAD_SHAPE),
        ("/?id=a&lat=16&lon=108&x=%00", Reason.BAD_TYPE),
        ("/?id=a&lat=16&lon=108&" + "&".join(f"k{i}=1" for i in range(65)), Reason.BAD_SHAPE),
    ],
)
def test_malformed_query_parameters_have_their_reason(uri: str, reason: Reason) -> None:
    message = query(uri)
    refusal = message if isinstance(message, Refusal) else message.items[0]
    assert isinstance(refusal, Refusal) and refusal.reason == reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1377177267", at(1377177267)),
        ("1442068686579", at(1442068686.579)),
        ("2016-01-27T18:55:47Z", datetime(2016, 1, 27, 18, 55, 47, tzinfo=UTC)),
        ("2016-01-27T18:55:47.250+07:00", datetime(2016, 1, 27, 11, 55, 47, 250000, tzinfo=UTC)),
        ("2014-06-04 09:10:11", datetime(2014, 6, 4, 9, 10, 11, tzinfo=UTC)),
    ],
)
def test_timestamp_forms(value: str, expected: datetime) -> None:
    assert parse_timestamp(value) == expected


def test_times_without_offset_are_read_in_the_configured_zone() -> None:
    vietnam = timezone(timedelta(hours=7))
    assert parse_timestamp("2014-06-04 09:10:11", vietnam) == datetime(2014, 6, 4, 2, 10, 11, tzinfo=UTC)


def test_json_captures_field_by_field() -> None:
    still = decode_json(J_STILL.encode(), 1000)
    assert isinstance(still, OsmAndMessage) and still.device_id == "48241179" and still.token is None
    assert only_fix(still) == FixFields(
        datetime(2025, 6, 15, 13, 45, 12, 862000, tzinfo=UTC),
        37.4219983,
        -122.084,
        speed_kmh=0.0,
        course=None,  # heading -1: unknown
        altitude_m=5.0,
        accuracy_m=5.0,
        attributes={
            "motion": False,
            "odometer_m": 0.0,
            "event": "motionchange",
            "activity": "still",
            "battery_pct": 100,
            "charging": False,
        },
    )
    extras = only_fix(decode_json(J_EXTRAS.encode(), 1000)).attributes
    assert extras is not None and {k: v for k, v in extras.items() if k.startswith("device_")} == {
        "device_string_test": "long_device_id",
        "device_bool_test": True,
        "device_bool_false_test": False,
        "device_integer_test": 1.0,
        "device_double_test": 1.345,
        "device_very_long_double_test": 1763636.3442,
    }
    ios = only_fix(decode_json(J_IOS.encode(), 1000))
    assert (ios.lat, ios.lon, ios.speed_kmh, ios.course, ios.accuracy_m) == (
        37.785834,
        -122.406417,
        None,
        None,
        5.0,
    )
    assert ios.attributes is not None and ios.attributes["mock"] is True
    assert "battery_pct" not in ios.attributes  # level -1: unknown
    moving = only_fix(decode_json(J_MOVING.encode(), 1000))
    assert (moving.lat, moving.lon, moving.course, moving.altitude_m, moving.accuracy_m) == (
        -6.1148096,
        106.6837015,
        63.0,
        35.7,
        3.8,
    )
    assert moving.speed_kmh == pytest.approx(18.67 * 3.6)
    assert moving.attributes is not None and moving.attributes["battery_pct"] == 79


def test_a_json_batch_is_a_backlog() -> None:
    first = json.loads(J_MOVING)["location"]
    second = {**first, "timestamp": "2021-07-21T08:06:44.444Z"}
    for key in ("location", "locations"):
        message = decode_json(json.dumps({"device_id": "8737767034", key: [first, second]}).encode(), 1000)
        assert isinstance(message, OsmAndMessage) and message.batch
        assert [i.backlog for i in message.items if isinstance(i, FixFields)] == [True, True]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", Reason.BAD_JSON),
        (b"[]", Reason.BAD_SHAPE),
        (b'{"location": {}}', Reason.MISSING_FIELD),
        (b'{"device_id": "a"}', Reason.MISSING_FIELD),
        (b'{"device_id": "a", "locations": []}', Reason.EMPTY_BATCH),
        (
            b'{"device_id": "a", "location": {"timestamp": "2025-06-15T13:45:12Z", "coords": {"latitude": NaN, "longitude": 1}}}',
            Reason.BAD_JSON,
        ),
    ],
)
def test_malformed_json_has_its_reason(body: bytes, reason: Reason) -> None:
    result = decode_json(body, 1000)
    assert isinstance(result, Refusal) and result.reason == reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"timestamp": None}, Reason.MISSING_FIELD),
        ({"timestamp": "yesterday"}, Reason.BAD_TIME),
        ({"coords": None}, Reason.MISSING_FIELD),
        ({"coords": {"latitude": "1", "longitude": 2}}, Reason.BAD_TYPE),
        ({"coords": {"latitude": 10**400, "longitude": 2}}, Reason.BAD_TYPE),
        ({"coords": {"latitude": 1}}, Reason.MISSING_FIELD),
        ({"coords": {"latitude": 1, "longitude": 2, "altitude": 1e39}}, Reason.BAD_TYPE),
    ],
)
def test_malformed_json_location_has_its_reason(change: dict[str, Any], reason: Reason) -> None:
    location = {**json.loads(J_MOVING)["location"], **change}
    message = decode_json(json.dumps({"device_id": "a", "location": location}).encode(), 1000)
    assert isinstance(message, OsmAndMessage)
    assert isinstance(message.items[0], Refusal) and message.items[0].reason == reason


def assert_storable(message: OsmAndMessage | Refusal) -> None:
    """What a decoder lets through must fit the positions table (a CHECK violation would stall the
    batch writer): non-negative accuracy/hdop, satellites 0-255, sane altitude, JSON-safe attributes."""
    if isinstance(message, Refusal):
        return
    for fix in message.items:
        if isinstance(fix, Refusal):
            continue
        assert fix.accuracy_m is None or fix.accuracy_m >= 0
        assert fix.hdop is None or fix.hdop >= 0
        assert fix.satellites is None or 0 <= fix.satellites <= 255
        assert fix.altitude_m is None or abs(fix.altitude_m) <= 100_000
        text = json.dumps(fix.attributes, allow_nan=False)
        assert "\\u0000" not in text


NAMES = [
    "id",
    "lat",
    "lon",
    "timestamp",
    "speed",
    "bearing",
    "altitude",
    "accuracy",
    "hdop",
    "sat",
    "valid",
    "batt",
    "charge",
    "alarm",
    "ignition",
    "cell",
    "wifi",
    "location",
    "odometer",
    "token",
    "x",
]


@given(st.lists(st.tuples(st.sampled_from(NAMES), st.text(max_size=30)), max_size=25))
def test_arbitrary_parameters_decode_or_refuse_cleanly(params: list[tuple[str, str]]) -> None:
    assert_storable(decode_query(params, NOW))


@given(st.binary(max_size=400))
def test_arbitrary_bodies_never_raise(body: bytes) -> None:
    assert_storable(decode_json(body, 1000))


JSON_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)
)


@given(
    st.dictionaries(
        st.sampled_from(["latitude", "longitude", "speed", "heading", "accuracy", "altitude"]), JSON_VALUES
    ),
    st.dictionaries(
        st.sampled_from(["timestamp", "is_moving", "odometer", "event", "alarm", "mock"]), JSON_VALUES
    ),
    st.dictionaries(st.text(max_size=5), st.one_of(JSON_VALUES, st.lists(st.integers(), max_size=2))),
)
def test_arbitrary_json_locations_decode_or_refuse_cleanly(
    coords: dict[str, Any], fields: dict[str, Any], extras: dict[str, Any]
) -> None:
    location = {"timestamp": "2025-06-15T13:45:12Z", "coords": coords, **fields, "extras": extras}
    assert_storable(decode_json(json.dumps({"device_id": "a", "location": location}).encode(), 1000))
