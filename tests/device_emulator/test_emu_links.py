"""The runner as every kind of device — MQTT (the project's JSON, OwnTracks) through the broker, GT06,
Teltonika and H02 over TCP, Teltonika and H02 over UDP, OsmAnd over HTTP — to a real gateway process:
two trackers at 4 Hz for 3 s each, through a coverage gap; every fix the gateway acknowledged is in
PostGIS."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from device_emulator.links import ProtocolName
from tests.device_emulator.emu_links import assert_complete_run, registered_fleet, start_protocol_gateway
from tests.services import Broker

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("protocol", "udp"),
    [
        ("mqtt", False),
        ("owntracks", False),
        ("gt06", False),
        ("teltonika", False),
        ("h02", False),
        ("teltonika", True),
        ("h02", True),
        ("osmand", False),
    ],
    ids=["mqtt", "owntracks", "gt06", "teltonika-tcp", "h02-tcp", "teltonika-udp", "h02-udp", "osmand"],
)
async def test_trackers_reach_postgis(
    protocol: ProtocolName,
    udp: bool,
    broker: Broker,
    db: psycopg.Connection,
    tmp_path: Path,
    unique: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = registered_fleet(db, broker, protocol, udp=udp)
    gateway = start_protocol_gateway(broker, tmp_path, unique, run)
    try:
        await run.run()
        assert_complete_run(db, run, caplog.text)
    finally:
        gateway.stop()
    if protocol == "owntracks":
        assert [t.device_id for t in run.trackers] == ["emu.0001", "emu.0002"]
