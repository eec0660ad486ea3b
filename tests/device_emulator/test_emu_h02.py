"""The emulator's H02 encoder against the gateway's decoder: round trips of emulator fixes as V1
sentences and heartbeats, over TCP and UDP to real listeners."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
from hypothesis import given
from hypothesis import strategies as st

from device_emulator.fixes import Fix
from device_emulator.fleet import Phase
from device_emulator.protocols import h02 as emu
from gateway.decoded import FixFields
from gateway.handlers.h02 import H02DatagramHandler, H02Protocol
from gateway.protocols.h02 import H02Splitter, Heartbeat, Report, decode, encode_v4_reply
from gateway.transports.datagram import DatagramListener
from gateway.transports.stream import StreamListener
from tests.device_emulator import drive
from tests.gateway.harness import IngestHarness
from tests.services import free_port
from tracking.fleet import register_device, register_vehicle

DEVICE_ID = "4210051415"
# 1/10 000 of a minute: 1.7e-6 degree, 19 cm.
RESOLUTION_DEG = 0.5 / 600_000 + 1e-12


def emulator_fixes(count: int, start: datetime, seed: int = 13) -> list[Fix]:
    return drive.emulator_fixes(count, start, seed=seed, phase=Phase.TO_HOSPITAL)


def decoded(sentence: bytes) -> FixFields:
    assert H02Splitter().split(bytearray(sentence)) == [sentence]
    message = decode(sentence)
    assert isinstance(message, Report) and message.device_id == DEVICE_ID and message.command == "V1"
    assert isinstance(message.item, FixFields), message.item
    return message.item


def assert_same(fix: Fix, fields: FixFields) -> None:
    assert fields.fix_time == fix.time.replace(microsecond=0)  # H02 times are whole seconds
    assert abs(fields.lat - fix.lat) <= RESOLUTION_DEG and abs(fields.lon - fix.lon) <= RESOLUTION_DEG
    assert fields.speed_kmh is not None and abs(fields.speed_kmh - fix.speed_kmh) <= 0.01  # 0.01 knot
    assert fields.course == fix.heading


def test_v1_sentence_layout() -> None:
    fix = Fix(datetime(2026, 11, 27, 8, 0, 5, tzinfo=UTC), 16.0544, 108.2022, 37.04, 63, 5, 4, 9, "idle")
    assert emu.v1_sentence(DEVICE_ID, fix) == (
        b"*HQ,4210051415,V1,080005,A,1603.2640,N,10812.1320,E,20.00,063,271126,FFFFFFFF#"
    )


def test_live_fixes_round_trip() -> None:
    for fix in emulator_fixes(5, datetime(2026, 11, 27, 8, 0, 0, 400000, tzinfo=UTC)):
        fields = decoded(emu.v1_sentence(DEVICE_ID, fix))
        assert_same(fix, fields)
        assert fields.valid and not fields.backlog
        assert (fields.attributes or {})["ignition"] is True and "alarm" not in (fields.attributes or {})


def test_status_word_carries_ignition_and_sos() -> None:
    (fix,) = emulator_fixes(1, datetime(2026, 11, 27, 8, 0, tzinfo=UTC))
    attrs = decoded(emu.v1_sentence(DEVICE_ID, fix, ignition=False, sos=True)).attributes or {}
    assert attrs["ignition"] is False and attrs["alarm"] == "sos"


def test_heartbeat_and_acknowledgement() -> None:
    assert decode(emu.heartbeat(DEVICE_ID, 80)) == Heartbeat(DEVICE_ID, "HTBT", f"*HQ,{DEVICE_ID},HTBT", 80)
    reply = encode_v4_reply(DEVICE_ID, "V1", datetime(2026, 11, 27, 8, 0, 5, tzinfo=UTC))
    assert emu.acknowledged_id(reply) == DEVICE_ID
    assert emu.acknowledged_id(b"*HQ,4210051415,V4,NBR,20261127080005#") is None


@given(
    st.datetimes(datetime(2001, 1, 1), datetime(2099, 12, 31), timezones=st.just(UTC)),
    st.floats(-89.9, 89.9),
    st.floats(-179.9, 179.9),
    st.floats(0, 300),
    st.integers(0, 359),
)
def test_any_fix_round_trips(when: datetime, lat: float, lon: float, speed: float, heading: int) -> None:
    fix = Fix(when, round(lat, 7), round(lon, 7), speed, heading, 5, 5, 8, "idle")
    assert_same(fix, decoded(emu.v1_sentence(DEVICE_ID, fix)))


async def test_emulator_sentences_are_stored_over_tcp_and_udp(
    db: psycopg.Connection, database_url: str
) -> None:
    vehicle = register_vehicle(db, "43A67892", "115-H7")
    register_device(db, DEVICE_ID, "h02", vehicle.plate)
    start = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    fixes = emulator_fixes(4, start)
    async with IngestHarness(database_url, flush_interval_ms=50) as harness:
        port = free_port()
        tcp = StreamListener(H02Protocol(harness.ingest, harness.settings), "127.0.0.1", port)
        udp = DatagramListener(H02DatagramHandler(harness.ingest, harness.settings), "127.0.0.1", port)
        tasks = [asyncio.create_task(tcp.serve()), asyncio.create_task(udp.serve())]
        await asyncio.sleep(0.1)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        async with asyncio.timeout(3):
            writer.write(b"".join(emu.v1_sentence(DEVICE_ID, f) for f in fixes[:2]))
            for _ in range(2):
                assert emu.acknowledged_id(await reader.readuntil(b"#")) == DEVICE_ID
            writer.write(emu.heartbeat(DEVICE_ID))
            assert await reader.readuntil(b"#") == f"*HQ,{DEVICE_ID},HTBT#".encode()
        writer.close()
        loop = asyncio.get_running_loop()
        replies: asyncio.Queue[bytes] = asyncio.Queue()

        class Client(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                replies.put_nowait(data)

        transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.0.1", port))
        transport.sendto(b"".join(emu.v1_sentence(DEVICE_ID, f) for f in fixes[2:]))  # one datagram
        async with asyncio.timeout(3):
            for _ in range(2):
                assert emu.acknowledged_id(await replies.get()) == DEVICE_ID
        transport.close()
        rows = harness.stored(DEVICE_ID)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert [r[0] for r in rows] == [f.time for f in fixes]
