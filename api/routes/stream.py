"""The live websocket: a snapshot, then what happens, with heartbeats; subscriptions with filters.

Fleet-wide roles get the fleet, every committed fix, event and ETA; a hospital account gets the
ambulances inbound to its hospital, then the events and ETAs that concern it. A client may then
`subscribe` with filters (a fresh snapshot, then only matching deltas) or `unsubscribe`.
No secret travels in the URL (access logs record URLs): a browser signed in uses its session
cookie (with an Origin of this site); a page holding an API key first trades it for a single-use
ticket (`POST /api/v1/stream/ticket`, valid 30 s) and opens `?ticket=<ticket>`; other clients send
`Authorization: Bearer <API key>` with the handshake. `?token=` is refused.

Floods: at most AMB_API_STREAM_MAX_PER_PRINCIPAL websockets per key or user and
AMB_API_STREAM_MAX_PER_ADDRESS per client address in one process (close 4429), `subscribe` limited
per connection (a burst, then one per interval: an `error` "rate_limited"), one bounded queue per
client. Close codes: 4401 no valid credentials (or they ended), 4403 not allowed, 4429 too many
connections, 1013 the client fell behind (its queue overflowed) and should reconnect. See
docs/websocket.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect, status
from psycopg import AsyncConnection
from pydantic import ValidationError

from accounts.access import Principal, issue_stream_ticket, redeem_stream_ticket, resolve_credential
from api import metrics
from api.deps import (
    FLEET_READERS,
    SESSION_COOKIE,
    AnyUser,
    Conn,
    authenticate,
    hospital_scope,
    pool_of,
    same_origin,
    session_of,
)
from api.hub import ConnectionCaps, StreamHub, Subscriber
from api.openapi import AUTH_ERRORS, ok
from api.stream_filter import FilterRequest, ScopeError, StreamFilter, build_filter
from api.stream_send import TooSlow, drop_slow_client, heartbeat_loop, send_loop, serialised_sender
from fixes.model import iso_utc
from tracking.eta import hospital_inbound
from tracking.vehicles import vehicles_with_latest

router = APIRouter(tags=["stream"])
log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_MANY = 4429
MAX_ID_LENGTH = 64
TICKET_EXAMPLE = {"ticket": "0bq8RZ2l9x3W5mT1cK4sYp7vN6eHj2Ua", "expires_in_s": 30}
CAP_REASONS = {
    "principal_cap": "too many open streams for this key or account",
    "address_cap": "too many open streams from this address",
}


@router.post(
    "/api/v1/stream/ticket",
    status_code=status.HTTP_201_CREATED,
    summary="A single-use ticket to open the live websocket without a secret in its URL",
    description="Open `WS /api/v1/stream?ticket=<ticket>` within `expires_in_s` seconds; the ticket "
    "works once and stands for the caller's key or session (the stream ends when they do). Browsers "
    "holding an API key use this: a key in a URL would end up in access logs.",
    responses=ok(TICKET_EXAMPLE, AUTH_ERRORS, status=201),
)
async def ticket(principal: AnyUser, conn: Conn, request: Request) -> dict[str, Any]:
    ttl = timedelta(seconds=request.app.state.settings.stream_ticket_s)
    return {
        "ticket": await issue_stream_ticket(conn, principal, ttl),
        "expires_in_s": int(ttl.total_seconds()),
    }


@router.websocket("/api/v1/stream")
async def stream(websocket: WebSocket) -> None:
    principal, recheck, code, reason = await _authenticate(websocket)
    # Accept first, then close with an application code: a browser cannot see why a handshake failed.
    await websocket.accept()
    if principal is None or recheck is None:
        await websocket.close(code, reason)
        return
    scope = hospital_scope(principal)
    if principal.role not in FLEET_READERS and scope is None:
        await websocket.close(CLOSE_FORBIDDEN, f"role {principal.role} may not watch the fleet")
        return
    caps: ConnectionCaps = websocket.app.state.stream_caps
    address = websocket.client.host if websocket.client else "?"
    holder = f"key:{principal.key_id}" if principal.via == "api_key" else f"user:{principal.user_id}"
    refused = caps.admit(holder, address)
    if refused is not None:
        metrics.WS_REFUSED.labels(refused).inc()
        log.warning("websocket refused for %s from %s: %s", principal.name, address, refused)
        await websocket.close(CLOSE_TOO_MANY, CAP_REASONS[refused])
        return
    try:
        await _serve(websocket, principal, recheck, scope)
    finally:
        caps.release(holder, address)


async def _serve(websocket: WebSocket, principal: Principal, recheck: Recheck, scope: int | None) -> None:
    hub: StreamHub = websocket.app.state.hub
    # Subscribe before the snapshot, so nothing committed in between is missed.
    who = f"{principal.name}@{websocket.client.host if websocket.client else '?'}"
    sub = hub.subscribe(who, scope)
    settings = websocket.app.state.settings
    client = _Client(
        websocket,
        hub,
        sub,
        principal,
        scope,
        recheck,
        _Bucket(settings.stream_subscribe_burst, settings.stream_subscribe_interval_s),
    )
    try:
        async with pool_of(websocket).connection() as conn:
            assert sub.view is not None
            snapshot = await _snapshot(conn, sub.view, None)
        send = serialised_sender(websocket)
        await send(json.dumps(snapshot))
        async with asyncio.TaskGroup() as tg:
            tg.create_task(send_loop(send, sub), name="ws-send")
            tg.create_task(heartbeat_loop(send, settings.stream_heartbeat_s), name="ws-heartbeat")
            tg.create_task(_receive_loop(client), name="ws-receive")
            tg.create_task(_reauth_loop(client, settings.stream_reauth_s), name="ws-reauth")
    except* (WebSocketDisconnect, _ClientGone):
        pass
    except* TooSlow:
        await drop_slow_client(websocket)
    except* _CredentialsEnded:
        await websocket.close(CLOSE_UNAUTHENTICATED, "the session or key ended; sign in again")
    finally:
        hub.unsubscribe(sub)


Recheck = Callable[[], Awaitable[Principal | None]]


async def _authenticate(websocket: WebSocket) -> tuple[Principal | None, Recheck | None, int, str]:
    """The caller of a handshake and how to check later that its credentials still hold: a ticket
    (`?ticket=`), an API key (`Authorization: Bearer`), else the session cookie (refused from
    another site's page: a cookie travels with any page's handshake, so the Origin must be this
    site's). An API key in the URL (`?token=`) is refused: URLs are logged."""
    pool = pool_of(websocket)
    if "token" in websocket.query_params:
        return (
            None,
            None,
            CLOSE_UNAUTHENTICATED,
            "no API key in the URL: POST /api/v1/stream/ticket, then ?ticket=",
        )
    ticket = websocket.query_params.get("ticket")
    if ticket is not None:
        async with pool.connection() as conn:
            credential = await redeem_stream_ticket(conn, ticket, _ttl(websocket))
            principal = await resolve_credential(conn, credential) if credential else None
        if principal is None or credential is None:
            return None, None, CLOSE_UNAUTHENTICATED, "the ticket is unknown, used or expired"

        async def by_credential(credential: str = credential) -> Principal | None:
            async with pool.connection() as conn:
                return await resolve_credential(conn, credential)

        return principal, by_credential, 0, ""
    scheme, _, secret = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and secret.strip():
        key = secret.strip()
        principal = await authenticate(pool, key)
        if principal is None:
            return None, None, CLOSE_UNAUTHENTICATED, "a valid API key is required"

        async def by_key() -> Principal | None:
            return await authenticate(pool, key)

        return principal, by_key, 0, ""
    cookie = websocket.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None, None, CLOSE_UNAUTHENTICATED, "sign in, or use a ticket from POST /api/v1/stream/ticket"
    if not same_origin(websocket.headers, websocket.app.state.settings.allowed_origins):
        return None, None, CLOSE_FORBIDDEN, "cross-site websocket refused"
    session = await session_of(websocket, cookie)
    if session is None:
        return None, None, CLOSE_UNAUTHENTICATED, "the session has ended; sign in again"

    async def by_cookie() -> Principal | None:
        live = await session_of(websocket, cookie)
        return live.principal if live else None

    return session.principal, by_cookie, 0, ""


def _ttl(websocket: WebSocket) -> timedelta:
    return timedelta(seconds=websocket.app.state.settings.stream_ticket_s)


@dataclass
class _Bucket:
    """A token bucket: `burst` at once, then one per `interval_s`."""

    burst: int
    interval_s: float
    tokens: float = -1.0
    at: float = field(default_factory=time.monotonic)

    def take(self) -> bool:
        now = time.monotonic()
        if self.tokens < 0:
            self.tokens = float(self.burst)
        self.tokens = min(float(self.burst), self.tokens + (now - self.at) / self.interval_s)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class _Client:
    websocket: WebSocket
    hub: StreamHub
    sub: Subscriber
    principal: Principal
    scope: int | None
    recheck: Recheck
    subscribes: _Bucket
    subscription: Any = None  # id of the current subscription (None: the default one)


class _ClientGone(Exception):
    pass


class _CredentialsEnded(Exception):
    pass


async def _reauth_loop(client: _Client, period_s: float) -> None:
    """A revoked key, an ended session or a changed role ends the stream (the client reconnects)."""
    while True:
        await asyncio.sleep(period_s)
        principal = await client.recheck()
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
        if not client.subscribes.take():
            metrics.WS_SUBSCRIBE_REFUSED.inc()
            _error(client, sid, "rate_limited", "too many subscriptions; wait a moment and try again")
            return
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
