"""Broker accounts generated from the registry: a device speaks only for itself, services have
only what they use, and nothing without credentials gets in (attacks written as tests)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import aiomqtt
import psycopg
import pytest
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage

from admin.broker_auth import (
    apply_definitions,
    issue_device_password,
    rabbit_hash,
    render_definitions,
    set_service_password,
)
from messaging.device_topics import device_position_topic
from tests.services import Broker, wait_for
from tracking.fleet import register_device, register_vehicle

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def secured_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    broker = Broker(tmp_path_factory.mktemp("secured"), anonymous=False).start()
    yield broker
    broker.stop()


@pytest.fixture
def secured(db: psycopg.Connection, secured_broker: Broker) -> tuple[Broker, dict[str, str]]:
    register_vehicle(db, "43A10001", "115-T1")
    register_device(db, "dev-a", "mqtt_json", "43A10001")
    register_device(db, "dev-b", "mqtt_json")
    register_device(db, "dev.c", "mqtt_json")
    register_device(db, "nguyen.phone1", "owntracks")
    passwords = {d: issue_device_password(db, d) for d in ("dev-a", "dev-b", "dev.c", "nguyen.phone1")}
    passwords["amb-gateway"] = set_service_password(db, "amb-gateway", "gateway")
    passwords["amb-api"] = set_service_password(db, "amb-api", "api")
    apply_definitions(secured_broker.management(), render_definitions(db))
    secured_broker.purge()
    return secured_broker, passwords


def client(broker: Broker, user: str | None, password: str | None, **kw: object) -> aiomqtt.Client:
    return aiomqtt.Client("127.0.0.1", broker.port, username=user, password=password, **kw)  # type: ignore[arg-type]


async def accepted(broker: Broker, user: str, password: str, topic: str) -> bool:
    """Whether the broker PUBACKs `user`'s QoS 1 publish on `topic` and queues it for the gateways
    (a refused publish closes the device's connection and is never queued)."""
    before = broker.queue_depth()
    try:
        async with asyncio.timeout(3), client(broker, user, password) as device:
            await device.publish(topic, b"{}", qos=1)
    except (aiomqtt.MqttError, TimeoutError):
        await asyncio.sleep(0.2)
        assert broker.queue_depth() == before
        return False
    wait_for(lambda: broker.queue_depth() == before + 1, 5, "the message queued")
    return True


async def ignore(message: AbstractIncomingMessage) -> None:
    pass


async def amqp(broker: Broker, user: str, password: str) -> AbstractConnection:
    return await aio_pika.connect(host="127.0.0.1", port=broker.amqp_port, login=user, password=password)


async def test_each_device_publishes_only_its_own_topic(secured: tuple[Broker, dict[str, str]]) -> None:
    broker, pw = secured
    assert await accepted(broker, "dev-a", pw["dev-a"], device_position_topic("dev-a"))
    assert not await accepted(broker, "dev-a", pw["dev-a"], device_position_topic("dev-b"))
    assert not await accepted(broker, "dev-a", pw["dev-a"], "trackers/dev-b/position/extra")
    # A dot in an id is kept: dev.c is not dev/c, and nobody else may speak for it.
    assert await accepted(broker, "dev.c", pw["dev.c"], device_position_topic("dev.c"))
    assert not await accepted(broker, "dev-a", pw["dev-a"], device_position_topic("dev.c"))
    assert await accepted(broker, "nguyen.phone1", pw["nguyen.phone1"], "owntracks/nguyen/phone1")
    assert not await accepted(broker, "nguyen.phone1", pw["nguyen.phone1"], "owntracks/tran/phone9")


async def test_a_device_cannot_forge_another_over_amqp(secured: tuple[Broker, dict[str, str]]) -> None:
    """Topic permissions hold on the AMQP port too."""
    broker, pw = secured
    connection = await amqp(broker, "dev-a", pw["dev-a"])
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange("amq.topic", ensure=False)
        with pytest.raises(aio_pika.exceptions.ChannelClosed):
            await exchange.publish(aio_pika.Message(b"{}"), routing_key="trackers.dev-b.position")
            await channel.get_queue("amb.ingest", ensure=True)  # the channel is closed by now
    assert broker.queue_depth() == 0


async def test_services_have_only_what_they_use(secured: tuple[Broker, dict[str, str]]) -> None:
    broker, pw = secured
    # The API cannot read the device queue, nor publish as a device.
    api = await amqp(broker, "amb-api", pw["amb-api"])
    async with api:
        with pytest.raises(aio_pika.exceptions.ChannelClosed):
            channel = await api.channel()
            queue = await channel.get_queue("amb.ingest", ensure=True)
            await queue.consume(ignore)
    # The gateway reads it, but cannot publish device traffic.
    gw = await amqp(broker, "amb-gateway", pw["amb-gateway"])
    async with gw:
        channel = await gw.channel()
        queue = await channel.get_queue("amb.ingest", ensure=True)
        await queue.consume(ignore, no_ack=False)
        with pytest.raises(aio_pika.exceptions.ChannelClosed):
            other = await gw.channel()
            exchange = await other.get_exchange("amq.topic", ensure=False)
            await exchange.publish(aio_pika.Message(b"{}"), routing_key="trackers.dev-a.position")
            await other.get_queue("amb.ingest", ensure=True)


@pytest.mark.parametrize(("user", "password"), [(None, None), ("dev-a", "wrong"), ("nobody", "x")])
async def test_anonymous_and_wrong_credentials_are_refused(
    secured: tuple[Broker, dict[str, str]], user: str | None, password: str | None
) -> None:
    broker, _ = secured
    with pytest.raises(aiomqtt.MqttError):
        async with client(broker, user, password):
            pass


async def test_a_device_cannot_take_over_a_service(secured: tuple[Broker, dict[str, str]]) -> None:
    """Services are AMQP consumers: there is no MQTT client id or session of theirs to steal."""
    broker, pw = secured
    gw = await amqp(broker, "amb-gateway", pw["amb-gateway"])
    async with gw:
        channel = await gw.channel()
        queue = await channel.get_queue("amb.ingest", ensure=True)
        got: list[bytes] = []

        async def keep(message: AbstractIncomingMessage) -> None:
            got.append(message.body)

        await queue.consume(keep, no_ack=True)
        for client_id in ("amb-gateway-1", "amb-gateway", "amb-api"):
            async with client(broker, "dev-a", pw["dev-a"], identifier=client_id, clean_session=True) as dev:
                await dev.publish(device_position_topic("dev-a"), client_id.encode(), qos=1)
        wait_for(lambda: len(got) == 3, 5, "the gateway still consuming")
        assert not gw.is_closed


async def test_a_new_password_takes_effect_after_sync(
    secured: tuple[Broker, dict[str, str]], db: psycopg.Connection
) -> None:
    broker, pw = secured
    new = issue_device_password(db, "dev-b")
    apply_definitions(broker.management(), render_definitions(db))
    async with client(broker, "dev-b", new):
        pass
    with pytest.raises(aiomqtt.MqttError):
        async with client(broker, "dev-b", pw["dev-b"]):
            pass


async def test_a_disabled_device_is_removed_from_the_broker(
    secured: tuple[Broker, dict[str, str]], db: psycopg.Connection
) -> None:
    broker, pw = secured
    db.execute("UPDATE devices SET enabled = false WHERE id = 'dev-b'")
    _, removed = apply_definitions(broker.management(), render_definitions(db))
    assert removed == 1
    with pytest.raises(aiomqtt.MqttError):
        async with client(broker, "dev-b", pw["dev-b"]):
            pass


def test_hash_format_is_rabbitmqs(tmp_path: Path) -> None:
    hashed = rabbit_hash("secret", salt=b"\x01\x02\x03\x04")
    raw = base64.b64decode(hashed)
    assert raw[:4] == b"\x01\x02\x03\x04" and raw[4:] == hashlib.sha256(b"\x01\x02\x03\x04secret").digest()


def test_owntracks_config_points_the_app_at_the_topic_its_acl_allows() -> None:
    from admin.broker_auth import device_topics, owntracks_config

    config = owntracks_config("nguyen.phone1", "pw", "mqtt.example.vn", 8883, tls=True)
    assert config["username"] == "nguyen.phone1" and config["deviceId"] == "phone1"
    assert [config["pubTopicBase"]] == device_topics("nguyen.phone1", "owntracks")
    assert config["pubRetain"] is False and config["_type"] == "configuration"
