"""The CSV export: every journey of a period and filter with each timestamp (ISO 8601 in
Asia/Ho_Chi_Minh, offset included) and each interval in seconds, one row per journey."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

from psycopg import AsyncConnection, sql

from analytics.intervals import INTERVAL_COLUMNS
from analytics.stats import Filter
from runtime.db import query

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")


def _cell(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(LOCAL).isoformat()
    if isinstance(value, float):
        return f"{value:.1f}"
    if value is None:
        return ""
    return value


async def journeys_csv(conn: AsyncConnection, f: Filter) -> str:
    """The CSV text (UTF-8, header row first)."""
    columns = sql.SQL(", ").join(sql.SQL("i.{}").format(sql.Identifier(c)) for c in INTERVAL_COLUMNS)
    statement = sql.SQL(query("analytics/journeys_export")).format(intervals=columns)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    async with conn.cursor() as cur:
        await cur.execute(statement, f.params())
        assert cur.description is not None
        writer.writerow([d.name for d in cur.description])
        async for row in cur:
            writer.writerow([_cell(v) for v in row])
    return out.getvalue()
