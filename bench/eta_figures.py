"""The ETA accuracy benchmark's figures: errors, bias and arrival-window coverage per profile."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

TARGET_MEDIAN, TARGET_P90, TARGET_BIAS = 0.08, 0.20, 0.04
TARGET_COVERAGE = (0.75, 0.85)
# Local hours grouped for the breakdown (the street peaks of bench/streets.py: 6:00-7:30 and
# 17:00-19:30).
PERIODS = {
    "peaks (6-8, 17-20)": {6, 7, 17, 18, 19},
    "night (22-6)": {22, 23, 0, 1, 2, 3, 4, 5},
}


# Where in the journey the prediction was made (share of its duration driven).
TRIP_POINTS = {
    "at the start (1st fix)": (0.0, 1e-9),
    "first half of the trip": (0.0, 0.5),
    "second half of the trip": (0.5, 1.0),
}


@dataclass(frozen=True, slots=True)
class Prediction:
    hour: int  # local hour of the fix
    actual_s: float  # time actually left until the arrival
    predicted_s: float
    low_s: float | None = None  # the arrival window (p10-p90), when the profile gives one
    high_s: float | None = None
    at: datetime | None = None  # when it was predicted
    trip_share: float | None = None  # share of the journey driven when it was predicted (0: at the start)
    vehicle: int | None = None  # the vehicle's id (its own calibration factor)
    target: str | None = None  # 'scene' or 'hospital'

    @property
    def error_s(self) -> float:
        return abs(self.predicted_s - self.actual_s)

    @property
    def share(self) -> float:
        return self.error_s / self.actual_s

    @property
    def signed(self) -> float:
        return (self.predicted_s - self.actual_s) / self.actual_s

    @property
    def covered(self) -> bool | None:
        if self.low_s is None or self.high_s is None:
            return None
        return self.low_s <= self.actual_s <= self.high_s


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def summary(predictions: Sequence[Prediction]) -> dict[str, float]:
    errors = [p.error_s for p in predictions]
    shares = [p.share for p in predictions]
    covered = [p.covered for p in predictions if p.covered is not None]
    return {
        "n": len(predictions),
        "median_s": statistics.median(errors),
        "p90_s": percentile(errors, 90),
        "median_share": statistics.median(shares),
        "p90_share": percentile(shares, 90),
        "bias": statistics.median(p.signed for p in predictions),
        "coverage": sum(covered) / len(covered) if covered else math.nan,
    }


def print_table(network: str, results: dict[str, list[Prediction]]) -> bool:
    """The accuracy table of one network; True when the learned profile meets the targets."""
    print(f"\nETA accuracy on the {network} network (absolute error of the predicted arrival):")
    print(
        f"   {'profile':<10} {'subset':<26} {'fixes':>6} {'median s':>9} {'p90 s':>7} {'median %':>9}"
        f" {'p90 %':>7} {'bias %':>7} {'window':>7}"
    )
    print(
        "   (bias: the median of (predicted - actual) / actual, negative = predicted too early;"
        " window: share of arrivals inside the p10-p90 window)"
    )
    rows: dict[str, dict[str, float]] = {}
    for profile, predictions in results.items():
        subsets: list[tuple[str, list[Prediction]]] = [("all fixes", list(predictions))]
        subsets += [(name, [p for p in predictions if p.hour in hours]) for name, hours in PERIODS.items()]
        subsets.append(("over 2 min left", [p for p in predictions if p.actual_s >= 120]))
        subsets += [
            (name, [p for p in predictions if p.trip_share is not None and low <= p.trip_share < high])
            for name, (low, high) in TRIP_POINTS.items()
        ]
        for name, subset in subsets:
            if not subset:
                continue
            s = summary(subset)
            if name == "all fixes":
                rows[profile] = s
            window = "-" if math.isnan(s["coverage"]) else f"{100 * s['coverage']:.1f}%"
            print(
                f"   {profile:<10} {name:<26} {s['n']:>6} {s['median_s']:>9.1f} {s['p90_s']:>7.1f}"
                f" {100 * s['median_share']:>8.1f}% {100 * s['p90_share']:>6.1f}% {100 * s['bias']:>+6.1f}%"
                f" {window:>7}"
            )
    if "default" not in rows:
        return False
    default, learned = rows["default"], rows["learned"]
    low, high = TARGET_COVERAGE
    checks = {
        f"learned median <= {TARGET_MEDIAN:.0%}": learned["median_share"] <= TARGET_MEDIAN,
        f"learned p90 <= {TARGET_P90:.0%}": learned["p90_share"] <= TARGET_P90,
        f"learned |bias| <= {TARGET_BIAS:.0%}": abs(learned["bias"]) <= TARGET_BIAS,
        f"learned p10-p90 window covers {low:.0%}-{high:.0%}": low <= learned["coverage"] <= high,
        "learned better than default (median, p90, |bias|)": learned["median_share"] < default["median_share"]
        and learned["p90_share"] < default["p90_share"]
        and abs(learned["bias"]) < abs(default["bias"]),
    }
    for what, ok in checks.items():
        print(f"   target {what}: {'met' if ok else 'NOT MET'}")
    return all(checks.values())
