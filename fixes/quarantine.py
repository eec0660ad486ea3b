"""The quarantine (dead-letter) table: what the gateway or the tracker could not process, kept for
a person to look at and replay (`amb-admin quarantine list|replay`), instead of being retried
forever (stalling every acknowledgement behind it) or dropped without trace.

A gateway row holds the fix the database rejected, as JSON. When even jsonb refuses that JSON (a
lone surrogate or NUL in an attribute, the usual reason the fix was rejected), the JSON text is
kept as base64 under "raw_b64" so that nothing is lost.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from fixes.model import Fix
from fixes.positions import PartitionCache, prepare_connection, store_fixes

GATEWAY = "gateway"
TRACKER = "tracker"
MAX_ERROR_CHARS = 2_000
_TIMES = ("fix_time", "received_at")


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    id: int
    stage: str
    protocol: str | None
    device_id: str | None
    vehicle_id: int | None
    fix_time: datetime | None
    payload: dict[str, Any]
    error: str
    attempts: int
    created_at: datetime
    replayed_at: datetime | None


@dataclass(frozen=True, slots=True)
class ReplayResult:
    id: int
    replayed: bool
    detail: str  # "stored", "already stored", or why it still fails / cannot be replayed


def fix_payload(fix: Fix) -> dict[str, Any]:
    """A fix as JSON-able data (times as ISO 8601), the inverse of `fix_from_payload`."""
    data = {f.name: getattr(fix, f.name) for f in fields(Fix)}
    for name in _TIMES:
        data[name] = data[name].isoformat()
    return data


def fix_from_payload(payload: dict[str, Any]) -> Fix:
    """The fix stored by `add_fix` (plain or as "raw_b64")."""
    if "raw_b64" in payload:
        payload = json.loads(base64.b64decode(payload["raw_b64"]))
    data = dict(payload)
    for name in _TIMES:
        data[name] = datetime.fromisoformat(data[name])
    return Fix(**data)


async def add_fix(conn: AsyncConnection, fix: Fix, error: str, stage: str = GATEWAY) -> int:
    """Quarantine a fix the database rejected; returns the row id. `conn` must be in autocommit
    (each statement its own transaction), so a payload jsonb refuses costs only that attempt."""
    payload = fix_payload(fix)
    try:
        return await _insert(conn, stage, fix, payload, error)
    except psycopg.DataError:
        text = json.dumps(payload, default=str).encode("utf-8", "surrogatepass")
        return await _insert(conn, stage, fix, {"raw_b64": base64.b64encode(text).decode()}, error)


async def _insert(conn: AsyncConnection, stage: str, fix: Fix, payload: dict[str, Any], error: str) -> int:
    cur = await conn.execute(
        "INSERT INTO quarantine (stage, protocol, device_id, vehicle_id, fix_time, payload, error)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            stage,
            fix.protocol,
            fix.device_id,
            fix.vehicle_id,
            fix.fix_time,
            Jsonb(payload, dumps=_dumps),
            error[:MAX_ERROR_CHARS],
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


async def open_rows(
    conn: AsyncConnection, stage: str | None = None, limit: int = 100, ids: Sequence[int] | None = None
) -> list[QuarantineRow]:
    """Rows not replayed yet, oldest first; only `stage`'s and only `ids` when given."""
    cur = await conn.execute(
        "SELECT id, stage, protocol, device_id, vehicle_id, fix_time, payload, error, attempts,"
        " created_at, replayed_at FROM quarantine"
        " WHERE replayed_at IS NULL AND (%(stage)s::text IS NULL OR stage = %(stage)s)"
        " AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s))"
        " ORDER BY created_at, id LIMIT %(limit)s",
        {"stage": stage, "ids": list(ids) if ids is not None else None, "limit": limit},
    )
    return [QuarantineRow(*row) for row in await cur.fetchall()]


async def replay_rows(conn: AsyncConnection, ids: Sequence[int] | None = None) -> list[ReplayResult]:
    """Re-submit open gateway rows (those in `ids`, or all) through `store_fixes`, one by one.

    A row stored (or found already stored) is marked replayed; one that still fails stays open
    with its attempts counted and the new error kept. Tracker rows are not replayed here.
    """
    await prepare_connection(conn)
    partitions = PartitionCache()
    rows = await open_rows(conn, limit=1_000_000, ids=ids)
    return [await _replay_row(conn, partitions, row) for row in rows]


async def _replay_row(conn: AsyncConnection, partitions: PartitionCache, row: QuarantineRow) -> ReplayResult:
    if row.stage != GATEWAY:
        return ReplayResult(row.id, False, f"a {row.stage} row: replay it from its own stage")
    try:
        fix = fix_from_payload(row.payload)
        await partitions.ensure(conn, [fix])
        stored = await store_fixes(conn, [fix])
    except (psycopg.DataError, psycopg.IntegrityError, ValueError, TypeError, KeyError) as exc:
        await conn.execute(
            "UPDATE quarantine SET attempts = attempts + 1, error = %s WHERE id = %s",
            (str(exc)[:MAX_ERROR_CHARS], row.id),
        )
        return ReplayResult(row.id, False, short_error(exc))
    await conn.execute("UPDATE quarantine SET replayed_at = now() WHERE id = %s", (row.id,))
    return ReplayResult(row.id, True, "stored" if stored else "already stored")


def short_error(exc: Exception) -> str:
    """One line: the database's message and its detail (which names the offending value's problem)."""
    lines = str(exc).splitlines()
    text = lines[0] if lines else type(exc).__name__
    detail = exc.diag.message_detail if isinstance(exc, psycopg.Error) else None
    return f"{text} ({detail})" if detail else text
