"""The statistics of the analytics page, read from `journey_intervals`: response-time
percentiles and shares within the targets per period, area, hour, weekday and priority; every
interval's percentiles; the response-time histogram; incidents for the map; handover per
hospital; utilisation per unit; the stations' road-time reach."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from analytics.intervals import INTERVAL_COLUMNS, TARGET_RURAL_S, TARGET_URBAN_S, definitions
from runtime.db import query

HISTOGRAM_MAX_MINUTES = 30
INCIDENT_LIMIT = 5000
MAX_SPAN_DAYS = 400  # a year and a bit: what the journey data are kept for
LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")


class AnalyticsInputError(ValueError):
    """A period or filter the analytics cannot answer (end before start, too long a span...)."""


@dataclass(frozen=True, slots=True)
class Filter:
    """Which journeys: called in [start, end), optionally one priority or area; demo or not."""

    start: datetime
    end: datetime
    priority: int | None = None
    area_id: int | None = None
    include_demo: bool = True
    bucket: Literal["day", "week"] = "day"

    def params(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "priority": self.priority,
            "area_id": self.area_id,
            "demo": self.include_demo,
            "bucket": self.bucket,
            "urban_s": TARGET_URBAN_S,
            "rural_s": TARGET_RURAL_S,
        }


def _figures(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "n": row["n"],
        "p50_s": row["p50_s"],
        "p90_s": row["p90_s"],
        "mean_s": float(row["mean_s"]) if row["mean_s"] is not None else None,
        "within_8": float(row["within_8"]) if row["within_8"] is not None else None,
        "within_15": float(row["within_15"]) if row["within_15"] is not None else None,
    }


async def area_names(conn: AsyncConnection) -> dict[int, dict[str, str]]:
    """The areas (district health centres) by id, with names for the page."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, name_vi, name_en, ST_Y(geom) AS lat, ST_X(geom) AS lon FROM hospitals"
            " WHERE category = 'district_health_centre' ORDER BY name_vi"
        )
        return {r["id"]: r for r in await cur.fetchall()}


async def response_summary(conn: AsyncConnection, f: Filter) -> dict[str, Any]:
    """Response time overall, per period (day or week), area, hour of day, weekday and priority."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query("analytics/response_groups"), f.params())
        rows = await cur.fetchall()
    areas = await area_names(conn)
    out: dict[str, Any] = {
        "overall": {
            "n": 0,
            "p50_s": None,
            "p90_s": None,
            "mean_s": None,
            "within_8": None,
            "within_15": None,
        },
        "periods": [],
        "areas": [],
        "hours": [],
        "weekdays": [],
        "priorities": [],
    }
    for r in rows:
        figures = _figures(r)
        if r["g_period"] == 0:
            out["periods"].append({"period": r["period"].isoformat(), **figures})
        elif r["g_area"] == 0:
            area = areas.get(r["area_id"], {})
            out["areas"].append(
                {
                    "area_id": r["area_id"],
                    "name_vi": area.get("name_vi"),
                    "name_en": area.get("name_en"),
                    **figures,
                }
            )
        elif r["g_hour"] == 0:
            out["hours"].append({"hour": r["hour"], **figures})
        elif r["g_dow"] == 0:
            out["weekdays"].append({"isodow": r["isodow"], **figures})
        elif r["g_priority"] == 0:
            out["priorities"].append({"priority": r["priority"], **figures})
        else:
            out["overall"] = figures
    for key, order in (
        ("periods", "period"),
        ("hours", "hour"),
        ("weekdays", "isodow"),
        ("priorities", "priority"),
    ):
        out[key].sort(key=lambda x, k=order: x[k])
    out["areas"].sort(key=lambda x: x["p90_s"] or 0, reverse=True)
    return out


async def interval_stats(conn: AsyncConnection, f: Filter) -> dict[str, Any]:
    """Count, p50, p90 and mean of every interval, with the number of (demo) journeys."""
    parts = []
    for column in INTERVAL_COLUMNS:
        c = sql.Identifier(column)
        parts.append(
            sql.SQL(
                "count(i.{c}) AS {n}, percentile_cont(0.5) WITHIN GROUP (ORDER BY i.{c}) AS {p50},"
                " percentile_cont(0.9) WITHIN GROUP (ORDER BY i.{c}) AS {p90}, avg(i.{c}) AS {mean}"
            ).format(
                c=c,
                n=sql.Identifier(f"{column}:n"),
                p50=sql.Identifier(f"{column}:p50"),
                p90=sql.Identifier(f"{column}:p90"),
                mean=sql.Identifier(f"{column}:mean"),
            )
        )
    statement = sql.SQL(query("analytics/interval_stats")).format(columns=sql.SQL(",\n").join(parts))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement, f.params())
        row = await cur.fetchone()
    assert row is not None
    intervals = []
    for d in definitions():
        name = d["column"]
        mean = row[f"{name}:mean"]
        intervals.append(
            {
                **d,
                "n": row[f"{name}:n"],
                "p50_s": row[f"{name}:p50"],
                "p90_s": row[f"{name}:p90"],
                "mean_s": float(mean) if mean is not None else None,
            }
        )
    return {"journeys": row["journeys"], "demo_journeys": row["demo_journeys"], "intervals": intervals}


async def histogram(conn: AsyncConnection, f: Filter) -> list[dict[str, int]]:
    """Journeys per whole minute of response time, 0 .. HISTOGRAM_MAX_MINUTES (the last: and more)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            query("analytics/response_histogram"), {**f.params(), "max_minutes": HISTOGRAM_MAX_MINUTES}
        )
        counts = {r["minute"]: r["n"] for r in await cur.fetchall()}
    return [{"minute": m, "n": counts.get(m, 0)} for m in range(HISTOGRAM_MAX_MINUTES + 1)]


async def incidents(conn: AsyncConnection, f: Filter, limit: int = INCIDENT_LIMIT) -> list[dict[str, Any]]:
    """The newest incidents of the filter with their response time, for the map."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            SELECT i.journey_id, round(ST_Y(i.incident_geom)::numeric, 6)::float AS lat,
                   round(ST_X(i.incident_geom)::numeric, 6)::float AS lon, i.priority, i.response_s,
                   i.call_at, i.demo
            FROM journey_intervals i
            WHERE i.call_at >= %(start)s AND i.call_at < %(end)s
              AND (%(priority)s::smallint IS NULL OR i.priority = %(priority)s)
              AND (%(area_id)s::bigint IS NULL OR i.area_id = %(area_id)s)
              AND (%(demo)s OR NOT i.demo)
            ORDER BY i.call_at DESC LIMIT %(limit)s
            """,
            {**f.params(), "limit": limit},
        )
        rows = await cur.fetchall()
    for r in rows:
        r["call_at"] = r["call_at"].isoformat()
    return rows


async def handover_by_hospital(conn: AsyncConnection, f: Filter) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query("analytics/handover_by_hospital"), f.params())
        rows = await cur.fetchall()
    return [{**r, "mean_s": float(r["mean_s"])} for r in rows]


async def unit_utilisation(conn: AsyncConnection, f: Filter) -> list[dict[str, Any]]:
    """Seconds available / on missions / out of service per unit over the filter's period."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query("analytics/unit_utilisation"), f.params())
        rows = await cur.fetchall()
    out = []
    for r in rows:
        period = float(r["period_s"])
        mission, oos = float(r["mission_s"]), float(r["out_of_service_s"])
        out.append(
            {
                "vehicle_id": r["vehicle_id"],
                "call_sign": r["call_sign"],
                "plate": r["plate"],
                "missions": r["missions"],
                "period_s": period,
                "mission_s": mission,
                "out_of_service_s": oos,
                "available_s": max(period - mission - oos, 0.0),
            }
        )
    return out


async def station_reach(conn: AsyncConnection, limit_s: float) -> dict[str, Any]:
    """Each station's road-time reach within `limit_s` and the junctions none reaches (gaps)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query("analytics/station_reach"), {"limit_s": limit_s})
        row = await cur.fetchone()
    assert row is not None
    gaps = row["gaps"] or {"junctions": 0, "points": None}
    total = row["junctions"] or 0
    return {
        "limit_s": limit_s,
        "stations": row["stations"],
        "gaps": gaps,
        "junctions": total,
        "covered_share": (1 - gaps["junctions"] / total) if total else None,
    }


def day_range(first: date, last: date) -> tuple[datetime, datetime]:
    """[first 00:00, last+1 00:00) in Asia/Ho_Chi_Minh, as aware datetimes."""
    return datetime.combine(first, time(), LOCAL), datetime.combine(last + timedelta(days=1), time(), LOCAL)


def period_filter(
    first: date | None,
    last: date | None,
    priority: int | None = None,
    area_id: int | None = None,
    include_demo: bool = True,
    bucket: Literal["day", "week"] = "day",
    default_days: int = 30,
) -> Filter:
    """The filter of local days first..last (inclusive; default: the last `default_days` days up to
    today), checked."""
    today = datetime.now(LOCAL).date()
    last = last or today
    first = first or last - timedelta(days=default_days - 1)
    if last < first:
        raise AnalyticsInputError(f"the period ends ({last}) before it starts ({first})")
    if (last - first).days + 1 > MAX_SPAN_DAYS:
        raise AnalyticsInputError(f"at most {MAX_SPAN_DAYS} days at a time")
    start, end = day_range(first, last)
    return Filter(start, end, priority, area_id, include_demo, bucket)


def last_month() -> date:
    """The first day of the previous local month."""
    first = datetime.now(LOCAL).date().replace(day=1)
    return (first - timedelta(days=1)).replace(day=1)
