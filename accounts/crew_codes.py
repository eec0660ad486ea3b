"""Sign-in codes for a vehicle's crew: a dispatcher issues one (shown as a QR code), the tablet
scans it and is signed in as that vehicle's crew account. A code is random (192 bits), works once,
and only its SHA-256 is stored."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from datetime import timedelta
from typing import Any

from psycopg import AsyncConnection

from accounts.users import hash_password
from fixes.model import iso_utc

CODE_BYTES = 24


class CrewVehicleNotFoundError(LookupError):
    """No vehicle has this id."""


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def crew_username(vehicle_id: int, call_sign: str | None) -> str:
    """The crew account's name: `crew-<call sign>` (e.g. crew-115-07), else `crew-v<vehicle id>`."""
    name = f"crew-{call_sign}" if call_sign else ""
    return name if re.fullmatch(r"[A-Za-z0-9_.@-]{3,64}", name) else f"crew-v{vehicle_id}"


async def ensure_crew_account(conn: AsyncConnection, vehicle_id: int) -> tuple[int, str]:
    """The vehicle's crew account (created, enabled, with an unusable random password, when it
    does not exist): (user id, username)."""
    cur = await conn.execute("SELECT call_sign FROM vehicles WHERE id = %s", (vehicle_id,))
    row = await cur.fetchone()
    if row is None:
        raise CrewVehicleNotFoundError(f"no vehicle with id {vehicle_id}")
    cur = await conn.execute(
        "SELECT id, username FROM users WHERE role = 'crew' AND vehicle_id = %s ORDER BY id LIMIT 1",
        (vehicle_id,),
    )
    found = await cur.fetchone()
    if found is not None:
        return int(found[0]), str(found[1])
    username = crew_username(vehicle_id, row[0])
    # Nobody knows this password: the account signs in with codes (or an admin sets one).
    unusable = await asyncio.to_thread(hash_password, secrets.token_urlsafe(32))
    cur = await conn.execute(
        "INSERT INTO users (username, display_name, password_hash, role, vehicle_id)"
        " VALUES (%s, %s, %s, 'crew', %s)"
        " ON CONFLICT (lower(username)) DO UPDATE SET role = 'crew', vehicle_id = EXCLUDED.vehicle_id,"
        " hospital_id = NULL RETURNING id",
        (username, f"Kíp xe {row[0] or vehicle_id}", unusable, vehicle_id),
    )
    created = await cur.fetchone()
    assert created is not None
    return int(created[0]), username


async def issue_crew_code(
    conn: AsyncConnection, vehicle_id: int, created_by: str, ttl: timedelta
) -> dict[str, Any]:
    """A single-use sign-in code for the vehicle's crew; returned once (only its hash is kept)."""
    code = secrets.token_urlsafe(CODE_BYTES)
    async with conn.transaction():
        user_id, username = await ensure_crew_account(conn, vehicle_id)
        await conn.execute("DELETE FROM crew_sign_in_codes WHERE expires_at < now() - interval '1 day'")
        cur = await conn.execute(
            "INSERT INTO crew_sign_in_codes (code_hash, user_id, created_by, expires_at)"
            " VALUES (%s, %s, %s, now() + %s) RETURNING expires_at",
            (code_hash(code), user_id, created_by, ttl),
        )
        row = await cur.fetchone()
    assert row is not None
    return {
        "code": code,
        "url": f"/crew#code={code}",
        "username": username,
        "vehicle_id": vehicle_id,
        "expires_at": iso_utc(row[0]),
    }


async def redeem_crew_code(conn: AsyncConnection, code: str) -> int | None:
    """The crew account a live, unused code signs in (the code is used up), or None."""
    if not code or len(code) > 100:
        return None
    cur = await conn.execute(
        """
        UPDATE crew_sign_in_codes c SET used_at = now()
        FROM users u
        WHERE c.code_hash = %s AND c.used_at IS NULL AND c.expires_at > now()
          AND u.id = c.user_id AND u.role = 'crew' AND NOT u.disabled
        RETURNING c.user_id
        """,
        (code_hash(code),),
    )
    row = await cur.fetchone()
    return int(row[0]) if row else None
