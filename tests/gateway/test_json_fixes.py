"""The MQTT JSON payload: decoding, and one refusal reason per kind of bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.checks import first_refusal
from gateway.decoded import FixFields
from gateway.protocols.mqtt_json import parse_fix, parse_time, split_payload
from gateway.refusals import Reason, Refusal
from gateway.settings import GatewaySettings

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
SETTINGS = GatewaySettings()
GOOD = {
    "time": "2026-11-27T08:00:00Z",
    "lat": 16.0544,
    "lon": 108.2022,
    "speed_kmh": 42.5,
    "heading": 180,
    "alt_m": 5,
    "accuracy_m": 4,
    "sats": 9,
    "attrs": {"door": "closed"},
}


def reason_of(obj: object) -> Reason | None:
    fields = parse_fix(obj)
    if isinstance(fields, Refusal):
        return fields.reason
    refusal = first_refusal(fields, NOW, SETTINGS)
    return refusal.reason if refusal else None


def test_full_fix_is_decoded_with_every_field() -> None:
    fields = parse_fix(GOOD)
    assert fields == FixFields(
        fix_time=NOW,
        lat=16.0544,
        lon=108.2022,
        speed_kmh=42.5,
        course=180.0,
        altitude_m=5.0,
        accuracy_m=4.0,
        satellites=9,
        attributes={"door": "closed"},
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-27T08:00:00Z", NOW),
        ("2026-11-27T15:00:00+07:00", NOW),
        ("2026-11-27T08:00:00.250Z", NOW + timedelta(milliseconds=250)),
        (1_795_766_400, datetime.fromtimestamp(1_795_766_400, UTC)),
        (1_795_766_400_500, datetime.fromtimestamp(1_795_766_400.5, UTC)),
        (1_795_766_400.25, datetime.fromtimestamp(1_795_766_400.25, UTC)),
    ],
)
def test_time_forms(value: object, expected: datetime) -> None:
    assert parse_time(value) == expected


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", Reason.BAD_JSON),
        (b"\xff\xfe", Reason.BAD_JSON),
        (b'"a string"', Reason.BAD_SHAPE),
        (b"42", Reason.BAD_SHAPE),
        (b"[]", Reason.EMPTY_BATCH),
        (json.dumps([GOOD] * 1001).encode(), Reason.TOO_MANY_FIXES),
    ],
)
def test_bad_payloads_are_refused_with_their_reason(payload: bytes, reason: Reason) -> None:
    result = split_payload(payload, SETTINGS.max_fixes_per_message)
    assert isinstance(result, Refusal) and result.reason == reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"time": None}, Reason.MISSING_FIELD),
        ({"lat": None}, Reason.MISSING_FIELD),
        ({"lat": "16.05"}, Reason.BAD_TYPE),
        ({"lon": True}, Reason.BAD_TYPE),
        ({"speed_kmh": "fast"}, Reason.BAD_TYPE),
        ({"sats": 3.5}, Reason.BAD_TYPE),
        ({"attrs": [1]}, Reason.BAD_TYPE),
        ({"valid": "yes"}, Reason.BAD_TYPE),
        ({"time": "yesterday"}, Reason.BAD_TIME),
        ({"time": "2026-11-27T08:00:00"}, Reason.BAD_TIME),  # no offset: ambiguous
        ({"time": 1e300}, Reason.BAD_TIME),
        ({"time": [2026]}, Reason.BAD_TYPE),
        ({"lat": 90.5}, Reason.LAT_OUT_OF_RANGE),
        ({"lon": -180.01}, Reason.LON_OUT_OF_RANGE),
        ({"lat": 0, "lon": 0}, Reason.ZERO_COORDINATES),
        ({"time": "2026-11-27T08:06:00Z"}, Reason.TIME_IN_FUTURE),
        ({"time": "2025-10-01T00:00:00Z"}, Reason.TOO_OLD),
        ({"speed_kmh": -1}, Reason.BAD_SPEED),
        ({"speed_kmh": 900}, Reason.BAD_SPEED),
        ({"heading": 361}, Reason.BAD_HEADING),
    ],
)
def test_each_bad_field_has_its_reason(change: dict[str, object], reason: Reason) -> None:
    assert reason_of({**GOOD, **change}) == reason


def test_a_fix_that_is_not_an_object_is_refused() -> None:
    assert reason_of([1, 2]) == Reason.BAD_SHAPE


def test_slightly_future_and_minimal_fixes_pass() -> None:
    assert reason_of({"time": "2026-11-27T08:00:25Z", "lat": 16.0, "lon": 108.2}) is None


def test_a_fix_minutes_ahead_is_refused() -> None:
    # Issue 10: 300 s ahead used to be accepted (and became the latest position); 30 s now.
    assert reason_of({"time": "2026-11-27T08:04:00Z", "lat": 16.0, "lon": 108.2}) == Reason.TIME_IN_FUTURE
    assert reason_of({"time": "2026-11-27T08:00:31Z", "lat": 16.0, "lon": 108.2}) == Reason.TIME_IN_FUTURE


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(payload: bytes) -> None:
    result = split_payload(payload, 1000)
    if not isinstance(result, Refusal):
        for obj in result:
            reason_of(obj)


@given(
    st.dictionaries(
        st.sampled_from(["time", "lat", "lon", "speed_kmh", "heading", "sats", "attrs", "valid", "alt_m"]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(allow_nan=True),
            st.text(max_size=30),
            st.lists(st.integers(), max_size=3),
        ),
    )
)
def test_arbitrary_fix_objects_decode_or_refuse_cleanly(obj: dict[str, object]) -> None:
    reason_of(obj)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"accuracy_m": -1}, Reason.BAD_VALUE),
        ({"alt_m": 1e9}, Reason.BAD_VALUE),
        ({"hdop": 1000}, Reason.BAD_VALUE),
        ({"attrs": {"v": float("nan")}}, Reason.BAD_ATTRIBUTES),
        ({"attrs": {"v": "a\x00b"}}, Reason.BAD_ATTRIBUTES),
        ({"attrs": {"k\x00": 1}}, Reason.BAD_ATTRIBUTES),
        ({"attrs": {"blob": "x" * 20_000}}, Reason.BAD_ATTRIBUTES),
    ],
)
def test_values_the_database_cannot_hold_are_refused_at_the_edge(
    change: dict[str, object], reason: Reason
) -> None:
    assert reason_of({**GOOD, **change}) == reason
