"""Device ids per protocol: the emulator and `amb-admin seed-fleet --protocol` derive the same ones,
valid for each protocol (Luhn-valid 15-digit IMEIs, numeric H02 ids, OwnTracks `<user>.<device>`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from admin import cli
from device_emulator.fixes import Fix
from device_emulator.ids import DeviceIdError
from device_emulator.protocols import gt06, h02, owntracks
from device_emulator.tracker import FleetConfig, build_fleet, device_id_for, device_ids
from gateway.protocols.owntracks import device_id_from_topic
from tracking.fleet import (
    DEVICE_ID_PATTERN,
    FleetError,
    demo_device_id,
    hash_device_token,
    luhn_check_digit,
    seed_demo_fleet,
)

PROTOCOLS = ("mqtt", "owntracks", "gt06", "teltonika", "h02", "osmand")
FIX = Fix(datetime(2026, 11, 27, 8, 0, tzinfo=UTC), 16.06, 108.22, 36.0, 90, 5, 4, 9, "idle")


def luhn_valid(number: str) -> bool:
    """The check as a verifier does it: double every second digit from the right, sum, mod 10."""
    total = 0
    for position, char in enumerate(reversed(number)):
        value = int(char) * (2 if position % 2 else 1)
        total += value // 10 + value % 10
    return total % 10 == 0


def test_the_check_digit_of_real_imeis() -> None:
    for imei in ("359710049095095", "356307042441013", "352099001761481", "490154203237518"):
        assert luhn_check_digit(imei[:14]) == imei[14]


def test_ids_per_protocol() -> None:
    assert [device_id_for(p, "emu-", 1) for p in PROTOCOLS] == [
        "emu-0001",
        "emu.0001",
        "350000000000014",
        "350000000000014",
        "4210000001",
        "emu-0001",
    ]
    assert device_id_for("h02", "emu-", 9999) == "4210009999"
    assert demo_device_id(7) == demo_device_id(7, "emu-", "mqtt_json") == "emu-0007"  # as before
    assert device_id_for("mqtt_json", "x", 12) == "x0012"  # the registry's names work too


@pytest.mark.parametrize("protocol", ["gt06", "teltonika"])
def test_imeis_are_15_luhn_valid_digits_unique_and_stable(protocol: str) -> None:
    imeis = device_ids("emu-", 9999, protocol)
    assert len(set(imeis)) == 9999
    assert all(len(imei) == 15 and imei.isdigit() and luhn_valid(imei) for imei in imeis)
    assert imeis == device_ids("other-", 9999, protocol)  # a non-numeric prefix cannot appear in them
    assert gt06.login_packet(imeis[0], 1)  # the GT06 login takes it


def test_numeric_prefixes_replace_the_leading_digits() -> None:
    imei = device_id_for("gt06", "86209505", 42)
    assert imei.startswith("86209505000042") and len(imei) == 15 and luhn_valid(imei)
    assert device_id_for("h02", "987", 5) == "9870000005"
    with pytest.raises(DeviceIdError, match="at most 10 digits"):
        device_id_for("teltonika", "12345678901", 1)
    with pytest.raises(DeviceIdError, match="at most 5 digits"):
        device_id_for("h02", "123456", 1)


def test_h02_ids_are_digits_its_sentences_carry() -> None:
    ids = device_ids("emu-", 50, "h02")
    assert all(i.isdigit() and len(i) == 10 for i in ids) and len(set(ids)) == 50
    assert h02.v1_sentence(ids[0], FIX).startswith(b"*HQ,4210000001,V1,")


def test_owntracks_ids_are_user_dot_device_of_the_topic() -> None:
    device_id = device_id_for("owntracks", "emu-", 1)
    user, _, device = device_id.partition(".")
    assert (user, device) == ("emu", "0001")
    assert owntracks.device_id(user, device) == device_id
    assert device_id_from_topic(owntracks.topic(user, device)) == device_id
    assert device_id_for("owntracks", "amb_115-", 3) == "amb_115.0003"
    assert device_id_for("owntracks", "", 3) == "emu.0003"
    with pytest.raises(DeviceIdError, match="no dot"):
        device_id_for("owntracks", "a.b-", 1)


def test_every_id_is_a_valid_registry_id_and_numbering_is_bounded() -> None:
    for protocol in PROTOCOLS:
        assert all(DEVICE_ID_PATTERN.match(i) for i in device_ids("emu-", 20, protocol))
    with pytest.raises(DeviceIdError, match="1-9999"):
        device_id_for("gt06", "emu-", 10_000)
    with pytest.raises(DeviceIdError, match="unknown protocol"):
        device_id_for("nmea", "emu-", 1)


def test_the_fleet_is_built_with_the_protocols_ids() -> None:
    trackers = build_fleet(FleetConfig(vehicles=3, protocol="teltonika", dwell_scale=0.1))
    assert [t.device_id for t in trackers] == device_ids("emu-", 3, "teltonika")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_seed_demo_fleet_registers_the_emulators_ids(db: psycopg.Connection, protocol: str) -> None:
    seed_demo_fleet(db, 3, protocol=protocol)
    rows = db.execute("SELECT id, protocol FROM devices ORDER BY id").fetchall()
    registry = "mqtt_json" if protocol == "mqtt" else protocol
    assert rows == [(i, registry) for i in sorted(device_ids("emu-", 3, protocol))]


def test_seed_fleet_cli(db: psycopg.Connection, database_url: str, tmp_path: Path) -> None:
    base = ["--database-url", database_url, "seed-fleet", "--count", "2"]
    assert cli.main([*base, "--protocol", "gt06"]) == 0
    assert db.execute("SELECT id FROM devices WHERE protocol = 'gt06' ORDER BY id").fetchall() == [
        ("350000000000014",),
        ("350000000000022",),
    ]
    # The binary protocols have no secrets; MQTT devices get passwords, OsmAnd phones tokens.
    secrets = tmp_path / "secrets"
    assert cli.main([*base, "--protocol", "h02", "--passwords-file", str(secrets)]) == 2
    assert not secrets.exists()
    assert cli.main([*base, "--protocol", "owntracks", "--passwords-file", str(secrets)]) == 0
    assert [line.split()[0] for line in secrets.read_text().splitlines()] == ["emu.0001", "emu.0002"]
    assert (
        cli.main([*base, "--protocol", "osmand", "--prefix", "phone-", "--passwords-file", str(secrets)]) == 0
    )
    tokens = dict(line.split() for line in secrets.read_text().splitlines())
    stored = dict(db.execute("SELECT id, token_hash FROM devices WHERE protocol = 'osmand'").fetchall())
    assert {device: hash_device_token(token) for device, token in tokens.items()} == stored


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("prefix", ["emu-", "b1234-", "35", "4211", "fleet_"])
def test_the_emulator_and_seed_fleet_derive_the_same_ids(protocol: str, prefix: str) -> None:
    """Two parties, one convention: the emulator (a device) does not import the server's code."""
    from device_emulator import ids

    for index in (1, 2, 17, 9999):
        try:
            expected = demo_device_id(index, prefix, protocol)
        except FleetError:
            with pytest.raises(ids.DeviceIdError):
                ids.demo_device_id(index, prefix, protocol)
            continue
        assert ids.demo_device_id(index, prefix, protocol) == expected
