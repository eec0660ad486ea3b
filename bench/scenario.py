"""One benchmark scenario end to end: a fresh broker (the project's RabbitMQ node, or a cluster of
them), gateways, amb-tracker and the API on loopback, emulated trackers publishing on a schedule, a
websocket client watching, and the figures measured afterwards."""

from __future__ import annotations

import concurrent.futures
import contextlib
import inspect
import multiprocessing
import queue
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

import tests.services as services
from bench.cluster import BrokerCluster
from bench.cpu import CpuMeter, load_average, rss_kib
from bench.database import (
    BrokerAccounts,
    backend_pids,
    count_stored,
    device_ids,
    issue_broker_accounts,
    register_fleet,
    reset_database,
    summarise_stored,
    tracking_inbox_count,
)
from bench.figures import Observations, figures
from bench.journeys_load import alarm_figures, dispatch_journeys, ensure_road_graph
from bench.listener import ListenerResult, run_listener
from bench.publisher import PublisherPlan, PublisherResult, run_publisher

MP = multiprocessing.get_context("spawn")  # children start clean, whatever threads the parent runs
SETTLE_S = 0.5  # between "everyone connected" and the first publish
# The gateway as production runs it — the tracking worker in its own process (amb-tracker), not in
# the gateway — with the device listeners (TCP/UDP/HTTP) off: only the MQTT transport is measured,
# and a benchmark never fights another gateway on this machine for their ports.
GATEWAY_DEFAULTS = {
    "tracking": "false",
    "gt06_port": "0",
    "teltonika_port": "0",
    "h02_port": "0",
    "osmand_port": "0",
}


@dataclass(frozen=True, slots=True)
class Scenario:
    """What to offer the pipeline, and how many processes take part."""

    name: str
    devices: int
    rate: float  # offered fixes/s, all devices together
    duration_s: float
    fixes_per_message: int = 1
    publishers: int = 2  # publisher processes, devices split between them
    gateways: int = 1  # gateway processes competing on the queue amb.ingest
    nodes: int = 1  # RabbitMQ nodes (more than 1: a cluster, amb.ingest replicated on each)
    gateway: dict[str, str] = field(default_factory=dict)  # AMB_GATEWAY_* overrides
    tracker: bool = True  # run amb-tracker beside the gateways, as production does
    sos_every: int = 0  # > 0: every this many messages of a publisher carries an SOS (alarm latency)
    journeys: int = 0  # vehicles on a journey, whose ETAs amb-tracker keeps current meanwhile

    @property
    def tracking(self) -> bool:
        """Whether fixes are evaluated: by amb-tracker, or by a gateway told to (`tracking=true`)."""
        setting = self.gateway.get("tracking", GATEWAY_DEFAULTS["tracking"])
        return self.tracker or setting.lower() not in ("false", "0", "no", "off")

    def plans(self, broker_ports: tuple[int, ...], passwords: dict[str, str]) -> list[PublisherPlan]:
        devices = device_ids(self.devices)
        processes = max(1, min(self.publishers, self.devices))
        return [
            PublisherPlan(
                broker_ports=broker_ports,
                devices=tuple(devices[p::processes]),
                passwords=tuple(passwords[d] for d in devices[p::processes]),
                rate=self.rate * len(devices[p::processes]) / len(devices),
                duration_s=self.duration_s,
                fixes_per_message=self.fixes_per_message,
                seed=p,
                sos_every=self.sos_every,
            )
            for p in range(processes)
        ]


def run_scenario(scenario: Scenario, database_url: str, workdir: Path) -> dict[str, Any]:
    """Run `scenario` on fresh services and return its figures (see docs/benchmarks.md)."""
    services.TEST_DATABASE_URL = database_url  # the helpers read it at call time: never the tests' DB
    reset_database(database_url)
    run_id = uuid.uuid4().hex[:6]
    workdir = workdir / f"{scenario.name}-{run_id}"
    devices = device_ids(scenario.devices)
    key = register_fleet(database_url, devices)
    accounts = issue_broker_accounts(database_url, devices)
    if scenario.journeys:
        ensure_road_graph(database_url)
        print(f"   {dispatch_journeys(database_url, scenario.journeys)} vehicles on journeys", flush=True)
    load_before = load_average()
    with (
        _services(workdir, run_id, scenario, accounts) as stack,
        psycopg.connect(database_url, autocommit=True) as conn,
    ):
        ws_url = f"ws://127.0.0.1:{stack.api_port}/api/v1/stream"
        with _listener(ws_url, key) as (listener_done, listener_progress, stop_listener):
            cpu = CpuMeter(stack.pids(), lambda: _backend_groups(conn))
            print(f"   gateway pid(s) {cpu.fixed['gateway']} (for py-spy); logs in {workdir}", flush=True)
            published, started = _publish(scenario, stack.mqtt_ports(), accounts.device_passwords, cpu)
            inbox_at_end = tracking_inbox_count(conn)
            queue_at_end = _queue_depth(stack)
            acked = sum(p.fixes_acked for p in published)
            timeout_s = max(60.0, 2 * scenario.duration_s)
            tracked_at = _wait_drained(conn, acked, scenario.tracking, timeout_s)
            _wait_progress(listener_progress, acked, timeout_s=10)
            usage = cpu.stop()
            gateway_rss_kib = sum(rss_kib(pid) for pid in cpu.fixed["gateway"])
            stop_listener()
            listened = listener_done()
        metrics = stack.gateway_metrics()
        members, leader = stack.broker.ingest_members(timeout_s=1), stack.broker.ingest_leader()
        stored = summarise_stored(conn, started)
    observed = Observations(
        devices=scenario.devices,
        gateways=scenario.gateways,
        fixes_per_message=scenario.fixes_per_message,
        duration_s=scenario.duration_s,
        target_rate=scenario.rate,
        published=published,
        listened=listened,
        stored=stored,
        started=started,
        tracking_inbox_at_end=inbox_at_end if scenario.tracking else None,
        tracked_at=tracked_at,
        ingest_queue_at_end=queue_at_end,
        cpu=usage,
        gateway_metrics=metrics,
    )
    alarms = (
        alarm_figures(database_url, published, listened.alarms, listened.etas) if scenario.sos_every else {}
    )
    return {
        **figures(observed),
        **alarms,
        "broker_nodes": scenario.nodes,
        # Every gateway's resident memory after the run (its per-device state: docs/benchmarks.md).
        "gateway_rss_mib": round(gateway_rss_kib / 1024, 1),
        "ingest_queue_members": members,
        "ingest_queue_leader": leader,
        "load_before": load_before,
    }


def _queue_depth(stack: _Stack) -> int | None:
    """amb.ingest's depth now, or None (reported as such) when a saturated broker does not take a
    new connection within its timeout."""
    try:
        return stack.broker.first.queue_depth()
    except (TimeoutError, concurrent.futures.TimeoutError) as exc:
        print(f"   queue depth not read: {type(exc).__name__}", flush=True)
        return None


# PostgreSQL backends by application name -> the group their CPU is counted in.
_BACKEND_GROUPS = {"amb-gateway-writer": "postgres_writer", "amb-tracking-worker": "postgres_tracking"}


def _backend_groups(conn: psycopg.Connection) -> dict[int, str]:
    return {pid: _BACKEND_GROUPS.get(name, "postgres_other") for pid, name in backend_pids(conn).items()}


@dataclass(frozen=True, slots=True)
class _Stack:
    """The running services of one scenario."""

    broker: BrokerCluster
    gateways: list[services.Gateway]
    api: services.ServiceProcess
    api_port: int
    tracker: services.ServiceProcess | None = None

    def pids(self) -> dict[str, list[int]]:
        procs = {
            "gateway": [g.proc for g in self.gateways],
            "tracker": [self.tracker.proc if self.tracker else None],
            "api": [self.api.proc],
        }
        pids = {name: [p.pid for p in ps if p is not None] for name, ps in procs.items()}
        # One group per node (figures adds them up as "broker" and keeps the split).
        for i, node in enumerate(self.broker.nodes, start=1):
            pids[f"broker@{i}"] = [pid for pid in [node.pid()] if pid]
        return pids

    def mqtt_ports(self) -> tuple[int, ...]:
        return tuple(node.port for node in self.broker.nodes)

    def gateway_metrics(self) -> dict[str, float]:
        """Every gateway's samples, added up."""
        total: dict[str, float] = {}
        for gateway in self.gateways:
            for name, value in gateway.metrics().items():
                total[name] = total.get(name, 0.0) + value
        return total


@contextlib.contextmanager
def _services(workdir: Path, run_id: str, scenario: Scenario, accounts: BrokerAccounts) -> Iterator[_Stack]:
    """The project's broker (authenticated, as in production), gateways, amb-tracker and the API,
    started as the tests start them, stopped in any case.

    With several nodes, gateway i consumes through node i+1 (mod the nodes: nodes 2 and 3 for two
    gateways on three nodes); amb-tracker and the API use node 1."""
    broker = BrokerCluster(workdir / "broker", scenario.nodes)
    gateways: list[services.Gateway] = []
    api: services.ServiceProcess | None = None
    tracker: services.ServiceProcess | None = None
    try:
        broker.start()
        with broker.first.management().client() as http:
            http.post("/api/definitions", json=accounts.definitions).raise_for_status()
        for i in range(scenario.gateways):
            node = broker.nodes[(i + 1) % len(broker.nodes)]
            settings = {**GATEWAY_DEFAULTS, **scenario.gateway}
            gateways.append(_start_gateway(node, workdir, f"bench-gw-{run_id}-{i}", settings))
        if scenario.tracker:
            tracker = services.start_tracker(broker.first, workdir)
        api, api_port = services.start_api(broker.first, workdir)
        yield _Stack(broker, gateways, api, api_port, tracker)
    finally:
        for service in [api, tracker, *gateways]:
            if service is not None:
                service.stop()
        broker.stop()


def _start_gateway(
    node: services.Broker, workdir: Path, name: str, settings: dict[str, str]
) -> services.Gateway:
    """A gateway on the benchmark's database: named explicitly where the helper takes it (its default
    is the tests' database, fixed at import), else the helper reads services.TEST_DATABASE_URL."""
    if "database_url" in inspect.signature(services.start_gateway).parameters:
        settings = {**settings, "database_url": services.TEST_DATABASE_URL}
    return services.start_gateway(node, workdir, name, **settings)


@contextlib.contextmanager
def _listener(url: str, key: str) -> Iterator[tuple[Any, Any, Any]]:
    ready, stop, results = MP.Event(), MP.Event(), MP.Queue()
    progress = MP.Value("q", 0)
    proc = MP.Process(
        target=run_listener, args=(url, key, ready, stop, progress, results), name="ws-listener"
    )
    proc.start()
    try:
        if not ready.wait(30):
            raise TimeoutError("the websocket client got no snapshot within 30 s")

        def done() -> ListenerResult:
            result: ListenerResult = results.get(timeout=60)
            return result

        yield done, progress, stop.set
    finally:
        stop.set()
        proc.join(10)
        if proc.is_alive():
            proc.kill()


def _publish(
    scenario: Scenario, broker_ports: tuple[int, ...], passwords: dict[str, str], cpu: CpuMeter
) -> tuple[list[PublisherResult], float]:
    """Start the publisher processes, release them together; returns their results and the
    scheduled time of the first publish."""
    plans = scenario.plans(broker_ports, passwords)
    go, results, start_at = MP.Event(), MP.Queue(), MP.Value("d", 0.0)
    readies = [MP.Event() for _ in plans]
    procs = [
        MP.Process(target=run_publisher, args=(plan, ready, go, start_at, results), name=f"publisher-{i}")
        for i, (plan, ready) in enumerate(zip(plans, readies, strict=True))
    ]
    for proc in procs:
        proc.start()
    try:
        for ready in readies:
            if not ready.wait(120):
                raise TimeoutError("publishers did not connect within 120 s")
        cpu.start()
        start_at.value = time.time() + SETTLE_S
        go.set()
        published: list[PublisherResult] = []
        for _ in procs:
            published.append(results.get(timeout=scenario.duration_s + 120))
    except queue.Empty as exc:
        raise TimeoutError("a publisher did not report") from exc
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    errors = [p.error for p in published if p.error]
    if errors:
        raise RuntimeError(f"publisher failed: {errors[0]}")
    return published, start_at.value


def _wait_drained(conn: psycopg.Connection, expected: int, tracking: bool, timeout_s: float) -> float | None:
    """Poll until every acknowledged fix is stored and (with tracking) evaluated, or the timeout;
    returns when the tracking inbox was found empty (None: not within the timeout, or no tracking)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and count_stored(conn) < expected:
        time.sleep(0.2)
    while tracking and time.monotonic() < deadline:
        if tracking_inbox_count(conn) == 0:
            return time.time()
        time.sleep(0.2)
    return None


def _wait_progress(progress: Any, expected: int, timeout_s: float) -> None:
    """Let the websocket client catch up with what was stored (it may miss some: bounded wait)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and progress.value < expected:
        time.sleep(0.1)
