"""Turns what a run observed (sends, websocket arrivals, stored rows, metrics, CPU) into figures."""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.cpu import CpuUsage
from bench.database import StoredSummary
from bench.listener import ListenerResult
from bench.publisher import PublisherResult


@dataclass(frozen=True, slots=True)
class Observations:
    """Everything measured in one scenario run; times are Unix seconds (wall clock)."""

    devices: int
    gateways: int
    fixes_per_message: int
    duration_s: float
    target_rate: float
    published: list[PublisherResult]
    listened: ListenerResult
    stored: StoredSummary
    started: float  # scheduled time of the first publish
    tracking_inbox_at_end: int | None  # fixes not yet evaluated when the last publish went out
    tracked_at: float | None  # when the tracking worker had evaluated every fix
    ingest_queue_at_end: int | None  # messages waiting in amb.ingest when the last publish went out
    cpu: CpuUsage  # from the release of the publishers to the end of the drain
    gateway_metrics: dict[str, float]

    @property
    def last_send(self) -> float:
        return max(p.last_send for p in self.published)


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) of already sorted values; None when there are none."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary_ms(latencies_s: list[float]) -> dict[str, float | None]:
    values = sorted(latencies_s)

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * 1000, 1)

    return {
        "p50": ms(percentile(values, 50)),
        "p90": ms(percentile(values, 90)),
        "p99": ms(percentile(values, 99)),
        "max": ms(values[-1] if values else None),
    }


def figures(o: Observations) -> dict[str, Any]:
    """The figures of one run, as printed and written to JSON (see docs/benchmarks.md)."""
    return {
        "devices": o.devices,
        "fixes_per_message": o.fixes_per_message,
        "publishers": len(o.published),
        "gateways": o.gateways,
        "duration_s": o.duration_s,
        "target_rate": o.target_rate,
        **_offered(o),
        **_stored(o),
        **_tracking(o),
        **_websocket(o),
        **_gateway(o.gateway_metrics),
        **_cpu(o),
    }


def _offered(o: Observations) -> dict[str, Any]:
    seconds = max(o.last_send - o.started, 1e-9)
    fixes = sum(p.fixes_acked for p in o.published)
    messages = sum(p.messages_acked for p in o.published)
    return {
        "offered_fixes_per_s": fixes / seconds,
        "offered_messages_per_s": messages / seconds,
        "publisher_max_lag_s": max(p.max_lag_s for p in o.published),
        "published_fixes": fixes,
        "published_messages": messages,
        "publish_failures": sum(p.messages_failed for p in o.published),
    }


def _stored(o: Observations) -> dict[str, Any]:
    s = o.stored
    # Steady state: the whole seconds strictly inside the publishing window (not the first, whose
    # start waits for the first batch, nor the last, nor the drain after it).
    inside = int(o.last_send - o.started)
    steady = s.per_second[1 : inside - 1] if inside >= 3 else s.per_second
    sustained = statistics.median(steady) if steady else 0.0
    published = sum(p.fixes_acked for p in o.published)
    last = s.last_stored or o.started
    return {
        "stored_fixes": s.distinct_fixes,
        "stored_rows": s.rows,
        "sustained_stored_fixes_per_s": sustained,
        "slowest_second_stored_fixes": min(steady) if steady else None,
        "stored_messages_per_s": sustained / o.fixes_per_message,
        "overall_stored_fixes_per_s": s.rows / max(last - o.started, 1e-9),
        "drain_s": max(0.0, last - o.last_send),
        "loss": published - s.distinct_fixes,
        "stored_per_second": s.per_second,
    }


def _tracking(o: Observations) -> dict[str, Any]:
    return {
        "tracking_inbox_at_end": o.tracking_inbox_at_end,
        "tracking_drain_s": None if o.tracked_at is None else max(0.0, o.tracked_at - o.last_send),
        "ingest_queue_at_end": o.ingest_queue_at_end,
    }


def _latency_by_second(o: Observations) -> dict[int, list[float]]:
    """Publish -> websocket latencies (s) by the second of the run their fix was sent in."""
    received = o.listened.received
    first = min((sent for p in o.published for _, _, sent in p.sent), default=0.0)
    by_second: dict[int, list[float]] = {}
    for p in o.published:
        for device_id, fix_time, sent_at in p.sent:
            arrived = received.get((device_id, fix_time))
            if arrived is not None:
                by_second.setdefault(int(sent_at - first), []).append(arrived - sent_at)
    return by_second


def _websocket(o: Observations) -> dict[str, Any]:
    received = o.listened.received
    latencies, missing = [], 0
    for p in o.published:
        for device_id, fix_time, sent_at in p.sent:
            arrived = received.get((device_id, fix_time))
            if arrived is None:
                missing += 1
            else:
                latencies.append(arrived - sent_at)
    by_second = _latency_by_second(o)
    steady = [x for sec, values in by_second.items() if 0 < sec < max(by_second, default=0) for x in values]
    return {
        "latency_ms": latency_summary_ms(latencies),
        # Without the first and the last second of publishing (the devices' connections settling,
        # the run winding down), and second by second (p50, p99, max): where a tail comes from.
        "latency_steady_ms": latency_summary_ms(steady),
        "latency_by_second_ms": {
            sec: [round((percentile(sorted(v), q) or 0.0) * 1000, 1) for q in (50, 99)]
            + [round(max(v) * 1000, 1)]
            for sec, v in sorted(by_second.items())
        },
        "websocket_fixes": len(received),
        "websocket_missing": missing,
        "websocket_duplicates": o.listened.duplicates,
        "websocket_close_code": o.listened.close_code,
        "websocket_error": o.listened.error,
    }


def _gateway(m: dict[str, float]) -> dict[str, Any]:
    batches = m.get("amb_gateway_batch_fixes_count", 0.0)
    return {
        "gateway_duplicates": m.get('amb_gateway_refused_total{reason="duplicate"}', 0.0),
        "gateway_refused": {k: v for k, v in m.items() if k.startswith("amb_gateway_refused_total{")},
        "gateway_batches": batches,
        "gateway_mean_batch_fixes": m.get("amb_gateway_batch_fixes_sum", 0.0) / batches if batches else None,
        "gateway_mean_commit_ms": 1000 * m.get("amb_gateway_batch_commit_seconds_sum", 0.0) / batches
        if batches
        else None,
    }


def _cpu(o: Observations) -> dict[str, Any]:
    # The broker's nodes are measured one by one ("broker@1"...): their sum is "broker".
    nodes = {k: v for k, v in o.cpu.by_group.items() if k.startswith("broker@")}
    cpu_s = {
        **{k: v for k, v in o.cpu.by_group.items() if k not in nodes},
        "broker": sum(nodes.values()),
        "publishers": sum(p.cpu_s for p in o.published),
        "websocket_client": o.listened.cpu_s,
    }
    rows = o.stored.rows
    elapsed_s = max(o.cpu.elapsed_s, 1e-9)
    # Whatever the machine spent beyond our processes: other users of this shared machine (tests,
    # other developers' tools) and, a little, PostgreSQL's own background writers.
    others = max(0.0, o.cpu.machine_busy - sum(cpu_s.values()) / (elapsed_s * (os.cpu_count() or 1)))
    return {
        "cpu_s": cpu_s,
        "cpu_us_per_fix": {name: 1e6 * s / rows for name, s in cpu_s.items()} if rows else {},
        "broker_node_cpu_us_per_fix": [1e6 * s / rows for s in nodes.values()] if rows else [],
        # Share of one core from the publishers' release to the end of the drain, by component
        # (all its processes together) and by broker node.
        "core_share_pct": {name: 100 * s / elapsed_s for name, s in cpu_s.items()},
        "broker_node_core_share_pct": [100 * s / elapsed_s for s in nodes.values()],
        "gateway_core_share_pct": 100 * o.cpu.by_group.get("gateway", 0.0) / elapsed_s / max(1, o.gateways),
        "machine_busy_pct": 100 * o.cpu.machine_busy,
        "other_processes_cpu_pct": 100 * others,
    }
