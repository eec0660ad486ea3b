"""The fleet registry: vehicles and the devices (trackers) that speak for them."""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

PLATE_PATTERN = re.compile(r"^[0-9]{2}[A-Z]{1,2}[0-9]?[0-9]{4,5}$")
DEVICE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
PROTOCOLS = ("mqtt_json", "owntracks", "gt06", "teltonika", "h02", "osmand")
VEHICLE_KINDS = ("ambulance", "advanced_life_support", "rapid_response", "support")


class FleetError(ValueError):
    """A registry request that cannot be carried out (bad plate, unknown vehicle...)."""


@dataclass(frozen=True, slots=True)
class Vehicle:
    id: int
    plate: str
    call_sign: str
    kind: str


def normalise_plate(raw: str) -> str:
    """A plate as Vietnam's national exchange writes it: '43A-123.45' -> '43A12345'."""
    plate = re.sub(r"[^0-9A-Za-z]", "", raw).upper()
    if not PLATE_PATTERN.match(plate):
        raise FleetError(f"not a Vietnamese plate: {raw!r} (expected e.g. 43A-123.45)")
    return plate


def register_vehicle(
    conn: psycopg.Connection, plate: str, call_sign: str, kind: str = "ambulance"
) -> Vehicle:
    """Create the vehicle, or update the call sign and kind of the one with this plate."""
    if kind not in VEHICLE_KINDS:
        raise FleetError(f"unknown vehicle kind {kind!r}; one of {', '.join(VEHICLE_KINDS)}")
    row = conn.execute(
        """
        INSERT INTO vehicles (plate, call_sign, kind) VALUES (%s, %s, %s)
        ON CONFLICT (plate) DO UPDATE SET call_sign = EXCLUDED.call_sign, kind = EXCLUDED.kind
        RETURNING id, plate, call_sign, kind
        """,
        (normalise_plate(plate), call_sign, kind),
    ).fetchone()
    assert row is not None
    return Vehicle(*row)


def register_device(
    conn: psycopg.Connection, device_id: str, protocol: str = "mqtt_json", plate: str | None = None
) -> None:
    """Register a tracker (or re-assign it) to the vehicle with `plate`."""
    if not DEVICE_ID_PATTERN.match(device_id):
        raise FleetError(f"bad device id {device_id!r}: 1-64 of A-Z a-z 0-9 _ . : -")
    if protocol not in PROTOCOLS:
        raise FleetError(f"unknown protocol {protocol!r}; one of {', '.join(PROTOCOLS)}")
    vehicle_id = None
    if plate is not None:
        row = conn.execute("SELECT id FROM vehicles WHERE plate = %s", (normalise_plate(plate),)).fetchone()
        if row is None:
            raise FleetError(f"no vehicle with plate {plate!r}; register it first")
        vehicle_id = row[0]
    conn.execute(
        """
        INSERT INTO devices (id, protocol, vehicle_id) VALUES (%s, %s, %s)
        ON CONFLICT (id) DO UPDATE SET protocol = EXCLUDED.protocol, vehicle_id = EXCLUDED.vehicle_id,
                                       enabled = true
        """,
        (device_id, protocol, vehicle_id),
    )


def set_allowed_networks(conn: psycopg.Connection, device_id: str, networks: Sequence[str]) -> list[str]:
    """Restrict the source addresses a TCP/UDP/HTTP device may speak from (CIDRs such as
    10.64.0.0/16, or single addresses); none lifts the restriction. Returns the stored networks.
    The gateway applies it at its next registry reload (30 s at most)."""
    try:
        parsed = [str(ipaddress.ip_network(n.strip(), strict=False)) for n in networks if n.strip()]
    except ValueError as exc:
        raise FleetError(f"not a network: {exc}") from None
    cur = conn.execute(
        "UPDATE devices SET allowed_networks = %s::cidr[] WHERE id = %s", (parsed or None, device_id)
    )
    if cur.rowcount != 1:
        raise FleetError(f"no device {device_id!r}")
    return parsed


def hash_device_token(token: str) -> str:
    """What the registry keeps of a device token: SHA-256 hex (the token is 192 random bits, so one
    round is enough; there is no password to stretch)."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_device_token(conn: psycopg.Connection, device_id: str) -> str:
    """Give an HTTP (OsmAnd / Traccar Client) device a new token and return it (shown once: only its
    hash is stored). The previous token stops working at the gateway's next registry reload."""
    token = "amb_dev_" + secrets.token_urlsafe(24)
    cur = conn.execute(
        "UPDATE devices SET token_hash = %s WHERE id = %s AND protocol = 'osmand'",
        (hash_device_token(token), device_id),
    )
    if cur.rowcount != 1:
        raise FleetError(f"no OsmAnd device {device_id!r} (register it with --protocol osmand first)")
    return token


# The emulator's protocol names (`amb-emulator --protocol`) and the registry's.
EMULATOR_PROTOCOLS = {
    "mqtt": "mqtt_json",
    "owntracks": "owntracks",
    "gt06": "gt06",
    "teltonika": "teltonika",
    "h02": "h02",
    "osmand": "osmand",
}
# Demo IMEIs are these 10 digits, the device number in 4, and a Luhn check digit (15 digits);
# demo H02 ids are these 5 digits and the number in 5 (10 digits, as Sinotrack units print them).
DEMO_IMEI_BASE = "3500000000"
DEMO_H02_BASE = "42100"
MAX_DEMO_DEVICES = 9999


def registry_protocol(protocol: str) -> str:
    """The registry's name of a protocol given by either name: `mqtt` -> `mqtt_json`."""
    name = EMULATOR_PROTOCOLS.get(protocol, protocol)
    if name not in PROTOCOLS:
        raise FleetError(f"unknown protocol {protocol!r}; one of {', '.join(PROTOCOLS)}")
    return name


def luhn_check_digit(digits: str) -> str:
    """The Luhn check digit completing `digits` (an IMEI's 15th digit)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 == 0 else 1)  # double every other, from the right
        total += value - 9 if value > 9 else value
    return str(-total % 10)


def _numeric_base(prefix: str, default: str) -> str:
    """A prefix of digits replaces the default leading digits (padded with zeros to their length);
    any other prefix (the default `emu-`) cannot appear in a numeric id and is not used."""
    if not prefix.isdigit():
        return default
    if len(prefix) > len(default):
        raise FleetError(f"a numeric prefix has at most {len(default)} digits here: {prefix!r}")
    return prefix.ljust(len(default), "0")


def demo_device_id(index: int, prefix: str = "emu-", protocol: str = "mqtt_json") -> str:
    """The id of the emulator's device number `index` (1-based) for `protocol`:

    - mqtt_json, osmand: `<prefix><NNNN>` (emu-0001, emu-0002...);
    - owntracks: `<user>.<NNNN>`, the user being the prefix without its trailing separators
      (emu.0001 publishes to owntracks/emu/0001);
    - gt06, teltonika: a 15-digit IMEI, 3500000000 + NNNN + a Luhn check digit (350000000000014);
    - h02: 42100 + NNNNN (4210000001).

    For the numeric ids a prefix of digits replaces the leading digits (3500000000, 42100).
    """
    protocol = registry_protocol(protocol)
    if not 1 <= index <= MAX_DEMO_DEVICES:
        raise FleetError(f"demo devices are numbered 1-{MAX_DEMO_DEVICES}, not {index}")
    if protocol in ("gt06", "teltonika"):
        body = f"{_numeric_base(prefix, DEMO_IMEI_BASE)}{index:04d}"
        return body + luhn_check_digit(body)
    if protocol == "h02":
        return f"{_numeric_base(prefix, DEMO_H02_BASE)}{index:05d}"
    if protocol == "owntracks":
        user = prefix.rstrip("-_.:") or "emu"
        if not re.fullmatch(r"[A-Za-z0-9_:-]+", user):
            raise FleetError(f"an OwnTracks user is letters, digits, _ : - (no dot): {user!r}")
        return f"{user}.{index:04d}"
    return f"{prefix}{index:04d}"


def seed_demo_fleet(
    conn: psycopg.Connection, count: int, prefix: str = "emu-", protocol: str = "mqtt_json"
) -> list[Vehicle]:
    """Register `count` demo ambulances (plates 43A900NN, call signs 115-NN) and their emulated
    trackers, speaking `protocol` (either name, see `registry_protocol`) with `demo_device_id`s."""
    protocol = registry_protocol(protocol)
    vehicles = []
    for i in range(1, count + 1):
        vehicle = register_vehicle(conn, f"43A{90000 + i:05d}", f"115-{i:02d}")
        register_device(conn, demo_device_id(i, prefix, protocol), protocol, vehicle.plate)
        vehicles.append(vehicle)
    return vehicles
