"""ETAs of the vehicles on a journey, kept current as fixes arrive, cheaply.

While a vehicle heads to the scene (dispatched, en_route) or to the destination hospital
(transporting), its journey has a row in `journey_eta`: the route last computed by pgRouting, and
what is left of it. A new fix on (or near) that route only moves along it — what is left is
the rest of the route, at the route's own pace — while a vehicle that leaves the route, a route
older than `eta_recompute_s`, or a new target, gets a new route. So pgRouting runs about once a
minute per vehicle, not once per fix.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from fixes.model import iso_utc
from roads.routing import NoRouteError, RoutePoint, route, seconds_at
from runtime.db import query
from tracking.eta_calibration import Calibration, cached_calibration
from tracking.settings import TrackingSettings

log = logging.getLogger(__name__)

HEADING_STATUSES = ("dispatched", "en_route", "transporting")
UNDER_WAY = ("en_route", "transporting")


@dataclass(frozen=True, slots=True)
class EtaPolicy:
    recompute_s: float = 60.0  # a route older than this is computed again
    deviation_m: float = 60.0  # a fix farther than this from the route: computed again
    # pgRouting calls per update at most, most needed first (no route, new target, off the route,
    # then the oldest): routes computed together would otherwise all expire together.
    max_routes: int = 40
    # Below this a unit under way stands (at a stop line: waiting there); the journey rules' own.
    stopped_kmh: float = TrackingSettings.model_fields["stopped_kmh"].default


async def update_etas(
    conn: AsyncConnection, vehicle_ids: list[int], policy: EtaPolicy = EtaPolicy()
) -> list[dict[str, Any]]:
    """Bring the ETAs of these vehicles' journeys up to date with their latest fixes; returns the
    ETAs that changed (public form). Journeys no longer heading anywhere lose their row."""
    if not vehicle_ids:
        return []
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            query("tracking/eta_candidates"), {"vehicles": vehicle_ids, "heading": list(HEADING_STATUSES)}
        )
        rows = await cur.fetchall()
    await conn.execute(
        "DELETE FROM journey_eta e USING journeys j WHERE e.journey_id = j.id AND j.vehicle_id = ANY(%s)"
        " AND j.status <> ALL(%s)",
        (vehicle_ids, list(HEADING_STATUSES)),
    )
    now = datetime.now(UTC)
    rows = [r for r in rows if r["target_lat"] is not None]  # transporting with no destination: nowhere to go
    urgency = {r["journey_id"]: _route_urgency(r, now, policy) for r in rows}
    to_route = sorted(
        (r for r in rows if urgency[r["journey_id"]] > 0), key=lambda r: -urgency[r["journey_id"]]
    )
    routed = {r["journey_id"] for r in to_route[: policy.max_routes]}
    calibration = await cached_calibration(conn) if rows else Calibration()
    changed = []
    for row in rows:
        if row["journey_id"] in routed:
            eta = await _routed(conn, row, now, calibration, policy.stopped_kmh)
        elif row["computed_at"] is not None and row["previous_target"] == row["target_kind"]:
            # a route to this target exists: move along it meanwhile
            eta = await _followed(conn, row, calibration)
        else:
            eta = None
        if eta is not None:
            changed.append(eta)
    return changed


def _route_urgency(row: dict[str, Any], now: datetime, policy: EtaPolicy) -> float:
    """0: the held route will do; otherwise how badly a new one is needed."""
    if row["computed_at"] is None or row["previous_target"] != row["target_kind"]:
        return 3e9
    if row["off_route_m"] is None or row["off_route_m"] > policy.deviation_m:
        return 2e9
    age = (now - row["computed_at"]).total_seconds()
    return age if age > policy.recompute_s else 0.0


def standing_s(row: dict[str, Any]) -> float | None:
    """How long the vehicle had stood still at its latest fix (its rules' stopped_since); None
    when that is not known or not readable."""
    try:
        return max(0.0, (row["fix_time"] - datetime.fromisoformat(row["stopped_since"])).total_seconds())
    except (TypeError, ValueError):
        return None


def _calibrated(calibration: Calibration, row: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The bind parameters of a calibrated ETA: expected seconds, arrival, the window's ends."""
    fix_time = row["fix_time"]
    expected, early, late = calibration.window(fix_time, seconds, row["vehicle_id"], row["target_kind"])
    return {
        "expected": expected,
        "arrival": fix_time + timedelta(seconds=expected),
        "early": fix_time + timedelta(seconds=early),
        "late": fix_time + timedelta(seconds=late),
        "early_s": early,
        "late_s": late,
    }


async def _routed(
    conn: AsyncConnection, row: dict[str, Any], now: datetime, calibration: Calibration, stopped_kmh: float
) -> dict[str, Any] | None:
    # Standing on the way (it has moved since dispatch, or left the scene): at a stop line, it is
    # waiting for that junction's light. A unit still parked at its station is not.
    stopped = row["status"] in UNDER_WAY and row["speed_kmh"] is not None and row["speed_kmh"] < stopped_kmh
    start = RoutePoint(
        row["lat"], row["lon"], row["course"], stopped=stopped, stood_s=standing_s(row) if stopped else None
    )
    target = RoutePoint(row["target_lat"], row["target_lon"])
    try:
        r = await route(conn, start, target, now)
    except NoRouteError as exc:
        log.info("no route for journey %s: %s", row["journey_id"], exc)
        return None
    coords = ",".join(f"{lon} {lat}" for lon, lat in r.geometry) if len(r.geometry) >= 2 else None
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            query("tracking/eta_upsert_route"),
            {
                "journey": row["journey_id"],
                "kind": row["target_kind"],
                "fix_time": row["fix_time"],
                "line": f"LINESTRING({coords})" if coords else None,
                "distance": r.distance_m,
                "duration": r.duration_s,
                "profile_m": [m for m, _ in r.profile],
                "profile_s": [t for _, t in r.profile],
                **_calibrated(calibration, row, r.duration_s),
            },
        )
        out = await cur.fetchone()
    return {**_public(out), "lat": row["lat"], "lon": row["lon"]} if out else None


async def _followed(
    conn: AsyncConnection, row: dict[str, Any], calibration: Calibration
) -> dict[str, Any] | None:
    left = max(0.0, 1.0 - float(row["fraction"]))
    duration = float(row["route_duration_s"])
    if row["route_profile_m"]:  # what the route says is left from here
        profile = list(zip(row["route_profile_m"], row["route_profile_s"], strict=True))
        done_m = float(row["route_distance_m"]) * (1.0 - left)
        remaining_s = max(0.0, duration - seconds_at(profile, done_m))
    else:  # a route held from before profiles were kept
        remaining_s = duration * left
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            query("tracking/eta_update_progress"),
            {
                "journey": row["journey_id"],
                "fix_time": row["fix_time"],
                "remaining_m": float(row["route_distance_m"]) * left,
                **_calibrated(calibration, row, remaining_s),
            },
        )
        out = await cur.fetchone()
    return {**_public(out), "lat": row["lat"], "lon": row["lon"]} if out else None


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "journey_id": row["journey_id"],
        "vehicle_id": row["vehicle_id"],
        "hospital_id": row["hospital_id"],
        "target": row["target_kind"],
        "remaining_m": round(row["remaining_m"]),
        "remaining_s": round(row["remaining_s"]),
        "arrival_at": iso_utc(row["arrival_at"]),
        "arrival_window": _window(row),
        "fix_time": iso_utc(row["fix_time"]),
        "computed_at": iso_utc(row["computed_at"]),
    }


def _window(row: dict[str, Any]) -> dict[str, str] | None:
    """The p10-p90 arrival window (tracking/eta_calibration.py)."""
    if row.get("arrival_early_at") is None or row.get("arrival_late_at") is None:
        return None
    return {"early_at": iso_utc(row["arrival_early_at"]), "late_at": iso_utc(row["arrival_late_at"])}


async def journey_eta(conn: AsyncConnection, journey_id: int) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query("tracking/eta_of_journey"), {"journey": journey_id})
        row = await cur.fetchone()
    return _public(row) if row else None


async def hospital_inbound(conn: AsyncConnection, hospital_id: int) -> list[dict[str, Any]]:
    """The ambulances coming to a hospital: the hospital's contract (README, "Hospital lookups").

    `eta_s` and `arrival_at` are set once the ambulance is transporting to this hospital (before,
    it is heading to the scene: `scene_eta_s` says when it gets there); `distance_left_m` is along
    the road."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query("tracking/hospital_inbound"), {"hospital": hospital_id})
        rows = await cur.fetchall()
    inbound = []
    for r in rows:
        to_hospital = r["target_kind"] == "hospital"
        to_scene = r["target_kind"] == "scene"
        inbound.append(
            {
                "journey_id": r["journey_id"],
                "vehicle_id": r["vehicle_id"],
                "call_sign": r["call_sign"],
                "plate": r["plate"],
                "status": r["status"],
                "priority": r["priority"],
                "position": None
                if r["lat"] is None
                else {
                    "lat": r["lat"],
                    "lon": r["lon"],
                    "speed_kmh": r["speed_kmh"],
                    "heading": r["heading"],
                    "time": iso_utc(r["fix_time"]),
                },
                "fix_age_s": None if r["fix_age_s"] is None else round(r["fix_age_s"], 1),
                "distance_left_m": round(r["remaining_m"]) if to_hospital else None,
                "eta_s": round(r["remaining_s"])
                if to_hospital
                else (0 if r["status"] == "at_hospital" else None),
                "arrival_at": iso_utc(r["arrival_at"]) if to_hospital else None,
                "arrival_window": _window(r) if to_hospital else None,
                "scene_eta_s": round(r["remaining_s"]) if to_scene else None,
            }
        )
    return inbound
