"""OwnTracks JSON decoding on real payloads, field by field, and fuzzed.

Sources of the payloads:
- TRACCAR_*: traccar/traccar src/test/java/org/traccar/protocol/OwnTracksProtocolDecoderTest.java
  (commit 054c29b7732fc3579f35a1f1c2907e11a758cbea): phones posting to Traccar.
- BOOKLET_*: the OwnTracks booklet (github owntracks/booklet): docs/features/traccar.md (commit
  04b092afe5856cd8f2fd4aeb462185aa263a4192), docs/features/waypoints.md (commit
  097f56010f4b128807b119566abf20c03bd3e8d5), docs/tech/json.md (commit
  1e1d242d1ee303272d0561ccb0979e3d9b4c4f19), docs/features/encrypt.md (commit
  105d90226d29aad24dc913c6682112b2bbb17a5a; its `data` is elided with "..." in the booklet), and
  https://owntracks.org/booklet/features/waypoints/ for the transition.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.decoded import FixFields
from gateway.protocols.owntracks import Ignored, decode, device_id_from_topic
from gateway.refusals import Reason, Refusal

TRACCAR_ANDROID = (
    b'{"_type":"location","acc":15,"alt":440,"batt":46,"conn":"w","lat":46.0681247,"lon":11.1512805,'
    b'"t":"u","tid":"5t","tst":1551874878,"vac":2,"vel":0}'
)
TRACCAR_MINIMAL = b'{"lon":2.29513,"lat":48.85833,"tst":1497349316,"_type":"location","tid":"JJ"}'
TRACCAR_IOS = (
    b'{"cog":271,"lon":2.29513,"acc":5,"vel":61,"vac":21,"lat":48.85833,"tst":1497349316,"alt":167,'
    b'"_type":"location","tid":"JJ","t":"u","batt":67}'
)
TRACCAR_ROUNDED = b'{"lat":48.85,"lon":2.295,"_type":"location","tid":"JJ","tst":1497476456}'
TRACCAR_IOS_2025 = (
    b'{"lon":-122,"acc":5,"created_at":1736161415,"lat":37,'
    b'"topic":"owntracks/ckrey/22A67880-15C3-41A6-9157-25545C7993AC","t":"u","m":1,"tst":1736161169,'
    b'"conn":"w","alt":0,"_type":"location","tid":"AC"}'
)
TRACCAR_QTRIPP = (
    b'{"topic":"owntracks/qtripp/865284041968706","lat":47.420051,"lon":13.654704,"vel":0,"cog":113,'
    b'"tst":1736519167,"mcc":232,"mnc":1,"lac":"4F4D","cid":"673A","_type":"location","acc":10,"alt":1113,'
    b'"t":"I","don":105,"tid":"CS"}'
)
BOOKLET_TRACCAR = b'{"lon":2.29513,"lat":48.85833,"_type":"location","tst":1497476456, "tid":"JJ"}'
BOOKLET_PRETTY = b"""{
  "cog": 271,
  "batt": 41,
  "lon": 2.29513,
  "acc": 5,
  "vel": 61,
  "vac": 21,
  "lat": 48.85833,
  "t": "u",
  "tst": 1497508651,
  "alt": 167,
  "_type": "location",
  "topic": "owntracks/jane/iphone",
  "p": 71,
  "tid": "JJ"
}"""
BOOKLET_LWT = b"""{
    "_type":"lwt",
    "tst": 1380738247
}"""
BOOKLET_WAYPOINT = b"""{
    "_type": "waypoint",
    "desc": "Paris is lovely",
    "lat": "48.858330",
    "lon": "2.295130",
    "rad": "50",
    "tst": "1385997757"
}"""
BOOKLET_TRANSITION = b"""{
      "_type": "transition",
      "desc": "My favorite coffee shop (Delaville)",
      "event": "enter",
      "lat": 48.87069,
      "lon": 2.34916,
      "rid": "f7676c",
      "tid": "j1",
      "tst": 1707057574,
      "wtst": 1610104395
}"""
BOOKLET_ENCRYPTED = b"""{
  "_type": "encrypted",
  "data": "1Vu7Owp ... W4lMnh28FB+el22GsCrlnggvEcp4H8GR9iKJdi1qfwkejYpzrQ+491Mwunjg="
}"""


def fix(payload: bytes) -> FixFields:
    decoded = decode(payload)
    assert isinstance(decoded, FixFields), decoded
    return decoded


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def test_android_location_field_by_field() -> None:
    assert fix(TRACCAR_ANDROID) == FixFields(
        fix_time=at(1551874878),
        lat=46.0681247,
        lon=11.1512805,
        speed_kmh=0.0,
        course=None,
        altitude_m=440.0,
        accuracy_m=15.0,
        backlog=False,
        attributes={
            "battery_pct": 46.0,
            "trigger": "manual",
            "connection": "wifi",
            "vertical_accuracy_m": 2.0,
            "tid": "5t",
        },
    )


def test_ios_locations_field_by_field() -> None:
    assert fix(TRACCAR_IOS) == FixFields(
        fix_time=at(1497349316),
        lat=48.85833,
        lon=2.29513,
        speed_kmh=61.0,  # vel is km/h already
        course=271.0,
        altitude_m=167.0,
        accuracy_m=5.0,
        attributes={"battery_pct": 67.0, "trigger": "manual", "vertical_accuracy_m": 21.0, "tid": "JJ"},
    )
    assert fix(BOOKLET_PRETTY).attributes == {
        "battery_pct": 41.0,
        "trigger": "manual",
        "vertical_accuracy_m": 21.0,
        "pressure_kpa": 71.0,
        "tid": "JJ",
    }
    recent = fix(TRACCAR_IOS_2025)
    assert (recent.fix_time, recent.lat, recent.lon, recent.altitude_m) == (at(1736161169), 37.0, -122.0, 0.0)
    assert recent.attributes == {
        "trigger": "manual",
        "connection": "wifi",
        "created_at": "2025-01-06T11:03:35+00:00",  # the message was built 246 s after the fix
        "monitoring_mode": 1,
        "tid": "AC",
    }


def test_minimal_locations() -> None:
    for payload, epoch, lat, lon in (
        (TRACCAR_MINIMAL, 1497349316, 48.85833, 2.29513),
        (TRACCAR_ROUNDED, 1497476456, 48.85, 2.295),
        (BOOKLET_TRACCAR, 1497476456, 48.85833, 2.29513),
    ):
        assert fix(payload) == FixFields(at(epoch), lat, lon, attributes={"tid": "JJ"})


def test_a_tracker_speaking_owntracks_keeps_what_we_know() -> None:
    qtripp = fix(TRACCAR_QTRIPP)
    assert (qtripp.speed_kmh, qtripp.course, qtripp.altitude_m, qtripp.accuracy_m) == (
        0.0,
        113.0,
        1113.0,
        10.0,
    )
    assert qtripp.attributes == {"trigger": "I", "tid": "CS"}  # an unknown trigger is kept raw


def test_a_message_built_offline_is_a_backlog() -> None:
    offline = json.loads(TRACCAR_ANDROID) | {"conn": "o"}
    decoded = fix(json.dumps(offline).encode())
    assert (
        decoded.backlog and decoded.attributes is not None and decoded.attributes["connection"] == "offline"
    )


def test_other_types_are_ignored_and_encrypted_payloads_refused() -> None:
    assert decode(BOOKLET_LWT) == Ignored("lwt")
    assert decode(BOOKLET_WAYPOINT) == Ignored("waypoint")
    assert decode(BOOKLET_TRANSITION) == Ignored("transition")
    assert decode(b'{"_type":"something-new"}') == Ignored("other")
    encrypted = decode(BOOKLET_ENCRYPTED)
    assert isinstance(encrypted, Refusal) and encrypted.reason == Reason.ENCRYPTED
    assert "turn off payload encryption" in encrypted.detail


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", Reason.BAD_JSON),
        (b'{"_type":"location","lat":NaN,"lon":1,"tst":1}', Reason.BAD_JSON),
        (b"[1]", Reason.BAD_SHAPE),
        (b'{"lat":1}', Reason.BAD_SHAPE),
        (b'{"_type":"location","lat":1,"lon":2}', Reason.MISSING_FIELD),
        (b'{"_type":"location","lat":"48.8","lon":2,"tst":1497349316}', Reason.BAD_TYPE),
        (b'{"_type":"location","lat":48.8,"lon":2,"tst":"1497349316"}', Reason.BAD_TYPE),
        (b'{"_type":"location","lat":48.8,"lon":2,"tst":1e300}', Reason.BAD_TIME),
        (b'{"_type":"location","lat":48.8,"lon":2,"tst":1497349316,"alt":1e39}', Reason.BAD_TYPE),
    ],
)
def test_bad_payloads_have_their_reason(payload: bytes, reason: Reason) -> None:
    decoded = decode(payload)
    assert isinstance(decoded, Refusal) and decoded.reason == reason


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("owntracks/jane/phone", "jane.phone"),
        (
            "owntracks/ckrey/22A67880-15C3-41A6-9157-25545C7993AC",
            "ckrey.22A67880-15C3-41A6-9157-25545C7993AC",
        ),
        ("owntracks/amb_07/pixel.7", "amb_07.pixel.7"),
    ],
)
def test_device_ids_from_topics(topic: str, expected: str) -> None:
    assert device_id_from_topic(topic) == expected


@pytest.mark.parametrize(
    "topic",
    [
        "owntracks/jane/phone/event",
        "trackers/jane/position",
        "owntracks/jane",
        "owntracks/ja.ne/phone",  # a dot in the user part would make two topics one id
        "owntracks/jane/my phone",
        "owntracks/jane/điện-thoại",
        "owntracks//phone",
        "owntracks/" + "u" * 40 + "/" + "d" * 30,
    ],
)
def test_topics_that_cannot_name_a_device(topic: str) -> None:
    refusal = device_id_from_topic(topic)
    assert isinstance(refusal, Refusal) and refusal.reason == Reason.BAD_TOPIC


def assert_storable(decoded: FixFields | Ignored | Refusal) -> None:
    if isinstance(decoded, FixFields):
        assert decoded.accuracy_m is None or decoded.accuracy_m >= 0
        assert decoded.speed_kmh is None or decoded.speed_kmh >= 0
        assert decoded.altitude_m is None or abs(decoded.altitude_m) <= 100_000
        assert "\\u0000" not in json.dumps(decoded.attributes, allow_nan=False)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(payload: bytes) -> None:
    assert_storable(decode(payload))


VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.lists(st.text(max_size=3), max_size=3),
)


LOCATION_KEYS = [
    "tst",
    "lat",
    "lon",
    "vel",
    "cog",
    "alt",
    "acc",
    "vac",
    "batt",
    "bs",
    "t",
    "conn",
    "created_at",
    "m",
    "p",
    "tid",
    "inregions",
    "poi",
]


@given(st.dictionaries(st.sampled_from(LOCATION_KEYS), VALUES))
def test_arbitrary_locations_decode_or_refuse_cleanly(fields: dict[str, Any]) -> None:
    assert_storable(decode(json.dumps({"_type": "location", **fields}).encode()))
