"""Gateway settings (environment variables prefixed AMB_GATEWAY_)."""

from __future__ import annotations

import ipaddress
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    """How the gateway batches, validates and acknowledges."""

    model_config = SettingsConfigDict(env_prefix="AMB_GATEWAY_", extra="ignore")

    prefetch: int = Field(
        2000,
        ge=1,
        description="Unacknowledged broker messages this gateway holds at once (its share of the queue "
        "while its batch commits); a dead gateway's are redelivered to the others.",
    )
    batch_max_fixes: int = Field(2000, ge=1, description="A batch never holds more fixes than this.")
    flush_interval_ms: int = Field(
        0,
        ge=0,
        description="0 (group commit): a batch commits as soon as the previous commit has ended, holding "
        "whatever arrived meanwhile; more: it also waits this long after its first fix (fewer, larger "
        "commits, at this much latency).",
    )
    max_payload_bytes: int = Field(1_048_576, ge=256, description="Larger MQTT payloads are refused.")
    max_fixes_per_message: int = Field(
        1000, ge=1, description="Longest backlog array accepted in one message."
    )
    max_future_s: float = Field(
        30.0,
        ge=0,
        description="Fixes stamped further ahead of the clock are refused (trackers take their time from "
        "GPS: seconds of tolerance, not minutes). A fix accepted ahead of the clock is stored but becomes "
        "the latest position only if it is at most 5 s ahead (fixes.positions.LATEST_MAX_AHEAD_S).",
    )
    max_age_days: float = Field(
        400.0, gt=0, description="Older fixes are refused (match the database's retention of 400 days)."
    )
    max_speed_kmh: float = Field(
        400.0, gt=0, description="A reported speed above this is refused as corrupt."
    )
    max_jump_kmh: float = Field(
        250.0,
        gt=0,
        description="A fix implying a faster move from the device's last trusted fix is stored flagged "
        "(attributes.suspect = impossible_jump, not valid): it never becomes the latest position.",
    )
    jump_confirm_fixes: int = Field(
        3,
        ge=2,
        description="This many suspect fixes in a row that agree with each other (and not with the last "
        "trusted fix) prove that fix was the glitch: the newest of them is trusted from then on.",
    )
    jump_min_distance_m: float = Field(
        500.0,
        ge=0,
        description="Moves shorter than this are never judged as jumps (GPS noise at a standstill).",
    )
    dedupe_window: int = Field(
        512, ge=1, description="Recent fix times remembered per device to drop repeats."
    )
    registry_refresh_s: float = Field(30.0, gt=0, description="Period of the full device-registry reload.")
    registry_miss_refresh_s: float = Field(
        2.0,
        gt=0,
        description="An unknown device triggers a reload at most this often (new devices appear fast).",
    )
    listen_host: str = Field(
        "127.0.0.1",
        description="Address the device listeners (TCP, UDP, HTTP) bind; 0.0.0.0 to face devices.",
    )
    gt06_port: int = Field(
        5023, ge=0, le=65535, description="GT06 TCP port (Traccar's default); 0 turns it off."
    )
    teltonika_port: int = Field(
        5027, ge=0, le=65535, description="Teltonika TCP and UDP port; 0 turns it off."
    )
    h02_port: int = Field(5013, ge=0, le=65535, description="H02 TCP and UDP port; 0 turns it off.")
    h02_message_length: int = Field(
        0,
        description="Length of H02 binary `$` frames (32, 42 or 45); 0 learns it per connection as Traccar does.",
    )
    osmand_port: int = Field(
        5055, ge=0, le=65535, description="OsmAnd / Traccar Client HTTP port; 0 turns it off."
    )
    checksum_mode: Literal["strict", "lenient"] = Field(
        "strict",
        description="strict: a frame with a wrong checksum is refused (counted); lenient: counted, then decoded anyway.",
    )
    osmand_speed_unit: Literal["knots", "kmh", "mps"] = Field(
        "knots", description="Unit of OsmAnd's `speed` parameter (Traccar Client sends knots)."
    )
    osmand_requests_per_second: float = Field(
        5.0, gt=0, description="Sustained OsmAnd requests allowed per device."
    )
    osmand_request_burst: int = Field(
        60, ge=1, description="OsmAnd requests a device may send at once (a backlog)."
    )
    osmand_commit_timeout_s: float = Field(
        30.0, gt=0, description="An OsmAnd request not committed by then gets 503 and Retry-After."
    )
    osmand_require_token: bool = Field(
        True,
        description="Refuse OsmAnd devices that have no token (amb-admin issue-device-token); false accepts "
        "a registered id alone (counted in amb_gateway_unauthenticated_total): anyone knowing it can "
        "forge its positions.",
    )
    osmand_naive_time_zone: str = Field(
        "UTC",
        description="Zone of OsmAnd timestamps sent without an offset (IANA name, e.g. Asia/Ho_Chi_Minh).",
    )
    osmand_trusted_proxies: str = Field(
        "",
        description="Comma-separated networks (CIDR) of reverse proxies in front of the OsmAnd port (e.g. "
        "the compose network's Caddy) whose X-Forwarded-For gives the device's address; empty: the peer's.",
    )
    osmand_max_header_bytes: int = Field(16_384, ge=1024, description="Larger HTTP headers get 431.")
    osmand_allowed_origins: str = Field(
        "",
        description="Comma-separated web origins (scheme://host[:port]) whose pages may post fixes to the"
        " OsmAnd port (CORS): the crew app's site, when a tablet is the vehicle's tracker; empty: none.",
    )
    idle_timeout_s: float = Field(600.0, gt=0, description="A TCP connection silent this long is closed.")
    login_timeout_s: float = Field(
        15.0,
        gt=0,
        description="A TCP connection that has not identified a registered device (GT06 login, Teltonika "
        "IMEI, first H02 frame) within this is closed.",
    )
    max_connections: int = Field(
        5000, ge=1, description="Open TCP device connections per protocol listener; beyond, refused at once."
    )
    max_connections_per_address: int = Field(
        64,
        ge=1,
        description="Open TCP device connections per source address and listener (trackers behind a "
        "carrier's NAT share one); beyond, refused at once.",
    )
    allow_concurrent_sessions: bool = Field(
        False,
        description="false: a second TCP session for a device from another address, while the first is "
        "live, is refused (logged, counted in amb_gateway_duplicate_sessions_total); true: it replaces the "
        "first (still logged and counted).",
    )
    session_stale_s: float = Field(
        180.0,
        gt=0,
        description="A device's TCP session silent this long no longer holds its identity: a new one (the "
        "device's modem got a new address) replaces it.",
    )
    udp_queue_datagrams: int = Field(
        2000,
        ge=1,
        description="UDP datagrams waiting to be processed, per port; beyond, dropped and counted.",
    )
    udp_queue_bytes: int = Field(
        8 * 1024 * 1024, ge=65_536, description="Bytes of UDP datagrams waiting, per port; beyond, dropped."
    )
    frame_timeout_s: float = Field(30.0, gt=0, description="A frame begun must be complete within this.")
    frames_per_second: float = Field(50.0, gt=0, description="Sustained frame rate allowed per connection.")
    frame_burst: int = Field(
        500, ge=1, description="Frames a connection may send at once (a backlog upload)."
    )
    tracking: bool = Field(
        False,
        description="Also run the tracking worker in this process (small single-process deployments). "
        "Normally it runs as its own process, amb-tracker: inside the gateway it takes the CPU ingest needs.",
    )
    metrics_port: int = Field(
        9108, ge=0, description="Prometheus /metrics port on 127.0.0.1; 0 turns it off."
    )
    metrics_host: str = Field("127.0.0.1", description="Address the metrics endpoint listens on.")

    @field_validator("osmand_trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(","))):
            ipaddress.ip_network(part, strict=False)  # raises ValueError for a bad one
        return value

    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(
            ipaddress.ip_network(p.strip(), strict=False)
            for p in self.osmand_trusted_proxies.split(",")
            if p.strip()
        )

    @field_validator("osmand_naive_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value
