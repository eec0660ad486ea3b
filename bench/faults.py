"""The fault suite (`make faults`): acknowledged means stored, under every fault.

200 MQTT trackers with their own credentials publish one fix per message (QoS 1) at 1,000 fixes/s
in all, through the project's RabbitMQ node, to the gateway(s), into the project's own PostgreSQL
server (scripts/postgres.sh, so restarting it touches nothing else on the machine). Each
scenario injects one fault mid-stream. A tracker behaves as real ones do: it keeps every fix
until the broker has acknowledged it (PUBACK) and resends what was not acknowledged after a
reconnect.

For each scenario it prints: published, acknowledged, stored, **acknowledged-but-missing** (a
fix the broker acknowledged that never reached the database: must be 0), duplicates stored (must
be 0) and still unacknowledged at the end (held by the device, not lost). Poison messages are
counted apart: each must be refused with a reason while every valid fix beside it is stored.

    .venv/bin/python bench/faults.py                    # every scenario (about 20 minutes)
    .venv/bin/python bench/faults.py --quick            # short runs, lower rate (the slow tests)
    .venv/bin/python bench/faults.py --only broker-kill,poison
Everything runs on loopback, is bounded in time, and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.mqtt_wire import MqttPublisher, MqttWireError  # noqa: E402

DEVICE_PREFIX = "flt-"
DANANG = (16.0544, 108.2022)


# --- The project's own PostgreSQL server ------------------------------------------------------


@dataclass
class Postgres:
    """scripts/postgres.sh on its own port and data directory."""

    state_dir: Path
    port: int

    def _run(self, command: str) -> str:
        env = {
            **os.environ,
            "AMB_PG_DIR": str(self.state_dir),
            "AMB_PG_PORT": str(self.port),
            "AMB_PG_DB": "ambulance_faults",
        }
        result = subprocess.run(
            ["bash", str(REPO / "scripts/postgres.sh"), command],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return result.stdout.strip()

    def start(self) -> str:
        self._run("start")
        return self._run("url")

    def stop(self) -> None:
        self._run("stop")

    def fast_restart(self) -> None:
        self._run("fast-restart")


def _traversable_dir(prefix: str) -> Path:
    """A fresh directory the `postgres` OS user can reach (pytest's and mkdtemp's are 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)
    return path


# --- Trackers -------------------------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    published: set[tuple[str, int]] = field(default_factory=set)  # (device, fix time in ms)
    acked: set[tuple[str, int]] = field(default_factory=set)
    reconnects: int = 0


class Tracker:
    """One device: a fix every 1/rate s, kept until the broker acknowledges it, resent after a
    reconnect (a new connection, so every unacknowledged fix goes again)."""

    def __init__(self, device_id: str, password: str, port: int, rate_hz: float, tally: Tally) -> None:
        self.device_id = device_id
        self._password = password
        self._port = port
        self._period = 1.0 / rate_hz
        self._tally = tally
        self._pending: dict[int, bytes] = {}  # fix time (ms) -> payload, in order
        self._client: MqttPublisher | None = None
        self._topic = f"trackers/{device_id}/position".encode()
        self._lat = DANANG[0] + random.uniform(-0.03, 0.03)
        self._lon = DANANG[1] + random.uniform(-0.03, 0.03)
        self._last_ms = 0

    async def run(self, until: float) -> None:
        """Publish until `until` (monotonic), then keep resending until everything is acknowledged."""
        connector = asyncio.create_task(self._keep_connected())
        try:
            await asyncio.sleep(random.uniform(0, self._period))
            while time.monotonic() < until:
                self._new_fix()
                await asyncio.sleep(self._period)
            while self._pending:  # noqa: ASYNC110 - acks arrive from the protocol's callbacks
                await asyncio.sleep(0.2)
        finally:
            connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await connector
            if self._client is not None:
                self._client.close()

    def _new_fix(self) -> None:
        now_ms = max(int(time.time() * 1000), self._last_ms + 1)
        self._last_ms = now_ms
        self._lat += random.uniform(-2e-5, 2e-5)
        self._lon += random.uniform(-2e-5, 2e-5)
        when = datetime.fromtimestamp(now_ms / 1000, UTC).isoformat(timespec="milliseconds")
        body = {
            "time": when.replace("+00:00", "Z"),
            "lat": round(self._lat, 6),
            "lon": round(self._lon, 6),
            "speed_kmh": 32.0,
        }
        payload = json.dumps(body, separators=(",", ":")).encode()
        self._pending[now_ms] = payload
        self._tally.published.add((self.device_id, now_ms))
        self._send(now_ms, payload)

    def _send(self, fix_ms: int, payload: bytes) -> None:
        client = self._client
        if client is None or client.lost is not None:
            return  # resent after the reconnect

        def acked() -> None:
            if self._pending.pop(fix_ms, None) is not None:
                self._tally.acked.add((self.device_id, fix_ms))

        with contextlib.suppress(MqttWireError):
            client.publish(self._topic, payload, acked)

    async def _keep_connected(self) -> None:
        delay = 0.2
        while True:
            if self._client is None or self._client.lost is not None:
                try:
                    self._client = await MqttPublisher.connect(
                        "127.0.0.1", self._port, self.device_id, self.device_id, self._password, timeout_s=5
                    )
                except (OSError, MqttWireError, TimeoutError):
                    await asyncio.sleep(delay * random.uniform(0.5, 1.5))
                    delay = min(delay * 2, 5.0)
                    continue
                self._tally.reconnects += 1
                delay = 0.2
                for fix_ms, payload in list(self._pending.items()):
                    self._send(fix_ms, payload)
            await asyncio.sleep(0.1)


# --- Poison -----------------------------------------------------------------------------------


def poison_mqtt_payloads() -> dict[str, bytes]:
    """Ten kinds of malformed message a registered device can send (valid fixes go beside them)."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    fix = {"time": now, "lat": DANANG[0], "lon": DANANG[1]}
    return {
        "deep nesting [": b"[" * 5000,
        "deep nesting {": b'{"a":' * 5000,
        "huge numbers": json.dumps(fix).replace(f'"lat": {DANANG[0]}', '"lat": 1e400').encode(),
        "huge integer": ('{"time": 1' + "0" * 5000 + ', "lat": 16.05, "lon": 108.2}').encode(),
        "NaN/Infinity": json.dumps({**fix, "lat": float("nan"), "speed_kmh": float("inf")}).encode(),
        "invalid UTF-8": b'{"time": "\xff\xfe", "lat": 16.05, "lon": 108.2}',
        "1 MB string in attrs": json.dumps({**fix, "attrs": {"x": "a" * 1_000_000}}).encode(),
        "wrong types": json.dumps({"time": {"a": 1}, "lat": "16.05", "lon": [108.2]}).encode(),
        "array of garbage": json.dumps([1, "x", None, {"lat": None}]).encode(),
        "empty": b"",
    }


def teltonika_huge_count(imei: str) -> tuple[bytes, bytes]:
    """(login, an AVL packet declaring 2^31 bytes of records)."""
    login = struct.pack("!H", len(imei)) + imei.encode()
    packet = b"\x00\x00\x00\x00" + struct.pack("!I", 2**31) + b"\x08\xff" + b"\x00" * 64
    return login, packet


def gt06_absurd_length() -> bytes:
    return b"\x79\x79\xff\xff" + b"\x00" * 32


# --- The run ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: str
    duration_s: float
    gateways: int = 1
    fault: str = "none"


SCENARIOS: list[Scenario] = [
    Scenario("baseline", "no fault", 40),
    Scenario("gateway-kill", "kill -9 of the gateway, twice (restarted at once)", 60, fault="gateway-kill"),
    Scenario(
        "gateway-down", "one of two gateways killed and kept down for 2 minutes", 150, 2, "gateway-down"
    ),
    Scenario("pg-restart", "PostgreSQL fast restart", 50, fault="pg-restart"),
    Scenario("pg-down", "PostgreSQL down 60 s", 100, fault="pg-down"),
    Scenario("broker-restart", "broker graceful restart", 60, fault="broker-restart"),
    Scenario("broker-kill", "broker kill -9 (the only node), restarted", 60, fault="broker-kill"),
    Scenario(
        "client-id-takeover",
        "a device credential connects with a gateway's client id (clean session), repeatedly",
        40,
        fault="takeover",
    ),
    Scenario(
        "poison", "ten kinds of poison message (MQTT, Teltonika, GT06, OsmAnd) mid-stream", 40, fault="poison"
    ),
]


@dataclass(slots=True)
class Row:
    scenario: Scenario
    published: int = 0
    acked: int = 0
    stored: int = 0
    acked_missing: int = 0
    duplicates: int = 0
    unacked: int = 0
    reconnects: int = 0
    note: str = ""

    def markdown(self) -> str:
        return (
            f"| {self.scenario.title} | {self.published:,} | {self.acked:,} | {self.stored:,} | "
            f"**{self.acked_missing}** | {self.duplicates} | {self.unacked} | {self.note} |"
        )


HEADER = (
    "| fault, mid-stream | published | acknowledged | stored | acknowledged-but-missing | "
    "duplicates stored | unacknowledged at end | notes |\n|---|---|---|---|---|---|---|---|"
)


class Suite:
    def __init__(self, workdir: Path, devices: int, rate: float, scale: float, pg_port: int = 5499) -> None:
        self.workdir = workdir
        self.devices = devices
        self.rate = rate
        self.scale = scale
        self.pg = Postgres(_traversable_dir("amb-faults-pg-"), pg_port)
        self.database_url = ""
        self.passwords: dict[str, str] = {}
        self.services: Any = None  # tests.services, imported with the suite
        self._killed: list[Any] = []  # gateways a scenario killed on purpose

    @contextlib.contextmanager
    def up(self) -> Iterator[None]:
        self.database_url = self.pg.start()
        import tests.services as services
        from admin.broker_auth import issue_device_password, render_definitions
        from runtime.db import apply_schema
        from tracking.fleet import register_device, register_vehicle

        self.services = services
        apply_schema(self.database_url)
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute("TRUNCATE positions, vehicle_latest, tracking_inbox, quarantine")
            for i in range(self.devices):
                device = f"{DEVICE_PREFIX}{i:04d}"
                vehicle = register_vehicle(conn, f"43F{i:05d}", f"F-{i:04d}")
                with contextlib.suppress(Exception):
                    register_device(conn, device, "mqtt_json", vehicle.plate)
                self.passwords[device] = issue_device_password(conn, device)
            for imei in ("356307042441013",):
                with contextlib.suppress(Exception):
                    register_device(conn, imei, "teltonika")
            definitions = render_definitions(conn)
        self.broker = services.Broker(self.workdir / "broker", anonymous=False).start()
        with self.broker.management().client() as http:
            http.post("/api/definitions", json=definitions).raise_for_status()
        try:
            yield
        finally:
            self.broker.stop()
            self.pg.stop()
            shutil.rmtree(self.pg.state_dir, ignore_errors=True)

    def start_gateway(self, name: str, **settings: str) -> Any:
        assert self.services is not None
        return self.services.start_gateway(self.broker, self.workdir, name, self.database_url, **settings)

    async def run(self, scenario: Scenario) -> Row:
        row = Row(scenario)
        duration = scenario.duration_s * self.scale
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute("TRUNCATE positions, vehicle_latest, tracking_inbox, quarantine")
        listeners = self._listener_ports() if scenario.fault == "poison" else {}
        gateways = [
            self.start_gateway(f"{scenario.name}-{i}", **{f"{k}_port": str(v) for k, v in listeners.items()})
            for i in range(scenario.gateways)
        ]
        tally = Tally()
        until = time.monotonic() + duration
        per_device_hz = self.rate / self.devices
        trackers = [
            Tracker(d, pw, self.broker.port, per_device_hz, tally) for d, pw in self.passwords.items()
        ]
        publishing = [asyncio.create_task(t.run(until)) for t in trackers]
        try:
            await self._inject(scenario, duration, gateways, listeners, row)
            _, pending = await asyncio.wait(publishing, timeout=duration + 240)
            for task in pending:
                task.cancel()
            await asyncio.gather(*publishing, return_exceptions=True)
            await asyncio.to_thread(self._settle)
            self._count(row, tally)
            died = [gw for gw in gateways if gw.proc.poll() is not None and gw not in self._killed]
            if died:
                row.note = (row.note + f" {len(died)} gateway(s) died by themselves").strip()
        finally:
            for gw in gateways:
                gw.stop()
        return row

    def _listener_ports(self) -> dict[str, int]:
        assert self.services is not None
        return {
            "teltonika": self.services.free_port(),
            "gt06": self.services.free_port(),
            "osmand": self.services.free_port(),
        }

    async def _inject(
        self, scenario: Scenario, duration: float, gateways: list[Any], listeners: dict[str, int], row: Row
    ) -> None:
        at = duration * 0.4
        await asyncio.sleep(at)
        fault = scenario.fault
        run: Callable[..., Awaitable[object]] = asyncio.to_thread
        if fault == "gateway-kill":
            for i in range(2):
                await run(gateways[0].kill)
                gateways[0] = await run(self.start_gateway, f"{scenario.name}-again{i}")
                await asyncio.sleep(duration * 0.2)
        elif fault == "gateway-down":
            await run(gateways[1].kill)
            self._killed.append(gateways[1])
            row.note = "the other gateway stored everything"
        elif fault == "pg-restart":
            await run(self.pg.fast_restart)
        elif fault == "pg-down":
            await run(self.pg.stop)
            await asyncio.sleep(60 * self.scale)
            await run(self.pg.start)
        elif fault == "broker-restart":
            await run(self.broker.stop)
            await run(self.broker.start)
        elif fault == "broker-kill":
            await run(self.broker.kill)
            await run(self.broker.start)
        elif fault == "takeover":
            row.note = await self._takeover()
        elif fault == "poison":
            refused = await self._poison(gateways[0], listeners)
            row.note = f"poison refused: {refused}"

    async def _takeover(self) -> str:
        """What took a Mosquitto gateway's session (and discarded its queue) before: services are
        AMQP users here, so there is no MQTT client id of theirs to take."""
        device, password = next(iter(self.passwords.items()))
        tried = 0
        for client_id in ("amb-gateway-1", "amb-gateway", "amb-tracker", "amb-api"):
            for _ in range(3):
                with contextlib.suppress(OSError, MqttWireError, TimeoutError):
                    client = await MqttPublisher.connect(
                        "127.0.0.1", self.broker.port, client_id, device, password
                    )
                    tried += 1
                    await asyncio.sleep(0.3)
                    client.close()
        return f"{tried} connections as a service's client id"

    async def _poison(self, gateway: Any, listeners: dict[str, int]) -> str:
        device, password = next(iter(self.passwords.items()))
        sent = 0
        for payload in poison_mqtt_payloads().values():
            client = await MqttPublisher.connect(
                "127.0.0.1", self.broker.port, f"{device}-poison", device, password
            )
            acked = asyncio.Event()
            client.publish(f"trackers/{device}/position".encode(), payload, acked.set)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await acked.wait()
            client.close()
            sent += 1
        login, packet = teltonika_huge_count("356307042441013")
        await _tcp_send(listeners["teltonika"], [login, packet])
        await _tcp_send(listeners["gt06"], [gt06_absurd_length()])
        await asyncio.to_thread(
            _http_get, f"http://127.0.0.1:{listeners['osmand']}/?id=%ff%fe&lat=abc&lon=1e999&timestamp=x"
        )
        await asyncio.sleep(2)
        metrics = gateway.metrics()
        refused = {
            k.split('reason="')[1].rstrip('"}'): int(v)
            for k, v in metrics.items()
            if k.startswith("amb_gateway_refused_total{") and v
        }
        return f"{sent + 3} sent; " + ", ".join(f"{k} {v}" for k, v in sorted(refused.items()))

    def _settle(self) -> None:
        """Wait until the queue is empty and the stored count stops moving (bounded)."""
        deadline = time.monotonic() + 180
        last, stable_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            try:
                depth = self.broker.queue_depth()
                with psycopg.connect(self.database_url, autocommit=True) as conn:
                    count = conn.execute("SELECT count(*) FROM positions").fetchone()[0]  # type: ignore[index]
            except Exception:
                time.sleep(1)
                continue
            if count != last:
                last, stable_since = count, time.monotonic()
            elif depth == 0 and time.monotonic() - stable_since > 3:
                return
            time.sleep(0.5)

    def _count(self, row: Row, tally: Tally) -> None:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            stored_rows = conn.execute(
                "SELECT device_id, (extract(epoch FROM fix_time) * 1000)::bigint FROM positions"
                " WHERE device_id LIKE %s",
                (DEVICE_PREFIX + "%",),
            ).fetchall()
            duplicates = conn.execute(
                "SELECT count(*) FROM (SELECT 1 FROM positions GROUP BY device_id, fix_time HAVING count(*) > 1) d"
            ).fetchone()[0]  # type: ignore[index]
        stored = {(d, int(ms)) for d, ms in stored_rows}
        row.published = len(tally.published)
        row.acked = len(tally.acked)
        row.stored = len(stored & tally.published)
        row.acked_missing = len(tally.acked - stored)
        row.duplicates = int(duplicates) + (len(stored_rows) - len(stored))
        row.unacked = len(tally.published - tally.acked)
        row.reconnects = tally.reconnects


async def _tcp_send(port: int, chunks: list[bytes]) -> None:
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(5):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            for chunk in chunks:
                writer.write(chunk)
                await writer.drain()
                await asyncio.sleep(0.2)
            writer.close()


def _http_get(url: str) -> None:
    with contextlib.suppress(OSError):
        urllib.request.urlopen(url, timeout=5).read()


def machine() -> str:
    cores = os.cpu_count()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    return f"{socket.gethostname()}: {cores} cores, commit {commit}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"


async def main_async(args: argparse.Namespace) -> int:
    scale = 0.35 if args.quick else 1.0
    devices = args.devices or (40 if args.quick else 200)
    rate = args.rate or (200.0 if args.quick else 1000.0)
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only.split(",")]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="amb-faults-"))
    suite = Suite(workdir, devices, rate, scale, int(os.environ.get("AMB_FAULTS_PG_PORT", "5499")))
    rows: list[Row] = []
    print(
        f"fault suite: {devices} devices, {rate:.0f} fixes/s, {len(chosen)} scenarios; state in {workdir}",
        flush=True,
    )
    with suite.up():
        for scenario in chosen:
            print(f"-- {scenario.name}: {scenario.title}", flush=True)
            row = await suite.run(scenario)
            rows.append(row)
            print(HEADER.splitlines()[0] if len(rows) == 1 else "", end="", flush=True)
            print("\n" + row.markdown(), flush=True)
    print(f"\n{machine()}; {devices} devices at {rate:.0f} fixes/s\n\n{HEADER}")
    for row in rows:
        print(row.markdown())
    failed = [r for r in rows if r.acked_missing or r.duplicates or "died" in r.note]
    print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short runs at 200 fixes/s from 40 devices")
    parser.add_argument(
        "--only", help="comma-separated scenario names: " + ", ".join(s.name for s in SCENARIOS)
    )
    parser.add_argument("--devices", type=int)
    parser.add_argument("--rate", type=float, help="fixes/s in all")
    parser.add_argument("--workdir")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())


def scenario(name: str) -> Scenario:
    return next(s for s in SCENARIOS if s.name == name)
