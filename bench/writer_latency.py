# ruff: noqa: E402  (the repository goes on sys.path before the project imports)
"""The gateway's batch writer alone (issue 14, group commit): message received -> acknowledged
(after its commit) at a steady rate, with group commit (flush interval 0) and with the former
40 ms flush interval, alternated so both see the same machine. One process and its PostgreSQL
backend: what the writer adds to publish -> screen, without the broker, the decoding and the API.

    .venv/bin/python bench/writer_latency.py [--rate 1000] [--seconds 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == REPO / "bench":
    sys.path[0] = str(REPO)

import psycopg

from bench import baseline
from bench.cpu import MachineCpu, load_average
from bench.database import (
    BENCH_DATABASE_URL,
    device_ids,
    ensure_database,
    exclusive_use,
    prepare_database,
    register_fleet,
    reset_database,
)
from bench.figures import latency_summary_ms
from fixes.model import StoredFix
from gateway.batch_writer import PositionBatchWriter


async def one_run(url: str, interval_s: float, rate: float, seconds: float) -> dict[str, Any]:
    devices = baseline.vehicle_devices(url)
    fixes = baseline.make_fixes(devices, int(rate * seconds), seed=int(time.time() * 1000))
    batches: list[int] = []

    async def relay(stored: list[StoredFix]) -> None:
        batches.append(len(stored))

    writer = PositionBatchWriter(url, 2000, interval_s, relay)
    task = asyncio.create_task(writer.run())
    latencies: list[float] = []
    machine = MachineCpu.now()
    started = time.monotonic()
    for i, fix in enumerate(fixes):
        await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
        received = time.monotonic()
        await writer.add([fix], lambda received=received: latencies.append(time.monotonic() - received))
    await writer.drain()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return {
        "flush_interval_ms": interval_s * 1000,
        "received_to_acked_ms": latency_summary_ms(latencies),
        "acked": len(latencies),
        "commits": len(batches),
        "mean_batch": round(sum(batches) / max(1, len(batches)), 1),
        "machine_busy_pct": round(100 * MachineCpu.now().busy_share_since(machine), 1),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=1000.0, help="messages (one fix each) per second")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--database-url", default=BENCH_DATABASE_URL)
    args = p.parse_args()
    ensure_database(args.database_url)
    runs = []
    with exclusive_use(args.database_url):
        prepare_database(args.database_url)
        reset_database(args.database_url)
        register_fleet(args.database_url, device_ids(1000))
        for _ in range(args.rounds):
            for interval in (0.04, 0.0):
                runs.append(asyncio.run(one_run(args.database_url, interval, args.rate, args.seconds)))
                print(json.dumps(runs[-1]), flush=True)
                with psycopg.connect(args.database_url, autocommit=True) as conn:
                    conn.execute("TRUNCATE tracking_inbox")
    print(json.dumps({"load_before": load_average(), "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
