"""Request counters shared by every API process (kept in PostgreSQL): the public endpoints' rate limits.
(The login throttle is `accounts.users.LoginLimits`.)"""

from __future__ import annotations

from datetime import timedelta

from psycopg import AsyncConnection


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
