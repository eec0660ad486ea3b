"""Wakes the tracking worker when fixes are committed, from any gateway process: the storing
transaction notifies `INBOX_CHANNEL` (delivered at its commit) and this LISTENs to it.

Without it, a worker in its own process (amb-tracker) would only find new fixes at its next
poll; with it, a round starts as soon as the previous one has ended and something was committed
(the tracker's group commit). The poll stays as the fallback while the listening connection is
being re-established: a lost notification delays, never loses, a fix (the inbox is the record).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

import psycopg
from psycopg import sql

from fixes.positions import INBOX_CHANNEL

log = logging.getLogger(__name__)
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 30.0


async def listen_for_fixes(conninfo: str, wake: Callable[[], None], channel: str = INBOX_CHANNEL) -> None:
    """Call `wake` on every notification of `channel`, until cancelled; reconnects with backoff
    (and wakes once after each reconnect, for what was committed while it was away)."""
    delay = RETRY_FIRST_S
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                conninfo, autocommit=True, application_name="amb-tracking-listen"
            ) as conn:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                delay = RETRY_FIRST_S
                wake()
                async for _ in conn.notifies():
                    wake()
        except psycopg.Error as exc:
            log.warning("listening for committed fixes failed (%s); polling, retrying in %.1f s", exc, delay)
        await asyncio.sleep(delay * random.uniform(0.5, 1.5))
        delay = min(delay * 2, RETRY_MAX_S)
