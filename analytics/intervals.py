"""The intervals of a journey, NEMSIS-style, and the summary table that holds them.

Each interval runs between the *first* transition into two statuses in `journey_status_log`
(the same instants as the journey's `*_at` columns). `journey_intervals` keeps one row per journey
with every interval in seconds; `refresh_intervals` upserts the journeys new or changed since the
last run, and `IntervalRefreshJob` runs it periodically inside amb-tracker, so a year of journeys
is summarised without reading the status log again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import AsyncConnection

from runtime.db import query

log = logging.getLogger(__name__)

TARGET_URBAN_S = 8 * 60  # national target by 2030: on scene within 8 minutes in cities
TARGET_RURAL_S = 15 * 60  # and within 15 minutes in rural areas
REFRESH_PERIOD_S = 60.0
# Journeys changed this long before the last refresh are looked at again: a transaction that
# stamped `updated_at` before the refresh started may commit after it.
REFRESH_MARGIN = timedelta(minutes=10)
REFRESH_LOCK = 7_216_150  # transaction advisory lock: one refresh at a time
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Interval:
    """One interval: its column, the statuses it runs between, and its definition (VI, EN)."""

    column: str
    start: str
    end: str
    vi: str
    en: str


INTERVALS: tuple[Interval, ...] = (
    Interval(
        "call_to_dispatch_s",
        "call",
        "dispatched",
        "Từ lúc nhận cuộc gọi 115 đến lúc điều xe (chỉ khi có giờ nhận cuộc gọi).",
        "From the 115 call to the unit being dispatched (only when the call time is recorded).",
    ),
    Interval(
        "turnout_s",
        "dispatched",
        "en_route",
        "Từ lúc điều xe đến lúc xe lăn bánh (bắt đầu di chuyển).",
        "From dispatch to wheels rolling (the unit starts moving).",
    ),
    Interval(
        "travel_s",
        "en_route",
        "on_scene",
        "Thời gian lái xe: từ lúc lăn bánh đến lúc dừng tại hiện trường.",
        "Driving: from wheels rolling to stopping at the scene.",
    ),
    Interval(
        "response_s",
        "call",
        "on_scene",
        "Thời gian phản ứng: từ cuộc gọi (hoặc lúc điều xe khi không có giờ cuộc gọi) đến lúc có mặt tại"
        " hiện trường. Mục tiêu quốc gia: 8 phút ở đô thị, 15 phút ở nông thôn.",
        "Response time: from the call (or the dispatch when no call time is recorded) to arriving on"
        " scene. National target: 8 minutes in cities, 15 in rural areas.",
    ),
    Interval(
        "on_scene_s",
        "on_scene",
        "transporting",
        "Thời gian tại hiện trường: đến lúc rời đi (chở bệnh nhân, hoặc quay về).",
        "Time on scene: until leaving (with the patient, or returning).",
    ),
    Interval(
        "transport_s",
        "transporting",
        "at_hospital",
        "Thời gian chuyển viện: từ lúc rời hiện trường đến lúc dừng tại bệnh viện.",
        "Transport: from leaving the scene to stopping at the hospital.",
    ),
    Interval(
        "handover_s",
        "at_hospital",
        "returning",
        "Thời gian bàn giao tại bệnh viện: từ lúc đến bệnh viện đến lúc xe rời đi, sẵn sàng nhận nhiệm vụ"
        " (hoặc kết thúc chuyến).",
        "Handover at the hospital: from arriving to the unit leaving, free again (or the journey closing).",
    ),
    Interval(
        "mission_s",
        "dispatched",
        "completed",
        "Toàn bộ nhiệm vụ: từ lúc điều xe đến lúc kết thúc (hoặc hủy).",
        "The whole mission: from dispatch to completion (or cancellation).",
    ),
)
INTERVAL_COLUMNS = tuple(i.column for i in INTERVALS)


def definitions() -> list[dict[str, str]]:
    """The intervals as the page and the exports show them beside their figures."""
    return [{"column": i.column, "start": i.start, "end": i.end, "vi": i.vi, "en": i.en} for i in INTERVALS]


async def refresh_intervals(conn: AsyncConnection, full: bool = False) -> int:
    """Upsert the rows of journeys new or changed since the last refresh (every journey with
    `full`); returns how many rows were written."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (REFRESH_LOCK,))
        since: datetime | None = None
        if not full:
            cur = await conn.execute("SELECT max(refreshed_at) FROM journey_intervals")
            row = await cur.fetchone()
            since = row[0] - REFRESH_MARGIN if row and row[0] else None
        cur = await conn.execute(query("analytics/refresh_intervals"), {"since": since or EPOCH})
        return cur.rowcount


def refresh_intervals_sync(conninfo: str, full: bool = False) -> int:
    """`refresh_intervals` on a blocking connection, for the command line (and callers that
    already run an event loop)."""
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (REFRESH_LOCK,))
        row = None if full else conn.execute("SELECT max(refreshed_at) FROM journey_intervals").fetchone()
        since = row[0] - REFRESH_MARGIN if row and row[0] else EPOCH
        return conn.execute(query("analytics/refresh_intervals"), {"since": since}).rowcount


class IntervalRefreshJob:
    """Refreshes `journey_intervals` every `period_s` on its own connection (in amb-tracker,
    beside the worker); a failure is logged and retried at the next period, never raised."""

    def __init__(self, conninfo: str, period_s: float = REFRESH_PERIOD_S) -> None:
        self.conninfo = conninfo
        self.period_s = period_s

    async def run_once(self) -> int:
        async with await psycopg.AsyncConnection.connect(
            self.conninfo, autocommit=True, application_name="amb-analytics-refresh"
        ) as conn:
            return await refresh_intervals(conn)

    async def run(self) -> None:
        while True:
            try:
                written = await self.run_once()
                if written:
                    log.info("analytics: %d journeys' intervals refreshed", written)
            except Exception:
                log.exception("analytics refresh failed; retrying in %.0f s", self.period_s)
            await asyncio.sleep(self.period_s)
