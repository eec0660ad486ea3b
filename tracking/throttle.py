"""Throttles shared by every API process (kept in PostgreSQL): failed logins, public request counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from psycopg import AsyncConnection


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    """At most `per_user` failed logins per username, and `per_ip` per client address, in `window`."""

    per_user: int = 5
    per_ip: int = 20
    window: timedelta = timedelta(minutes=15)


async def login_retry_after(
    conn: AsyncConnection, username: str, client_ip: str, throttle: LoginThrottle
) -> float | None:
    """Seconds until this username and address may try again, or None when they may now. Refused
    attempts are not counted, so a blocked name frees up `window` after its last counted failure."""
    cur = await conn.execute(
        """
        SELECT greatest(
            (SELECT extract(epoch FROM at + %(window)s - now()) FROM login_failures
             WHERE username = %(user)s AND at > now() - %(window)s
             ORDER BY at DESC OFFSET %(per_user)s - 1 LIMIT 1),
            (SELECT extract(epoch FROM at + %(window)s - now()) FROM login_failures
             WHERE client_ip = %(ip)s AND at > now() - %(window)s
             ORDER BY at DESC OFFSET %(per_ip)s - 1 LIMIT 1))
        """,
        {
            "window": throttle.window,
            "user": username.lower(),
            "ip": client_ip,
            "per_user": throttle.per_user,
            "per_ip": throttle.per_ip,
        },
    )
    row = await cur.fetchone()
    return None if row is None or row[0] is None else max(1.0, float(row[0]))


async def record_login_failure(
    conn: AsyncConnection, username: str, client_ip: str, throttle: LoginThrottle
) -> None:
    await conn.execute(
        "INSERT INTO login_failures (username, client_ip) VALUES (%s, %s)", (username.lower(), client_ip)
    )
    await conn.execute("DELETE FROM login_failures WHERE at < now() - %s", (throttle.window,))


async def forget_login_failures(conn: AsyncConnection, username: str) -> None:
    """After a successful login: the username's failures go (the address's stay)."""
    await conn.execute("DELETE FROM login_failures WHERE username = %s", (username.lower(),))


async def count_hits(conn: AsyncConnection, bucket: str, window: timedelta) -> int:
    """Counts one request in `bucket`'s current fixed window; returns the window's count so far."""
    cur = await conn.execute(
        """
        INSERT INTO request_counters (bucket, window_start, hits)
        VALUES (%(bucket)s, to_timestamp(floor(extract(epoch FROM now()) / %(w)s) * %(w)s), 1)
        ON CONFLICT (bucket, window_start) DO UPDATE SET hits = request_counters.hits + 1
        RETURNING hits
        """,
        {"bucket": bucket, "w": window.total_seconds()},
    )
    row = await cur.fetchone()
    hits = int(row[0]) if row else 1
    if hits == 1:  # a new window: the old ones are done with
        await conn.execute("DELETE FROM request_counters WHERE window_start < now() - %s", (window * 2,))
    return hits
