"""The gateway process with every device listener on: frames each protocol's devices send (made by
the emulator's encoders, stamped now), over real sockets, end up stored with the right replies."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from device_emulator.fixes import Fix as EmuFix
from device_emulator.protocols import gt06, h02, osmand, teltonika
from tests.services import Broker, free_port, start_gateway, wait_for
from tracking.fleet import issue_device_token, register_device, register_vehicle

pytestmark = pytest.mark.slow
IMEI_GT06, IMEI_TELTONIKA, ID_H02, ID_OSMAND = (
    "359710049095095",
    "356307042441013",
    "4210051415",
    "phone-115-09",
)


def emu_fix(seconds_ago: float, lat: float = 16.0612, lon: float = 108.2240) -> EmuFix:
    when = (datetime.now(UTC) - timedelta(seconds=seconds_ago)).replace(microsecond=0)
    return EmuFix(when, lat, lon, 36.0, 90, 5, 4, 9, "to_scene")


def stored(db: psycopg.Connection, device: str) -> list[tuple[str, float]]:
    rows = db.execute("SELECT protocol, speed_kmh FROM positions WHERE device_id = %s", (device,)).fetchall()
    return [(p, round(s)) for p, s in rows]


async def test_every_protocol_over_real_sockets(
    broker: Broker, db: psycopg.Connection, tmp_path: Path, unique: str
) -> None:
    for i, (device, protocol) in enumerate(
        [(IMEI_GT06, "gt06"), (IMEI_TELTONIKA, "teltonika"), (ID_H02, "h02"), (ID_OSMAND, "osmand")]
    ):
        plate = f"43A2000{i}"
        register_vehicle(db, plate, f"115-P{i}")
        register_device(db, device, protocol, plate)
    token = issue_device_token(db, ID_OSMAND)  # required by default
    ports = {name: free_port() for name in ("gt06", "teltonika", "h02", "osmand")}
    gw = start_gateway(broker, tmp_path, f"gw-{unique}", **{f"{n}_port": str(p) for n, p in ports.items()})
    try:
        # GT06: login acknowledged at once, the location after its commit.
        reader, writer = await asyncio.open_connection("127.0.0.1", ports["gt06"])
        writer.write(gt06.login_packet(IMEI_GT06, 1))
        assert gt06.parse_ack(await reader.readexactly(10)) == (0x01, 1)
        writer.write(gt06.location_packet(emu_fix(5), 2))
        assert gt06.parse_ack(await reader.readexactly(10)) == (0x22, 2)
        writer.close()

        # Teltonika TCP: the IMEI accepted with 01; a backlog of 3 records acknowledged with 3.
        reader, writer = await asyncio.open_connection("127.0.0.1", ports["teltonika"])
        writer.write(teltonika.handshake(IMEI_TELTONIKA))
        assert await reader.readexactly(1) == b"\x01"
        writer.write(teltonika.tcp_packet([emu_fix(30), emu_fix(20), emu_fix(10)]))
        assert teltonika.accepted_count(await reader.readexactly(4)) == 3
        writer.close()

        # Teltonika UDP: the same IMEI, one record, the reply names the packet.
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.setblocking(False)
            await loop.sock_connect(udp, ("127.0.0.1", ports["teltonika"]))
            await loop.sock_sendall(udp, teltonika.udp_packet(IMEI_TELTONIKA, [emu_fix(2)], 0xCAFE, 0x22))
            reply = await asyncio.wait_for(loop.sock_recv(udp, 64), 10)
        assert teltonika.udp_accepted(reply, 0xCAFE, 0x22) == 1

        # H02 TCP: a V1 sentence answered with V4 after its commit.
        reader, writer = await asyncio.open_connection("127.0.0.1", ports["h02"])
        writer.write(h02.v1_sentence(ID_H02, emu_fix(4)))
        assert h02.acknowledged_id(await reader.readuntil(b"#")) == ID_H02
        writer.close()

        # OsmAnd (Traccar Client): 200 once committed; no token or an unknown id gets 401.
        async with httpx.AsyncClient(timeout=10) as http:
            base = f"http://127.0.0.1:{ports['osmand']}"
            assert (await http.get(osmand.query_url(base, emu_fix(3), ID_OSMAND, token))).status_code == 200
            assert (await http.get(osmand.query_url(base, emu_fix(3), ID_OSMAND))).status_code == 401
            assert (await http.get(osmand.query_url(base, emu_fix(3), "nobody"))).status_code == 401

        expected = {IMEI_GT06: 1, IMEI_TELTONIKA: 4, ID_H02: 1, ID_OSMAND: 1}
        wait_for(
            lambda: all(len(stored(db, d)) == n for d, n in expected.items()), 10, "every protocol stored"
        )
        assert stored(db, IMEI_GT06) == [("gt06", 36)]
        assert stored(db, ID_H02) == [("h02", 36)]
        assert stored(db, ID_OSMAND) == [("osmand", 36)]
        assert {p for p, _ in stored(db, IMEI_TELTONIKA)} == {"teltonika"}
        for protocol in ports:
            assert gw.metric(f'amb_gateway_fixes_received_total{{transport="{protocol}"}}') >= 1
    finally:
        gw.stop()
