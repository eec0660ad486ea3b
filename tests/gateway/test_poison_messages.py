"""Poison messages on every transport, against the real writer and PostGIS: each one is refused with a
reason, counted, acknowledged where the protocol acknowledges refusals, and never stops the task or
the gateway. A valid fix of another device sent right after it (and one beside it, in the same
batch) is stored. Where no decoder raises any more, a decoder bug is injected to prove the boundary."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client import REGISTRY

from gateway import ingest as ingest_module
from gateway.handlers import mqtt_json as mqtt_json_handler
from gateway.handlers import osmand as osmand_handler
from gateway.handlers import owntracks as owntracks_handler
from gateway.handlers import teltonika as teltonika_handler
from gateway.handlers.mqtt_json import MqttJsonHandler
from gateway.handlers.osmand import OsmAndLimits
from gateway.handlers.owntracks import OwnTracksHandler
from gateway.handlers.teltonika import TeltonikaDatagramHandler
from gateway.transports.datagram import DatagramListener
from tests.gateway.harness import IngestHarness, recent_utc
from tests.gateway.teltonika_captures import TRACCAR_8_ONE, TRACCAR_UDP
from tests.gateway.test_gt06_session import CLOCK_2015, LOGIN, BACKLOG_0x22, ack, connect
from tests.gateway.test_gt06_session import gateway as gt06_gateway
from tests.gateway.test_osmand_http import serving
from tests.gateway.test_teltonika_tcp import IMEI, closed, read, serve
from tests.gateway.test_teltonika_udp import Client
from tests.services import free_port
from tracking.fleet import register_device, register_vehicle

FLUSH_MS = 50


def refused(reason: str) -> float:
    return REGISTRY.get_sample_value("amb_gateway_refused_total", {"reason": reason}) or 0.0


def fix(**fields: Any) -> dict[str, Any]:
    return {"time": recent_utc().isoformat(), "lat": 16.06, "lon": 108.21, **fields}


def raw_fix(**fields: str) -> bytes:
    """A fix whose fields are JSON text as given (for literals json.dumps cannot write)."""
    values = {"time": json.dumps(recent_utc().isoformat()), "lat": "16.06", "lon": "108.21", **fields}
    return ("{" + ",".join(f'"{k}":{v}' for k, v in values.items()) + "}").encode()


MQTT_POISON: list[tuple[str, bytes, str]] = [
    ("deep array", b"[" * 5000, "bad_json"),
    ("deep object", b'{"a":' * 5000, "bad_json"),
    ("1e400", raw_fix(lat="1e400"), "bad_type"),
    ("5000-digit integer", raw_fix(lat="1" + "0" * 5000), "bad_json"),
    ("4000-digit integer", raw_fix(lat="1" + "0" * 4000), "bad_type"),
    ("NaN", raw_fix(lat="NaN"), "bad_type"),
    ("Infinity", raw_fix(lon="-Infinity"), "bad_type"),
    ("invalid UTF-8", b'{"time":"\xff\xfe","lat":16,"lon":108}', "bad_json"),
    ("1 MB string in attrs", json.dumps(fix(attrs={"s": "x" * 1_048_576})).encode(), "payload_too_large"),
    ("100 kB string in attrs", json.dumps(fix(attrs={"s": "x" * 100_000})).encode(), "bad_attributes"),
    ("lat as string", json.dumps(fix(lat="16.06")).encode(), "bad_type"),
    ("lat as list", json.dumps(fix(lat=[16.06])).encode(), "bad_type"),
    ("lat as object", json.dumps(fix(lat={"v": 16.06})).encode(), "bad_type"),
    ("time as object", json.dumps(fix(time={"t": 1})).encode(), "bad_type"),
    ("time past year 9999 in UTC", json.dumps(fix(time="9999-12-31T23:59:59-23:59")).encode(), "bad_time"),
]


class MqttHarness(IngestHarness):
    """The MQTT handlers over the real ingest, as the broker consumer calls them."""

    async def __aenter__(self) -> MqttHarness:
        await super().__aenter__()
        self.json = MqttJsonHandler(self.ingest)
        self.owntracks = OwnTracksHandler(self.ingest)
        return self

    async def send(self, device_id: str, payload: bytes, name: str) -> None:
        await self.json.handle(f"trackers/{device_id}/position", payload, self.recording_ack(name))

    def alive(self) -> bool:
        return not self.task.done()


@pytest.fixture
async def mqtt(db: psycopg.Connection, database_url: str) -> AsyncIterator[tuple[MqttHarness, str, str]]:
    """The harness, a poisoning device and a healthy one (both MQTT JSON, registered)."""
    vehicle = register_vehicle(db, "43A66601", "115-P1")
    register_device(db, "poisoner", "mqtt_json", vehicle.plate)
    other = register_vehicle(db, "43A66602", "115-P2")
    register_device(db, "healthy", "mqtt_json", other.plate)
    async with MqttHarness(database_url, flush_interval_ms=FLUSH_MS) as h:
        yield h, "poisoner", "healthy"


@pytest.mark.parametrize(("payload", "reason"), [p[1:] for p in MQTT_POISON], ids=[p[0] for p in MQTT_POISON])
async def test_mqtt_json_poison_is_refused_acknowledged_and_harms_no_other_fix(
    mqtt: tuple[MqttHarness, str, str], payload: bytes, reason: str
) -> None:
    h, poisoner, healthy = mqtt
    before = refused(reason)
    # Beside it in the same batch, and right after it.
    await h.send(healthy, json.dumps(fix(time=recent_utc(90).isoformat())).encode(), "beside")
    await h.send(poisoner, payload, "poison")
    await h.send(healthy, json.dumps(fix()).encode(), "after")
    await h.writer.drain()
    assert h.writer.unacknowledged == 0
    assert h.acked == ["beside", "poison", "after"]  # the poison too, in its place
    assert refused(reason) == before + 1
    assert len(h.stored(healthy)) == 2
    assert h.stored(poisoner) == []
    assert h.alive()


async def test_a_decoder_bug_is_refused_as_decode_error_not_fatal(
    mqtt: tuple[MqttHarness, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    h, poisoner, healthy = mqtt
    real_parse = mqtt_json_handler.parse_fix

    def buggy(obj: Any) -> Any:
        if obj.get("bug"):
            raise RecursionError("maximum recursion depth exceeded")
        return real_parse(obj)

    monkeypatch.setattr(mqtt_json_handler, "parse_fix", buggy)
    before = refused("decode_error")
    await h.send(poisoner, json.dumps(fix(bug=True)).encode(), "poison")
    await h.send(healthy, json.dumps(fix()).encode(), "after")
    await h.writer.drain()
    assert h.writer.unacknowledged == 0
    assert h.acked == ["poison", "after"]
    assert refused("decode_error") == before + 1
    assert len(h.stored(healthy)) == 1 and h.alive()


async def test_a_check_that_raises_refuses_only_its_fix(
    mqtt: tuple[MqttHarness, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every transport's fixes pass the checks in the ingest: a check raising is bounded there."""
    h, poisoner, _ = mqtt

    real = ingest_module.first_refusal

    def buggy(f: Any, now: datetime, s: Any) -> Any:
        if f.lat == 16.5:
            raise OverflowError("date value out of range")
        return real(f, now, s)

    monkeypatch.setattr(ingest_module, "first_refusal", buggy)
    before = refused("decode_error")
    await h.send(
        poisoner, json.dumps([fix(lat=16.5), fix(time=recent_utc(30).isoformat())]).encode(), "mixed"
    )
    await h.writer.drain()
    assert h.writer.unacknowledged == 0
    assert refused("decode_error") == before + 1
    assert len(h.stored(poisoner)) == 1 and h.acked == ["mixed"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[" * 5000, "bad_json"),
        (b'{"_type":"location","lat":NaN,"lon":108,"tst":1}', "bad_json"),
        (b'{"_type":"location","lat":"16","lon":108,"tst":{"a":1}}', "bad_type"),
        (b'{"_type":"location","lat":16,"lon":108,"tst":' + b"9" * 5000 + b"}", "bad_json"),
    ],
)
async def test_owntracks_poison_is_refused_and_acknowledged(
    db: psycopg.Connection, mqtt: tuple[MqttHarness, str, str], payload: bytes, reason: str
) -> None:
    h, _, healthy = mqtt
    register_device(db, "jane.phone", "owntracks", "43A66601")
    before = refused(reason)
    await h.owntracks.handle("owntracks/jane/phone", payload, h.recording_ack("poison"))
    await h.send(healthy, json.dumps(fix()).encode(), "after")
    await h.writer.drain()
    assert h.writer.unacknowledged == 0
    assert h.acked == ["poison", "after"] and refused(reason) == before + 1
    assert len(h.stored(healthy)) == 1 and h.alive()


async def test_owntracks_decoder_bug_is_a_decode_error(
    mqtt: tuple[MqttHarness, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    h, _, healthy = mqtt

    def buggy(payload: bytes) -> Any:
        raise KeyError("_type")

    monkeypatch.setattr(owntracks_handler, "decode", buggy)
    before = refused("decode_error")
    await h.owntracks.handle("owntracks/jane/phone", b"{}", h.recording_ack("poison"))
    await h.send(healthy, json.dumps(fix()).encode(), "after")
    await h.writer.drain()
    assert h.writer.unacknowledged == 0
    assert h.acked == ["poison", "after"] and refused("decode_error") == before + 1
    assert h.alive()


# --- Teltonika TCP and UDP -------------------------------------------------------------------------

TELTONIKA_2_31_RECORDS = bytes.fromhex("00000000") + (2**31).to_bytes(4, "big") + bytes.fromhex("08ff")


@pytest.fixture
def teltonika_device(db: psycopg.Connection) -> str:
    vehicle = register_vehicle(db, "43A66603", "115-P3")
    register_device(db, IMEI, "teltonika", vehicle.plate)
    register_device(db, "357454072713975", "teltonika", vehicle.plate)  # the UDP capture's
    return IMEI


async def test_teltonika_tcp_packet_declaring_2_31_bytes_closes_only_its_connection(
    db: psycopg.Connection, database_url: str, teltonika_device: str
) -> None:
    async for gw in serve(database_url):
        reader, writer = await gw.logged_in()  # a healthy device, connected beside it
        before = refused("bad_frame")
        bad_reader, bad = await gw.connect()
        bad.write(TELTONIKA_2_31_RECORDS)
        await closed(bad_reader)
        assert refused("bad_frame") == before + 1
        writer.write(bytes.fromhex(TRACCAR_8_ONE))
        assert await read(reader, 4) == bytes.fromhex("00000001")
        assert len(gw.harness.stored(teltonika_device)) == 1
        assert not gw.harness.task.done()


async def test_teltonika_tcp_decoder_bug_closes_only_its_connection(
    db: psycopg.Connection, database_url: str, teltonika_device: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = teltonika_handler.decode_avl
    calls = 0

    def buggy(data: bytes) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise MemoryError("2**31 records")
        return real(data)

    monkeypatch.setattr(teltonika_handler, "decode_avl", buggy)
    async for gw in serve(database_url):
        before = refused("decode_error")
        bad_reader, bad = await gw.logged_in()
        bad.write(bytes.fromhex(TRACCAR_8_ONE))
        await closed(bad_reader)
        assert refused("decode_error") == before + 1
        reader, writer = await gw.logged_in()
        writer.write(bytes.fromhex(TRACCAR_8_ONE))
        assert await read(reader, 4) == bytes.fromhex("00000001")
        assert len(gw.harness.stored(teltonika_device)) == 1


async def test_teltonika_udp_poison_datagrams_never_stop_the_listener(
    db: psycopg.Connection, database_url: str, teltonika_device: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = teltonika_handler.decode_datagram

    def buggy(data: bytes) -> Any:
        if data.startswith(b"\xde\xad"):
            raise RecursionError("boom")
        return real(data)

    monkeypatch.setattr(teltonika_handler, "decode_datagram", buggy)
    # N1 = 255 records (the most a UDP packet can declare) and none of them there.
    imei = b"357454072713975"
    body = b"\xca\xfe\x01\x22" + len(imei).to_bytes(2, "big") + imei + b"\x08\xff\x00\x00"
    many_records = len(body).to_bytes(2, "big") + body
    async with IngestHarness(database_url, flush_interval_ms=FLUSH_MS, max_age_days=20_000) as h:
        port = free_port()
        handler = TeltonikaDatagramHandler(h.ingest, h.settings)
        task = asyncio.create_task(DatagramListener(handler, "127.0.0.1", port).serve())
        await asyncio.sleep(0.1)
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.0.1", port))
        try:
            frames, errors = refused("bad_frame"), refused("decode_error")
            transport.sendto(many_records)
            transport.sendto(b"\xde\xad" + b"\x00" * 30)
            transport.sendto(bytes.fromhex(TRACCAR_UDP))
            async with asyncio.timeout(5):
                reply = await client.replies.get()
            assert reply[-1] == 1  # only the valid datagram is acknowledged
            assert (refused("bad_frame"), refused("decode_error")) == (frames + 1, errors + 1)
            assert not task.done()
        finally:
            transport.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


# --- GT06 -------------------------------------------------------------------------------------------


async def test_gt06_frame_with_absurd_length_closes_only_its_connection(
    db: psycopg.Connection, database_url: str
) -> None:
    vehicle = register_vehicle(db, "43A66604", "115-P4")
    register_device(db, "123456789012345", "gt06", vehicle.plate)
    async with gt06_gateway(database_url, CLOCK_2015) as (harness, port):
        reader, writer = await connect(port)  # a healthy device, logged in beside it
        writer.write(LOGIN)
        assert await read(reader, 10) == ack(0x01, 1)
        before = refused("bad_frame")
        bad_reader, bad = await connect(port)
        bad.write(b"\x79\x79\xff\xff" + b"\x01" * 4000)  # declares 65535 bytes, no end in sight
        await closed(bad_reader)
        assert refused("bad_frame") == before + 1
        writer.write(BACKLOG_0x22)
        assert await read(reader, 10) == ack(0x22, 8)
        assert len(harness.stored("123456789012345")) == 1


# --- OsmAnd HTTP ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "status", "reason"),
    [
        ("id=osm-bad&lat=16&lon=108&timestamp=9999-12-31T23:59:59-23:59", 400, "bad_time"),
        ("id=osm-bad&lat=1e999&lon=108", 400, "bad_type"),
        ("id=osm-bad&lat=16&lon=108&speed=" + "9" * 5000, 400, "bad_type"),
        ("%ff%fe=%00&&==&id=osm-bad&lat=%ff&lon=NaN", 400, "bad_type"),
        ("id=%ff%fe%00&lat=16&lon=108", 401, "unknown_device"),
    ],
)
async def test_osmand_garbage_query_is_refused_and_other_devices_are_served(
    db: psycopg.Connection, database_url: str, query: str, status: int, reason: str
) -> None:
    vehicle = register_vehicle(db, "43A66605", "115-P5")
    register_device(db, "osm-bad", "osmand", vehicle.plate)
    register_device(db, "osm-good", "osmand", vehicle.plate)
    async with (
        IngestHarness(database_url, flush_interval_ms=FLUSH_MS) as h,
        serving(h, OsmAndLimits(require_token=False)) as client,
    ):
        before = refused(reason)
        response = await client.get(f"/?{query}")
        assert response.status_code == status
        assert refused(reason) == before + 1
        await _served(client, h)


async def test_osmand_decoder_bug_is_a_400_decode_error(
    db: psycopg.Connection, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    vehicle = register_vehicle(db, "43A66605", "115-P5")
    register_device(db, "osm-good", "osmand", vehicle.plate)
    real = osmand_handler.decode_query

    def buggy(params: Any, *args: Any) -> Any:
        if ("bug", "1") in params:
            raise RecursionError("boom")
        return real(params, *args)

    monkeypatch.setattr(osmand_handler, "decode_query", buggy)
    async with (
        IngestHarness(database_url, flush_interval_ms=FLUSH_MS) as h,
        serving(h, OsmAndLimits(require_token=False)) as client,
    ):
        before = refused("decode_error")
        response = await client.get("/?id=osm-good&lat=16&lon=108&bug=1")
        assert (response.status_code, response.text) == (400, "decode_error\n")
        assert refused("decode_error") == before + 1
        await _served(client, h)


async def _served(client: httpx.AsyncClient, h: IngestHarness) -> None:
    moment = (datetime.now(UTC) - timedelta(seconds=20)).replace(microsecond=0)
    response = await client.get(f"/?id=osm-good&lat=16.06&lon=108.21&timestamp={int(moment.timestamp())}")
    assert response.status_code == 200
    assert [r[0] for r in h.stored("osm-good")] == [moment]
    assert not h.task.done()
