"""The tracker's inbox (`tracking_inbox`): reading a batch of committed fixes in fix-time order,
evaluating rows into stored outcomes, and quarantining a row that fails alone."""

from __future__ import annotations

import traceback
from collections import defaultdict
from typing import Any

import psycopg
from psycopg.rows import dict_row

from runtime.db import query
from tracking import tracking_store as store
from tracking.evaluation import BatchFix, GeofenceInfo, evaluate_vehicle
from tracking.geofencing import Zone
from tracking.settings import TrackingSettings

ERROR_TEXT_MAX = 4000  # characters of the error (with its traceback) kept in quarantine
QUARANTINE_ROW = """
WITH gone AS (
    DELETE FROM tracking_inbox
    WHERE vehicle_id = %(vehicle_id)s AND device_id = %(device_id)s AND fix_time = %(fix_time)s
    RETURNING *
)
INSERT INTO quarantine (stage, device_id, vehicle_id, fix_time, payload, error, attempts)
SELECT 'tracker', g.device_id, g.vehicle_id, g.fix_time,
       (to_jsonb(g) - 'geom') || jsonb_build_object('lat', ST_Y(g.geom), 'lon', ST_X(g.geom)),
       %(error)s, %(attempts)s
FROM gone g
"""


async def fetch_batch(conn: psycopg.AsyncConnection, limit: int) -> list[dict[str, Any]]:
    """Lock and read the oldest waiting fixes (with what the rules need around them)."""
    # The planner's estimates for the spatial joins are high enough to trigger JIT, whose
    # compilation costs more than the whole query.
    await conn.execute("SET LOCAL jit = off")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query("tracking/evaluate_batch"), {"limit": limit})
        return await cur.fetchall()


async def evaluate_rows(
    conn: psycopg.AsyncConnection, rows: list[dict[str, Any]], cfg: TrackingSettings
) -> list[dict[str, Any]]:
    """Evaluate `rows` (of any vehicles, fix-time order per vehicle) and store what they
    produce; returns the new events. The caller removes the rows from the inbox."""
    memories = await store.load_memories(conn, rows)
    seen = {g for row in rows for g in row["seen_ids"]}
    known = await store.load_geofences(conn, seen | {g for m in memories.values() for g in m.inside})
    by_vehicle: defaultdict[int, list[BatchFix]] = defaultdict(list)
    for row in rows:
        by_vehicle[row["vehicle_id"]].append(batch_fix(row, known))
    outcomes = [evaluate_vehicle(memories[v], fixes, cfg, known) for v, fixes in by_vehicle.items()]
    return await store.save_outcomes(conn, outcomes)


async def evaluate_in_savepoint(
    conn: psycopg.AsyncConnection, rows: list[dict[str, Any]], cfg: TrackingSettings
) -> list[dict[str, Any]]:
    """`evaluate_rows` and the removal from the inbox, all undone (and raised) if anything fails."""
    async with conn.transaction():
        events = await evaluate_rows(conn, rows, cfg)
        await store.delete_from_inbox(conn, rows)
    return events


async def quarantine_row(
    conn: psycopg.AsyncConnection, row: dict[str, Any], exc: Exception, attempts: int
) -> None:
    # The end of the traceback says most; PostgreSQL text cannot hold NUL.
    error = "".join(traceback.format_exception(exc))[-ERROR_TEXT_MAX:].replace("\x00", "\\0")
    await conn.execute(
        QUARANTINE_ROW,
        {
            "vehicle_id": row["vehicle_id"],
            "device_id": row["device_id"],
            "fix_time": row["fix_time"],
            "error": error,
            "attempts": attempts,
        },
    )


def by_vehicle(rows: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    grouped: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row["vehicle_id"]].append(row)
    return grouped


def batch_fix(row: dict[str, Any], known: dict[int, GeofenceInfo]) -> BatchFix:
    zones = zip(row["seen_ids"], row["deep"], strict=True)
    seen = {gid: Zone.DEEP_IN if deep else Zone.BORDER for gid, deep in zones}
    geofences = {gid: known[gid] for gid in seen if gid in known}
    return BatchFix(
        vehicle_id=row["vehicle_id"],
        device_id=row["device_id"],
        fix_time=row["fix_time"],
        lat=row["lat"],
        lon=row["lon"],
        speed_kmh=float(row["speed_kmh"]),
        valid=row["valid"],
        attributes=row["attributes"] or {},
        seen=seen,
        geofences=geofences,
        highway=row["highway"],
        journey_id=row["journey_id"],
        scene_distance_m=row["scene_distance_m"],
    )
