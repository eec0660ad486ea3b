"""Response-time analytics for managers (admin and viewer roles): the page's figures, the incidents
map, the stations' road-time reach, unit utilisation, and the exports (CSV, monthly PDF report).

Periods are local days (Asia/Ho_Chi_Minh), `from` and `to` inclusive; default the last 30 days.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from analytics import export, report, stats
from analytics.intervals import TARGET_RURAL_S, TARGET_URBAN_S, definitions
from api import analytics_examples as examples
from api.deps import Analyst, Conn
from api.openapi import AUTH_ERRORS, Responses, error, example, ok
from api.routes.vehicles import GeoJSONResponse

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"], responses=AUTH_ERRORS)
INVALID: Responses = {
    422: error("A period that ends before it starts, or longer than 400 days", "at most 400 days at a time")
}


def journey_filter(
    first: Annotated[
        date | None, Query(alias="from", description="first local day (default: 29 days before `to`)")
    ] = None,
    last: Annotated[
        date | None, Query(alias="to", description="last local day, inclusive (default: today)")
    ] = None,
    priority: Annotated[
        int | None, Query(ge=1, le=3, description="only this priority (1 most urgent)")
    ] = None,
    area_id: Annotated[
        int | None, Query(ge=1, description="only this area (its district health centre's id)")
    ] = None,
    include_demo: Annotated[bool, Query(description="count journeys marked as demo data")] = True,
    bucket: Annotated[Literal["day", "week"], Query(description="periods of the series")] = "day",
) -> stats.Filter:
    return stats.period_filter(first, last, priority, area_id, include_demo, bucket)


Period = Annotated[stats.Filter, Depends(journey_filter)]


@router.get(
    "/summary",
    summary="Response times: percentiles and shares within 8 and 15 minutes per period, area, hour, weekday, priority",
    responses=ok(examples.SUMMARY, INVALID),
)
async def summary(conn: Conn, _: Analyst, f: Period) -> dict[str, Any]:
    return {
        "from": f.start.isoformat(),
        "to": f.end.isoformat(),
        "bucket": f.bucket,
        "targets": {"urban_s": TARGET_URBAN_S, "rural_s": TARGET_RURAL_S},
        "areas_note": "area: the district health centre nearest the incident (no ward boundaries are shipped)",
        **await stats.response_summary(conn, f),
        **await stats.interval_stats(conn, f),
        "histogram": await stats.histogram(conn, f),
        "hospitals": await stats.handover_by_hospital(conn, f),
        "area_list": list((await stats.area_names(conn)).values()),
    }


@router.get(
    "/definitions",
    summary="Each interval's definition (NEMSIS-style, from the journey status log), in Vietnamese and English",
    responses=ok(examples.DEFINITIONS),
)
async def interval_definitions(_: Analyst) -> dict[str, Any]:
    return {"intervals": definitions()}


@router.get(
    "/incidents",
    summary="Incidents of the period as GeoJSON points with their response time (newest 5,000)",
    response_class=GeoJSONResponse,
    responses={200: example(examples.INCIDENTS, media_type="application/geo+json"), **INVALID},
)
async def incidents(conn: Conn, _: Analyst, f: Period) -> GeoJSONResponse:
    rows = await stats.incidents(conn, f)
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
            "properties": {k: r[k] for k in ("journey_id", "priority", "response_s", "call_at", "demo")},
        }
        for r in rows
    ]
    return GeoJSONResponse({"type": "FeatureCollection", "features": features})


@router.get(
    "/reach",
    summary="Where each station's ambulances get within N minutes by road (pgRouting), and the junctions none reaches",
    responses=ok(examples.REACH),
)
async def reach(
    conn: Conn, _: Analyst, minutes: Annotated[float, Query(gt=0, le=60, description="road-time limit")] = 8
) -> dict[str, Any]:
    return await stats.station_reach(conn, minutes * 60)


@router.get(
    "/units",
    summary="Per unit: time available, on missions and out of service over the period",
    responses=ok(examples.UNITS, INVALID),
)
async def units(conn: Conn, _: Analyst, f: Period) -> dict[str, Any]:
    return {
        "from": f.start.isoformat(),
        "to": f.end.isoformat(),
        "units": await stats.unit_utilisation(conn, f),
    }


@router.get(
    "/journeys.csv",
    summary="CSV of the period's journeys with every timestamp (local time) and interval (seconds)",
    response_class=Response,
    responses={200: example(examples.CSV, media_type="text/csv"), **INVALID},
)
async def journeys_csv(conn: Conn, _: Analyst, f: Period) -> Response:
    text = await export.journeys_csv(conn, f)
    name = f"journeys-{f.start:%Y%m%d}-{f.end:%Y%m%d}.csv"
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/report.pdf",
    summary="The monthly report (key figures, definitions, charts) as a PDF",
    response_class=Response,
    responses={200: example("%PDF-1.4 ...", media_type="application/pdf"), **INVALID},
)
async def monthly_report(
    conn: Conn,
    _: Analyst,
    month: Annotated[
        str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM (default: last month)")
    ] = None,
    include_demo: bool = True,
) -> Response:
    first = date.fromisoformat(f"{month}-01") if month else stats.last_month()
    data = await report.report_data(conn, first, include_demo)
    pdf = await asyncio.to_thread(report.render_pdf, data)  # drawing takes a second: off the event loop
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="report-{first:%Y-%m}.pdf"'},
    )
