"""Browser sessions: server-side rows; the cookie holds only a random secret, the row its SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from accounts.access import Principal

# A session seen again within this long is not written back (one UPDATE a minute, not per request).
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle: timedelta = timedelta(hours=12)  # sliding: a session unused this long ends
    absolute: timedelta = timedelta(days=7)  # however active, a session ends this long after login


@dataclass(frozen=True, slots=True)
class Session:
    """A live session: who it belongs to (current role, from the account) and its CSRF token."""

    principal: Principal
    csrf_token: str
    user: dict[str, Any]


def session_id(secret: str) -> str:
    # The secret is 256 random bits: one SHA-256 suffices, and a database leak yields no cookie.
    return hashlib.sha256(secret.encode()).hexdigest()


async def open_session(
    conn: AsyncConnection, user_id: int, policy: SessionPolicy, client_ip: str, user_agent: str | None
) -> tuple[str, str]:
    """A new session for the user; returns (the cookie's secret, the CSRF token). Expired sessions
    of everyone are cleared on the way."""
    secret = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    await conn.execute("DELETE FROM sessions WHERE expires_at <= now()")
    await conn.execute(
        """
        INSERT INTO sessions (id, user_id, csrf_token, expires_at, client_ip, user_agent)
        VALUES (%s, %s, %s, now() + least(%s, %s), %s, %s)
        """,
        (
            session_id(secret),
            user_id,
            csrf,
            policy.idle,
            policy.absolute,
            client_ip,
            (user_agent or "")[:300],
        ),
    )
    return secret, csrf


async def resolve_session(conn: AsyncConnection, secret: str, policy: SessionPolicy) -> Session | None:
    """The live session of a cookie secret (its account enabled), its expiry slid forward; or None."""
    sid = session_id(secret)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            SELECT s.csrf_token, s.last_seen_at < now() - %s AS stale, u.id, u.username, u.display_name,
                   u.role, u.hospital_id, u.vehicle_id
            FROM sessions s JOIN users u ON u.id = s.user_id
            WHERE s.id = %s AND s.expires_at > now() AND NOT u.disabled
            """,
            (TOUCH_EVERY, sid),
        )
        row = await cur.fetchone()
    if row is None:
        return None
    if row["stale"]:
        await conn.execute(
            "UPDATE sessions SET last_seen_at = now(), expires_at = least(now() + %s, created_at + %s)"
            " WHERE id = %s",
            (policy.idle, policy.absolute, sid),
        )
    user = {k: row[k] for k in ("id", "username", "display_name", "role", "hospital_id", "vehicle_id")}
    principal = Principal(
        key_id=None,
        name=row["username"],
        role=row["role"],
        hospital_id=row["hospital_id"],
        user_id=row["id"],
        via="session",
        session_id=sid,
        vehicle_id=row["vehicle_id"],
    )
    return Session(principal, row["csrf_token"], user)


async def close_session(conn: AsyncConnection, sid: str) -> None:
    await conn.execute("DELETE FROM sessions WHERE id = %s", (sid,))
