"""Issue 10, item 2, written as the attacks: someone who knows a tracker's IMEI (printed on its label,
sent in clear by every frame) forges its positions. Real sockets, the real ingest and PostGIS.

- a device restricted to its APN's network is refused from anywhere else (GT06, Teltonika TCP and
  UDP, H02, OsmAnd), with a counted reason;
- a second GT06/Teltonika/H02 session for an IMEI from another address, while the device's own
  session is live, is refused (logged and counted), unless the operator allows it;
- a fix stamped in the future does not become the vehicle's latest position.

127.0.0.2 is "another address": Linux routes all of 127/8 to the loopback interface.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from prometheus_client import REGISTRY

from device_emulator.fixes import Fix as EmuFix
from device_emulator.protocols import gt06, h02, teltonika
from gateway.handlers.gt06 import Gt06Protocol
from gateway.handlers.h02 import H02Protocol
from gateway.handlers.teltonika import TeltonikaDatagramHandler, TeltonikaProtocol
from gateway.transports.datagram import DatagramListener
from gateway.transports.stream import StreamLimits, StreamListener, StreamProtocol
from tests.gateway.harness import IngestHarness
from tests.services import free_port
from tracking.fleet import register_device, register_vehicle, set_allowed_networks

PLATE = "43A30001"
IMEI_GT06, IMEI_TELTONIKA, ID_H02 = "359710049095095", "356307042441013", "4210051415"
OTHER = "127.0.0.2"  # the attacker's address; the device's is 127.0.0.1


def emu_fix(seconds_ago: float, lat: float = 16.0612, lon: float = 108.2240) -> EmuFix:
    when = (datetime.now(UTC) - timedelta(seconds=seconds_ago)).replace(microsecond=0)
    return EmuFix(when, lat, lon, 36.0, 90, 5, 4, 9, "to_scene")


def refused(reason: str) -> float:
    return REGISTRY.get_sample_value("amb_gateway_refused_total", {"reason": reason}) or 0.0


def duplicates(protocol: str, outcome: str) -> float:
    labels = {"protocol": protocol, "outcome": outcome}
    return REGISTRY.get_sample_value("amb_gateway_duplicate_sessions_total", labels) or 0.0


@pytest.fixture
def device(db: psycopg.Connection) -> Callable[[str, str], str]:
    register_vehicle(db, PLATE, "115-F1")

    def register(device_id: str, protocol: str) -> str:
        register_device(db, device_id, protocol, PLATE)
        return device_id

    return register


@asynccontextmanager
async def listening(
    database_url: str, make: Callable[[IngestHarness], StreamProtocol], **settings: Any
) -> AsyncIterator[tuple[IngestHarness, int]]:
    async with IngestHarness(database_url, flush_interval_ms=20, **settings) as harness:
        port = free_port()
        listener = StreamListener(make(harness), "127.0.0.1", port, StreamLimits(idle_timeout_s=10))
        task = asyncio.create_task(listener.serve())
        await asyncio.sleep(0.05)
        try:
            yield harness, port
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def connect(port: int, source: str = "127.0.0.1") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def closed_without_reply(reader: asyncio.StreamReader) -> bool:
    async with asyncio.timeout(5):
        return await reader.read(100) == b""


def gt06_protocol(h: IngestHarness) -> StreamProtocol:
    return Gt06Protocol(h.ingest, h.settings)


def teltonika_protocol(h: IngestHarness) -> StreamProtocol:
    return TeltonikaProtocol(h.ingest, h.settings)


def h02_protocol(h: IngestHarness) -> StreamProtocol:
    return H02Protocol(h.ingest, h.settings)


# --- the allow-list of source networks ---------------------------------------------------------------


async def test_gt06_login_outside_the_allowed_network_is_refused(
    db: psycopg.Connection, database_url: str, device: Callable[[str, str], str]
) -> None:
    set_allowed_networks(db, device(IMEI_GT06, "gt06"), ["10.64.0.0/16", "127.0.0.1/32"])
    async with listening(database_url, gt06_protocol) as (harness, port):
        before = refused("source_not_allowed")
        reader, writer = await connect(port, OTHER)
        writer.write(gt06.login_packet(IMEI_GT06, 1))
        assert await closed_without_reply(reader)  # GT06 has no negative reply
        assert refused("source_not_allowed") == before + 1
        # The device itself, from its network: served.
        reader, writer = await connect(port)
        writer.write(gt06.login_packet(IMEI_GT06, 1))
        assert gt06.parse_ack(await reader.readexactly(10)) == (0x01, 1)
        writer.write(gt06.location_packet(emu_fix(5), 2))
        assert gt06.parse_ack(await reader.readexactly(10)) == (0x22, 2)
        writer.close()
    assert len(harness.stored(IMEI_GT06)) == 1


async def test_teltonika_and_h02_outside_the_allowed_network_are_refused(
    db: psycopg.Connection, database_url: str, device: Callable[[str, str], str]
) -> None:
    set_allowed_networks(db, device(IMEI_TELTONIKA, "teltonika"), ["10.64.0.0/16"])
    set_allowed_networks(db, device(ID_H02, "h02"), ["10.64.0.0/16"])
    before = refused("source_not_allowed")
    async with listening(database_url, teltonika_protocol) as (harness, port):
        reader, writer = await connect(port)
        writer.write(teltonika.handshake(IMEI_TELTONIKA))
        assert await reader.read(1) == b"\x00"  # refused, then closed
        assert await closed_without_reply(reader)
        # UDP: every datagram names its IMEI; from outside the network: no reply, nothing stored.
        udp_port = free_port()
        udp = DatagramListener(
            TeltonikaDatagramHandler(harness.ingest, harness.settings), "127.0.0.1", udp_port
        )
        task = asyncio.create_task(udp.serve())
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            await loop.sock_connect(sock, ("127.0.0.1", udp_port))
            await loop.sock_sendall(sock, teltonika.udp_packet(IMEI_TELTONIKA, [emu_fix(2)], 0xCAFE, 0x22))
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(loop.sock_recv(sock, 64), 0.5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert harness.stored(IMEI_TELTONIKA) == []
    async with listening(database_url, h02_protocol) as (harness, port):
        reader, writer = await connect(port)
        writer.write(h02.v1_sentence(ID_H02, emu_fix(4)))
        assert await closed_without_reply(reader)
        assert harness.stored(ID_H02) == []
    assert refused("source_not_allowed") == before + 3


# --- one live session per device -----------------------------------------------------------------------


async def test_a_second_gt06_session_from_another_address_is_refused_while_the_first_is_live(
    database_url: str, db: psycopg.Connection, device: Callable[[str, str], str]
) -> None:
    device(IMEI_GT06, "gt06")
    async with listening(database_url, gt06_protocol) as (harness, port):
        live: list[dict[str, Any]] = []

        async def on_events(events: list[dict[str, Any]]) -> None:
            live.extend(events)

        harness.ingest.on_events = on_events
        reader, writer = await connect(port)
        writer.write(gt06.login_packet(IMEI_GT06, 1))
        assert gt06.parse_ack(await reader.readexactly(10)) == (0x01, 1)
        before = duplicates("gt06", "refused"), refused("duplicate_session")
        forger_reader, forger = await connect(port, OTHER)
        forger.write(gt06.login_packet(IMEI_GT06, 1))
        assert await closed_without_reply(forger_reader)
        assert (duplicates("gt06", "refused"), refused("duplicate_session")) == (before[0] + 1, before[1] + 1)
        # The dispatchers see it: a stored warning event on the vehicle, relayed live.
        async with asyncio.timeout(5):
            while not live:  # noqa: ASYNC110 - raised from the session's task
                await asyncio.sleep(0.02)
        stored = db.execute(
            "SELECT e.kind, e.severity, v.plate, e.details->>'address' FROM events e"
            " JOIN vehicles v ON v.id = e.vehicle_id WHERE e.kind = 'duplicate_session'"
        ).fetchall()
        assert stored == [("duplicate_session", "warning", PLATE, OTHER)]
        assert live[0]["kind"] == "duplicate_session" and live[0]["details"]["outcome"] == "refused"
        # The real device goes on undisturbed.
        writer.write(gt06.location_packet(emu_fix(5), 2))
        assert gt06.parse_ack(await reader.readexactly(10)) == (0x22, 2)
        # Its own reconnection (same address) replaces its old session at once.
        reader2, writer2 = await connect(port)
        writer2.write(gt06.login_packet(IMEI_GT06, 3))
        assert gt06.parse_ack(await reader2.readexactly(10)) == (0x01, 3)
        assert await closed_without_reply(reader)
        writer2.close()


async def test_teltonika_and_h02_second_sessions_are_refused_too(
    database_url: str, device: Callable[[str, str], str]
) -> None:
    device(IMEI_TELTONIKA, "teltonika")
    device(ID_H02, "h02")
    async with listening(database_url, teltonika_protocol) as (harness, port):
        reader, writer = await connect(port)
        writer.write(teltonika.handshake(IMEI_TELTONIKA))
        assert await reader.readexactly(1) == b"\x01"
        forger_reader, forger = await connect(port, OTHER)
        forger.write(teltonika.handshake(IMEI_TELTONIKA))
        assert await forger_reader.read(1) == b"\x00"
        writer.write(teltonika.tcp_packet([emu_fix(10)]))
        assert teltonika.accepted_count(await reader.readexactly(4)) == 1
        writer.close()
    async with listening(database_url, h02_protocol) as (harness, port):
        reader, writer = await connect(port)
        writer.write(h02.v1_sentence(ID_H02, emu_fix(6)))
        assert h02.acknowledged_id(await reader.readuntil(b"#")) == ID_H02
        forger_reader, forger = await connect(port, OTHER)
        forger.write(h02.v1_sentence(ID_H02, emu_fix(1, lat=16.2)))
        assert await closed_without_reply(forger_reader)
        writer.close()
        assert [round(r[1], 4) for r in harness.stored(ID_H02)] == [16.0612]  # the forged fix is not stored


async def test_allowed_concurrent_sessions_replace_the_first_and_are_still_counted(
    database_url: str, device: Callable[[str, str], str]
) -> None:
    device(IMEI_GT06, "gt06")
    async with listening(database_url, gt06_protocol, allow_concurrent_sessions=True) as (_harness, port):
        reader, writer = await connect(port)
        writer.write(gt06.login_packet(IMEI_GT06, 1))
        await reader.readexactly(10)
        before = duplicates("gt06", "replaced")
        other_reader, other = await connect(port, OTHER)
        other.write(gt06.login_packet(IMEI_GT06, 1))
        assert gt06.parse_ack(await other_reader.readexactly(10)) == (0x01, 1)
        assert await closed_without_reply(reader)
        assert duplicates("gt06", "replaced") == before + 1
        other.close()


async def test_a_silent_session_no_longer_holds_the_identity(
    database_url: str, device: Callable[[str, str], str]
) -> None:
    """The device's modem got a new address: its old socket, silent, does not lock it out."""
    device(IMEI_GT06, "gt06")
    async with listening(database_url, gt06_protocol, session_stale_s=0.3) as (_harness, port):
        reader, writer = await connect(port)
        writer.write(gt06.login_packet(IMEI_GT06, 1))
        await reader.readexactly(10)
        await asyncio.sleep(0.5)
        new_reader, new = await connect(port, OTHER)
        new.write(gt06.login_packet(IMEI_GT06, 2))
        assert gt06.parse_ack(await new_reader.readexactly(10)) == (0x01, 2)
        assert await closed_without_reply(reader)
        new.close()


# --- a fix from the future --------------------------------------------------------------------------------


async def test_a_future_fix_over_gt06_is_stored_but_not_the_latest_position(
    db: psycopg.Connection, database_url: str, device: Callable[[str, str], str]
) -> None:
    device(IMEI_GT06, "gt06")
    async with listening(database_url, gt06_protocol) as (harness, port):
        reader, writer = await connect(port)
        writer.write(gt06.login_packet(IMEI_GT06, 1))
        await reader.readexactly(10)
        writer.write(gt06.location_packet(emu_fix(-25, lat=16.2), 2))  # 25 s ahead: accepted, stored
        await reader.readexactly(10)
        writer.write(gt06.location_packet(emu_fix(-120, lat=16.3), 3))  # 2 min ahead: refused
        await reader.readexactly(10)
        writer.write(gt06.location_packet(emu_fix(1), 4))  # the real one
        await reader.readexactly(10)
        writer.close()
    assert [round(r[1], 1) for r in harness.stored(IMEI_GT06)] == [16.1, 16.2]
    latest = db.execute("SELECT ST_Y(geom) FROM vehicle_latest").fetchone()
    assert latest is not None and round(latest[0], 4) == 16.0612
