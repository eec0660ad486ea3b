"""The live websocket: a snapshot, then what happens, with heartbeats; subscriptions with filters.

Fleet-wide roles get the fleet, every committed fix, event and ETA; a hospital account gets the
ambulances inbound to its hospital, then the events and ETAs that concern it. A client may then
`subscribe` with filters (a fresh snapshot, then only matching deltas) or `unsubscribe`.
Authenticated with `?token=<API key>` or the session cookie (with an Origin of this site); close
codes: 4401 no valid key or session (or it ended), 4403 not allowed, 1013 the client fell behind
(its queue overflowed) and should reconnect. See docs/websocket.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from psycopg import AsyncConnection
from pydantic import ValidationError

from api.deps import (
    FLEET_READERS,
    SESSION_COOKIE,
    authenticate,
    hospital_scope,
    pool_of,
    same_origin,
    session_of,
)
from api.hub import StreamHub, Subscriber
from api.stream_filter import FilterRequest, ScopeError, StreamFilter, build_filter
from tracking.access import Principal
from tracking.eta import hospital_inbound
from tracking.model import iso_utc
from tracking.vehicles import vehicles_with_latest

router = APIRouter(tags=["stream"])
log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_SLOW = 1013
MAX_ID_LENGTH = 64


@router.websocket("/api/v1/stream")
async def stream(websocket: WebSocket) -> None:
    principal, code, reason = await _authenticate(websocket)
    # Accept first, then close with an application code: a browser cannot see why a handshake failed.
    await websocket.accept()
    if principal is None:
        await websocket.close(code, reason)
        return
    scope = hospital_scope(principal)
    if principal.role not in FLEET_READERS and scope is None:
        await websocket.close(CLOSE_FORBIDDEN, f"role {principal.role} may not watch the fleet")
        return
    hub: StreamHub = websocket.app.state.hub
    # Subscribe before the snapshot, so nothing committed in between is missed.
    who = f"{principal.name}@{websocket.client.host if websocket.client else '?'}"
    sub = hub.subscribe(who, scope)
    client = _Client(websocket, hub, sub, principal, scope)
    settings = websocket.app.state.settings
    try:
        async with pool_of(websocket).connection() as conn:
            assert sub.view is not None
            snapshot = await _snapshot(conn, sub.view, None)
        send = _serialised_sender(websocket)
        await send(json.dumps(snapshot))
        async with asyncio.TaskGroup() as tg:
            tg.create_task(_send_loop(send, sub), name="ws-send")
            tg.create_task(_heartbeat_loop(send, settings.stream_heartbeat_s), name="ws-heartbeat")
            tg.create_task(_receive_loop(client), name="ws-receive")
            tg.create_task(_reauth_loop(client, settings.stream_reauth_s), name="ws-reauth")
    except* (WebSocketDisconnect, _ClientGone):
        pass
    except* _TooSlow:
        await websocket.close(CLOSE_TOO_SLOW, "client fell behind; reconnect")
    except* _CredentialsEnded:
        await websocket.close(CLOSE_UNAUTHENTICATED, "the session or key ended; sign in again")
    finally:
        hub.unsubscribe(sub)


async def _authenticate(websocket: WebSocket) -> tuple[Principal | None, int, str]:
    """The API key of `?token=`, else the session cookie (refused from another site's page: a
    cookie travels with any page's handshake, so the Origin must be this site's)."""
    token = websocket.query_params.get("token")
    if token is not None:
        principal = await authenticate(pool_of(websocket), token)
        return principal, CLOSE_UNAUTHENTICATED, "a valid API key is required"
    cookie = websocket.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None, CLOSE_UNAUTHENTICATED, "sign in, or pass ?token=<API key>"
    if not same_origin(websocket.headers, websocket.app.state.settings.allowed_origins):
        return None, CLOSE_FORBIDDEN, "cross-site websocket refused"
    session = await session_of(websocket, cookie)
    if session is None:
        return None, CLOSE_UNAUTHENTICATED, "the session has ended; sign in again"
    return session.principal, 0, ""


@dataclass
class _Client:
    websocket: WebSocket
    hub: StreamHub
    sub: Subscriber
    principal: Principal
    scope: int | None
    subscription: Any = None  # id of the current subscription (None: the default one)


class _ClientGone(Exception):
    pass


class _TooSlow(Exception):
    pass


class _CredentialsEnded(Exception):
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
            item = get.result()
            await send(item if isinstance(item, str) else await item)
    finally:
        overflow.cancel()


async def _heartbeat_loop(send: Send, period_s: float) -> None:
    while True:
        await asyncio.sleep(period_s)
        await send(json.dumps({"type": "heartbeat", "time": iso_utc(datetime.now(UTC))}))


async def _reauth_loop(client: _Client, period_s: float) -> None:
    """A revoked key, an ended session or a changed role ends the stream (the client reconnects)."""
    while True:
        await asyncio.sleep(period_s)
        principal, _, _ = await _authenticate(client.websocket)
        before = client.principal
        if principal is None or (principal.role, principal.hospital_id) != (before.role, before.hospital_id):
            raise _CredentialsEnded


async def _receive_loop(client: _Client) -> None:
    """Reads client messages in order (pings, subscriptions) and notices when the client goes away."""
    while True:
        message = await client.websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise _ClientGone
        text = message.get("text")
        if text:
            await _handle(client, text)


def _reply(client: _Client, body: dict[str, Any]) -> None:
    client.hub.send(client.sub, json.dumps(body, separators=(",", ":")))


def _error(client: _Client, sid: Any, code: str, detail: str) -> None:
    _reply(client, {"type": "error", "id": sid, "error": code, "detail": detail})


async def _handle(client: _Client, text: str) -> None:
    try:
        message = json.loads(text)
    except ValueError:
        message = None
    if not isinstance(message, dict):
        _error(client, None, "bad_request", "a message is one JSON object with a `type`")
        return
    kind, sid = message.get("type"), message.get("id")
    if sid is not None and not (isinstance(sid, str | int) and len(str(sid)) <= MAX_ID_LENGTH):
        _error(
            client, None, "bad_request", f"`id` is a string or number of at most {MAX_ID_LENGTH} characters"
        )
        return
    if kind == "ping":
        _reply(client, {"type": "pong", "time": iso_utc(datetime.now(UTC))})
    elif kind == "subscribe":
        await _subscribe(client, sid, message.get("filters"))
    elif kind == "unsubscribe":
        if sid is not None and sid != client.subscription:
            _error(client, sid, "unknown_subscription", "no current subscription has this id")
            return
        client.hub.set_view(client.sub, None)
        client.subscription = None
        _reply(client, {"type": "unsubscribed", "id": sid})
    else:
        _error(client, sid, "unknown_type", "types are ping, subscribe and unsubscribe")


async def _subscribe(client: _Client, sid: Any, filters: Any) -> None:
    """Replace the client's view: `subscribed`, then a fresh snapshot, then matching deltas."""
    try:
        request = FilterRequest.model_validate(filters if filters is not None else {})
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'filters'}: {e['msg']}" for e in exc.errors())
        _error(client, sid, "bad_request", detail)
        return
    async with pool_of(client.websocket).connection() as conn:
        journey_vehicle = None
        if request.journey_id is not None:
            journey_vehicle = await _journey_vehicle(conn, request.journey_id, client.scope)
            if journey_vehicle is None:
                _error(client, sid, "not_found", f"no journey with id {request.journey_id}")
                return
        try:
            view = build_filter(request, client.scope, journey_vehicle)
        except ScopeError as exc:
            _error(client, sid, "forbidden", str(exc))
            return
        # The new view applies from here; the snapshot takes this place in the queue, so deltas
        # that follow it are never older than what it shows.
        client.hub.set_view(client.sub, view)
        client.subscription = sid
        _reply(client, {"type": "subscribed", "id": sid, "filters": view.describe()})
        pending: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        client.hub.send(client.sub, pending)
        try:
            pending.set_result(json.dumps(await _snapshot(conn, view, sid)))
        except BaseException:
            pending.set_exception(RuntimeError("the snapshot could not be read"))
            raise


async def _journey_vehicle(conn: AsyncConnection, journey_id: int, scope: int | None) -> int | None:
    """The vehicle of a journey the caller may see (a hospital: only journeys inbound to it)."""
    cur = await conn.execute(
        "SELECT vehicle_id, destination_hospital_id FROM journeys WHERE id = %s", (journey_id,)
    )
    row = await cur.fetchone()
    if row is None or (scope is not None and row[1] != scope):
        return None
    return int(row[0])


async def _snapshot(conn: AsyncConnection, view: StreamFilter, sid: Any) -> dict[str, Any]:
    """The state a view starts from: the matching inbound ambulances of its hospital, or the
    matching vehicles of the fleet."""
    head: dict[str, Any] = {"type": "snapshot"} if sid is None else {"type": "snapshot", "id": sid}
    if view.hospital_id is not None:
        inbound = [
            a
            for a in await hospital_inbound(conn, view.hospital_id)
            if (view.vehicles is None or a["vehicle_id"] in view.vehicles)
            and (view.journey_id is None or a["journey_id"] == view.journey_id)
            and (
                view.bbox is None
                or (a["position"] and view.inside(a["position"]["lat"], a["position"]["lon"]))
            )
        ]
        return {**head, "hospital_id": view.hospital_id, "inbound": inbound}
    vehicles = [
        v
        for v in await vehicles_with_latest(conn)
        if (view.vehicles is None or v["id"] in view.vehicles)
        and (view.journey_id is None or v["id"] == view.journey_vehicle_id)
        and (view.bbox is None or (v["position"] and view.inside(v["position"]["lat"], v["position"]["lon"])))
    ]
    return {**head, "vehicles": vehicles}
