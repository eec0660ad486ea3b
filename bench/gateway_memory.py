# ruff: noqa: E402  (the repository goes on sys.path before the project imports)
"""A gateway's memory per device (issue 14, item 3): what it keeps of every device it has heard —
the registry entry, the de-duplication window of recent fix times, the impossible-jump judge's
reference — with every window full (the steady state after `dedupe_window` fixes per device).

    .venv/bin/python bench/gateway_memory.py --devices 1000,10000

Measured with tracemalloc around the gateway's own structures fed through their public methods
(no database, no broker: devices connect to the broker, not to the gateways, so this is the
whole of a gateway's per-device cost). Prints KiB per device and the total for each fleet size.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == REPO / "bench":
    sys.path[0] = str(REPO)

from gateway.decoded import FixFields
from gateway.dedupe import RecentFixes
from gateway.jumps import LastFixes
from gateway.registry import DeviceEntry
from gateway.settings import GatewaySettings


def per_device_state(devices: int, window: int) -> dict[str, float]:
    """Fill the gateway's per-device structures for `devices` devices, `window` fixes each."""
    settings = GatewaySettings(metrics_port=0)
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    gc.collect()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    registry: dict[str, DeviceEntry] = {}
    recent = RecentFixes(window)
    last = LastFixes()
    for d in range(devices):
        device_id = f"bench-{d:05d}"
        registry[device_id] = DeviceEntry(device_id, d + 1, "mqtt_json", True)
        for i in range(window):
            fix = FixFields(t0 + timedelta(seconds=i), 16.05 + i * 1e-5, 108.2, speed_kmh=36.0)
            recent.admit(device_id, fix.fix_time, None)
            last.judge(
                device_id,
                fix,
                settings.max_jump_kmh,
                settings.jump_min_distance_m,
                settings.jump_confirm_fixes,
            )
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    total = after - before
    return {
        "devices": devices,
        "window": window,
        "kib_per_device": total / devices / 1024,
        "mib": total / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", default="1000,10000", help="fleet sizes, comma-separated")
    parser.add_argument("--window", type=int, default=GatewaySettings(metrics_port=0).dedupe_window)
    args = parser.parse_args()
    print(f"gateway state per device, every de-duplication window full ({args.window} fix times)")
    for n in (int(x) for x in args.devices.split(",")):
        r = per_device_state(n, args.window)
        print(
            f"  {n:>6,} devices: {r['kib_per_device']:6.1f} KiB per device, {r['mib']:8.1f} MiB in all",
            flush=True,
        )


if __name__ == "__main__":
    main()
