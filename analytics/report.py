"""The monthly report as a PDF the health department can file: the key figures against the
national target, each interval's definition and percentiles, and the charts of the page (response
time per day, its distribution, by area, hour, weekday and priority, handover per hospital, unit
utilisation), drawn with matplotlib straight to PDF (no browser on the server)."""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from psycopg import AsyncConnection

from analytics import stats
from analytics.intervals import TARGET_RURAL_S, TARGET_URBAN_S

A4 = (8.27, 11.69)
BLUE, ORANGE, GREY, RED = "#1f6feb", "#f0883e", "#8b949e", "#d1242f"
WEEKDAYS = ("T2", "T3", "T4", "T5", "T6", "T7", "CN")


@dataclass(frozen=True, slots=True)
class ReportData:
    month: date
    summary: dict[str, Any]
    intervals: dict[str, Any]
    histogram: list[dict[str, int]]
    hospitals: list[dict[str, Any]]
    units: list[dict[str, Any]]
    generated_at: datetime


async def report_data(conn: AsyncConnection, month: date, include_demo: bool = True) -> ReportData:
    first = month.replace(day=1)
    following = (
        first.replace(year=first.year + 1, month=1)
        if first.month == 12
        else first.replace(month=first.month + 1)
    )
    start, end = stats.day_range(first, first)[0], stats.day_range(following, following)[0]
    f = stats.Filter(start, end, include_demo=include_demo)
    return ReportData(
        first,
        await stats.response_summary(conn, f),
        await stats.interval_stats(conn, f),
        await stats.histogram(conn, f),
        await stats.handover_by_hospital(conn, f),
        await stats.unit_utilisation(conn, f),
        datetime.now(stats.LOCAL),
    )


def _minutes(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 60:.1f}"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def render_pdf(data: ReportData) -> bytes:
    """The report's pages, as PDF bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    plt.rcParams.update({"font.family": "DejaVu Sans", "font.size": 8})
    buffer = io.BytesIO()
    with PdfPages(
        buffer, metadata={"Title": f"Báo cáo thời gian phản ứng cấp cứu {data.month:%m/%Y}"}
    ) as pdf:
        for page in (_cover, _charts_time, _charts_where, _levers):
            fig = plt.figure(figsize=A4)
            page(fig, data)
            fig.text(0.5, 0.015, f"Trung tâm Cấp cứu 115 Đà Nẵng — {data.month:%m/%Y} — tạo lúc {data.generated_at:%Y-%m-%d %H:%M %z}", ha="center", color=GREY)  # fmt: skip
            pdf.savefig(fig)
            plt.close(fig)
    return buffer.getvalue()


def _cover(fig: Any, d: ReportData) -> None:
    o = d.summary["overall"]
    fig.text(
        0.08, 0.95, f"Báo cáo thời gian phản ứng cấp cứu — tháng {d.month:%m/%Y}", fontsize=15, weight="bold"
    )
    fig.text(
        0.08, 0.925, f"Emergency response times — {d.month:%B %Y} (Asia/Ho_Chi_Minh)", fontsize=10, color=GREY
    )
    if d.intervals["demo_journeys"]:
        fig.text(0.08, 0.9, f"Có {d.intervals['demo_journeys']} chuyến DỮ LIỆU MẪU (demo) trong báo cáo này.", color=RED, weight="bold")  # fmt: skip
    figures = [
        ("Số chuyến có mặt tại hiện trường / journeys on scene", str(o["n"])),
        ("Thời gian phản ứng trung vị (p50), phút", _minutes(o["p50_s"])),
        ("Thời gian phản ứng p90, phút", _minutes(o["p90_s"])),
        (f"Tỷ lệ trong {TARGET_URBAN_S // 60} phút (mục tiêu đô thị)", _share(o["within_8"])),
        (f"Tỷ lệ trong {TARGET_RURAL_S // 60} phút (mục tiêu nông thôn)", _share(o["within_15"])),
    ]
    for k, (label, value) in enumerate(figures):
        y = 0.85 - k * 0.035
        fig.text(0.08, y, label, fontsize=10)
        fig.text(0.85, y, value, fontsize=12, weight="bold", ha="right")
    met = o["within_8"] is not None and o["p90_s"] is not None and o["p90_s"] <= TARGET_URBAN_S
    verdict = "ĐẠT mục tiêu 8 phút (p90)" if met else "CHƯA ĐẠT mục tiêu 8 phút (p90)"
    fig.text(0.08, 0.65, verdict, fontsize=13, weight="bold", color=BLUE if met else RED)
    ax = fig.add_axes((0.08, 0.08, 0.84, 0.52))
    ax.axis("off")
    rows = [[i["column"].removesuffix("_s"), str(i["n"]), _minutes(i["p50_s"]), _minutes(i["p90_s"]), textwrap.fill(i["vi"], 75)] for i in d.intervals["intervals"]]  # fmt: skip
    table = ax.table(cellText=rows, colLabels=["khoảng", "n", "p50 (ph)", "p90 (ph)", "định nghĩa"], loc="upper left",
                     colWidths=[0.14, 0.07, 0.08, 0.08, 0.63], cellLoc="left")  # fmt: skip
    table.auto_set_font_size(False)
    table.set_fontsize(6.5)
    for _, cell in table.get_celld().items():
        cell.set_height(0.075)


def _charts_time(fig: Any, d: ReportData) -> None:
    periods = d.summary["periods"]
    ax = fig.add_axes((0.1, 0.58, 0.82, 0.34))
    days = [p["period"][5:] for p in periods]
    ax.plot(days, [(p["p50_s"] or 0) / 60 for p in periods], color=BLUE, marker="o", ms=2, label="p50")
    ax.plot(days, [(p["p90_s"] or 0) / 60 for p in periods], color=ORANGE, marker="o", ms=2, label="p90")
    ax.axhline(TARGET_URBAN_S / 60, color=RED, ls="--", lw=1, label="8 phút")
    ax.set_title("Thời gian phản ứng theo ngày (phút) / response time per day")
    ax.legend(loc="upper right")
    ax.tick_params(axis="x", rotation=90, labelsize=6)
    ax2 = fig.add_axes((0.1, 0.1, 0.82, 0.36))
    ax2.bar([b["minute"] for b in d.histogram], [b["n"] for b in d.histogram],
            color=[BLUE if b["minute"] < 8 else ORANGE if b["minute"] < 15 else RED for b in d.histogram])  # fmt: skip
    ax2.set_title("Phân bố thời gian phản ứng (phút; cột cuối: ≥ 30) / distribution")
    ax2.set_xlabel("phút / minutes")


def _bars(ax: Any, labels: list[str], groups: list[dict[str, Any]], title: str) -> None:
    xs = range(len(groups))
    ax.bar(
        [x - 0.2 for x in xs], [(g["p50_s"] or 0) / 60 for g in groups], width=0.4, color=BLUE, label="p50"
    )
    ax.bar(
        [x + 0.2 for x in xs], [(g["p90_s"] or 0) / 60 for g in groups], width=0.4, color=ORANGE, label="p90"
    )
    ax.axhline(TARGET_URBAN_S / 60, color=RED, ls="--", lw=1)
    ax.set_xticks(list(xs), labels, fontsize=6)
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=6)


def _charts_where(fig: Any, d: ReportData) -> None:
    s = d.summary
    _bars(fig.add_axes((0.1, 0.74, 0.82, 0.2)), [(a["name_vi"] or "?").replace("Trung tâm Y tế ", "TTYT ") for a in s["areas"]], s["areas"], "Theo khu vực (TTYT gần nhất), phút")  # fmt: skip
    _bars(
        fig.add_axes((0.1, 0.45, 0.82, 0.2)),
        [str(h["hour"]) for h in s["hours"]],
        s["hours"],
        "Theo giờ trong ngày, phút",
    )
    _bars(fig.add_axes((0.1, 0.16, 0.38, 0.2)), [WEEKDAYS[w["isodow"] - 1] for w in s["weekdays"]], s["weekdays"], "Theo thứ, phút")  # fmt: skip
    _bars(fig.add_axes((0.56, 0.16, 0.36, 0.2)), [f"P{p['priority']}" for p in s["priorities"]], s["priorities"], "Theo mức ưu tiên, phút")  # fmt: skip


def _levers(fig: Any, d: ReportData) -> None:
    ax = fig.add_axes((0.35, 0.56, 0.57, 0.36))
    names = [(h["name_vi"] or "?")[:38] for h in d.hospitals]
    ax.barh(names, [(h["p50_s"] or 0) / 60 for h in d.hospitals], color=BLUE, label="p50")
    ax.barh(names, [(h["p90_s"] or 0) / 60 - (h["p50_s"] or 0) / 60 for h in d.hospitals], left=[(h["p50_s"] or 0) / 60 for h in d.hospitals], color=ORANGE, label="p90")  # fmt: skip
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=6)
    ax.set_title("Thời gian bàn giao tại bệnh viện (phút) / handover")
    ax.legend(loc="lower right", fontsize=6)
    ax2 = fig.add_axes((0.12, 0.08, 0.8, 0.38))
    units = d.units
    labels = [u["call_sign"] for u in units]
    total = [u["period_s"] or 1 for u in units]
    on = [u["mission_s"] / t for u, t in zip(units, total, strict=True)]
    off = [u["out_of_service_s"] / t for u, t in zip(units, total, strict=True)]
    free = [u["available_s"] / t for u, t in zip(units, total, strict=True)]
    ax2.bar(labels, on, color=ORANGE, label="làm nhiệm vụ / on mission")
    ax2.bar(labels, off, bottom=on, color=RED, label="ngừng hoạt động / out of service")
    ax2.bar(
        labels,
        free,
        bottom=[a + b for a, b in zip(on, off, strict=True)],
        color=BLUE,
        label="sẵn sàng / available",
    )
    ax2.set_title("Sử dụng xe (tỷ lệ thời gian) / unit utilisation")
    ax2.tick_params(axis="x", rotation=90, labelsize=6)
    ax2.legend(loc="upper right", fontsize=6)
