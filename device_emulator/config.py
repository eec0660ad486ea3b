"""What the emulator needs to reach a server, as any device would: the broker's address (MQTT),
the topic convention, and the map data it drives on. Nothing here comes from the server's code:
the emulator is a device and works against any server that speaks the same protocols."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The OpenStreetMap extracts of Da Nang shipped with the project (ODbL, data/danang/NOTICE.md).
DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "danang"


def device_position_topic(device_id: str) -> str:
    """Where a tracker publishes its fixes (the project's MQTT JSON convention)."""
    return f"trackers/{device_id}/position"


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    host: str
    port: int
    username: str | None
    password: str | None = field(default=None, repr=False)


class MqttSettings(BaseSettings):
    """The broker the emulated trackers publish to (`AMB_MQTT_URL`) and the log level."""

    model_config = SettingsConfigDict(env_prefix="AMB_", extra="ignore")

    mqtt_url: str = Field(
        "mqtt://127.0.0.1:1884", description="mqtt://[user:password@]host:port of the broker."
    )
    mqtt_username: str | None = Field(None, description="Overrides the user in AMB_MQTT_URL.")
    mqtt_password: str | None = Field(None, description="Overrides the password in AMB_MQTT_URL.")
    log_level: str = Field("INFO", description="Python logging level.")

    @field_validator("mqtt_url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("mqtt", "tcp"):
            raise ValueError("AMB_MQTT_URL must look like mqtt://host:port")
        return value

    def endpoint(self) -> MqttEndpoint:
        parts = urlsplit(self.mqtt_url)
        return MqttEndpoint(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 1883,
            username=self.mqtt_username or (unquote(parts.username) if parts.username else None),
            password=self.mqtt_password or (unquote(parts.password) if parts.password else None),
        )
