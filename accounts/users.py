"""People's accounts: argon2id password hashes, the password rule, the users table, and the login
throttle (kept in PostgreSQL, shared by every API process)."""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from accounts.access import AccessError, check_role
from fixes.model import iso_utc

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # hashing is deliberately slow: no megabyte passwords
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
USER_COLUMNS = (
    "id, username, display_name, role, hospital_id, vehicle_id, disabled, created_at, last_login_at"
)

# argon2-cffi's defaults are RFC 9106's low-memory profile of argon2id (t=3, m=64 MiB, p=4).
_hasher = PasswordHasher()


class AccountError(AccessError):
    """An account request that cannot be carried out (bad name, weak password, taken name...)."""


class UserNotFoundError(LookupError):
    """No user has this id."""


class UsernameTakenError(AccountError):
    """Another account has this username (whatever its case)."""


class LastAdminError(AccountError):
    """The change would leave no enabled admin."""


def check_password(password: str, username: str | None = None) -> None:
    """Refuse weak passwords: fewer than 10 characters, or the username itself."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    if username is not None and password.strip().lower() == username.strip().lower():
        raise AccountError("a password must not be the username")


def check_username(username: str) -> None:
    if not USERNAME_PATTERN.fullmatch(username):
        raise AccountError("a username is 3 to 64 letters, digits, or . _ @ -")


def hash_password(password: str) -> str:
    """The argon2id PHC string of a password (salted; slow on purpose: run it off the event loop)."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)


@cache
def _decoy_hash() -> str:
    return hash_password("decoy password, never anyone's")


def burn_verification_time(password: str) -> None:
    """Spend what verifying a real hash costs, so an unknown username answers no faster."""
    verify_password(_decoy_hash(), password)


def user_json(row: dict[str, Any]) -> dict[str, Any]:
    """A user in public form (never the hash)."""
    return {
        "id": row["id"],
        "username": row["username"],
        "display_name": row["display_name"],
        "role": row["role"],
        "hospital_id": row["hospital_id"],
        "vehicle_id": row["vehicle_id"],
        "disabled": row["disabled"],
        "created_at": iso_utc(row["created_at"]),
        "last_login_at": iso_utc(row["last_login_at"]) if row["last_login_at"] else None,
    }


async def create_user(
    conn: AsyncConnection,
    username: str,
    password: str,
    role: str,
    hospital_id: int | None = None,
    display_name: str | None = None,
    vehicle_id: int | None = None,
) -> dict[str, Any]:
    """A new account; UsernameTakenError when the name exists, AccountError for bad input."""
    check_username(username)
    check_role(role, hospital_id, vehicle_id)
    check_password(password, username)
    password_hash = await asyncio.to_thread(hash_password, password)
    try:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "INSERT INTO users (username, display_name, password_hash, role, hospital_id, vehicle_id)"
                f" VALUES (%s, %s, %s, %s, %s, %s) RETURNING {USER_COLUMNS}",
                (username, display_name or username, password_hash, role, hospital_id, vehicle_id),
            )
            row = await cur.fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise UsernameTakenError(f"the username {username!r} is taken") from exc
    except psycopg.errors.ForeignKeyViolation as exc:
        raise AccountError(f"no hospital {hospital_id} or vehicle {vehicle_id}") from exc
    assert row is not None
    return user_json(row)


async def list_users(conn: AsyncConnection) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {USER_COLUMNS} FROM users ORDER BY lower(username)")
        return [user_json(r) for r in await cur.fetchall()]


async def get_user(conn: AsyncConnection, user_id: int) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {USER_COLUMNS} FROM users WHERE id = %s", (user_id,))
        row = await cur.fetchone()
    if row is None:
        raise UserNotFoundError(f"no user with id {user_id}")
    return user_json(row)


async def find_user_id(conn: AsyncConnection, username: str) -> int | None:
    cur = await conn.execute("SELECT id FROM users WHERE lower(username) = lower(%s)", (username,))
    row = await cur.fetchone()
    return int(row[0]) if row else None


async def update_user(conn: AsyncConnection, user_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Change display_name, role, hospital_id, disabled and/or password (a new hash). A new
    password, a disabled account or a new role ends the account's sessions. The last enabled admin
    can be neither disabled nor demoted (LastAdminError)."""
    async with conn.transaction():
        current = await _lock_user(conn, user_id)
        role = changes.get("role", current["role"])
        hospital_id = changes.get("hospital_id", current["hospital_id"])
        if "role" in changes and role != "hospital" and "hospital_id" not in changes:
            hospital_id = None  # leaving the hospital role drops the hospital
        vehicle_id = changes.get("vehicle_id", current["vehicle_id"])
        if "role" in changes and role != "crew" and "vehicle_id" not in changes:
            vehicle_id = None  # leaving the crew role drops the vehicle
        check_role(role, hospital_id, vehicle_id)
        disabled = changes.get("disabled", current["disabled"])
        if current["role"] == "admin" and not current["disabled"] and (role != "admin" or disabled):
            await _keep_an_admin(conn, user_id)
        password_hash = None
        if changes.get("password") is not None:
            check_password(changes["password"], current["username"])
            password_hash = await asyncio.to_thread(hash_password, changes["password"])
        try:
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(
                    f"""
                    UPDATE users SET display_name = coalesce(%(display_name)s, display_name),
                        role = %(role)s, hospital_id = %(hospital)s, vehicle_id = %(vehicle)s,
                        disabled = %(disabled)s,
                        password_hash = coalesce(%(hash)s, password_hash)
                    WHERE id = %(id)s RETURNING {USER_COLUMNS}
                    """,
                    {
                        "display_name": changes.get("display_name"),
                        "role": role,
                        "hospital": hospital_id,
                        "vehicle": vehicle_id,
                        "disabled": disabled,
                        "hash": password_hash,
                        "id": user_id,
                    },
                )
                row = await cur.fetchone()
        except psycopg.errors.ForeignKeyViolation as exc:
            raise AccountError(f"no hospital {hospital_id} or vehicle {vehicle_id}") from exc
        assert row is not None
        moved = hospital_id != current["hospital_id"] or vehicle_id != current["vehicle_id"]
        if password_hash or disabled or role != current["role"] or moved:
            await conn.execute("DELETE FROM sessions WHERE user_id = %s", (user_id,))
    return user_json(row)


async def set_password(conn: AsyncConnection, user_id: int, password_hash: str) -> None:
    """Store a rehash of the same password (stronger parameters): sessions stay."""
    await conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (password_hash, user_id))


async def _lock_user(conn: AsyncConnection, user_id: int) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {USER_COLUMNS} FROM users WHERE id = %s FOR UPDATE", (user_id,))
        row = await cur.fetchone()
    if row is None:
        raise UserNotFoundError(f"no user with id {user_id}")
    return row


async def _keep_an_admin(conn: AsyncConnection, user_id: int) -> None:
    # Serialise admin changes, so two admins cannot demote each other at the same moment.
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('amb_users_admins'))")
    cur = await conn.execute(
        "SELECT count(*) FROM users WHERE role = 'admin' AND NOT disabled AND id <> %s", (user_id,)
    )
    row = await cur.fetchone()
    if not row or row[0] == 0:
        raise LastAdminError("this is the last enabled admin: make another admin first")


async def account_for_login(conn: AsyncConnection, username: str) -> dict[str, Any] | None:
    """The enabled account with this username (any case) and its hash, or None."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, username, password_hash FROM users WHERE lower(username) = lower(%s) AND NOT disabled",
            (username,),
        )
        return await cur.fetchone()


async def stamp_login(conn: AsyncConnection, user_id: int) -> None:
    await conn.execute("UPDATE users SET last_login_at = now() WHERE id = %s", (user_id,))


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """How failed logins are throttled, in `window`:

    - `per_pair` failures of one username from one address: that address gets 429 for that name;
    - `per_address` failures from one address, whatever the names: that address gets 429;
    - `slowdown_after` failures of one username from anywhere: attempts for it from an address
      the account has no session from are spaced out (1 s, doubling, at most `slowdown_max`).

    A username is never locked for everyone: the right password from another address, or with a
    session cookie of the account, still works (the cookie passes every limit)."""

    per_pair: int = 5
    per_address: int = 20
    slowdown_after: int = 10
    slowdown_max: timedelta = timedelta(seconds=30)
    window: timedelta = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """An admitted attempt (`failure_id`: its row, counted as a failure until it succeeds), or a
    refused one (`retry_after` seconds, and the `limit` that refused it)."""

    failure_id: int | None = None
    retry_after: float | None = None
    limit: str | None = None


_LIMITS_SQL = """
WITH pair AS (
    SELECT at FROM login_failures WHERE username = %(user)s AND client_ip = %(ip)s AND at > now() - %(window)s
), address AS (
    SELECT at FROM login_failures WHERE client_ip = %(ip)s AND at > now() - %(window)s
), name AS (
    SELECT count(*) AS n, max(at) AS last FROM login_failures WHERE username = %(user)s AND at > now() - %(window)s
), known AS (
    SELECT EXISTS (
        SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id
        WHERE lower(u.username) = %(user)s AND s.expires_at > now() AND s.id = %(sid)s
    ) AS by_session,
    EXISTS (
        SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id
        WHERE lower(u.username) = %(user)s AND s.client_ip = %(ip)s
    ) AS by_address
)
SELECT
    (SELECT extract(epoch FROM at + %(window)s - now()) FROM pair ORDER BY at DESC OFFSET %(per_pair)s - 1 LIMIT 1),
    (SELECT extract(epoch FROM at + %(window)s - now()) FROM address ORDER BY at DESC OFFSET %(per_address)s - 1 LIMIT 1),
    (SELECT CASE WHEN n >= %(slowdown_after)s THEN extract(epoch FROM last
        + least(%(slowdown_max)s, make_interval(secs => power(2, least(n - %(slowdown_after)s, 20))))
        - now()) END FROM name),
    (SELECT by_session FROM known),
    (SELECT by_address FROM known)
"""


async def begin_login_attempt(
    conn: AsyncConnection, username: str, client_ip: str, session_secret: str | None, limits: LoginLimits
) -> LoginAttempt:
    """Check the limits and, when they admit the attempt, count it as a failure at once (withdrawn
    by `login_succeeded`): one transaction holding the username's and the address's locks, so
    parallel attempts cannot all pass the check before any is counted. Refused attempts are not
    counted: a blocked pair frees up `window` after its last counted failure."""
    user = username.lower()
    sid = hashlib.sha256(session_secret.encode()).hexdigest() if session_secret else ""
    async with conn.transaction():
        # Always the name's lock, then the address's: two attempts never wait for each other in a cycle.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('amb_login_name:' || %s))", (user,))
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('amb_login_addr:' || %s))", (client_ip,))
        cur = await conn.execute(
            _LIMITS_SQL,
            {
                "user": user,
                "ip": client_ip,
                "sid": sid,
                "window": limits.window,
                "per_pair": limits.per_pair,
                "per_address": limits.per_address,
                "slowdown_after": limits.slowdown_after,
                "slowdown_max": limits.slowdown_max,
            },
        )
        row = await cur.fetchone()
        assert row is not None
        pair_wait, address_wait, slowdown_wait, by_session, by_address = row
        if not by_session:
            for wait, limit in ((pair_wait, "pair"), (address_wait, "address")):
                if wait is not None:
                    return LoginAttempt(retry_after=max(1.0, float(wait)), limit=limit)
            if not by_address and slowdown_wait is not None and float(slowdown_wait) > 0:
                return LoginAttempt(retry_after=max(1.0, float(slowdown_wait)), limit="slowdown")
        cur = await conn.execute(
            "INSERT INTO login_failures (username, client_ip) VALUES (%s, %s) RETURNING id", (user, client_ip)
        )
        inserted = await cur.fetchone()
        assert inserted is not None
        await conn.execute("DELETE FROM login_failures WHERE at < now() - %s", (limits.window,))
    return LoginAttempt(failure_id=int(inserted[0]))


async def login_succeeded(
    conn: AsyncConnection, attempt: LoginAttempt, username: str, client_ip: str
) -> None:
    """The attempt was right: it and the failures of this name from this address are forgotten
    (failures from elsewhere stay: they are someone else's guesses)."""
    await conn.execute(
        "DELETE FROM login_failures WHERE id = %s OR (username = %s AND client_ip = %s)",
        (attempt.failure_id, username.lower(), client_ip),
    )
