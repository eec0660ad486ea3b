"""Command line and settings: options, environment variables, password files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from device_emulator.__main__ import load_settings
from device_emulator.runner import password_file
from device_emulator.settings import EmulatorSettings


def test_help_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "device_emulator", "--help"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0
    for option in ("--vehicles", "--rate", "--seed", "--noise-m", "--gap-probability", "--gap-seconds"):
        assert option in result.stdout
    for option in ("--device-prefix", "--duration", "--dwell-scale", "--mqtt-url"):
        assert option in result.stdout
    for option in ("--protocol {mqtt,owntracks,gt06,teltonika,h02,osmand}", "--gateway-host", "--udp"):
        assert option in result.stdout
    for option in ("--gt06-port", "--teltonika-port", "--h02-port", "--osmand-port", "--device-port"):
        assert option in result.stdout


def test_environment_sets_defaults_and_the_command_line_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMB_EMULATOR_VEHICLES", "7")
    monkeypatch.setenv("AMB_EMULATOR_SEED", "9")
    monkeypatch.setenv("AMB_MQTT_URL", "mqtt://broker.example:1999")
    settings, mqtt = load_settings(["--seed", "3", "--dwell-scale", "0.1"])
    assert (settings.vehicles, settings.seed, settings.dwell_scale) == (7, 3, 0.1)
    assert mqtt.endpoint().host == "broker.example" and mqtt.endpoint().port == 1999
    _, mqtt = load_settings(["--mqtt-url", "mqtt://127.0.0.1:1883"])
    assert mqtt.endpoint().port == 1883


def test_defaults() -> None:
    settings = EmulatorSettings()
    config = settings.fleet_config()
    assert (config.vehicles, config.seed, config.noise_m, config.device_prefix) == (20, 42, 4.0, "emu-")
    assert (config.gap_probability, config.gap_seconds, config.dwell_scale) == (0.0, 60.0, 1.0)
    assert settings.run_options().rate_hz == 1.0 and settings.run_options().duration_s == 0.0


def test_protocol_options_make_the_link(monkeypatch: pytest.MonkeyPatch) -> None:
    settings, mqtt = load_settings(["--protocol", "gt06", "--gateway-host", "10.0.0.5"])
    link = settings.link_config(mqtt.endpoint())
    assert (link.protocol, link.endpoint.host, link.endpoint.port, link.udp) == (
        "gt06",
        "10.0.0.5",
        5023,
        False,
    )
    assert settings.fleet_config().protocol == "gt06"
    settings, mqtt = load_settings(["--protocol", "teltonika", "--teltonika-port", "6027", "--udp"])
    assert settings.link_config(mqtt.endpoint()).endpoint.port == 6027 and settings.udp
    settings, mqtt = load_settings(["--protocol", "h02", "--h02-port", "6013", "--device-port", "7013"])
    assert settings.link_config(mqtt.endpoint()).endpoint.port == 7013  # --device-port wins
    monkeypatch.setenv("AMB_EMULATOR_PROTOCOL", "osmand")
    monkeypatch.setenv("AMB_EMULATOR_OSMAND_URL", "https://gw.example/osmand")
    settings, mqtt = load_settings([])
    assert settings.link_config(mqtt.endpoint()).osmand_base_url == "https://gw.example/osmand"
    monkeypatch.setenv("AMB_EMULATOR_PROTOCOL", "mqtt_json")  # the registry's name
    assert load_settings([])[0].protocol == "mqtt"


@pytest.mark.parametrize(
    "argv",
    [
        ["--rate", "0"],
        ["--device-prefix", "a/b"],
        ["--gap-probability", "2"],
        ["--protocol", "nmea"],
        ["--protocol", "owntracks", "--device-prefix", "a.b-"],  # no dot in an OwnTracks user
        ["--protocol", "gt06", "--device-prefix", "12345678901"],  # an IMEI has 15 digits
        ["--osmand-url", "gw.example:5055"],
    ],
)
def test_bad_values_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        load_settings(argv)


def test_password_file(tmp_path: Path) -> None:
    path = tmp_path / "passwords"
    path.write_text("# device passwords\nemu-0001 s3cret\n* shared  # everyone else\n", encoding="utf-8")
    passwords = password_file(path)
    assert passwords("emu-0001") == "s3cret"
    assert passwords("emu-0002") == "shared"
    (tmp_path / "none").write_text("emu-0001 x\n", encoding="utf-8")
    assert password_file(tmp_path / "none")("emu-0002") is None
