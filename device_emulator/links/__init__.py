"""Device links: how one emulated tracker talks to the gateway, one implementation per protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from device_emulator.config import MqttEndpoint
from device_emulator.links.base import DeviceLink, Endpoint, LinkError
from device_emulator.links.gt06 import Gt06Link
from device_emulator.links.h02 import H02TcpLink, H02UdpLink
from device_emulator.links.mqtt import MqttJsonLink, OwnTracksLink
from device_emulator.links.osmand import OsmAndLink
from device_emulator.links.teltonika import TeltonikaTcpLink, TeltonikaUdpLink

__all__ = [
    "DEFAULT_PORTS",
    "PROTOCOLS",
    "WHOLE_SECOND_PROTOCOLS",
    "DeviceLink",
    "LinkConfig",
    "LinkError",
    "ProtocolName",
    "make_link",
]

ProtocolName = Literal["mqtt", "owntracks", "gt06", "teltonika", "h02", "osmand"]
PROTOCOLS: tuple[ProtocolName, ...] = get_args(ProtocolName)
# The gateway's device ports, Traccar's defaults; MQTT protocols go through the broker instead.
DEFAULT_PORTS: dict[ProtocolName, int] = {"gt06": 5023, "teltonika": 5027, "h02": 5013, "osmand": 5055}
# Protocols whose timestamps are whole seconds: two fixes within a second are one to the gateway.
WHOLE_SECOND_PROTOCOLS: frozenset[ProtocolName] = frozenset({"owntracks", "gt06", "h02"})


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """What every tracker of a fleet speaks, and where to."""

    protocol: ProtocolName = "mqtt"
    mqtt: MqttEndpoint | None = None  # the broker, for mqtt and owntracks
    gateway_host: str = "127.0.0.1"  # the gateway's device listeners, for the others
    port: int | None = None  # None: the protocol's default port (DEFAULT_PORTS)
    osmand_url: str | None = None  # None: http://<gateway_host>:<port>
    udp: bool = False  # Teltonika and H02 over UDP instead of TCP
    ack_timeout_s: float = 10.0

    @property
    def endpoint(self) -> Endpoint:
        port = self.port if self.port is not None else DEFAULT_PORTS.get(self.protocol, 0)
        return Endpoint(self.gateway_host, port, self.ack_timeout_s)

    def describe(self) -> str:
        """Where the fleet sends, for the log."""
        if self.protocol in ("mqtt", "owntracks"):
            where = f"{self.mqtt.host}:{self.mqtt.port}" if self.mqtt else "(none given)"
            return f"{self.protocol} via the broker {where}"
        if self.protocol == "osmand":
            return f"osmand to {self.osmand_base_url}"
        transport = "udp" if self.udp and self.protocol in ("teltonika", "h02") else "tcp"
        return f"{self.protocol} over {transport} to {self.endpoint.host}:{self.endpoint.port}"

    @property
    def osmand_base_url(self) -> str:
        return self.osmand_url or f"http://{self.endpoint.host}:{self.endpoint.port}"


def make_link(config: LinkConfig, device_id: str, secret: str | None = None) -> DeviceLink:
    """The link of one tracker. `secret` is its MQTT password (mqtt, owntracks) or its OsmAnd
    token; the binary protocols have none."""
    endpoint, timeout = config.endpoint, config.ack_timeout_s
    match config.protocol:
        case "mqtt" | "owntracks":
            if config.mqtt is None:
                raise ValueError(f"{config.protocol} needs the broker's endpoint")
            kind = MqttJsonLink if config.protocol == "mqtt" else OwnTracksLink
            return kind(device_id, config.mqtt, secret, timeout)
        case "gt06":
            return Gt06Link(device_id, endpoint)
        case "teltonika":
            return (
                TeltonikaUdpLink(device_id, endpoint) if config.udp else TeltonikaTcpLink(device_id, endpoint)
            )
        case "h02":
            return H02UdpLink(device_id, endpoint) if config.udp else H02TcpLink(device_id, endpoint)
        case "osmand":
            return OsmAndLink(device_id, config.osmand_base_url, secret, timeout)
    raise ValueError(f"unknown protocol {config.protocol!r}")
