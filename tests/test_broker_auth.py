"""Broker authentication and ACL generated from the registry: a device speaks only for itself."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import psycopg
import pytest

from tests.services import Broker
from tracking.broker_auth import (
    issue_device_password,
    mosquitto_hash,
    set_service_password,
    write_broker_files,
)
from tracking.fleet import register_device, register_vehicle
from tracking.topics import COMMITTED_EVENTS, COMMITTED_FIXES, device_position_topic

pytestmark = pytest.mark.slow


@pytest.fixture
def secured(db: psycopg.Connection, tmp_path: Path) -> Iterator[tuple[Broker, dict[str, str]]]:
    register_vehicle(db, "43A10001", "115-T1")
    register_device(db, "dev-a", "mqtt_json", "43A10001")
    register_device(db, "dev-b", "mqtt_json")
    register_device(db, "nguyen.phone1", "owntracks")
    passwords = {d: issue_device_password(db, d) for d in ("dev-a", "dev-b", "nguyen.phone1")}
    passwords["amb-gateway"] = set_service_password(db, "amb-gateway", "gateway")
    passwords["amb-api"] = set_service_password(db, "amb-api", "api")
    auth = tmp_path / "auth"
    write_broker_files(db, auth)
    broker = Broker(tmp_path / "state", auth_dir=auth).start()
    yield broker, passwords
    broker.stop()


def client(broker: Broker, user: str | None, password: str | None, **kw: object) -> aiomqtt.Client:
    return aiomqtt.Client("127.0.0.1", broker.port, username=user, password=password, **kw)  # type: ignore[arg-type]


async def delivered(
    broker: Broker, reader: tuple[str, str], topic_filter: str, writer: tuple[str, str], topic: str
) -> bool:
    """Whether `writer` publishing on `topic` reaches `reader` subscribed to `topic_filter`."""
    async with client(broker, *reader) as sub:
        await sub.subscribe(topic_filter, qos=1)
        async with client(broker, *writer) as pub:
            await pub.publish(topic, b"{}", qos=1)
        try:
            async with asyncio.timeout(0.7):
                async for _ in sub.messages:
                    return True
        except TimeoutError:
            return False
    return False


async def test_each_device_publishes_only_its_own_topic(secured: tuple[Broker, dict[str, str]]) -> None:
    broker, pw = secured
    gateway = ("amb-gateway", pw["amb-gateway"])
    shared = "$share/gateway/trackers/+/position"
    assert await delivered(broker, gateway, shared, ("dev-a", pw["dev-a"]), device_position_topic("dev-a"))
    assert not await delivered(
        broker, gateway, shared, ("dev-a", pw["dev-a"]), device_position_topic("dev-b")
    )
    owntracks = "$share/gateway/owntracks/+/+"
    assert await delivered(
        broker, gateway, owntracks, ("nguyen.phone1", pw["nguyen.phone1"]), "owntracks/nguyen/phone1"
    )
    assert not await delivered(
        broker, gateway, owntracks, ("nguyen.phone1", pw["nguyen.phone1"]), "owntracks/tran/phone9"
    )


async def test_only_gateways_publish_committed_fixes(secured: tuple[Broker, dict[str, str]]) -> None:
    broker, pw = secured
    api = ("amb-api", pw["amb-api"])
    assert await delivered(broker, api, COMMITTED_FIXES, ("amb-gateway", pw["amb-gateway"]), COMMITTED_FIXES)
    assert not await delivered(broker, api, COMMITTED_FIXES, ("dev-a", pw["dev-a"]), COMMITTED_FIXES)
    assert not await delivered(broker, api, COMMITTED_FIXES, api, COMMITTED_FIXES)
    assert await delivered(
        broker, api, COMMITTED_EVENTS, api, COMMITTED_EVENTS
    )  # events raised by dispatchers
    # An API account cannot read device traffic either.
    assert not await delivered(
        broker, api, "trackers/+/position", ("dev-a", pw["dev-a"]), device_position_topic("dev-a")
    )


@pytest.mark.parametrize(("user", "password"), [(None, None), ("dev-a", "wrong"), ("nobody", "x")])
async def test_anonymous_and_wrong_credentials_are_refused(
    secured: tuple[Broker, dict[str, str]], user: str | None, password: str | None
) -> None:
    broker, _ = secured
    with pytest.raises(aiomqtt.MqttError):
        async with client(broker, user, password):
            pass


async def test_a_new_password_takes_effect_after_regeneration(
    secured: tuple[Broker, dict[str, str]], db: psycopg.Connection, tmp_path: Path
) -> None:
    broker, pw = secured
    new = issue_device_password(db, "dev-b")
    write_broker_files(db, tmp_path / "auth")
    broker.reload()
    await asyncio.sleep(0.3)
    async with client(broker, "dev-b", new):
        pass
    with pytest.raises(aiomqtt.MqttError):
        async with client(broker, "dev-b", pw["dev-b"]):
            pass


def test_hash_format_is_mosquittos() -> None:
    hashed = mosquitto_hash("secret", salt=b"0123456789ab")
    assert hashed.startswith("$7$101$MDEyMzQ1Njc4OWFi$") and len(hashed.split("$")[-1]) == 88


def test_owntracks_config_points_the_app_at_the_topic_its_acl_allows() -> None:
    from tracking.broker_auth import device_topics, owntracks_config

    config = owntracks_config("nguyen.phone1", "pw", "mqtt.example.vn", 8883, tls=True)
    assert config["username"] == "nguyen.phone1" and config["deviceId"] == "phone1"
    assert [config["pubTopicBase"]] == device_topics("nguyen.phone1", "owntracks")
    assert config["pubRetain"] is False and config["_type"] == "configuration"
