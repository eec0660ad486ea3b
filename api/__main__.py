"""`amb-api`: serve the API with uvicorn."""

from __future__ import annotations

import uvicorn

from api.app import create_app
from api.settings import ApiSettings
from runtime.process import configure_logging


def main() -> None:
    common = configure_logging()
    settings = ApiSettings()
    # Several workers: uvicorn binds the port once and each worker process builds its own app
    # (from the same environment), so they share the port without SO_REUSEPORT or a proxy.
    app = "api.app:create_app" if settings.workers > 1 else create_app(settings)
    uvicorn.run(
        app,
        factory=settings.workers > 1,
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        log_level=common.log_level.lower(),
        proxy_headers=True,
        ws_ping_interval=20,
        ws_ping_timeout=20,
        # A client message larger than this closes its websocket (1009) instead of being buffered.
        ws_max_size=settings.stream_max_message_bytes,
    )


if __name__ == "__main__":
    main()
