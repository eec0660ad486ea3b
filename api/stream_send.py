"""Sending to one websocket client: frames one at a time, the hub's queue in order, heartbeats,
and dropping a client that fell behind (issue 14: a client that stops reading altogether must
not hold its connection, its task or more memory than its bounded queue)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import WebSocket

from api.hub import Subscriber
from fixes.model import iso_utc

log = logging.getLogger(__name__)

CLOSE_TOO_SLOW = 1013


class TooSlow(Exception):
    """The client's queue overflowed: it fell behind."""


Send = Callable[[str], Awaitable[None]]
SLOW_CLOSE_S = 1.0  # a client that fell behind gets this long to take the closing frame


async def drop_slow_client(websocket: WebSocket) -> None:
    """Close a client that fell behind: with 1013 if its socket still takes the frame, else (it
    stopped reading: the frame cannot be written) by aborting the connection, so that neither
    the connection nor what is buffered for it outlives its handler."""
    try:
        async with asyncio.timeout(SLOW_CLOSE_S):
            await websocket.close(CLOSE_TOO_SLOW, "client fell behind; reconnect")
            return
    except TimeoutError:
        pass
    if not _abort_transport(websocket):
        log.warning("could not abort a stalled websocket; the server closes it when it can")


def _abort_transport(websocket: WebSocket) -> bool:
    """Abort the socket under `websocket` (ASGI has no abort: the server's protocol object is the
    owner of the `send` callable, uvicorn's has its asyncio transport). False when not found."""
    send: Any = websocket._send
    for _ in range(8):  # through the wrappers middleware put around `send`
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        if transport is not None and hasattr(transport, "abort"):
            transport.abort()
            return True
        send = getattr(send, "__wrapped__", None) or _closure_send(send)
        if send is None:
            return False
    return False


def _closure_send(func: Any) -> Any:
    """The `send` a middleware's wrapper function closes over, if any."""
    for cell in getattr(func, "__closure__", None) or ():
        with contextlib.suppress(ValueError):
            if callable(cell.cell_contents) and getattr(cell.cell_contents, "__name__", "") in (
                "send",
                "sender",
            ):
                return cell.cell_contents
    return None


def serialised_sender(websocket: WebSocket) -> Send:
    """One frame at a time, whichever task sends it."""
    lock = asyncio.Lock()

    async def send(text: str) -> None:
        async with lock:
            await websocket.send_text(text)

    return send


async def send_loop(send: Send, sub: Subscriber) -> None:
    """Send what the hub queues, in order. A client that stops reading blocks a send (its socket
    buffers full): its queue then overflows, and the overflow ends the stream at once, whether the
    loop was waiting for the queue or stuck in that send; memory stays bounded by the queue."""
    overflow = asyncio.create_task(sub.overflowed.wait())
    try:
        while True:
            get = asyncio.create_task(sub.queue.get())
            await _unless_overflowed(get, overflow)
            item = get.result()
            await _unless_overflowed(
                asyncio.ensure_future(send(item if isinstance(item, str) else await item)), overflow
            )
    finally:
        overflow.cancel()


async def _unless_overflowed(step: asyncio.Future[Any], overflow: asyncio.Task[Any]) -> None:
    """Wait for `step`; raise TooSlow (cancelling it) if the client's queue overflows first."""
    done, _ = await asyncio.wait({step, overflow}, return_when=asyncio.FIRST_COMPLETED)
    if step not in done:
        step.cancel()
        raise TooSlow
    step.result()


async def heartbeat_loop(send: Send, period_s: float) -> None:
    while True:
        await asyncio.sleep(period_s)
        await send(json.dumps({"type": "heartbeat", "time": iso_utc(datetime.now(UTC))}))
