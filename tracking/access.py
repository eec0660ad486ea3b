"""API keys scoped by role: issuing, hashing and resolving them."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import AsyncConnection

ROLES = ("admin", "dispatcher", "hospital", "viewer")


class AccessError(ValueError):
    """A key request that cannot be carried out."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, and what they may see."""

    key_id: int
    name: str
    role: str
    hospital_id: int | None


def hash_key(secret: str) -> str:
    # Keys are 256-bit random strings, so one round of SHA-256 is enough (no password to stretch).
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(
    conn: psycopg.Connection,
    name: str,
    role: str,
    hospital_id: int | None = None,
    expires_at: datetime | None = None,
) -> str:
    """Store a new key and return its secret (shown once, never stored)."""
    if role not in ROLES:
        raise AccessError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if (role == "hospital") != (hospital_id is not None):
        raise AccessError("a hospital key needs --hospital-id, and only a hospital key takes one")
    secret = "amb_" + secrets.token_urlsafe(32)
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
