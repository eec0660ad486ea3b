"""Emulator settings from AMB_EMULATOR_* environment variables (the command line overrides them)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from device_emulator.config import MqttEndpoint
from device_emulator.ids import DeviceIdError
from device_emulator.links import DEFAULT_PORTS, LinkConfig, ProtocolName
from device_emulator.outbox import DEFAULT_MAX_BACKLOG
from device_emulator.runner import RunOptions
from device_emulator.tracker import FleetConfig, device_id_for


class EmulatorSettings(BaseSettings):
    """What the emulated fleet looks like and how it reports."""

    model_config = SettingsConfigDict(env_prefix="AMB_EMULATOR_", extra="ignore")

    vehicles: int = Field(20, ge=1, le=9999, description="Number of emulated ambulances.")
    rate: float = Field(1.0, gt=0, le=50, description="Fixes per second per vehicle.")
    seed: int = Field(42, description="Random seed: the same seed replays the same trajectories and fixes.")
    noise_m: float = Field(
        4.0, ge=0, description="RMS GPS position error in metres; 0 puts fixes on the road."
    )
    gap_probability: float = Field(
        0.0, ge=0, le=1, description="Chance per vehicle per minute that mobile coverage is lost."
    )
    gap_seconds: float = Field(60.0, gt=0, description="How long a coverage gap lasts.")
    device_prefix: str = Field(
        "emu-", pattern=r"^[A-Za-z0-9_.-]*$", description="Device ids are PREFIX0001, PREFIX0002, ..."
    )
    duration: float = Field(0.0, ge=0, description="Seconds to run; 0 runs until SIGINT/SIGTERM.")
    dwell_scale: float = Field(1.0, gt=0, description="Multiplier for idle and dwell times (0.1 for demos).")
    max_backlog: int = Field(
        DEFAULT_MAX_BACKLOG,
        ge=1,
        description="Fixes a tracker keeps while it cannot publish; oldest dropped.",
    )
    traffic: bool = Field(
        False,
        description="Rush hours (by the clock in Da Nang) and a fixed speed per road segment slow or "
        "speed up the vehicles; off, every road drives at its class speed at any hour.",
    )
    password_file: Path | None = Field(
        None,
        description="File of `device_id secret` lines (`*` for all): MQTT passwords (mqtt, owntracks) "
        "or OsmAnd tokens; none connects without one.",
    )

    protocol: ProtocolName = Field(
        "mqtt",
        description="What every tracker speaks: mqtt (the project's JSON), owntracks (MQTT), gt06, "
        "teltonika, h02 or osmand (HTTP). Register the devices with `amb-admin seed-fleet --protocol`.",
    )
    gateway_host: str = Field(
        "127.0.0.1", description="The gateway's device listeners (gt06, teltonika, h02, osmand)."
    )
    gt06_port: int = Field(DEFAULT_PORTS["gt06"], ge=1, le=65535, description="The gateway's GT06 TCP port.")
    teltonika_port: int = Field(
        DEFAULT_PORTS["teltonika"], ge=1, le=65535, description="The gateway's Teltonika TCP/UDP port."
    )
    h02_port: int = Field(DEFAULT_PORTS["h02"], ge=1, le=65535, description="The gateway's H02 TCP/UDP port.")
    osmand_port: int = Field(
        DEFAULT_PORTS["osmand"], ge=1, le=65535, description="The gateway's OsmAnd HTTP port."
    )
    device_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="The port of the chosen protocol, whatever it is (overrides the above).",
    )
    osmand_url: str | None = Field(
        None, description="Base URL of the OsmAnd listener (default http://GATEWAY_HOST:OSMAND_PORT)."
    )
    udp: bool = Field(False, description="Teltonika and H02 over UDP instead of TCP.")
    ack_timeout: float = Field(
        10.0, gt=0, description="Seconds to wait for the gateway's acknowledgement before reconnecting."
    )

    follow_dispatch: bool = Field(
        False,
        description="Wait at the station for journeys dispatched through the API and drive them "
        "(needs api_url and api_key), instead of inventing missions.",
    )
    demo_calls_per_hour: float = Field(
        0.0,
        ge=0,
        le=3600,
        description="Also play the 115 desk: this many emergency calls an hour, dispatched via the API.",
    )
    breakdown_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of dispatched journeys whose ambulance breaks down on the way to the scene "
        "(following dispatch): it stops, the desk re-dispatches the journey to the fastest available "
        "unit through the API, and the broken one is back in service after repair_s.",
    )
    repair_s: float = Field(600.0, gt=0, description="How long a broken-down ambulance stays out of service.")
    api_url: str | None = Field(None, description="Base URL of the API, e.g. http://127.0.0.1:8000.")
    api_key: str | None = Field(None, description="A dispatcher API key (for following and making journeys).")

    @field_validator("protocol", mode="before")
    @classmethod
    def _registry_name(cls, value: object) -> object:
        return "mqtt" if value == "mqtt_json" else value  # the registry's name is accepted too

    @field_validator("osmand_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("osmand_url must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _api_when_needed(self) -> EmulatorSettings:
        if (self.follow_dispatch or self.demo_calls_per_hour) and not (self.api_url and self.api_key):
            raise ValueError("follow_dispatch and demo_calls_per_hour need api_url and api_key")
        return self

    @model_validator(mode="after")
    def _ids_valid_for_the_protocol(self) -> EmulatorSettings:
        try:
            device_id_for(self.protocol, self.device_prefix, self.vehicles)
        except DeviceIdError as exc:
            raise ValueError(str(exc)) from exc
        return self

    def fleet_config(self) -> FleetConfig:
        return FleetConfig(
            vehicles=self.vehicles,
            seed=self.seed,
            device_prefix=self.device_prefix,
            protocol=self.protocol,
            noise_m=self.noise_m,
            gap_probability=self.gap_probability,
            gap_seconds=self.gap_seconds,
            dwell_scale=self.dwell_scale,
            max_backlog=self.max_backlog,
            follow_dispatch=self.follow_dispatch,
            traffic=self.traffic,
        )

    def run_options(self) -> RunOptions:
        return RunOptions(rate_hz=self.rate, duration_s=self.duration)

    def link_config(self, mqtt: MqttEndpoint) -> LinkConfig:
        """Where and how the trackers send; `mqtt` is the broker (for mqtt and owntracks)."""
        ports = {
            "gt06": self.gt06_port,
            "teltonika": self.teltonika_port,
            "h02": self.h02_port,
            "osmand": self.osmand_port,
        }
        return LinkConfig(
            protocol=self.protocol,
            mqtt=mqtt,
            gateway_host=self.gateway_host,
            port=self.device_port or ports.get(self.protocol),
            osmand_url=self.osmand_url,
            udp=self.udp,
            ack_timeout_s=self.ack_timeout,
        )
