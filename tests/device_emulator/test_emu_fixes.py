"""Fix payloads, GPS noise, seeded reproducibility, coverage gaps and the outbox."""

from __future__ import annotations

import itertools
import json
import math
import random
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from device_emulator.fixes import Fix, GpsReceiver, encode_fix, format_time
from device_emulator.fleet import Phase, VehicleSample
from device_emulator.outbox import MAX_FIXES_PER_MESSAGE, CoverageGaps, Outbox
from device_emulator.roads import DANANG, RoadGraph, load_road_graph
from device_emulator.tracker import FleetConfig, build_fleet, device_ids, simulate

START = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
TIME_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def graph() -> RoadGraph:
    return load_road_graph()


def messages_of(config: FleetConfig, graph: RoadGraph, steps: int) -> list[tuple[str, bytes]]:
    trackers = build_fleet(config, graph)
    return [
        (device_id, message.payload)
        for device_id, _, sent in simulate(trackers, START, 1.0, steps)
        for message in sent
    ]


def assert_valid_fix(payload: dict) -> None:
    assert set(payload) == {
        "time",
        "lat",
        "lon",
        "speed_kmh",
        "heading",
        "alt_m",
        "accuracy_m",
        "sats",
        "attrs",
    }
    assert TIME_FORMAT.match(payload["time"])
    assert 16.0 < payload["lat"] < 16.11 and 108.18 < payload["lon"] < 108.26
    assert isinstance(payload["speed_kmh"], float) and payload["speed_kmh"] >= 0
    assert isinstance(payload["heading"], int) and 0 <= payload["heading"] < 360
    assert isinstance(payload["alt_m"], int) and -10 < payload["alt_m"] < 30
    assert isinstance(payload["accuracy_m"], int) and payload["accuracy_m"] >= 1
    assert isinstance(payload["sats"], int) and 6 <= payload["sats"] <= 12
    assert payload["attrs"]["state"] in {p.value for p in Phase}
    assert set(payload["attrs"]) == {"state"}


def test_time_is_utc_iso8601_with_milliseconds_and_z() -> None:
    hanoi = timezone(timedelta(hours=7))
    assert format_time(datetime(2026, 11, 27, 15, 0, 0, 123_999, tzinfo=hanoi)) == "2026-11-27T08:00:00.123Z"
    assert format_time(START) == "2026-11-27T08:00:00.000Z"


def test_payloads_match_the_tracker_format(graph: RoadGraph) -> None:
    messages = messages_of(FleetConfig(vehicles=3, dwell_scale=0.1), graph, 300)
    assert len(messages) == 900
    for _, payload in messages:
        decoded = json.loads(payload)
        assert isinstance(decoded, dict)
        assert_valid_fix(decoded)


def test_example_payload() -> None:
    fix = Fix(START, 16.0544, 108.2022, 42.5, 180, 5, 4, 9, "to_scene")
    assert json.loads(encode_fix(fix)) == {
        "time": "2026-11-27T08:00:00.000Z",
        "lat": 16.0544,
        "lon": 108.2022,
        "speed_kmh": 42.5,
        "heading": 180,
        "alt_m": 5,
        "accuracy_m": 4,
        "sats": 9,
        "attrs": {"state": "to_scene"},
    }


def test_same_seed_same_fixes_other_seed_other_fixes(graph: RoadGraph) -> None:
    config = FleetConfig(vehicles=4, seed=7, dwell_scale=0.05, gap_probability=0.2, gap_seconds=10)
    first = messages_of(config, graph, 200)
    assert first == messages_of(config, graph, 200)
    other = messages_of(FleetConfig(vehicles=4, seed=8, dwell_scale=0.05, gap_probability=0.2), graph, 200)
    assert first != other


def test_noise_does_not_change_the_trajectories(graph: RoadGraph) -> None:
    def states(noise_m: float) -> list[tuple[float, str]]:
        trackers = build_fleet(FleetConfig(vehicles=3, noise_m=noise_m, dwell_scale=0.05), graph)
        return [(fix.speed_kmh, fix.state) for _, fix, _ in simulate(trackers, START, 1.0, 200)]

    assert states(0.0) == states(4.0)


def test_noise_has_the_requested_size_and_drifts_smoothly() -> None:
    receiver = GpsReceiver(random.Random(1), DANANG, noise_m=4.0)
    truth = VehicleSample(16.05, 108.21, 0.0, 0.0, Phase.IDLE, None)
    x0, y0 = DANANG.to_xy(truth.lat, truth.lon)
    errors = []
    for second in range(3000):
        fix = receiver.fix(truth, START + timedelta(seconds=second))
        x, y = DANANG.to_xy(fix.lat, fix.lon)
        errors.append((x - x0, y - y0))
    rms = math.sqrt(sum(dx * dx + dy * dy for dx, dy in errors) / len(errors))
    assert 3.0 < rms < 5.0
    steps = [math.dist(a, b) for a, b in itertools.pairwise(errors)]
    assert sum(steps) / len(steps) < 2.5  # correlated: far less than independent 4 m draws


def test_gap_backlog_is_published_as_one_ordered_array(graph: RoadGraph) -> None:
    config = FleetConfig(vehicles=3, noise_m=0.0, gap_probability=0.3, gap_seconds=20.0, dwell_scale=0.1)
    trackers = build_fleet(config, graph)
    generated: dict[str, list[str]] = {t.device_id: [] for t in trackers}
    published: dict[str, list[str]] = {t.device_id: [] for t in trackers}
    backlogs = []
    for device_id, fix, sent in simulate(trackers, START, 1.0, 600):
        generated[device_id].append(format_time(fix.time))
        for message in sent:
            decoded = json.loads(message.payload)
            if isinstance(decoded, list):
                backlogs.append(decoded)
                times = [item["time"] for item in decoded]
                assert times == sorted(times) and len(set(times)) == len(times)
                for item in decoded:
                    assert_valid_fix(item)
                published[device_id].extend(times)
            else:
                published[device_id].append(decoded["time"])
    assert backlogs and all(len(b) >= 20 for b in backlogs)  # a whole gap's fixes in one message
    # Nothing lost, nothing repeated, order kept (except fixes still held by a gap at the very end).
    for device_id, times in published.items():
        assert times == generated[device_id][: len(times)]
        assert len(generated[device_id]) - len(times) <= 20


def test_coverage_gaps_last_gap_seconds() -> None:
    gaps = CoverageGaps(random.Random(3), probability_per_min=0.5, gap_s=15.0)
    covered = [gaps.advance(1.0) for _ in range(3600)]
    runs, current = [], 0
    for ok in covered:
        if not ok:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    assert runs and all(run == 15 for run in runs)
    assert all(CoverageGaps(random.Random(3)).advance(1.0) for _ in range(1000))


def test_outbox_holds_retries_and_bounds() -> None:
    fixes = [Fix(START + timedelta(seconds=i), 16.05, 108.2, 0.0, 0, 5, 4, 9, "idle") for i in range(6)]
    outbox = Outbox(max_fixes=4)
    assert outbox.next_message() is None
    outbox.put(fixes[0])
    single = outbox.next_message()
    assert single is not None and isinstance(json.loads(single.payload), dict)
    outbox.held = True
    outbox.put(fixes[1])
    assert outbox.next_message() is None
    outbox.held = False
    pending = outbox.next_message()
    assert pending is not None and pending.fix_count == 2
    # Not acknowledged (say the publish failed): the fixes stay; the oldest go once the bound is hit.
    for fix in fixes[2:]:
        outbox.put(fix)
    assert len(outbox) == 4 and outbox.dropped == 2
    message = outbox.next_message()
    assert message is not None
    assert [item["time"] for item in json.loads(message.payload)] == [format_time(f.time) for f in fixes[2:]]
    outbox.put(fixes[0])  # arrives while the message is in flight
    outbox.acknowledge(message.last_seq)
    assert len(outbox) == 1


def test_device_ids_match_seed_fleet() -> None:
    assert device_ids("emu-", 3) == ["emu-0001", "emu-0002", "emu-0003"]
    assert device_ids("x", 12)[-1] == "x0012"


def test_a_long_backlog_goes_out_in_bounded_arrays_in_order() -> None:
    outbox = Outbox(max_fixes=5000)
    for i in range(1200):
        outbox.put(Fix(START + timedelta(seconds=i), 16.05, 108.2, 0.0, 0, 5, 4, 9, "idle"))
    sizes, times = [], []
    while (message := outbox.next_message()) is not None:
        batch = json.loads(message.payload)
        sizes.append(len(batch))
        times.extend(item["time"] for item in batch)
        outbox.acknowledge(message.last_seq)
    assert sizes == [MAX_FIXES_PER_MESSAGE, MAX_FIXES_PER_MESSAGE, 200]
    assert times == sorted(times) and len(set(times)) == 1200
