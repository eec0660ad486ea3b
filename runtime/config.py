"""Settings shared by every process: where PostgreSQL and the message engine are, and which environment we run in."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT / "data" / "danang"

# Dev-only credentials: accepted when AMB_ENV=development, refused anywhere else.
DEV_DATABASE_URL = "postgresql://amb:amb@127.0.0.1:5488/ambulance"
DEV_DATABASE_PASSWORD = "amb"  # noqa: S105 - the dev password, refused in production
DEV_AMQP_URL = "amqp://127.0.0.1:5673/"


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
        if info.data.get("env") == "production" and _dev_credentials(value):
            raise ValueError("AMB_DATABASE_URL carries the development credentials: refused in production")
        return value


def _dev_credentials(conninfo: str) -> bool:
    """Whether a libpq URL or key=value string uses the dev password (whatever the host, user,
    spelling or extra parameters), or cannot be parsed at all."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return True
    password = params.get("password") or os.environ.get("PGPASSWORD")
    return password == DEV_DATABASE_PASSWORD


class BrokerSettings(CommonSettings):
    """The message engine (RabbitMQ) as the services see it: AMQP 0-9-1 with a service account.

    Devices speak MQTT to the same broker; the project's services (gateway, tracker, API) speak
    AMQP, so no device credential can take over a service's session or client id.
    """

    amqp_url: str = Field(DEV_AMQP_URL, description="amqp://host:port/vhost of the broker (no credentials).")
    broker_username: str | None = Field(None, description="The service's broker account.")
    broker_password: str | None = Field(None, description="Its password (from a secret, never a URL).")

    @field_validator("amqp_url")
    @classmethod
    def _valid_amqp_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("amqp", "amqps"):
            raise ValueError("AMB_AMQP_URL must look like amqp://host:port/")
        if parts.password:
            raise ValueError("AMB_AMQP_URL must not carry a password: set AMB_BROKER_PASSWORD")
        return value

    @field_validator("broker_password")
    @classmethod
    def _password_in_production(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("env") == "production" and not value:
            raise ValueError("AMB_BROKER_PASSWORD must be set in production")
        return value

    def endpoint(self) -> AmqpEndpoint:
        parts = urlsplit(self.amqp_url)
        vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
        return AmqpEndpoint(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (5671 if parts.scheme == "amqps" else 5672),
            vhost=vhost,
            username=self.broker_username or (unquote(parts.username) if parts.username else "guest"),
            password=self.broker_password or "",
            tls=parts.scheme == "amqps",
        )


@dataclass(frozen=True, slots=True)
class AmqpEndpoint:
    host: str
    port: int
    vhost: str
    username: str
    password: str = field(repr=False)
    tls: bool = False
