# ruff: noqa: E402  (the repository goes on sys.path before the project imports)
"""Many connected devices (issue 14, item 3): the broker's memory per MQTT connection, and how
long the whole fleet takes to reconnect after a broker restart (a thundering herd), with and
without jitter.

    .venv/bin/python bench/devices.py --devices 10000 --jitter 0,10

The project's RabbitMQ node (authenticated: one account per device, as in production) on
loopback; the devices are bench/mqtt_wire.py connections (MQTT 3.1.1, keepalive 60 s) held by
one process. After the restart each device waits a random 0..jitter s, then connects; a refused
or failed attempt is retried after 1, 2, 4 ... 30 s (each ±50 %), as the emulator and the
documented tracker settings do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == REPO / "bench":
    sys.path[0] = str(REPO)

import httpx
import uvloop

from bench.cluster import BrokerCluster
from bench.cpu import load_average, process_cpu_s, rss_kib
from bench.database import (
    BENCH_DATABASE_URL,
    device_ids,
    ensure_database,
    exclusive_use,
    issue_broker_accounts,
    prepare_database,
    register_fleet,
    reset_database,
)
from bench.mqtt_wire import MqttPublisher

CONCURRENCY = 200


def alive(pid: int | None) -> bool:
    return pid is not None and os.path.exists(f"/proc/{pid}")


def rss_mib(pid: int | None) -> float:
    return rss_kib(pid) / 1024


class Fleet:
    def __init__(self, port: int, passwords: dict[str, str]) -> None:
        self.port = port
        self.passwords = passwords
        self.clients: dict[str, MqttPublisher] = {}
        self.attempts = 0
        self.failures = 0

    async def connect(self, device: str) -> None:
        self.attempts += 1
        self.clients[device] = await MqttPublisher.connect(
            "127.0.0.1", self.port, f"{device}-dev", device, self.passwords[device], timeout_s=60
        )

    async def connect_all(self, devices: list[str]) -> None:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(device: str) -> None:
            async with gate:
                await self.connect(device)

        await asyncio.gather(*(one(d) for d in devices))

    async def reconnect(self, device: str, jitter_s: float, rng: random.Random) -> float:
        """As a tracker does: a random wait, then attempts with exponential back-off."""
        await asyncio.sleep(rng.uniform(0, jitter_s))
        delay = 1.0
        while True:
            try:
                await self.connect(device)
                return time.monotonic()
            except (OSError, TimeoutError):
                self.failures += 1
                await asyncio.sleep(delay * rng.uniform(0.5, 1.5))
                delay = min(delay * 2, 30.0)

    def close(self) -> None:
        for c in self.clients.values():
            c.close()


async def measure(
    args: argparse.Namespace, broker: BrokerCluster, passwords: dict[str, str]
) -> dict[str, Any]:
    node = broker.first
    devices = list(passwords)
    fleet = Fleet(node.port, passwords)
    out: dict[str, Any] = {"devices": len(devices), "load_before": load_average()}
    await asyncio.sleep(3)
    out["broker_rss_mib_idle"] = rss_mib(node.pid())
    steps = sorted({min(1000, len(devices)), len(devices)})
    memory = []
    done = 0
    for n in steps:
        started = time.monotonic()
        await fleet.connect_all(devices[done:n])
        took = time.monotonic() - started
        await asyncio.sleep(5)
        memory.append({"connected": n, "broker_rss_mib": rss_mib(node.pid()), "connect_s": round(took, 1)})
        done = n
    out["memory"] = memory
    # What the connected fleet costs the broker when nobody publishes (keepalives, statistics).
    cpu_before, started = process_cpu_s(node.pid()), time.monotonic()
    await asyncio.sleep(args.idle_s)
    out["broker_idle_cpu_pct"] = round(
        100 * (process_cpu_s(node.pid()) - cpu_before) / (time.monotonic() - started), 1
    )
    idle = out["broker_rss_mib_idle"]
    out["broker_kib_per_connection"] = round((memory[-1]["broker_rss_mib"] - idle) * 1024 / len(devices), 1)
    print(json.dumps(out), flush=True)
    restarts = []
    for jitter in args.jitter:
        fleet.close()
        pid = node.pid()
        node.script("stop", check=False)
        fleet.clients.clear()
        fleet.attempts = fleet.failures = 0
        down_at = time.monotonic()
        while time.monotonic() < down_at + 60:  # the node is gone before it starts again
            if not alive(pid):
                break
            await asyncio.sleep(0.5)
        for _attempt in range(3):
            booted = node.script("start", check=False)
            if booted.returncode == 0:
                break
            print(f"broker start failed ({booted.returncode}): {booted.stdout[-500:]} {booted.stderr[-500:]}")
            await asyncio.sleep(5)
        up_at = time.monotonic()
        cpu_before = process_cpu_s(node.pid() or 0)
        rng = random.Random(int(jitter * 1000))
        times = await asyncio.gather(*(fleet.reconnect(d, jitter, rng) for d in devices))
        restarts.append(
            {
                "jitter_s": jitter,
                "broker_restart_s": round(up_at - down_at, 1),
                "all_reconnected_s": round(max(times) - up_at, 1),
                "half_reconnected_s": round(sorted(times)[len(times) // 2] - up_at, 1),
                "attempts": fleet.attempts,
                "failed_attempts": fleet.failures,
                "broker_cpu_s": round(process_cpu_s(node.pid() or 0) - cpu_before, 1),
            }
        )
        print(json.dumps(restarts[-1]), flush=True)
    out["restarts"] = restarts
    fleet.close()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", type=int, default=10_000)
    p.add_argument(
        "--jitter",
        type=lambda t: [float(x) for x in t.split(",") if x],
        default=[0.0, 10.0],
        help="'' for no restart",
    )
    p.add_argument(
        "--idle-s", type=float, default=20.0, help="how long the connected fleet's idle cost is measured"
    )
    p.add_argument("--database-url", default=BENCH_DATABASE_URL)
    p.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "devices.json")
    args = p.parse_args()
    ensure_database(args.database_url)
    with exclusive_use(args.database_url):
        prepare_database(args.database_url)
        reset_database(args.database_url)
        devices = device_ids(args.devices)
        register_fleet(args.database_url, devices)
        accounts = issue_broker_accounts(args.database_url, devices)
        broker = BrokerCluster(Path(tempfile.mkdtemp(prefix="amb-devices-")) / "broker", 1)
        try:
            broker.start()
            api = broker.first.management()  # 10,000 accounts take longer than its client's 30 s
            with httpx.Client(
                base_url=api.url.rstrip("/"), auth=(api.username, api.password), timeout=900
            ) as http:
                http.post("/api/definitions", json=accounts.definitions).raise_for_status()
            result = uvloop.run(measure(args, broker, accounts.device_passwords))
        finally:
            broker.stop()
    print(json.dumps(result, indent=2))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
