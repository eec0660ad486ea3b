"""The ids of the emulator's devices, per protocol — the convention `amb-admin seed-fleet`
registers them under on the server side (tests/device_emulator/test_emu_device_ids.py checks
that both derive the same ids; the emulator does not import the server's code).

- mqtt_json, osmand: `<prefix><NNNN>` (emu-0001, emu-0002...);
- owntracks: `<user>.<NNNN>`, the user being the prefix without its trailing separators
  (emu.0001 publishes to owntracks/emu/0001);
- gt06, teltonika: a 15-digit IMEI, 3500000000 + NNNN + a Luhn check digit (350000000000014);
- h02: 42100 + NNNNN (4210000001).

For the numeric ids a prefix of digits replaces the leading digits (3500000000, 42100).
"""

from __future__ import annotations

import re

# The emulator's protocol names (`amb-emulator --protocol`) and the server's registry names.
REGISTRY_PROTOCOLS = {
    "mqtt": "mqtt_json",
    "mqtt_json": "mqtt_json",
    "owntracks": "owntracks",
    "gt06": "gt06",
    "teltonika": "teltonika",
    "h02": "h02",
    "osmand": "osmand",
}
IMEI_BASE = "3500000000"
H02_BASE = "42100"
MAX_DEVICES = 9999


class DeviceIdError(ValueError):
    """A device number, prefix or protocol that gives no valid id."""


def registry_protocol(protocol: str) -> str:
    try:
        return REGISTRY_PROTOCOLS[protocol]
    except KeyError:
        raise DeviceIdError(
            f"unknown protocol {protocol!r}; one of {', '.join(REGISTRY_PROTOCOLS)}"
        ) from None


def luhn_check_digit(digits: str) -> str:
    """The Luhn check digit completing `digits` (an IMEI's 15th digit)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 == 0 else 1)  # double every other, from the right
        total += value - 9 if value > 9 else value
    return str(-total % 10)


def _numeric_base(prefix: str, default: str) -> str:
    if not prefix.isdigit():
        return default
    if len(prefix) > len(default):
        raise DeviceIdError(f"a numeric prefix has at most {len(default)} digits here: {prefix!r}")
    return prefix.ljust(len(default), "0")


def demo_device_id(index: int, prefix: str = "emu-", protocol: str = "mqtt_json") -> str:
    """The id of device number `index` (1-based) for `protocol` (module docstring)."""
    protocol = registry_protocol(protocol)
    if not 1 <= index <= MAX_DEVICES:
        raise DeviceIdError(f"demo devices are numbered 1-{MAX_DEVICES}, not {index}")
    if protocol in ("gt06", "teltonika"):
        body = f"{_numeric_base(prefix, IMEI_BASE)}{index:04d}"
        return body + luhn_check_digit(body)
    if protocol == "h02":
        return f"{_numeric_base(prefix, H02_BASE)}{index:05d}"
    if protocol == "owntracks":
        user = prefix.rstrip("-_.:") or "emu"
        if not re.fullmatch(r"[A-Za-z0-9_:-]+", user):
            raise DeviceIdError(f"an OwnTracks user is letters, digits, _ : - (no dot): {user!r}")
        return f"{user}.{index:04d}"
    return f"{prefix}{index:04d}"
