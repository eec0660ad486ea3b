"""Prometheus metrics of the tracking worker."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, disable_created_metrics

disable_created_metrics()

EVALUATED = Counter("amb_tracking_fixes_evaluated_total", "Fixes evaluated by the tracking worker.")
BATCH_SECONDS = Histogram(
    "amb_tracking_batch_seconds",
    "Time to evaluate and store one batch.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)
EVENTS = Counter("amb_tracking_events_total", "Events raised, by kind.", ["kind"])
ETA_SECONDS = Histogram(
    "amb_tracking_eta_round_seconds",
    "Time of one ETA round (routing the vehicles that moved), off the evaluation path.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
