"""The live websocket: a snapshot, then what happens, with heartbeats.

Fleet-wide roles get the fleet, every committed fix, event and ETA; a hospital account gets the
ambulances inbound to its hospital, then the events and ETAs that concern it.
Authenticated with `?token=<API key>`; close codes: 4401 no valid key, 4403 role not allowed,
1013 the client fell behind (its queue overflowed) and should reconnect.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from api.deps import FLEET_READERS, authenticate, hospital_scope, pool_of
from api.hub import StreamHub, Subscriber
from tracking.eta import hospital_inbound
from tracking.model import iso_utc
from tracking.vehicles import vehicles_with_latest

router = APIRouter(tags=["stream"])
log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_SLOW = 1013


@router.websocket("/api/v1/stream")
async def stream(websocket: WebSocket) -> None:
    principal = await authenticate(pool_of(websocket), websocket.query_params.get("token"))
    # Accept first, then close with an application code: a browser cannot see why a handshake failed.
    await websocket.accept()
    if principal is None:
        await websocket.close(CLOSE_UNAUTHENTICATED, "a valid API key is required")
        return
    hospital_id = hospital_scope(principal)
    if principal.role not in FLEET_READERS and hospital_id is None:
        await websocket.close(CLOSE_FORBIDDEN, f"role {principal.role} may not watch the fleet")
        return
    hub: StreamHub = websocket.app.state.hub
    # Subscribe before the snapshot, so nothing committed in between is missed.
    who = f"{principal.name}@{websocket.client.host if websocket.client else '?'}"
    sub = hub.subscribe(who, hospital_id)
    try:
        async with pool_of(websocket).connection() as conn:
            snapshot: dict[str, Any]
            if hospital_id is None:
                snapshot = {"type": "snapshot", "vehicles": await vehicles_with_latest(conn)}
            else:  # a hospital sees the ambulances coming to it, not the fleet
                snapshot = {
                    "type": "snapshot",
                    "hospital_id": hospital_id,
                    "inbound": await hospital_inbound(conn, hospital_id),
                }
        send = _serialised_sender(websocket)
        await send(json.dumps(snapshot))
        heartbeat_s = websocket.app.state.settings.stream_heartbeat_s
        async with asyncio.TaskGroup() as tg:
            tg.create_task(_send_loop(send, sub), name="ws-send")
            tg.create_task(_heartbeat_loop(send, heartbeat_s), name="ws-heartbeat")
            tg.create_task(_receive_loop(websocket, send), name="ws-receive")
    except* (WebSocketDisconnect, _ClientGone):
        pass
    except* _TooSlow:
        await websocket.close(CLOSE_TOO_SLOW, "client fell behind; reconnect")
    finally:
        hub.unsubscribe(sub)


class _ClientGone(Exception):
    pass


class _TooSlow(Exception):
    pass


Send = Callable[[str], Awaitable[None]]


def _serialised_sender(websocket: WebSocket) -> Send:
    """One frame at a time, whichever task sends it."""
    lock = asyncio.Lock()

    async def send(text: str) -> None:
        async with lock:
            await websocket.send_text(text)

    return send


async def _send_loop(send: Send, sub: Subscriber) -> None:
    overflow = asyncio.create_task(sub.overflowed.wait())
    try:
        while True:
            get = asyncio.create_task(sub.queue.get())
            done, _ = await asyncio.wait({get, overflow}, return_when=asyncio.FIRST_COMPLETED)
            if overflow in done:
                get.cancel()
                raise _TooSlow
            await send(get.result())
    finally:
        overflow.cancel()


async def _heartbeat_loop(send: Send, period_s: float) -> None:
    while True:
        await asyncio.sleep(period_s)
        await send(json.dumps({"type": "heartbeat", "time": iso_utc(datetime.now(UTC))}))


async def _receive_loop(websocket: WebSocket, send: Send) -> None:
    """Reads client messages (answering pings) and notices when the client goes away."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise _ClientGone
        text = message.get("text")
        if text and '"ping"' in text:
            await send(json.dumps({"type": "pong", "time": iso_utc(datetime.now(UTC))}))
