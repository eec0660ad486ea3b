"""HTTP device tokens: issued once by `amb-admin issue-device-token`, only their hash is stored."""

from __future__ import annotations

import psycopg
import pytest

from admin import cli
from tracking.fleet import (
    FleetError,
    hash_device_token,
    issue_device_token,
    register_device,
    register_vehicle,
)


def token_hash_of(db: psycopg.Connection, device_id: str) -> str | None:
    row = db.execute("SELECT token_hash FROM devices WHERE id = %s", (device_id,)).fetchone()
    assert row is not None
    return row[0]


def test_a_token_is_random_prefixed_and_stored_as_its_sha256(db: psycopg.Connection) -> None:
    register_vehicle(db, "43A10001", "115-T1")
    register_device(db, "phone-1", "osmand", "43A10001")
    assert token_hash_of(db, "phone-1") is None
    first = issue_device_token(db, "phone-1")
    second = issue_device_token(db, "phone-1")
    assert first.startswith("amb_dev_") and len(first) == len("amb_dev_") + 32
    assert first != second
    assert token_hash_of(db, "phone-1") == hash_device_token(second)  # re-issuing replaces the token
    assert len(hash_device_token(second)) == 64
    register_device(db, "phone-1", "osmand", "43A10001")  # re-registering keeps the token
    assert token_hash_of(db, "phone-1") == hash_device_token(second)


def test_only_registered_osmand_devices_get_tokens(db: psycopg.Connection) -> None:
    register_device(db, "862095050123456", "gt06")
    with pytest.raises(FleetError, match="no OsmAnd device"):
        issue_device_token(db, "862095050123456")
    with pytest.raises(FleetError, match="no OsmAnd device"):
        issue_device_token(db, "nobody")


def test_cli_prints_the_token_once(
    db: psycopg.Connection, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    register_device(db, "phone-2", "osmand")
    assert cli.main(["--database-url", database_url, "issue-device-token", "phone-2", "--quiet"]) == 0
    token = capsys.readouterr().out.strip()
    assert token_hash_of(db, "phone-2") == hash_device_token(token)
    assert cli.main(["--database-url", database_url, "issue-device-token", "nobody"]) == 2
    assert "no OsmAnd device" in capsys.readouterr().err
