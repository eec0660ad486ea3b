"""API keys scoped by role: issuing, listing, revoking, hashing and resolving them; the caller."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from fixes.model import iso_utc

ROLES = ("admin", "dispatcher", "hospital", "viewer", "crew")
KEY_ROLES = ("admin", "dispatcher", "hospital", "viewer")  # a crew signs in (a tablet's account)
Via = Literal["api_key", "session"]


class AccessError(ValueError):
    """A key request that cannot be carried out."""


class ApiKeyNotFoundError(LookupError):
    """No API key has this id."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, and what they may see: an API key, or a person signed in with a session."""

    key_id: int | None  # the API key; None for a session
    name: str  # the key's name, or the user's username
    role: str
    hospital_id: int | None
    user_id: int | None = None  # the account behind a session
    via: Via = "api_key"
    session_id: str | None = None  # sha256 of the session cookie's secret
    vehicle_id: int | None = None  # the vehicle of a crew account


def hash_key(secret: str) -> str:
    # Keys are 256-bit random strings, so one round of SHA-256 is enough (no password to stretch).
    return hashlib.sha256(secret.encode()).hexdigest()


def check_role(role: str, hospital_id: int | None, vehicle_id: int | None = None) -> None:
    """A role, a hospital exactly when the role is `hospital` and a vehicle exactly when it is
    `crew`; AccessError otherwise."""
    if role not in ROLES:
        raise AccessError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if (role == "hospital") != (hospital_id is not None):
        raise AccessError("the hospital role needs a hospital id, and only the hospital role takes one")
    if (role == "crew") != (vehicle_id is not None):
        raise AccessError("the crew role needs a vehicle, and only the crew role takes one")


def check_key_role(role: str, hospital_id: int | None) -> None:
    """The role of an API key: any but crew (a crew is a person on a tablet, with an account)."""
    if role not in KEY_ROLES:
        raise AccessError(f"an API key's role is one of {', '.join(KEY_ROLES)}")
    check_role(role, hospital_id)


def _new_secret() -> str:
    return "amb_" + secrets.token_urlsafe(32)


def create_api_key(
    conn: psycopg.Connection,
    name: str,
    role: str,
    hospital_id: int | None = None,
    expires_at: datetime | None = None,
) -> str:
    """Store a new key and return its secret (shown once, never stored)."""
    check_key_role(role, hospital_id)
    secret = _new_secret()
    conn.execute(
        "INSERT INTO api_keys (name, key_hash, role, hospital_id, expires_at) VALUES (%s, %s, %s, %s, %s)",
        (name, hash_key(secret), role, hospital_id, expires_at),
    )
    return secret


def revoke_api_keys_named(conn: psycopg.Connection, name: str) -> int:
    """Revoke every live key called `name`; returns how many."""
    cur = conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL", (name,)
    )
    return cur.rowcount


KEY_COLUMNS = "id, name, role, hospital_id, created_at, created_by, expires_at, revoked_at"


def _key_json(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for column in ("created_at", "expires_at", "revoked_at"):
        out[column] = iso_utc(row[column]) if row[column] is not None else None
    return out


async def issue_api_key(
    conn: AsyncConnection,
    name: str,
    role: str,
    hospital_id: int | None,
    expires_at: datetime | None,
    created_by: str | None,
) -> dict[str, Any]:
    """Store a new key; returns it in public form with `key`, its secret (shown once)."""
    check_key_role(role, hospital_id)
    secret = _new_secret()
    try:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "INSERT INTO api_keys (name, key_hash, role, hospital_id, expires_at, created_by)"
                f" VALUES (%s, %s, %s, %s, %s, %s) RETURNING {KEY_COLUMNS}",
                (name, hash_key(secret), role, hospital_id, expires_at, created_by),
            )
            row = await cur.fetchone()
    except psycopg.errors.ForeignKeyViolation as exc:
        raise AccessError(f"no hospital with id {hospital_id}") from exc
    assert row is not None
    return {**_key_json(row), "key": secret}


async def list_api_keys(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every key (never its secret or hash), newest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id DESC")
        return [_key_json(r) for r in await cur.fetchall()]


async def revoke_api_key(conn: AsyncConnection, key_id: int) -> None:
    """Revoke a key (again: no change); ApiKeyNotFoundError for an unknown id."""
    cur = await conn.execute(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s", (key_id,)
    )
    if cur.rowcount == 0:
        raise ApiKeyNotFoundError(f"no API key with id {key_id}")


async def resolve_api_key(conn: AsyncConnection, secret: str) -> Principal | None:
    """The principal of a live (not revoked, not expired) key, or None."""
    cur = await conn.execute(
        """
        SELECT id, name, role, hospital_id FROM api_keys
        WHERE key_hash = %s AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
        """,
        (hash_key(secret),),
    )
    row = await cur.fetchone()
    return Principal(*row) if row else None


# Single-use websocket tickets: a browser cannot put an API key in a websocket handshake's headers,
# and a key in the URL ends up in access logs. A caller trades its credentials for a ticket valid a
# few seconds, once. Tickets are shared by every API process through PostgreSQL: until the schema
# gets a table of its own, a ticket is a row of the UNLOGGED `request_counters` table whose bucket
# is `stream-ticket:<sha256 of the ticket>:<credential>` (key:<id> or session:<session id>) and
# whose window_start is when it was issued. Only the hash is stored.
TICKET_BUCKET = "stream-ticket:"


def credential_of(principal: Principal) -> str:
    """What a ticket stands for: the API key (by id) or the session (by id) of `principal`."""
    if principal.via == "session":
        return f"session:{principal.session_id}"
    return f"key:{principal.key_id}"


async def issue_stream_ticket(conn: AsyncConnection, principal: Principal, ttl: timedelta) -> str:
    """A new ticket for `principal`'s credential (the secret: shown once, only its hash stored)."""
    ticket = secrets.token_urlsafe(24)
    await conn.execute(
        "DELETE FROM request_counters WHERE starts_with(bucket, %s) AND window_start < now() - %s",
        (TICKET_BUCKET, ttl),
    )
    await conn.execute(
        "INSERT INTO request_counters (bucket, window_start, hits) VALUES (%s, now(), 0)",
        (f"{TICKET_BUCKET}{hash_key(ticket)}:{credential_of(principal)}",),
    )
    return ticket


async def redeem_stream_ticket(conn: AsyncConnection, ticket: str, ttl: timedelta) -> str | None:
    """The credential a live ticket stands for (the ticket is used up), or None."""
    if not ticket or len(ticket) > 100:
        return None
    cur = await conn.execute(
        "DELETE FROM request_counters WHERE starts_with(bucket, %s) AND window_start > now() - %s"
        " RETURNING bucket",
        (f"{TICKET_BUCKET}{hash_key(ticket)}:", ttl),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return str(row[0]).split(":", 2)[2]


async def resolve_credential(conn: AsyncConnection, credential: str) -> Principal | None:
    """The principal of a credential (`key:<id>` or `session:<id>`) while it is live, or None."""
    kind, _, ref = credential.partition(":")
    if kind == "key" and ref.isdigit():
        cur = await conn.execute(
            """
            SELECT id, name, role, hospital_id FROM api_keys
            WHERE id = %s AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
            """,
            (int(ref),),
        )
        row = await cur.fetchone()
        return Principal(*row) if row else None
    if kind == "session" and ref:
        cur = await conn.execute(
            """
            SELECT u.username, u.role, u.hospital_id, u.id, u.vehicle_id
            FROM sessions s JOIN users u ON u.id = s.user_id
            WHERE s.id = %s AND s.expires_at > now() AND NOT u.disabled
            """,
            (ref,),
        )
        row = await cur.fetchone()
        if row is None:
            return None
        return Principal(
            None, row[0], row[1], row[2], user_id=row[3], via="session", session_id=ref, vehicle_id=row[4]
        )
    return None
