"""Settings shared by every process: where PostgreSQL and the MQTT broker are, and which environment we run in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT / "data" / "danang"

# Dev-only credentials: accepted when AMB_ENV=development, refused anywhere else.
DEV_DATABASE_URL = "postgresql://amb:amb@127.0.0.1:5432/ambulance"
DEV_MQTT_URL = "mqtt://127.0.0.1:1884"


class CommonSettings(BaseSettings):
    """Environment and logging."""

    model_config = SettingsConfigDict(env_prefix="AMB_", extra="ignore")

    env: Literal["development", "test", "production"] = Field(
        "development", description="Deployment environment; dev credentials are refused in production."
    )
    log_level: str = Field("INFO", description="Python logging level for every process.")


class DatabaseSettings(CommonSettings):
    """PostgreSQL / PostGIS connection."""

    database_url: str = Field(DEV_DATABASE_URL, description="libpq URL of the PostGIS database.")
    db_pool_min: int = Field(1, ge=1, description="Minimum connections kept in each process's pool.")
    db_pool_max: int = Field(10, ge=1, description="Maximum connections in each process's pool.")

    @field_validator("database_url")
    @classmethod
    def _no_dev_secret_in_production(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("env") == "production" and value == DEV_DATABASE_URL:
            raise ValueError("AMB_DATABASE_URL must be set explicitly in production")
        return value


class MqttSettings(CommonSettings):
    """MQTT broker connection."""

    mqtt_url: str = Field(DEV_MQTT_URL, description="mqtt://[user:password@]host:port of the broker.")
    mqtt_username: str | None = Field(None, description="Overrides the user in AMB_MQTT_URL.")
    mqtt_password: str | None = Field(None, description="Overrides the password in AMB_MQTT_URL.")

    @field_validator("mqtt_url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("mqtt", "tcp"):
            raise ValueError("AMB_MQTT_URL must look like mqtt://host:port")
        return value

    def endpoint(self) -> MqttEndpoint:
        """The broker address and credentials, parsed from the URL and the overrides."""
        parts = urlsplit(self.mqtt_url)
        return MqttEndpoint(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 1883,
            username=self.mqtt_username or (unquote(parts.username) if parts.username else None),
            password=self.mqtt_password or (unquote(parts.password) if parts.password else None),
        )


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    host: str
    port: int
    username: str | None
    password: str | None
