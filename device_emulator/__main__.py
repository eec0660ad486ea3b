"""amb-emulator: drive an emulated ambulance fleet over Da Nang, each tracker sending its fixes to the
gateway in the chosen protocol (MQTT JSON by default)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import signal
import sys
import types
import typing
from typing import Any

from pydantic import ValidationError

from device_emulator.config import MqttSettings
from device_emulator.dispatch import ApiClient, Breakdowns, DemoCalls, DispatchFollower
from device_emulator.links import WHOLE_SECOND_PROTOCOLS
from device_emulator.runner import password_file, run_fleet
from device_emulator.settings import EmulatorSettings
from device_emulator.tracker import build_fleet

log = logging.getLogger("device_emulator")


def build_parser() -> argparse.ArgumentParser:
    """One option per EmulatorSettings field; an option left out falls back to AMB_EMULATOR_<NAME>."""
    parser = argparse.ArgumentParser(
        prog="amb-emulator",
        description="Emulated ambulances driving over Da Nang's roads, each tracker its own device "
        "sending GPS fixes to the gateway in the chosen --protocol: by default the project's JSON over "
        "MQTT to trackers/<device_id>/position (the broker comes from AMB_MQTT_URL).",
    )
    for name, field in EmulatorSettings.model_fields.items():
        option = "--" + name.replace("_", "-")
        helptext = f"{field.description} (default {field.default!r}; env AMB_EMULATOR_{name.upper()})"
        parser.add_argument(option, default=None, help=helptext, **_argument_kind(field.annotation, name))
    parser.add_argument("--mqtt-url", help="Broker URL, mqtt://[user:password@]host:port (env AMB_MQTT_URL).")
    parser.add_argument("--log-level", help="Logging level (env AMB_LOG_LEVEL, default INFO).")
    return parser


def _argument_kind(annotation: Any, name: str) -> dict[str, Any]:
    """How argparse reads a field: flags for booleans, choices for literals; pydantic validates."""
    options = [a for a in typing.get_args(annotation) if a is not type(None)]
    if isinstance(annotation, types.UnionType) and len(options) == 1:
        annotation = options[0]  # X | None
    if annotation is bool:
        return {"action": argparse.BooleanOptionalAction}
    if typing.get_origin(annotation) is typing.Literal:
        return {"choices": typing.get_args(annotation)}
    kind = annotation if annotation in (int, float, str) else str
    return {"type": kind, "metavar": name.upper()}


def load_settings(argv: list[str] | None = None) -> tuple[EmulatorSettings, MqttSettings]:
    """Settings from the command line, falling back to the environment, then to the defaults."""
    parser = build_parser()
    args = vars(parser.parse_args(argv))
    mqtt_args = {key: args.pop(key) for key in ("mqtt_url", "log_level")}
    try:
        settings = EmulatorSettings(**{key: value for key, value in args.items() if value is not None})
        mqtt = MqttSettings(**{key: value for key, value in mqtt_args.items() if value is not None})
    except ValidationError as exc:
        parser.error(str(exc))
    return settings, mqtt


def main(argv: list[str] | None = None) -> None:
    settings, mqtt = load_settings(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per API poll otherwise
    logging.basicConfig(
        level=mqtt.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(_run(settings, mqtt))
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were installed
        sys.exit(130)


async def _run(settings: EmulatorSettings, mqtt: MqttSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    trackers = build_fleet(settings.fleet_config())
    link = settings.link_config(mqtt.endpoint())
    log.info(
        "%d vehicles (%s..%s) at %.2g Hz, seed %d, %s",
        len(trackers), trackers[0].device_id, trackers[-1].device_id, settings.rate, settings.seed,
        link.describe(),
    )  # fmt: skip
    if settings.rate > 1 and settings.protocol in WHOLE_SECOND_PROTOCOLS:
        log.warning(
            "%s times are whole seconds: above 1 Hz the gateway keeps one fix per second", settings.protocol
        )
    passwords = password_file(settings.password_file) if settings.password_file else None
    api = ApiClient(settings.api_url, settings.api_key) if settings.api_url and settings.api_key else None
    try:
        async with asyncio.TaskGroup() as tg:
            if api is not None and settings.follow_dispatch:
                follower = DispatchFollower(
                    api,
                    trackers,
                    trackers[0].vehicle.graph,
                    Breakdowns(settings.breakdown_rate, settings.repair_s, random.Random(settings.seed)),
                )
                tg.create_task(follower.run(stop), name="dispatch-follower")
            if api is not None and settings.demo_calls_per_hour:
                calls = DemoCalls(
                    api, trackers[0].vehicle.graph, settings.demo_calls_per_hour, random.Random(settings.seed)
                )
                tg.create_task(calls.run(stop), name="demo-calls")
            await run_fleet(trackers, link, settings.run_options(), stop=stop, passwords=passwords)
            stop.set()  # a --duration run ended: stop the API tasks too
    finally:
        if api is not None:
            await api.close()
    log.info("stopped")


if __name__ == "__main__":
    main()
