"""OsmAnd over a real HTTP socket: the listener in-process on a free port with the real ingest and
PostGIS. Traccar's captures (see test_osmand_decode.py for their source) are sent as is; the
ingest's clock is set just after each capture's time so that the pipeline accepts old captures.
The captures carry no token: the decoding tests serve with `require_token=False` (what an operator
may choose, counted); tokens and refusals are tested in test_osmand_auth.py."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from prometheus_client import REGISTRY

from gateway.handlers.osmand import OsmAndApp, OsmAndLimits
from gateway.transports.http import HttpLimits, HttpListener, ListenError
from tests.gateway.harness import IngestHarness, recent_utc
from tests.gateway.test_osmand_decode import (
    J_MOVING,
    J_STILL,
    Q_BATT,
    Q_CELL_WIFI,
    Q_IGNITION,
    Q_ISO,
    Q_LOCAL,
    Q_MS,
)
from tests.services import free_port
from tracking.fleet import issue_device_token, register_device, register_vehicle

PLATE = "43A10001"


@asynccontextmanager
async def serving(
    harness: IngestHarness, limits: OsmAndLimits | None = None, http: HttpLimits | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    port = free_port()
    listener = HttpListener(OsmAndApp(harness.ingest, limits), "127.0.0.1", port, http)
    task = asyncio.create_task(listener.serve())
    async with asyncio.timeout(5):
        while not listener.started:  # noqa: ASYNC110 - uvicorn offers no event
            await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def harness(db: psycopg.Connection, database_url: str) -> AsyncIterator[IngestHarness]:
    register_vehicle(db, PLATE, "115-T1")
    async with IngestHarness(database_url, flush_interval_ms=50) as h:
        yield h


NO_TOKEN = OsmAndLimits(require_token=False)


@pytest.fixture
async def client(harness: IngestHarness) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(harness, NO_TOKEN) as c:
        yield c


def device(db: psycopg.Connection, device_id: str, protocol: str = "osmand") -> str:
    register_device(db, device_id, protocol, PLATE)
    return device_id


def clock_at(harness: IngestHarness, moment: datetime) -> None:
    harness.ingest.clock = lambda: moment + timedelta(seconds=30)


def refused(reason: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "amb_gateway_protocol_refused_total", {"protocol": "osmand", "reason": reason}
        )
        or 0.0
    )


def unauthenticated() -> float:
    return REGISTRY.get_sample_value("amb_gateway_unauthenticated_total", {"protocol": "osmand"}) or 0.0


@pytest.mark.parametrize(
    ("uri", "device_id", "fix_time", "lat", "lon", "speed_kmh", "course", "attributes"),
    [
        (Q_ISO, "902064", datetime(2016, 1, 27, 18, 55, 47, tzinfo=UTC), 42.06288, -88.23412, 0.0, None, {}),
        (
            Q_MS,
            "902064",
            datetime(2015, 9, 12, 14, 38, 6, 579000, tzinfo=UTC),
            42.06288,
            -88.23412,
            0.0,
            None,
            {},
        ),
        (
            Q_LOCAL,
            "353861053849681",
            datetime(2014, 6, 4, 9, 10, 11, tzinfo=UTC),
            49.60688,
            6.15788,
            0.0,
            None,
            {},
        ),
        (
            Q_IGNITION,
            "123456789012345",
            datetime(2017, 9, 7, 5, 56, 50, tzinfo=UTC),
            40.7232948571,
            -74.0061408571,
            40 * 1.852,
            7.19889788244,
            {"ignition": True, "rpm": 933.0, "fuel": 24.0},
        ),
    ],
)
async def test_query_captures_are_stored_and_acknowledged_after_commit(
    db: psycopg.Connection,
    harness: IngestHarness,
    client: httpx.AsyncClient,
    uri: str,
    device_id: str,
    fix_time: datetime,
    lat: float,
    lon: float,
    speed_kmh: float,
    course: float | None,
    attributes: dict[str, object],
) -> None:
    device(db, device_id)
    clock_at(harness, fix_time)
    response = await client.get(uri)
    assert (response.status_code, response.content) == (200, b"")
    # The reply came after the commit: the row is there the moment the reply is.
    [row] = harness.stored(device_id)
    assert row[0] == fix_time
    assert row[1] == pytest.approx(lat, abs=1e-9) and row[2] == pytest.approx(lon, abs=1e-9)
    assert row[3] == pytest.approx(speed_kmh, rel=1e-6)
    assert row[4] == (None if course is None else pytest.approx(course, rel=1e-6))
    assert row[5] is False and row[6] == attributes


async def test_the_same_capture_as_a_form_post_and_without_timestamp(
    db: psycopg.Connection, harness: IngestHarness, client: httpx.AsyncClient
) -> None:
    device(db, "861001000719969")
    response = await client.post(
        "/", content=Q_BATT[2:], headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 200
    [row] = harness.stored("861001000719969")
    assert abs(row[0] - datetime.now(UTC)) < timedelta(seconds=5)  # dated on receipt
    assert (row[1], row[2], row[6]) == (
        pytest.approx(41.666667),
        pytest.approx(-0.883333),
        {"battery_pct": 87.0},
    )


async def test_json_captures_and_a_backlog_batch(
    db: psycopg.Connection, harness: IngestHarness, client: httpx.AsyncClient
) -> None:
    device(db, "48241179")
    device(db, "8737767034")  # before the first request: an unknown id never waits for a reload
    clock_at(harness, datetime(2025, 6, 15, 13, 45, 12, tzinfo=UTC))
    response = await client.post("/", content=J_STILL, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.content) == (200, b"")
    [row] = harness.stored("48241179")
    assert row[:4] == (
        datetime(2025, 6, 15, 13, 45, 12, 862000, tzinfo=UTC),
        pytest.approx(37.4219983),
        pytest.approx(-122.084),
        0.0,
    )
    assert row[6]["battery_pct"] == 100 and row[6]["event"] == "motionchange"

    clock_at(harness, datetime(2021, 7, 21, 8, 7, tzinfo=UTC))
    first = json.loads(J_MOVING)["location"]
    later = {**first, "timestamp": "2021-07-21T08:06:44.444Z"}
    batch = {"device_id": "8737767034", "locations": [first, later]}
    response = await client.post("/", json=batch)
    assert response.status_code == 200
    rows = harness.stored("8737767034")
    assert [r[0].second for r in rows] == [34, 44]
    assert all(r[5] for r in rows)  # a batch is a backlog: stored as late
    assert rows[0][3] == pytest.approx(18.67 * 3.6, rel=1e-5) and rows[0][4] == 63.0


async def test_unknown_devices_and_other_protocols_get_401(
    db: psycopg.Connection, client: httpx.AsyncClient
) -> None:
    device(db, "862095050123456", "gt06")
    before = refused("wrong_protocol")
    assert (await client.get("/?id=nobody&lat=16&lon=108")).status_code == 401
    # A GT06 tracker's IMEI cannot be spoken for over HTTP.
    assert (await client.get("/?id=862095050123456&lat=16&lon=108")).status_code == 401
    assert refused("wrong_protocol") == before + 1


async def test_malformed_requests_get_400_with_the_reason(
    db: psycopg.Connection, client: httpx.AsyncClient
) -> None:
    device(db, "123456")
    no_id = await client.get("/?lat=16&lon=108")
    assert no_id.status_code == 400 and "id (or deviceid) is required" in no_id.text
    bad_lat = await client.get("/?id=123456&lat=north&lon=108")
    assert bad_lat.status_code == 400 and bad_lat.text.startswith("bad_type: lat must be a number")
    cells_only = await client.get(Q_CELL_WIFI)
    assert cells_only.status_code == 400 and cells_only.text.startswith("missing_field")
    bad_json = await client.post("/", content=b"{", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.text.startswith("bad_json")


async def test_tokens(db: psycopg.Connection, harness: IngestHarness, client: httpx.AsyncClient) -> None:
    device(db, "phone-1")
    device(db, "phone-2")
    token = issue_device_token(db, "phone-1")
    fix = f"/?id=phone-1&lat=16.05&lon=108.2&timestamp={int(recent_utc(50).timestamp())}"
    before = refused("bad_token")
    missing = await client.get(fix)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert (await client.get(fix + "&token=amb_dev_wrong")).status_code == 401
    assert refused("bad_token") == before + 2
    assert (await client.get(fix + f"&token={token}")).status_code == 200
    headers = {"Authorization": f"Bearer {token}"}
    second = f"/?id=phone-1&lat=16.05&lon=108.2&timestamp={int(recent_utc(40).timestamp())}"
    assert (await client.get(second, headers=headers)).status_code == 200
    location = {"timestamp": recent_utc(30).isoformat(), "coords": {"latitude": 16.05, "longitude": 108.2}}
    body = {"device_id": "phone-1", "location": location}
    assert (await client.post(f"/?token={token}", json=body)).status_code == 200
    assert (await client.post("/", json=body)).status_code == 401
    rows = harness.stored("phone-1")
    assert len(rows) == 3 and all("token" not in r[6] for r in rows)

    # With require_token=False, a device with no token yet is accepted on its id, and counted.
    counted = unauthenticated()
    assert (await client.get("/?id=phone-2&lat=16.05&lon=108.2")).status_code == 200
    assert unauthenticated() == counted + 1


async def test_a_resent_fix_is_acknowledged_again_and_stored_once(
    db: psycopg.Connection, harness: IngestHarness, client: httpx.AsyncClient
) -> None:
    device(db, "123456")
    uri = f"/?id=123456&lat=16.05&lon=108.2&timestamp={int(recent_utc().timestamp())}"
    assert (await client.get(uri)).status_code == 200
    assert (await client.get(uri)).status_code == 200  # the client missed our first reply
    assert len(harness.stored("123456")) == 1


async def test_the_reply_waits_for_the_commit(db: psycopg.Connection, database_url: str) -> None:
    register_vehicle(db, PLATE, "115-T1")
    device(db, "123456")
    async with IngestHarness(database_url, flush_interval_ms=300) as slow, serving(slow, NO_TOKEN) as client:
        started = asyncio.get_running_loop().time()
        response = await client.get(
            f"/?id=123456&lat=16.05&lon=108.2&timestamp={int(recent_utc().timestamp())}"
        )
        elapsed = asyncio.get_running_loop().time() - started
        assert response.status_code == 200 and elapsed >= 0.25
        assert len(slow.stored("123456")) == 1


async def test_size_rate_and_header_limits(db: psycopg.Connection, harness: IngestHarness) -> None:
    device(db, "123456")
    limits = OsmAndLimits(max_body_bytes=1024, requests_per_second=0.5, request_burst=2, require_token=False)
    async with serving(harness, limits, HttpLimits(max_header_bytes=4096)) as client:
        declared = await client.post("/", content=b"x" * 2000)
        assert declared.status_code == 413

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the app counts
            for _ in range(4):
                yield b"y" * 500

        assert (await client.post("/", content=chunks())).status_code == 413
        huge_header = await client.get("/?id=123456&lat=16&lon=108", headers={"X-Junk": "z" * 8000})
        assert huge_header.status_code == 431

        statuses = []
        for age in (30, 20, 10):
            uri = f"/?id=123456&lat=16.05&lon=108.2&timestamp={int(recent_utc(age).timestamp())}"
            statuses.append((await client.get(uri)).status_code)
        assert statuses == [200, 200, 429]
        assert len(harness.stored("123456")) == 2


async def test_a_taken_port_fails_the_listener_not_the_process(harness: IngestHarness) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ListenError, match=f"cannot listen on 127.0.0.1:{port}"):
            await HttpListener(OsmAndApp(harness.ingest), "127.0.0.1", port).serve()
