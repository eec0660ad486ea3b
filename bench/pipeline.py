# ruff: noqa: E402  (the repository goes on sys.path before the project imports)
"""Pipeline benchmark: emulated trackers -> RabbitMQ (MQTT, quorum queue amb.ingest) -> gateway ->
PostGIS -> amb.committed -> API websocket, on loopback, then the naive one-INSERT-per-fix baseline.
Prints a table; writes bench/results/latest.json.

    .venv/bin/python bench/pipeline.py                       # the default presets and the baseline
    .venv/bin/python bench/pipeline.py --scenario latency --duration 10
    .venv/bin/python bench/pipeline.py --scenario throughput --rates 2500,3000,3500 --no-baseline
    .venv/bin/python bench/pipeline.py --scenario cluster --no-baseline   # 3 nodes, 2 gateways

See docs/benchmarks.md for what each figure means.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == REPO / "bench":
    sys.path[0] = str(REPO)  # run as a script: import `bench.*` and `tests.*` from the repository

from bench import baseline
from bench.cpu import load_average, wait_until_quiet
from bench.database import (
    BENCH_DATABASE_URL,
    empty_positions,
    ensure_database,
    exclusive_use,
    prepare_database,
    register_fleet,
    reset_database,
)
from bench.machine import describe_machine
from bench.report import format_baseline, format_table, verdicts, warnings, write_json
from bench.scenario import Scenario, run_scenario

PRESETS: dict[str, Scenario] = {
    # The durable-ingest issue's floor: 2,500 one-fix messages/s from 1,000 trackers (2.5 Hz each),
    # stored with nothing lost; `--rates` runs it at several rates to find the highest kept up.
    "throughput": Scenario("throughput", devices=1000, rate=2500, duration_s=30, publishers=2),
    # Three times Da Nang's expected 300 fixes/s: 1,000 trackers at 1 Hz; latency is what matters.
    "latency": Scenario("latency", devices=1000, rate=1000, duration_s=30, publishers=1),
    # Trackers uploading their backlog: arrays of 10 fixes, the same fix rate with a tenth of the messages.
    "backlog": Scenario(
        "backlog", devices=1000, rate=5000, duration_s=30, fixes_per_message=10, publishers=1
    ),
    # The way to more fixes/s by adding nodes: 3 RabbitMQ nodes (amb.ingest replicated on each),
    # devices spread over their MQTT ports, two gateways. Offered more than this machine can take:
    # what is stored per second is its capacity here; `--rates` to confirm a rate is kept up.
    "cluster": Scenario("cluster", devices=1000, rate=4000, duration_s=30, publishers=2, gateways=2, nodes=3),
}
# Issue 11, item 6: SOS publish -> websocket while amb-tracker keeps 300 journeys' ETAs current
# (each ETA round routes up to 40 of them with pgRouting); one message in 100 is an SOS.
PRESETS["alarms"] = Scenario(
    "alarms", devices=1000, rate=1000, duration_s=30, publishers=1, sos_every=100, journeys=300
)
DEFAULT_SCENARIOS = ("throughput", "latency")
RESULTS_PATH = REPO / "bench" / "results" / "latest.json"
BASELINE_FIXES = 20_000
BASELINE_BATCH = 200  # what the gateway commits at 5,000 fixes/s and its 40 ms flush interval


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=sorted(PRESETS),
        help=f"preset to run (repeatable; default: {' and '.join(DEFAULT_SCENARIOS)})",
    )
    parser.add_argument("--devices", type=int, help="emulated trackers (overrides the preset)")
    parser.add_argument(
        "--rate", type=float, help="offered fixes/s, all devices together (overrides the preset)"
    )
    parser.add_argument("--duration", type=float, help="seconds of publishing (overrides the preset)")
    parser.add_argument("--fixes-per-message", type=int, help="1: live fixes; more: backlog arrays")
    parser.add_argument("--publishers", type=int, help="publisher processes (overrides the preset)")
    parser.add_argument(
        "--rates",
        type=lambda text: [float(r) for r in text.split(",")],
        metavar="R1,R2,...",
        help="run each selected preset once per offered rate (fixes/s), named e.g. throughput@3000",
    )
    parser.add_argument(
        "--gateways", type=int, help="gateway processes competing on amb.ingest (overrides the preset)"
    )
    parser.add_argument("--nodes", type=int, help="RabbitMQ nodes, clustered (overrides the preset)")
    parser.add_argument(
        "--gateway",
        action="append",
        default=[],
        metavar="SETTING=VALUE",
        help="gateway setting, e.g. batch_max_fixes=500 (becomes AMB_GATEWAY_BATCH_MAX_FIXES)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="before each measurement, wait up to this long for other processes to leave the CPU idle",
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the services' logs (kept anyway on failure)"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the naive INSERT baseline")
    parser.add_argument("--no-tracker", action="store_true", help="do not run amb-tracker (ingest only)")
    parser.add_argument(
        "--baseline-seconds", type=float, default=10.0, help="time limit of the naive baseline"
    )
    parser.add_argument("--database-url", default=BENCH_DATABASE_URL, help="the benchmark's own database")
    parser.add_argument("--json", type=Path, default=RESULTS_PATH, help="where to write the figures")
    return parser.parse_args(argv)


def selected_scenarios(args: argparse.Namespace) -> list[Scenario]:
    overrides: dict[str, Any] = {
        "devices": args.devices,
        "rate": args.rate,
        "duration_s": args.duration,
        "fixes_per_message": args.fixes_per_message,
        "publishers": args.publishers,
        "gateways": args.gateways,
        "nodes": args.nodes,
        "tracker": False if args.no_tracker else None,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    gateway = dict(setting.split("=", 1) for setting in args.gateway)
    scenarios = [
        dataclasses.replace(PRESETS[name], **overrides, gateway={**PRESETS[name].gateway, **gateway})
        for name in args.scenario or DEFAULT_SCENARIOS
    ]
    if not args.rates:
        return scenarios
    return [
        dataclasses.replace(s, name=f"{s.name}@{rate:.0f}", rate=rate)
        for s in scenarios
        for rate in args.rates
    ]


def run_baseline(url: str, max_seconds: float) -> dict[str, Any]:
    """Naive autocommit INSERTs, then the gateway's batched store, on the same fixes' shape."""
    reset_database(url)
    register_fleet(url, [f"base-{i:04d}" for i in range(1, 101)])
    devices = baseline.vehicle_devices(url)
    naive = baseline.naive_inserts(url, baseline.make_fixes(devices, BASELINE_FIXES), max_seconds)
    empty_positions(url)
    batched = baseline.batched_store(url, baseline.make_fixes(devices, BASELINE_FIXES), BASELINE_BATCH)
    return {
        "naive_insert": {**dataclasses.asdict(naive), "fixes_per_s": naive.fixes_per_s},
        "batched_store": {
            **dataclasses.asdict(batched),
            "fixes_per_s": batched.fixes_per_s,
            "batch_size": BASELINE_BATCH,
        },
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run the selected scenarios and the baseline; returns the JSON document of the figures."""
    prepare_database(args.database_url)
    document: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": describe_machine(args.database_url),
        "load_before": load_average(),
        "scenarios": {},
    }
    machine = document["machine"]
    print(
        f"commit {machine['commit']}; load average before {document['load_before']} ({machine['cores']} cores)",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="amb-bench-"))  # service logs and broker state
    try:
        for scenario in selected_scenarios(args):
            print(
                f"-- {scenario.name}: {scenario.devices} devices, {scenario.rate:,.0f} fixes/s, "
                f"{scenario.fixes_per_message} fix(es)/message, {scenario.duration_s:.0f} s, "
                f"{scenario.nodes} broker node(s), {scenario.gateways} gateway(s) ...",
                flush=True,
            )
            wait_until_quiet(args.quiet_wait)
            started = time.monotonic()
            document["scenarios"][scenario.name] = run_scenario(scenario, args.database_url, workdir)
            print(f"   done in {time.monotonic() - started:.0f} s", flush=True)
    except BaseException:
        print(f"benchmark failed; service logs kept in {workdir}", file=sys.stderr)
        raise
    if args.keep_logs:
        print(f"   service logs in {workdir}", flush=True)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    if not args.no_baseline:
        print("-- baseline: naive INSERTs vs batched store ...", flush=True)
        wait_until_quiet(args.quiet_wait)
        document["baseline"] = run_baseline(args.database_url, args.baseline_seconds)
    return document


def print_report(document: dict[str, Any]) -> None:
    print()
    print(format_table(document["scenarios"]))
    if "baseline" in document:
        print()
        print(format_baseline(document["baseline"]))
    print()
    for line in verdicts(document["scenarios"]):
        print(line)
    for line in warnings(document["scenarios"]):
        print(f"WARNING {line}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ensure_database(args.database_url)
    with exclusive_use(args.database_url):
        document = measure(args)
    print_report(document)
    write_json(args.json, document)
    print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
