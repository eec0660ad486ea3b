"""Loading and saving what the tracking worker evaluates: vehicle state, journeys, events."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from fixes.model import iso_utc
from tracking.evaluation import BatchFix, GeofenceInfo, Outcome, VehicleMemory
from tracking.journey_machine import CLOSED_STATUSES, JourneyState
from tracking.settings import TrackingSettings
from tracking.vehicle_rules import EventDraft, RuleMemory

MAX_HYSTERESIS_M = 200.0  # the geofence search radius; per-geofence hysteresis is capped to it
EVENT_COLUMNS = "id, at, kind, severity, vehicle_id, journey_id, geofence_id, hospital_id, ST_Y(geom) AS lat, ST_X(geom) AS lon, details"


async def load_memories(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> dict[int, VehicleMemory]:
    """Lock and load the state of the vehicles of these batch rows.

    Their open journeys come from the rows themselves: the batch query read and locked them in one
    statement, so the journey the rules move is the one whose scene the rows were measured
    against. Reading the journeys again here would see a re-dispatch committed in between."""
    vehicle_ids = list({row["vehicle_id"] for row in rows})
    journeys = {row["vehicle_id"]: row for row in rows if row["journey_id"] is not None}
    await conn.execute(
        "INSERT INTO vehicle_state (vehicle_id) SELECT unnest(%s::bigint[]) ON CONFLICT DO NOTHING",
        (vehicle_ids,),
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT vehicle_id, evaluated_until, rules, geofences, offline_since, heard_at, no_fix_since"
            " FROM vehicle_state"
            " WHERE vehicle_id = ANY(%s) FOR UPDATE",
            (vehicle_ids,),
        )
        states = await cur.fetchall()
    memories = {}
    for s in states:
        j = journeys.get(s["vehicle_id"])
        rules = s["rules"] or {}
        journey = None
        if j is not None:
            same = rules.get("journey_id") == j["journey_id"]
            stopped = rules.get("journey_stopped_since") if same else None
            journey = JourneyState(
                j["journey_id"],
                j["journey_status"],
                j["destination_hospital_id"] is not None,
                j["scene_radius_m"],
                datetime.fromisoformat(stopped) if stopped else None,
            )
        memories[s["vehicle_id"]] = VehicleMemory(
            s["vehicle_id"],
            s["evaluated_until"],
            RuleMemory.from_json(rules),
            frozenset(s["geofences"] or ()),
            s["offline_since"],
            journey,
            j["destination_hospital_id"] if j else None,
            j["manual_at"] if j else None,
            s["heard_at"],
            s["no_fix_since"],
        )
    return memories


async def load_geofences(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, GeofenceInfo]:
    cur = await conn.execute(
        "SELECT id, kind, name, hospital_id, speed_limit_kmh FROM geofences WHERE id = ANY(%s)", (list(ids),)
    )
    return {r[0]: GeofenceInfo(*r) for r in await cur.fetchall()}


async def save_outcomes(conn: AsyncConnection, outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """Store events, journey transitions and vehicle state (a few statements per batch, not per
    fix); returns the new events in their public form."""
    drafts: list[tuple[EventDraft, int, int | None, BatchFix | None]] = []
    for out in outcomes:
        vehicle_id = out.memory.vehicle_id
        drafts += [(draft, vehicle_id, fix.journey_id, fix) for draft, fix in out.events]
        for t, fix in out.transitions:
            await _apply_transition(conn, t.journey_id, t.from_status, t.to_status, t.at, "rule", t.rule, fix)
            details = {"from": t.from_status, "to": t.to_status, "rule": t.rule}
            drafts.append((EventDraft("status_change", t.at, "info", details), vehicle_id, t.journey_id, fix))
    stored = await insert_events(conn, drafts)
    await _save_memories(conn, [out.memory for out in outcomes])
    return stored


async def _save_memories(conn: AsyncConnection, memories: list[VehicleMemory]) -> None:
    rules = []
    for m in memories:
        r = m.rules.to_json()
        if m.journey is not None:
            r["journey_id"] = m.journey.journey_id
            r["journey_stopped_since"] = (
                m.journey.stopped_since.isoformat() if m.journey.stopped_since else None
            )
        rules.append(json.dumps(r))
    await conn.execute(
        """
        UPDATE vehicle_state s
        SET evaluated_until = d.evaluated_until, rules = d.rules::jsonb, geofences = d.geofences::bigint[],
            offline_since = d.offline_since,
            -- never ahead of the clock: a forged future fix (stored as not valid) cannot keep a
            -- silent tracker "heard" until then
            heard_at = CASE WHEN d.heard_at IS NOT NULL THEN least(d.heard_at, now()) END,
            no_fix_since = CASE WHEN d.no_fix_since IS NOT NULL THEN least(d.no_fix_since, now()) END,
            unit_status = CASE WHEN d.on_journey THEN 'on_journey'
                               WHEN s.unit_status = 'on_journey' THEN 'available' ELSE s.unit_status END,
            updated_at = now()
        FROM unnest(%s::bigint[], %s::timestamptz[], %s::text[], %s::text[], %s::timestamptz[], %s::boolean[],
                    %s::timestamptz[], %s::timestamptz[])
             AS d(vehicle_id, evaluated_until, rules, geofences, offline_since, on_journey, heard_at, no_fix_since)
        WHERE s.vehicle_id = d.vehicle_id
        """,
        (
            [m.vehicle_id for m in memories],
            [m.evaluated_until for m in memories],
            rules,
            ["{" + ",".join(str(g) for g in sorted(m.inside)) + "}" for m in memories],
            [m.offline_since for m in memories],
            [m.journey is not None for m in memories],
            [m.heard_at for m in memories],
            [m.no_fix_since for m in memories],
        ),
    )


async def insert_events(
    conn: AsyncConnection, drafts: Sequence[tuple[EventDraft, int | None, int | None, BatchFix | None]]
) -> list[dict[str, Any]]:
    """Insert events in one statement: (draft, vehicle id, journey id, the fix it came from)."""
    if not drafts:
        return []
    columns: list[list[Any]] = [[] for _ in range(10)]
    for e, vehicle_id, journey_id, fix in drafts:
        values = (
            e.at,
            e.kind,
            e.severity,
            vehicle_id,
            journey_id,
            e.geofence_id,
            e.hospital_id,
            fix.lon if fix else None,
            fix.lat if fix else None,
            json.dumps(e.details, default=str),
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""
            INSERT INTO events (at, kind, severity, vehicle_id, journey_id, geofence_id, hospital_id, geom, details)
            SELECT at, kind, severity, vehicle_id, journey_id, geofence_id, hospital_id,
                   CASE WHEN lon IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(lon, lat), 4326) END, details::jsonb
            FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::bigint[], %s::bigint[], %s::bigint[],
                        %s::bigint[], %s::float8[], %s::float8[], %s::text[])
                 AS e(at, kind, severity, vehicle_id, journey_id, geofence_id, hospital_id, lon, lat, details)
            RETURNING {EVENT_COLUMNS}
            """,
            columns,
        )
        return [event_json(r) for r in await cur.fetchall()]


async def _apply_transition(
    conn: AsyncConnection,
    journey_id: int,
    from_status: str | None,
    to_status: str,
    at: datetime,
    source: str,
    rule: str | None,
    fix: BatchFix | None,
) -> None:
    await set_journey_status(conn, journey_id, to_status, at)
    await conn.execute(
        "INSERT INTO journey_status_log (journey_id, from_status, to_status, at, source, rule, device_id, fix_time)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (
            journey_id,
            from_status,
            to_status,
            at,
            source,
            rule,
            fix.device_id if fix else None,
            fix.fix_time if fix else None,
        ),
    )


async def set_journey_status(conn: AsyncConnection, journey_id: int, status: str, at: datetime) -> None:
    """Set the status; its NEMSIS-style timestamp keeps the first time the journey reached it."""
    stamp = sql.Identifier(f"{status}_at")
    await conn.execute(
        sql.SQL(
            "UPDATE journeys SET status = %s, {stamp} = coalesce({stamp}, %s), updated_at = now() WHERE id = %s"
        ).format(stamp=stamp),
        (status, at, journey_id),
    )


async def insert_event(
    conn: AsyncConnection, e: EventDraft, vehicle_id: int | None, journey_id: int | None, fix: BatchFix | None
) -> dict[str, Any]:
    (event,) = await insert_events(conn, [(e, vehicle_id, journey_id, fix)])
    return event


def event_json(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "at": iso_utc(row["at"])}


async def delete_from_inbox(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    await conn.execute(
        "DELETE FROM tracking_inbox i USING unnest(%s::bigint[], %s::text[], %s::timestamptz[]) AS d(v, dev, t)"
        " WHERE i.vehicle_id = d.v AND i.device_id = d.dev AND i.fix_time = d.t",
        ([r["vehicle_id"] for r in rows], [r["device_id"] for r in rows], [r["fix_time"] for r in rows]),
    )


async def open_offline_events(conn: AsyncConnection, cfg: TrackingSettings) -> list[dict[str, Any]]:
    """Open a `device_offline` event for each vehicle silent past its threshold.

    Silent means no message of any kind: a tracker sending fixes without GPS (`heard_at`) or
    heartbeats (`device_contact`) is connected without a fix, not offline. The event says when it was last heard, its last position
    (`last_fix`), and whether its last message had a GPS fix (`gps_fix`)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""
            WITH silent AS (
                SELECT l.vehicle_id, l.fix_time, l.geom, j.id AS journey_id,
                       greatest(l.fix_time, s.heard_at, c.heard_at) AS heard_at,
                       s.no_fix_since IS NULL AS gps_fix
                FROM vehicle_latest l
                LEFT JOIN vehicle_state s ON s.vehicle_id = l.vehicle_id
                LEFT JOIN LATERAL (
                    SELECT max(heard_at) AS heard_at FROM device_contact WHERE vehicle_id = l.vehicle_id
                ) c ON true
                LEFT JOIN journeys j ON j.vehicle_id = l.vehicle_id AND j.status <> ALL(%(closed)s)
                WHERE s.offline_since IS NULL AND coalesce(s.unit_status, 'available') <> 'out_of_service'
                  AND greatest(l.fix_time, s.heard_at, c.heard_at)
                      < now() - make_interval(secs => CASE WHEN j.id IS NULL THEN %(parked)s ELSE %(journey)s END)
            ), marked AS (
                INSERT INTO vehicle_state (vehicle_id, offline_since) SELECT vehicle_id, heard_at FROM silent
                ON CONFLICT (vehicle_id) DO UPDATE SET offline_since = EXCLUDED.offline_since, updated_at = now()
            )
            INSERT INTO events (at, kind, severity, vehicle_id, journey_id, geom, details)
            SELECT now(), 'device_offline', CASE WHEN journey_id IS NULL THEN 'warning' ELSE 'critical' END,
                   vehicle_id, journey_id, geom,
                   jsonb_build_object('last_fix', fix_time, 'last_heard', heard_at, 'gps_fix', gps_fix,
                                      'silent_s', round(extract(epoch FROM now() - heard_at)))
            FROM silent
            RETURNING {EVENT_COLUMNS}
            """,
            {
                "closed": list(CLOSED_STATUSES),
                "parked": cfg.offline_parked_s,
                "journey": cfg.offline_on_journey_s,
            },
        )
        return [event_json(r) for r in await cur.fetchall()]


async def close_offline_by_contact(conn: AsyncConnection) -> list[dict[str, Any]]:
    """A vehicle reported offline whose tracker has since been heard by a heartbeat (no fix yet) is
    back: `device_online` without a GPS fix, at the heartbeat's time. (A fix brings it back
    through the evaluation instead, which also says whether it has a GPS fix.)"""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""
            WITH heard AS (
                SELECT s.vehicle_id, s.offline_since, max(c.heard_at) AS heard_at
                FROM vehicle_state s JOIN device_contact c ON c.vehicle_id = s.vehicle_id
                WHERE s.offline_since IS NOT NULL AND c.heard_at > s.offline_since
                GROUP BY s.vehicle_id, s.offline_since
            ), back AS (
                UPDATE vehicle_state s SET offline_since = NULL, heard_at = greatest(s.heard_at, h.heard_at),
                       no_fix_since = coalesce(s.no_fix_since, h.heard_at), updated_at = now()
                FROM heard h WHERE s.vehicle_id = h.vehicle_id
                RETURNING s.vehicle_id
            )
            INSERT INTO events (at, kind, severity, vehicle_id, journey_id, geom, details)
            SELECT h.heard_at, 'device_online', 'info', h.vehicle_id, j.id, l.geom,
                   jsonb_build_object('silent_s', round(extract(epoch FROM h.heard_at - h.offline_since)),
                                      'gps_fix', false, 'heartbeat', true)
            FROM heard h
            JOIN back b ON b.vehicle_id = h.vehicle_id
            LEFT JOIN vehicle_latest l ON l.vehicle_id = h.vehicle_id
            LEFT JOIN journeys j ON j.vehicle_id = h.vehicle_id AND j.status <> ALL(%(closed)s)
            RETURNING {EVENT_COLUMNS}
            """,
            {"closed": list(CLOSED_STATUSES)},
        )
        return [event_json(r) for r in await cur.fetchall()]
