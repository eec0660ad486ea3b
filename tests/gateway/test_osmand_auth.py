"""Issue 10, item 2, OsmAnd (Traccar Client over HTTP), written as the attacks:

- forging a registered phone's positions with its id alone used to work (200): the token is now
  required by default (401);
- probing ids used to tell registered ones (401 without a token) from unknown ones (404): every
  failure now answers the same status, body and headers, without awaiting a database query, so
  neither the answer nor its time enumerates ids;
- a device restricted to some networks is refused from elsewhere, with the same answer;
- behind a trusted reverse proxy, the address checked is the one the proxy saw.
"""

from __future__ import annotations

import asyncio
import ipaddress
import statistics
import time
from collections.abc import AsyncIterator

import psycopg
import pytest
from prometheus_client import REGISTRY

from gateway.handlers.osmand import OsmAndLimits
from gateway.registry import DeviceRegistry
from gateway.settings import GatewaySettings
from tests.gateway.harness import IngestHarness, recent_utc
from tests.gateway.test_osmand_http import serving
from tracking.fleet import issue_device_token, register_device, register_vehicle, set_allowed_networks

PLATE = "43A10001"


def refused(reason: str) -> float:
    labels = {"protocol": "osmand", "reason": reason}
    return REGISTRY.get_sample_value("amb_gateway_protocol_refused_total", labels) or 0.0


def fix_uri(device_id: str, token: str | None = None, age: float = 30) -> str:
    uri = f"/?id={device_id}&lat=16.05&lon=108.2&timestamp={int(recent_utc(age).timestamp())}"
    return uri + (f"&token={token}" if token else "")


@pytest.fixture
async def harness(db: psycopg.Connection, database_url: str) -> AsyncIterator[IngestHarness]:
    register_vehicle(db, PLATE, "115-T1")
    async with IngestHarness(database_url, flush_interval_ms=20) as h:
        yield h


def test_the_token_is_required_by_default() -> None:
    assert GatewaySettings().osmand_require_token is True
    assert OsmAndLimits().require_token is True


async def test_a_registered_phone_cannot_be_forged_with_its_id_alone(
    db: psycopg.Connection, harness: IngestHarness
) -> None:
    register_device(db, "phone-1", "osmand", PLATE)  # registered, no token issued yet
    register_device(db, "phone-2", "osmand", PLATE)
    token = issue_device_token(db, "phone-2")
    async with serving(harness) as client:
        before = refused("bad_token")
        assert (await client.get(fix_uri("phone-1"))).status_code == 401
        assert (await client.get(fix_uri("phone-2"))).status_code == 401
        assert (await client.get(fix_uri("phone-2", "amb_dev_guess"))).status_code == 401
        assert refused("bad_token") == before + 3
        assert (await client.get(fix_uri("phone-2", token))).status_code == 200
    assert harness.stored("phone-1") == [] and len(harness.stored("phone-2")) == 1


async def test_registered_and_unknown_ids_answer_alike(
    db: psycopg.Connection, harness: IngestHarness
) -> None:
    register_device(db, "phone-1", "osmand", PLATE)
    register_device(db, "phone-off", "osmand", PLATE)
    issue_device_token(db, "phone-off")
    db.execute("UPDATE devices SET enabled = false WHERE id = 'phone-off'")
    register_device(db, "359710049095095", "gt06", PLATE)
    register_device(db, "phone-apn", "osmand", PLATE)
    apn_token = issue_device_token(db, "phone-apn")
    set_allowed_networks(db, "phone-apn", ["10.64.0.0/16"])
    probes = [
        fix_uri("nobody"),
        fix_uri("nobody", "amb_dev_guess"),
        fix_uri("phone-1"),
        fix_uri("phone-1", "amb_dev_guess"),
        fix_uri("phone-off", "amb_dev_guess"),
        fix_uri("359710049095095"),  # a GT06 IMEI
        fix_uri("phone-apn", apn_token),  # the right token, from outside its network
    ]
    async with serving(harness) as client:
        answers = set()
        for uri in probes:
            r = await client.get(uri)
            answers.add((r.status_code, r.content, tuple(sorted(r.headers.items()))[1:]))  # all but `date`
        assert len(answers) == 1, answers
        ((status, body, _),) = answers
        assert (status, body) == (401, b"unauthorized\n")


async def test_an_unknown_id_never_waits_for_the_database(
    db: psycopg.Connection, harness: IngestHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unknown id's answer time is the known id's: its registry reload runs in the background.
    (It used to be awaited: a probe after a quiet second took a database query longer.)"""
    register_device(db, "phone-1", "osmand", PLATE)
    issue_device_token(db, "phone-1")
    async with serving(harness) as client:
        assert (await client.get(fix_uri("phone-1"))).status_code == 401  # loads the registry once
        real_reload = DeviceRegistry.reload

        async def slow_reload(self: DeviceRegistry) -> bool:
            await asyncio.sleep(0.5)
            return await real_reload(self)

        monkeypatch.setattr(DeviceRegistry, "reload", slow_reload)

        async def timed(uri: str) -> float:
            started = time.perf_counter()
            assert (await client.get(uri)).status_code == 401
            return time.perf_counter() - started

        unknown = [await timed(fix_uri(f"probe-{i}")) for i in range(15)]
        known = [await timed(fix_uri("phone-1", "amb_dev_guess")) for i in range(15)]
    assert max(unknown) < 0.3, unknown
    assert abs(statistics.median(unknown) - statistics.median(known)) < 0.02, (unknown, known)


async def test_a_new_device_is_served_once_the_background_reload_found_it(
    db: psycopg.Connection, harness: IngestHarness
) -> None:
    async with serving(harness) as client:
        assert (await client.get(fix_uri("nobody"))).status_code == 401  # the registry is loaded
        register_device(db, "phone-new", "osmand", PLATE)
        token = issue_device_token(db, "phone-new")
        statuses = []
        for _ in range(50):  # Traccar Client retries until it gets a 200
            statuses.append((await client.get(fix_uri("phone-new", token))).status_code)
            if statuses[-1] == 200:
                break
            await asyncio.sleep(0.05)
        assert statuses[-1] == 200 and set(statuses[:-1]) <= {401}


async def test_behind_a_trusted_proxy_the_forwarded_address_is_checked(
    db: psycopg.Connection, harness: IngestHarness
) -> None:
    register_device(db, "phone-apn", "osmand", PLATE)
    token = issue_device_token(db, "phone-apn")
    set_allowed_networks(db, "phone-apn", ["10.64.0.0/16"])
    proxied = OsmAndLimits(trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),))
    async with serving(harness, proxied) as client:
        inside = {"X-Forwarded-For": "10.64.3.4"}
        outside = {"X-Forwarded-For": "10.64.3.4, 203.0.113.9"}  # a spoofed first hop is not believed
        assert (await client.get(fix_uri("phone-apn", token, 40), headers=inside)).status_code == 200
        assert (await client.get(fix_uri("phone-apn", token, 30), headers=outside)).status_code == 401
    async with serving(harness) as client:  # no trusted proxy: the header is ignored
        assert (await client.get(fix_uri("phone-apn", token, 20), headers=inside)).status_code == 401
    assert len(harness.stored("phone-apn")) == 1


def test_amb_admin_add_device_restricts_networks(db: psycopg.Connection, database_url: str) -> None:
    from admin.cli import main

    register_vehicle(db, PLATE, "115-T1")
    assert main(["--database-url", database_url, "add-device", "4210051415", "--protocol", "h02",
                 "--allow-network", "10.64.0.0/16", "--allow-network", "100.72.1.9"]) == 0  # fmt: skip
    row = db.execute("SELECT allowed_networks::text[] FROM devices WHERE id = '4210051415'").fetchone()
    assert row == (["10.64.0.0/16", "100.72.1.9/32"],)
    assert main(["--database-url", database_url, "add-device", "4210051415", "--protocol", "h02",
                 "--allow-network", "any"]) == 0  # fmt: skip
    assert db.execute("SELECT allowed_networks FROM devices WHERE id = '4210051415'").fetchone() == (None,)
    assert main(["--database-url", database_url, "add-device", "x1", "--allow-network", "10.0.0.0/33"]) == 2
