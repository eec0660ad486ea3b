"""`create_app(settings)`: the FastAPI application; the pool and the relay live in its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from api.errors import install_error_handlers
from api.hub import StreamHub
from api.relay import CommittedFixRelay
from api.routes import events, geofences, health, hospitals, journeys, stream, units, vehicles
from api.routes import map as map_routes
from api.settings import ApiSettings
from tracking.config import DatabaseSettings, MqttSettings
from tracking.db import open_pool
from tracking.settings import TrackingSettings

STATIC_DIR = Path(__file__).resolve().parent / "static"


def create_app(
    settings: ApiSettings | None = None,
    database: DatabaseSettings | None = None,
    mqtt: MqttSettings | None = None,
) -> FastAPI:
    settings = settings or ApiSettings()
    database = database or DatabaseSettings()
    mqtt = mqtt or MqttSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub = StreamHub(settings.stream_queue_size)
        relay = CommittedFixRelay(mqtt.endpoint(), hub, settings.client_id_prefix)
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
        version="0.1.0",
        description="Live positions of Da Nang's ambulances for dispatchers and hospitals. "
        "Every call needs an API key (`Authorization: Bearer ...`; `?token=` on the websocket).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    # The road layer and fleet snapshots are large, repetitive JSON: compress them on the wire.
    app.add_middleware(GZipMiddleware, minimum_size=2048)
    app.state.tracking = TrackingSettings()
    install_error_handlers(app)
    for module in (health, vehicles, journeys, units, hospitals, geofences, events, map_routes, stream):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    @app.get("/", include_in_schema=False)
    async def dispatcher_page() -> FileResponse:
        return FileResponse(str(STATIC_DIR / "index.html"), headers={"Cache-Control": "no-cache"})

    return app
