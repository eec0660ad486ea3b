"""The CSV export: every journey of a period and filter with each timestamp (ISO 8601 in
Asia/Ho_Chi_Minh, offset included) and each interval in seconds, one row per journey. PostgreSQL
writes the CSV itself (COPY ... TO STDOUT): a year of journeys in well under a second."""

from __future__ import annotations

from psycopg import AsyncConnection, sql

from analytics.intervals import INTERVAL_COLUMNS
from analytics.stats import Filter
from runtime.db import query
from tracking.journeys import TIMESTAMPS

STAMPS = ("call_received_at", *TIMESTAMPS)  # the call, then every status the log stamps
LOCAL_ISO = 'YYYY-MM-DD"T"HH24:MI:SS"+07:00"'  # Vietnam keeps +07:00 all year (no DST)


def export_statement() -> sql.Composed:
    stamps = sql.SQL(", ").join(
        sql.SQL("to_char(j.{c} AT TIME ZONE 'Asia/Ho_Chi_Minh', {fmt}) AS {c}").format(
            c=sql.Identifier(c), fmt=sql.Literal(LOCAL_ISO)
        )
        for c in STAMPS
    )
    intervals = sql.SQL(", ").join(
        sql.SQL("round(i.{c}::numeric, 1) AS {c}").format(c=sql.Identifier(c)) for c in INTERVAL_COLUMNS
    )
    select = sql.SQL(query("analytics/journeys_export")).format(stamps=stamps, intervals=intervals)
    return sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER)").format(select)


async def journeys_csv(conn: AsyncConnection, f: Filter) -> str:
    """The CSV text (UTF-8, header row first)."""
    chunks: list[bytes] = []
    async with conn.cursor() as cur, cur.copy(export_statement(), f.params()) as copy:
        async for data in copy:
            chunks.append(bytes(data))
    return b"".join(chunks).decode("utf-8")
