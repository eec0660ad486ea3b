"""`create_app(settings)`: the FastAPI application; the pool and the relay live in its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles

from accounts.sessions import SessionPolicy
from accounts.users import LoginLimits
from api.errors import install_error_handlers
from api.guard import BodyLimit, RequestGuard
from api.hub import ConnectionCaps, StreamHub
from api.openapi import install_docs
from api.redact import install_log_redaction
from api.relay import CommittedFixRelay
from api.routes import (
    analytics,
    auth,
    caller_links,
    crew,
    events,
    geofences,
    health,
    hospitals,
    journeys,
    location_requests,
    pages,
    stream,
    units,
    users,
    vehicles,
)
from api.routes import map as map_routes
from api.routes import metrics as metrics_routes
from api.settings import ApiSettings
from runtime.config import BrokerSettings, CommonSettings, DatabaseSettings
from runtime.db import open_pool
from tracking.settings import TrackingSettings

STATIC_DIR = pages.STATIC_DIR
log = logging.getLogger(__name__)

DESCRIPTION = """Live positions of Da Nang's ambulances for dispatchers and hospitals.

**Authentication**: every call but `/healthz` and the caller's tracking link needs either an API
key (`Authorization: Bearer amb_...`, for integrations such as hospital systems) or a browser
session (`POST /api/v1/auth/login` sets the `amb_session` cookie; with the cookie, every POST, PUT,
PATCH and DELETE also sends `X-CSRF-Token`). Roles: `admin`, `dispatcher`, `hospital` (sees only
the journeys inbound to its hospital), `viewer` (read only).

**Live stream**: `WS /api/v1/stream` with the session cookie, `Authorization: Bearer <API key>`,
or `?ticket=` (a single-use ticket from `POST /api/v1/stream/ticket`; never an API key in the URL):
a snapshot, then fixes, events and ETAs; subscriptions with filters — see `docs/websocket.md`.

**Limits**: request bodies are at most 16 KiB (geofences 1 MiB; 413 beyond); a call without any
credentials is refused with 401 before its body is read. See `docs/security.md`.
"""

TAGS = [
    {"name": "auth", "description": "Browser sign-in: session cookie and CSRF token."},
    {"name": "accounts", "description": "Accounts and API keys (admins only)."},
    {"name": "vehicles", "description": "The fleet, positions and tracks."},
    {"name": "stream", "description": "The live websocket: a single-use ticket to open it."},
    {"name": "journeys", "description": "Dispatch, status, reports; the caller's tracking link."},
    {"name": "caller links", "description": "What a caller's public tracking link shows (no sign-in)."},
    {"name": "crew", "description": "The crew's tablet: its own vehicle and journey, status presses."},
    {"name": "hospitals", "description": "Hospitals ranked by road, inbound ambulances, ETAs."},
    {"name": "units", "description": "The fastest available ambulances by road."},
    {"name": "geofences", "description": "Hospital areas, stations, scenes, zones."},
    {"name": "events", "description": "Stored events."},
    {"name": "map", "description": "Map configuration and layers."},
    {"name": "health", "description": "Liveness and readiness."},
]


def create_app(
    settings: ApiSettings | None = None,
    database: DatabaseSettings | None = None,
    broker: BrokerSettings | None = None,
    common: CommonSettings | None = None,
) -> FastAPI:
    settings = settings or ApiSettings()
    database = database or DatabaseSettings()
    broker = broker or BrokerSettings()
    common = common or CommonSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub = StreamHub(settings.stream_queue_size)
        relay = CommittedFixRelay(broker.endpoint(), hub, settings.client_id_prefix)
        async with open_pool(database, "amb-api") as pool:
            app.state.pool, app.state.hub, app.state.relay = pool, hub, relay
            relay_task = asyncio.create_task(relay.run(), name="committed-fix-relay")
            try:
                yield
            finally:
                relay_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await relay_task

    app = FastAPI(
        title="Ambulance Journey Monitor API",
        version="0.2.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,  # served from local assets by install_docs
        redoc_url=None,
    )
    app.state.settings = settings
    # The road layer and fleet snapshots are large, repetitive JSON: compress them on the wire.
    app.add_middleware(GZipMiddleware, minimum_size=2048)
    app.state.tracking = TrackingSettings()
    app.state.secure_cookies = settings.secure_cookies(common.env)
    if common.env == "production" and not app.state.secure_cookies:
        log.warning("AMB_API_COOKIE_SECURE=false in production: session cookies travel over plain HTTP")
    app.state.session_policy = SessionPolicy(
        idle=timedelta(seconds=settings.session_idle_s),
        absolute=timedelta(seconds=settings.session_absolute_s),
    )
    app.state.login_limits = LoginLimits(
        per_pair=settings.login_max_failures_per_user,
        per_address=settings.login_max_failures_per_ip,
        slowdown_after=settings.login_slowdown_after,
        slowdown_max=timedelta(seconds=settings.login_slowdown_max_s),
        window=timedelta(seconds=settings.login_window_s),
    )
    app.state.stream_caps = ConnectionCaps(settings.stream_max_per_principal, settings.stream_max_per_address)
    install_log_redaction()
    install_error_handlers(app)
    for module in (
        health,
        analytics,
        auth,
        users,
        vehicles,
        journeys,
        caller_links,
        location_requests,
        crew,
        units,
        hospitals,
        geofences,
        events,
        map_routes,
        stream,
        metrics_routes,
        pages,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    install_docs(app)
    # Outermost: anonymous callers and oversized bodies are refused before anything reads a body.
    app.add_middleware(
        RequestGuard,
        default_max_bytes=settings.max_body_bytes,
        limits=[
            BodyLimit(
                frozenset({"POST", "PATCH", "PUT"}),
                re.compile(r"/api/v1/geofences(/[^/]+)?"),
                settings.max_geofence_bytes,
            )
        ],
    )
    return app
