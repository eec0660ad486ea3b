"""API settings (environment variables prefixed AMB_API_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """How the API listens, and what the map shows."""

    model_config = SettingsConfigDict(env_prefix="AMB_API_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the HTTP server binds.")
    port: int = Field(8000, ge=1, le=65535, description="Port of the HTTP server.")
    tile_url: str = Field(
        "",
        description="XYZ tile URL template for the map background, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png;"
        " empty: no tiles, the road network is drawn as vectors (works offline).",
    )
    tile_attribution: str = Field("", description="Attribution of the tile server, shown on the map.")
    map_center_lat: float = Field(16.06, description="Initial map centre (latitude).")
    map_center_lon: float = Field(108.215, description="Initial map centre (longitude).")
    map_zoom: int = Field(14, ge=1, le=19, description="Initial map zoom.")
    offline_after_s: float = Field(
        90.0, gt=0, description="A vehicle silent this long is shown as disconnected."
    )
    stream_queue_size: int = Field(
        256,
        ge=1,
        description="Messages buffered per websocket client; a client further behind is disconnected.",
    )
    stream_heartbeat_s: float = Field(15.0, gt=0, description="Heartbeat period on the websocket.")
    client_id_prefix: str = Field("amb-api", description="Prefix of this process's MQTT client id.")
