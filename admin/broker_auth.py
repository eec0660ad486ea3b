"""Broker credentials from the registry: RabbitMQ users, permissions and topic permissions.

Each MQTT device has its own password (only a salted hash is stored) and may publish only to its
own topic (a topic permission on `amq.topic`); services (gateways and the tracker: role
`gateway`; API processes: role `api`) are AMQP users with just the queues and exchanges they use.
`amb-admin broker-auth` renders them as RabbitMQ definitions and applies them through the
management API (users no longer in the registry are removed), or writes the file a broker loads
at boot.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg

from messaging.device_topics import device_position_topic
from messaging.topology import COMMITTED_EXCHANGE, DEVICE_EXCHANGE, INGEST_QUEUE, routing_key_pattern

log = logging.getLogger(__name__)
SERVICE_ROLES = ("gateway", "api")
OWNTRACKS_FILTER = "owntracks/+/+"
HASHING = "rabbit_password_hashing_sha256"
VHOST = "/"
NOTHING = "^$"
# AMQP permissions (configure, write, read) of each service role.
SERVICE_PERMISSIONS = {
    # Consumes the ingest queue, publishes what it committed.
    "gateway": (NOTHING, f"^{re.escape(COMMITTED_EXCHANGE)}$", f"^{re.escape(INGEST_QUEUE)}$"),
    # Its own exclusive queue (server-named), bound to the committed exchange; publishes events.
    "api": (
        r"^amq\.gen-.*$",
        rf"^(amq\.gen-.*|{re.escape(COMMITTED_EXCHANGE)})$",
        rf"^(amq\.gen-.*|{re.escape(COMMITTED_EXCHANGE)})$",
    ),
}


class BrokerAuthError(ValueError):
    """A credential request that cannot be carried out."""


def rabbit_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's `rabbit_password_hashing_sha256` form: base64(salt + SHA-256(salt + password))."""
    salt = salt or secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def new_password() -> str:
    return secrets.token_urlsafe(24)


def issue_device_password(conn: psycopg.Connection, device_id: str) -> str:
    """Give a registered device a new MQTT password; returns it (shown once, only its hash is kept)."""
    password = new_password()
    cur = conn.execute(
        "UPDATE devices SET mqtt_password_hash = %s WHERE id = %s AND protocol IN ('mqtt_json', 'owntracks')",
        (rabbit_hash(password), device_id),
    )
    if cur.rowcount != 1:
        raise BrokerAuthError(
            f"no MQTT device {device_id!r} (register it with protocol mqtt_json or owntracks)"
        )
    return password


def set_service_password(
    conn: psycopg.Connection, username: str, role: str, password: str | None = None
) -> str:
    """Create or re-key a service account (gateway or api); returns its password."""
    if role not in SERVICE_ROLES:
        raise BrokerAuthError(f"unknown service role {role!r}; one of {', '.join(SERVICE_ROLES)}")
    password = password or new_password()
    conn.execute(
        """
        INSERT INTO mqtt_service_accounts (username, role, password_hash) VALUES (%s, %s, %s)
        ON CONFLICT (username) DO UPDATE SET role = EXCLUDED.role, password_hash = EXCLUDED.password_hash
        """,
        (username, role, rabbit_hash(password)),
    )
    return password


def device_topics(device_id: str, protocol: str) -> list[str]:
    """The MQTT topics a device may publish to."""
    if protocol == "owntracks":
        # OwnTracks devices are registered as `<user>.<device>` and publish owntracks/<user>/<device>.
        user, _, device = device_id.partition(".")
        return [f"owntracks/{user}/{device}"] if device else []
    return [device_position_topic(device_id)]


def _is_rabbit_hash(value: str) -> bool:
    """A hash RabbitMQ can check (a Mosquitto `$7$` hash from an older release is not)."""
    try:
        return len(base64.b64decode(value, validate=True)) == 36
    except ValueError:
        return False


def render_definitions(conn: psycopg.Connection) -> dict[str, Any]:
    """The registry's users and permissions as RabbitMQ definitions (users, permissions,
    topic_permissions) for the default vhost."""
    services = conn.execute(
        "SELECT username, role, password_hash FROM mqtt_service_accounts ORDER BY username"
    ).fetchall()
    devices = conn.execute(
        "SELECT id, protocol, mqtt_password_hash FROM devices"
        " WHERE enabled AND mqtt_password_hash IS NOT NULL ORDER BY id"
    ).fetchall()
    users: list[dict[str, Any]] = []
    permissions: list[dict[str, Any]] = []
    topic_permissions: list[dict[str, Any]] = []
    for name, role, hashed in services:
        user, permission = service_account(name, role, hashed)
        users.append(user)
        permissions.append(permission)
    stale = []
    for device_id, protocol, hashed in devices:
        if not _is_rabbit_hash(hashed):
            stale.append(device_id)
            continue
        users.append(_user(device_id, hashed, ["amb-device"]))
        permissions.append(_permission(device_id, NOTHING, f"^{re.escape(DEVICE_EXCHANGE)}$", NOTHING))
        keys = "|".join(routing_key_pattern(t) for t in device_topics(device_id, protocol)) or "$^"
        topic_permissions.append(
            {
                "user": device_id,
                "vhost": VHOST,
                "exchange": DEVICE_EXCHANGE,
                "write": f"^({keys})$",
                "read": NOTHING,
            }
        )
    if stale:
        log.warning(
            "%d devices have a password hash the broker cannot use; issue new ones: %s",
            len(stale),
            stale[:10],
        )
    return {"users": users, "permissions": permissions, "topic_permissions": topic_permissions}


def service_account(name: str, role: str, hashed: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A service's broker user and its permissions (role gateway or api), as definitions."""
    return _user(name, hashed, ["amb-service"]), _permission(name, *SERVICE_PERMISSIONS[role])


def _user(name: str, hashed: str, tags: list[str]) -> dict[str, Any]:
    return {"name": name, "password_hash": hashed, "hashing_algorithm": HASHING, "tags": tags}


def _permission(user: str, configure: str, write: str, read: str) -> dict[str, Any]:
    return {"user": user, "vhost": VHOST, "configure": configure, "write": write, "read": read}


@dataclass(frozen=True, slots=True)
class ManagementApi:
    """The broker's management HTTP API (127.0.0.1 only in make run; the internal network in compose)."""

    url: str
    username: str
    password: str = field(repr=False)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url.rstrip("/"), auth=(self.username, self.password), timeout=30)


def apply_definitions(api: ManagementApi, definitions: dict[str, Any]) -> tuple[int, int]:
    """Import the users and permissions, then delete the project's users that are no longer in the
    registry (those tagged amb-device or amb-service; the broker's admins are left alone).
    Returns (users applied, users removed)."""
    wanted = {u["name"] for u in definitions["users"]}
    with api.client() as http:
        http.post("/api/definitions", json=definitions).raise_for_status()
        existing = http.get("/api/users").raise_for_status().json()
        removed = [
            u["name"]
            for u in existing
            if u["name"] not in wanted and {"amb-device", "amb-service"} & set(_tags(u.get("tags")))
        ]
        if removed:
            http.post("/api/users/bulk-delete", json={"users": removed}).raise_for_status()
    return len(wanted), len(removed)


def _tags(tags: object) -> list[str]:
    if isinstance(tags, list):
        return [str(t) for t in tags]
    return [t for t in str(tags or "").split(",") if t]


def sync_broker(conn: psycopg.Connection, api: ManagementApi) -> str:
    applied, removed = apply_definitions(api, render_definitions(conn))
    return f"broker accounts: {applied} applied, {removed} removed"


def owntracks_config(device_id: str, password: str, host: str, port: int, tls: bool) -> dict[str, object]:
    """An OwnTracks `.otrc` configuration for a phone registered as `<user>.<device>`: the app's
    default topic (`owntracks/<username>/<deviceId>`) would not match the ACL, so the topic is set."""
    user, _, device = device_id.partition(".")
    if not device:
        raise BrokerAuthError("an OwnTracks device id is <user>.<device>")
    return {
        "_type": "configuration",
        "mode": 0,  # MQTT
        "host": host,
        "port": port,
        "tls": tls,
        "auth": True,
        "username": device_id,
        "password": password,
        "clientId": device_id,
        "deviceId": device,
        "tid": device[-2:].upper(),
        "pubTopicBase": f"owntracks/{user}/{device}",
        "pubQos": 1,
        "pubRetain": False,
        "cleanSession": False,
        "sub": False,
        "cmd": False,
        "monitoring": 2,  # move mode: a fix every locatorInterval while moving
        "locatorInterval": 10,
        "locatorDisplacement": 10,
    }
