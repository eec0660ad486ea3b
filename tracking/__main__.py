"""`amb-tracker`: the tracking worker in its own process — geofences, journeys, events, ETAs —
and, beside it, the hourly jobs learning road speeds from the stored fixes (then calibrating ETAs
by the fleet's recent arrivals) and maintaining the
daily partitions of `positions` (dropping expired ones with DETACH ... CONCURRENTLY, which the
gateway's SQL maintenance cannot do without briefly taking ACCESS EXCLUSIVE on `positions`), and
every minute the analytics summary of the journeys' intervals (analytics/intervals.py).

Run one or more (one leads at a time through a PostgreSQL advisory lock); it publishes events and
ETAs to the API processes through the broker (`amb.committed`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

from prometheus_client import start_http_server
from psycopg import AsyncConnection
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from analytics.intervals import IntervalRefreshJob
from fixes.positions import maintain_partitions_periodically
from messaging.publisher import CommittedPublisher
from roads.settings import RoutingSettings
from roads.speed_learning import SpeedLearningJob
from runtime.config import BrokerSettings, DatabaseSettings
from runtime.process import configure_logging, run_until_signalled
from tracking.eta_calibration import calibrate_etas
from tracking.settings import TrackingSettings
from tracking.worker import TrackingWorker

log = logging.getLogger("amb.tracker")


class TrackerProcessSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AMB_TRACKER_", extra="ignore")

    metrics_port: int = Field(
        9109, ge=0, description="Prometheus /metrics port on 127.0.0.1; 0 turns it off."
    )
    metrics_host: str = Field("127.0.0.1", description="Address the metrics endpoint listens on.")


async def _run() -> None:
    process = TrackerProcessSettings()
    if process.metrics_port:
        start_http_server(process.metrics_port, addr=process.metrics_host)
    publisher = CommittedPublisher(
        BrokerSettings().endpoint(), f"amb-tracker@{socket.gethostname()}:{os.getpid()}"
    )
    database_url = DatabaseSettings().database_url
    worker = TrackingWorker(
        database_url, TrackingSettings(), publisher.publish_events, publisher.publish_etas
    )
    # Its own task and connection: a learning run never holds the worker up, and a failed one
    # is logged and tried again at the next period.
    learning = SpeedLearningJob(database_url, RoutingSettings(), after=_calibrate)
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(publisher.run(), name="tracking-publisher")
            tg.create_task(worker.run(), name="tracking-worker")
            tg.create_task(learning.run(), name="speed-learning")
            tg.create_task(maintain_partitions_periodically(database_url), name="partition-maintenance")
            # The analytics summary (journey_intervals) follows the journeys within a minute.
            tg.create_task(IntervalRefreshJob(database_url).run(), name="analytics-refresh")
    finally:
        await worker.close()
        await learning.close()


async def _calibrate(conn: AsyncConnection[Any]) -> None:
    log.info("%s", (await calibrate_etas(conn)).summary())


def main() -> None:
    configure_logging()
    run_until_signalled(_run, "tracking")


if __name__ == "__main__":
    main()
