# ruff: noqa: E402  (the repository goes on sys.path before the project imports)
"""Fan-out benchmark (issue 14, item 1): many screens on the API while 1,000 vehicles send 1 fix/s.

    .venv/bin/python bench/fanout.py                      # 50 fleet + 400 hospital + 50 callers, 5 stalled
    .venv/bin/python bench/fanout.py --api-processes 2    # screens dealt over two API processes

What runs: the project's RabbitMQ node and API process(es) on loopback, on the benchmark's own
database (Da Nang's hospitals, 1,000 vehicles, 300 journeys to emergency departments, one key per
screen, caller links); a feeder publishing to `amb.committed` what the gateways and amb-tracker
publish after their commits (fixes at 1,000/s, one message per 20 ms commit; ETAs of the journeys
once a second); client processes holding the screens: fleet-wide dispatcher websockets, hospital
websockets (the API filters them to their hospital's events and ETAs), caller pages polling their
public link every 5 s, and stalled websockets that never read after the handshake.

Figures: commit -> screen delay per class (p50/p99/max; for callers the poll's response time, the
position's age being at most one poll period more), frames delivered, the API's CPU per delivered
frame, its memory per connected screen, and what the stalled screens cost (the API's memory at the
end, overflows counted in `amb_api_ws_overflows_total`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == REPO / "bench":
    sys.path[0] = str(REPO)

import httpx
import psycopg

import tests.services as services
from accounts.access import create_api_key
from accounts.caller_links import issue_caller_link
from bench.cpu import MachineCpu, load_average, process_cpu_s, rss_kib, wait_until_quiet
from bench.database import (
    BENCH_DATABASE_URL,
    device_ids,
    ensure_database,
    exclusive_use,
    prepare_database,
    register_fleet,
    reset_database,
)
from bench.fanout_clients import ClientPlan, ClientResult, FeedPlan, run_clients, run_feeder
from bench.figures import latency_summary_ms
from bench.machine import describe_machine

MP = multiprocessing.get_context("spawn")
RESULTS = REPO / "bench" / "results" / "fanout.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fleet", type=int, default=50, help="fleet-wide dispatcher websockets")
    p.add_argument("--hospital", type=int, default=400, help="hospital screens (websockets, own hospital)")
    p.add_argument("--callers", type=int, default=50, help="caller pages polling their link")
    p.add_argument("--stalled", type=int, default=5, help="websockets that never read (fleet-wide)")
    p.add_argument("--vehicles", type=int, default=1000)
    p.add_argument("--rate", type=float, default=1000.0, help="fixes/s published")
    p.add_argument("--journeys", type=int, default=300, help="journeys to hospitals (ETAs each second)")
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument(
        "--api-processes", type=int, default=1, help="API processes on their own ports (a proxy's view)"
    )
    p.add_argument(
        "--api-workers", type=int, default=1, help="uvicorn workers of each API process (one port)"
    )
    p.add_argument("--client-processes", type=int, default=3)
    p.add_argument("--quiet-wait", type=float, default=60.0)
    p.add_argument("--database-url", default=BENCH_DATABASE_URL)
    p.add_argument("--json", type=Path, default=RESULTS)
    return p.parse_args(argv)


def prepare(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Fleet, journeys, keys and caller links; returns what the clients and the feeder need."""
    prepare_database(url)
    reset_database(url)
    register_fleet(url, device_ids(args.vehicles))
    rng = random.Random(3)
    with psycopg.connect(url, autocommit=True) as conn:
        vehicles = [r[0] for r in conn.execute("SELECT id FROM vehicles ORDER BY id")]
        hospitals = [r[0] for r in conn.execute("SELECT id FROM hospitals WHERE has_emergency ORDER BY id")]
        journeys = []
        for vehicle_id in vehicles[: args.journeys]:
            hospital_id = rng.choice(hospitals)
            row = conn.execute(
                "INSERT INTO journeys (vehicle_id, status, incident_geom, destination_hospital_id)"
                " VALUES (%s, 'en_route', ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s) RETURNING id",
                (vehicle_id, rng.uniform(108.19, 108.25), rng.uniform(16.03, 16.09), hospital_id),
            ).fetchone()
            assert row is not None
            journeys.append((row[0], vehicle_id, hospital_id))
        fleet = [create_api_key(conn, f"fanout fleet {i}", "dispatcher") for i in range(args.fleet)]
        stalled = [create_api_key(conn, f"fanout stalled {i}", "dispatcher") for i in range(args.stalled)]
        screens = [
            create_api_key(conn, f"fanout hospital {i}", "hospital", hospitals[i % len(hospitals)])
            for i in range(args.hospital)
        ]
        admin = create_api_key(conn, "fanout metrics", "admin")

    async def links() -> list[str]:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as aconn:
            return [
                (await issue_caller_link(aconn, j, "bench"))["token"] for j, _, _ in journeys[: args.callers]
            ]

    return {
        "vehicles": vehicles,
        "journeys": journeys,
        "hospitals": len(hospitals),
        "fleet": fleet,
        "stalled": stalled,
        "screens": screens,
        "callers": asyncio.run(links()),
        "admin": admin,
    }


def family(pid: int) -> list[int]:
    """A process and its descendants (uvicorn's workers), from /proc."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(k) for k in f.read().split()]
    except OSError:
        kids = []
    return [pid, *(d for k in kids for d in family(k))]


def scrape(port: int, key: str, name: str) -> float:
    text = httpx.get(
        f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=10
    ).text
    found = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def deal(items: list[Any], parts: int) -> list[list[Any]]:
    return [items[i::parts] for i in range(parts)]


def measure(args: argparse.Namespace) -> dict[str, Any]:
    url = args.database_url
    services.TEST_DATABASE_URL = url
    data = prepare(url, args)
    workdir = Path(tempfile.mkdtemp(prefix="amb-fanout-"))
    broker = services.Broker(workdir / "broker")
    apis: list[services.ServiceProcess] = []
    settings = {
        "AMB_API_STREAM_MAX_PER_ADDRESS": "10000",  # every screen comes from 127.0.0.1 here
        "AMB_API_PUBLIC_TRACK_PER_MINUTE": "100000",
        "AMB_API_STREAM_HEARTBEAT_S": "15",
        "AMB_API_STREAM_REAUTH_S": "60",
        "AMB_API_WORKERS": str(args.api_workers),
    }
    try:
        broker.start()
        ports = []
        for _ in range(args.api_processes):
            proc, port = services.start_api(broker, workdir, **settings)
            apis.append(proc)
            ports.append(port)
        time.sleep(2.0 if args.api_workers > 1 else 0.0)  # the workers started
        pids = [pid for p in apis if p.proc is not None for pid in family(p.proc.pid)]
        wait_until_quiet(args.quiet_wait)
        idle_kib = sum(rss_kib(pid) for pid in pids)
        parts = args.client_processes
        plans = [
            ClientPlan(ports, f, h, c, s)
            for f, h, c, s in zip(
                deal(data["fleet"], parts),
                deal(data["screens"], parts),
                deal(data["callers"], parts),
                deal(data["stalled"], parts),
                strict=True,
            )
        ]
        ready, stop, results = [MP.Event() for _ in plans], MP.Event(), MP.Queue()
        clients = [
            MP.Process(target=run_clients, args=(plan, r, stop, results), name=f"screens-{i}")
            for i, (plan, r) in enumerate(zip(plans, ready, strict=True))
        ]
        for c in clients:
            c.start()
        for r in ready:
            r.wait(180)
        time.sleep(2.0)
        connected_kib = sum(rss_kib(pid) for pid in pids)
        go, fed = MP.Event(), MP.Queue()
        plan = FeedPlan(
            broker.endpoint("gateway"), data["vehicles"], data["journeys"], args.rate, args.duration
        )
        feeder = MP.Process(target=run_feeder, args=(plan, go, fed), name="feeder")
        feeder.start()
        time.sleep(1.0)
        cpu_before = {pid: process_cpu_s(pid) for pid in pids}
        machine_before, load_before = MachineCpu.now(), load_average()
        go.set()
        peak_kib = 0
        started = time.monotonic()
        while time.monotonic() < started + args.duration:
            time.sleep(1.0)
            peak_kib = max(peak_kib, sum(rss_kib(pid) for pid in pids))
        sent = fed.get(timeout=60)
        time.sleep(1.0)  # the last frames on their way
        cpu_s = sum(process_cpu_s(pid) - cpu_before[pid] for pid in pids)
        elapsed = time.monotonic() - started
        machine = MachineCpu.now().busy_share_since(machine_before)
        end_kib = sum(rss_kib(pid) for pid in pids)
        overflows = sum(scrape(port, data["admin"], "amb_api_ws_overflows_total") for port in ports)
        open_ws = sum(scrape(port, data["admin"], "amb_api_ws_connections") for port in ports)
        stop.set()
        got: list[ClientResult] = [results.get(timeout=120) for _ in clients]
        for c in [*clients, feeder]:
            c.join(10)
            if c.is_alive():
                c.kill()
    finally:
        for api in apis:
            api.stop()
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return figures(
        args,
        data,
        sent,
        got,
        ports,
        cpu_s,
        elapsed,
        machine,
        load_before,
        overflows,
        open_ws,
        {"idle": idle_kib, "connected": connected_kib, "peak": peak_kib, "end": end_kib},
    )


def figures(
    args: argparse.Namespace,
    data: dict[str, Any],
    sent: dict[str, int],
    got: list[ClientResult],
    ports: list[int],
    cpu_s: float,
    elapsed: float,
    machine: float,
    load_before: tuple[float, float, float],
    overflows: float,
    open_ws: float,
    memory_kib: dict[str, int],
) -> dict[str, Any]:
    classes = ("fleet", "hospital", "caller")
    frames = {k: sum(g.frames[k] for g in got) for k in classes}
    delivered = frames["fleet"] + frames["hospital"]
    screens = args.fleet + args.hospital
    closed: dict[str, int] = {}
    for g in got:
        for name, n in g.closed.items():
            closed[name] = closed.get(name, 0) + n
    return {
        "machine": describe_machine(args.database_url),
        "load_before": load_before,
        "api_processes": len(ports),
        "api_workers": args.api_workers,
        "screens": {
            "fleet": args.fleet,
            "hospital": args.hospital,
            "callers": args.callers,
            "stalled": args.stalled,
        },
        "hospitals": data["hospitals"],
        "published": sent,
        "connected": sum(g.connected for g in got),
        "delay_ms": {k: latency_summary_ms([d for g in got for d in g.delays[k]]) for k in classes},
        "frames": frames,
        "megabytes": {k: round(sum(g.bytes[k] for g in got) / 1e6, 1) for k in classes},
        "api_cpu_pct_of_core": round(100 * cpu_s / elapsed, 1),
        "api_cpu_us_per_ws_frame": round(1e6 * cpu_s / delivered, 1) if delivered else None,
        "machine_busy_pct": round(100 * machine, 1),
        "api_rss_mib": {k: round(v / 1024, 1) for k, v in memory_kib.items()},
        "api_kib_per_screen": round((memory_kib["connected"] - memory_kib["idle"]) / max(1, screens), 1),
        "ws_overflows": overflows,
        "ws_open_at_end": open_ws,
        "client_closes": closed,
        "client_errors": [e for g in got for e in g.errors],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ensure_database(args.database_url)
    with exclusive_use(args.database_url):
        result = measure(args)
    print(json.dumps(result, indent=2))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
