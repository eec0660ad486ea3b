"""The printed table of a run's figures, and the JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# (label, key in a scenario's figures, format)
ROWS: tuple[tuple[str, str, str], ...] = (
    ("devices", "devices", "{:,}"),
    ("fixes per message", "fixes_per_message", "{}"),
    ("broker nodes (RabbitMQ)", "broker_nodes", "{}"),
    ("gateway processes", "gateways", "{}"),
    ("duration (s)", "duration_s", "{:.0f}"),
    ("offered fixes/s (target)", "target_rate", "{:,.0f}"),
    ("offered fixes/s (achieved)", "offered_fixes_per_s", "{:,.0f}"),
    ("offered messages/s", "offered_messages_per_s", "{:,.0f}"),
    ("published fixes (PUBACKed)", "published_fixes", "{:,}"),
    ("stored fixes", "stored_fixes", "{:,}"),
    ("sustained stored fixes/s (median s)", "sustained_stored_fixes_per_s", "{:,.0f}"),
    ("slowest second, stored fixes", "slowest_second_stored_fixes", "{:,.0f}"),
    ("sustained stored messages/s", "stored_messages_per_s", "{:,.0f}"),
    ("overall stored fixes/s (incl. drain)", "overall_stored_fixes_per_s", "{:,.0f}"),
    ("drain after last publish (s)", "drain_s", "{:.2f}"),
    ("loss (published - stored)", "loss", "{:,}"),
    ("amb.ingest queue when publishing ended", "ingest_queue_at_end", "{:,}"),
    ("tracking inbox when publishing ended", "tracking_inbox_at_end", "{:,}"),
    ("tracking drain after last publish (s)", "tracking_drain_s", "{:.2f}"),
    ("publish failures", "publish_failures", "{:,}"),
    ("duplicates (gateway refused)", "gateway_duplicates", "{:,.0f}"),
    ("duplicates (websocket)", "websocket_duplicates", "{:,}"),
    ("missing on websocket", "websocket_missing", "{:,}"),
    ("publish->websocket p50 (ms)", "latency_ms.p50", "{:,.1f}"),
    ("publish->websocket p90 (ms)", "latency_ms.p90", "{:,.1f}"),
    ("publish->websocket p99 (ms)", "latency_ms.p99", "{:,.1f}"),
    ("publish->websocket max (ms)", "latency_ms.max", "{:,.1f}"),
    ("p99 without the first and last second (ms)", "latency_steady_ms.p99", "{:,.1f}"),
    ("SOS published", "sos_published", "{:,}"),
    ("SOS missing on websocket", "sos_missing_on_websocket", "{:,}"),
    ("SOS publish->websocket p50 (ms)", "sos_latency_ms.p50", "{:,.1f}"),
    ("SOS publish->websocket p99 (ms)", "sos_latency_ms.p99", "{:,.1f}"),
    ("SOS publish->websocket max (ms)", "sos_latency_ms.max", "{:,.1f}"),
    ("ETA updates on the websocket", "eta_updates_received", "{:,}"),
    ("gateway batch, mean fixes", "gateway_mean_batch_fixes", "{:,.0f}"),
    ("gateway commit, mean (ms)", "gateway_mean_commit_ms", "{:.1f}"),
    ("gateway CPU per fix (us)", "cpu_us_per_fix.gateway", "{:.0f}"),
    ("tracker CPU per fix (us)", "cpu_us_per_fix.tracker", "{:.0f}"),
    ("PG writer backend CPU per fix (us)", "cpu_us_per_fix.postgres_writer", "{:.0f}"),
    ("PG tracking backend CPU per fix (us)", "cpu_us_per_fix.postgres_tracking", "{:.0f}"),
    ("PG other backends CPU per fix (us)", "cpu_us_per_fix.postgres_other", "{:.0f}"),
    ("broker CPU per fix, all nodes (us)", "cpu_us_per_fix.broker", "{:.0f}"),
    ("broker CPU per fix, by node (us)", "broker_node_cpu_us_per_fix", "{:.0f}"),
    ("API CPU per fix (us)", "cpu_us_per_fix.api", "{:.0f}"),
    ("publishers CPU per fix (us)", "cpu_us_per_fix.publishers", "{:.0f}"),
    ("websocket client CPU per fix (us)", "cpu_us_per_fix.websocket_client", "{:.0f}"),
    ("gateway CPU busy (% of one core, each)", "gateway_core_share_pct", "{:.0f}"),
    ("gateway memory after the run (MiB RSS, all)", "gateway_rss_mib", "{:,.1f}"),
    ("broker CPU busy (% of one core, by node)", "broker_node_core_share_pct", "{:.0f}"),
    ("tracker CPU busy (% of one core)", "core_share_pct.tracker", "{:.0f}"),
    ("machine CPU busy (% of all cores)", "machine_busy_pct", "{:.0f}"),
    ("  of which other processes (%)", "other_processes_cpu_pct", "{:.0f}"),
    ("load average before (1 min)", "load_before.0", "{:.2f}"),
)


def _lookup(figures: dict[str, Any], dotted: str) -> Any:
    value: Any = figures
    for part in dotted.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def format_table(scenarios: dict[str, dict[str, Any]]) -> str:
    """One column per scenario, one row per figure; '-' where a figure does not apply."""
    names = list(scenarios)
    cells = [[label] + [_cell(scenarios[n], key, fmt) for n in names] for label, key, fmt in ROWS]
    header = ["figure", *names]
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(
            row[i].ljust(widths[i]) if i == 0 else row[i].rjust(widths[i]) for i in range(len(row))
        )

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in cells)])


def _cell(figures: dict[str, Any], key: str, fmt: str) -> str:
    value = _lookup(figures, key)
    if isinstance(value, list):
        return " / ".join(fmt.format(v) for v in value) or "-"
    return "-" if value is None else fmt.format(value)


def format_baseline(baseline: dict[str, Any]) -> str:
    naive, batched = baseline["naive_insert"], baseline["batched_store"]
    gain = batched["fixes_per_s"] / naive["fixes_per_s"] if naive["fixes_per_s"] else float("nan")
    return "\n".join(
        [
            "storage alone, one connection (no MQTT):",
            f"  naive: one autocommit INSERT per fix   {naive['fixes_per_s']:>9,.0f} fixes/s"
            f"  ({naive['fixes']:,} fixes in {naive['seconds']:.1f} s)",
            f"  gateway's store_fixes, {batched['batch_size']}-fix batches {batched['fixes_per_s']:>8,.0f} fixes/s"
            f"  ({batched['fixes']:,} fixes in {batched['seconds']:.1f} s)  -> x{gain:.1f}",
        ]
    )


# What each preset must show (docs/benchmarks.md): the durable-ingest issue's "must not regress".
THROUGHPUT_TARGET_FIXES_PER_S = 2500
LATENCY_TARGET_P99_MS = 25  # issue 14, group commit (was 150 with the 40 ms flush interval)
SOS_TARGET_P99_MS = 500  # issue 11, item 6: an SOS under ETA load
DISTURBED_PCT = 10  # CPU share taken by other processes above which a run is flagged


def kept_up(f: dict[str, Any]) -> bool:
    """The run's offered rate was sustained: published on schedule, stored as offered, drained
    within 1 s of the last publish, nothing acknowledged and then missing."""
    return (
        f["offered_fixes_per_s"] >= 0.99 * f["target_rate"]
        and f["overall_stored_fixes_per_s"] >= 0.98 * f["target_rate"]
        and f["drain_s"] < 1.0
        and f["loss"] == 0
        and f["publish_failures"] == 0
    )


def verdicts(scenarios: dict[str, dict[str, Any]]) -> list[str]:
    """One line per throughput run (kept up or not), the throughput target over the single-node
    runs, and the latency target."""
    lines = []
    throughput = {n: f for n, f in scenarios.items() if n.startswith(("throughput", "cluster"))}
    for name, f in throughput.items():
        lines.append(
            f"{name}: {f['target_rate']:,.0f} fixes/s offered {'KEPT UP' if kept_up(f) else 'NOT KEPT UP'}"
            f" (stored {f['overall_stored_fixes_per_s']:,.0f} fixes/s overall, sustained"
            f" {f['sustained_stored_fixes_per_s']:,.0f}; drain {f['drain_s']:.2f} s; loss {f['loss']:,})"
        )
    if any(n.startswith("throughput") for n in throughput):
        kept = [f["target_rate"] for n, f in throughput.items() if n.startswith("throughput") and kept_up(f)]
        best, target = max(kept, default=0.0), THROUGHPUT_TARGET_FIXES_PER_S
        lines.append(
            f"throughput target (>= {target:,} fixes/s stored as offered, drained within 1 s, no loss): "
            f"{'MET' if best >= target else 'NOT MET'} (highest rate kept up: {best:,.0f} fixes/s)"
        )
    if (f := scenarios.get("latency")) is not None:
        p99 = f["latency_ms"]["p99"]
        met = p99 is not None and p99 < LATENCY_TARGET_P99_MS and f["websocket_missing"] == 0
        lines.append(
            f"latency target (p99 publish->websocket < {LATENCY_TARGET_P99_MS} ms, every fix shown): "
            f"{'MET' if met else 'NOT MET'} (p99 {p99} ms, missing {f['websocket_missing']:,})"
        )
    if (f := scenarios.get("alarms")) is not None and f.get("sos_latency_ms"):
        p99 = f["sos_latency_ms"]["p99"]
        met = p99 is not None and p99 < SOS_TARGET_P99_MS and f["sos_missing_on_websocket"] == 0
        lines.append(
            f"alarm target (p99 SOS publish->websocket < {SOS_TARGET_P99_MS} ms with ETAs, every SOS shown): "
            f"{'MET' if met else 'NOT MET'} (p99 {p99} ms, missing {f['sos_missing_on_websocket']:,})"
        )
    return lines


def warnings(scenarios: dict[str, dict[str, Any]]) -> list[str]:
    """Anything that makes a run's figures suspect."""
    found = []
    for name, f in scenarios.items():
        checks = {
            "fixes lost": f["loss"],
            "publishes failed": f["publish_failures"],
            "fixes never shown on the websocket": f["websocket_missing"],
            "fixes refused by the gateway": sum(f["gateway_refused"].values()),
            "websocket closed with code": f["websocket_close_code"] or 0,
        }
        found += [f"{name}: {what}: {value:,.0f}" for what, value in checks.items() if value]
        if f["websocket_error"]:
            found.append(f"{name}: websocket client error: {f['websocket_error']}")
        if f["other_processes_cpu_pct"] > DISTURBED_PCT:
            found.append(
                f"{name}: other processes used {f['other_processes_cpu_pct']:.0f}% of the CPU during the run:"
                " figures disturbed, re-run when the machine is quiet (see `uptime`)"
            )
        if f["tracking_inbox_at_end"] is not None and f["tracking_drain_s"] is None:
            found.append(f"{name}: the tracking worker had not evaluated every fix by the end of the drain")
        if f["publisher_max_lag_s"] > 0.5:
            found.append(f"{name}: publishers fell {f['publisher_max_lag_s']:.1f} s behind schedule")
    return found


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
