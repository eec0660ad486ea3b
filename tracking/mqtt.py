"""An MQTT client kept connected: the session runs inside a connected aiomqtt client, and a lost
connection is retried with jittered exponential backoff (aiomqtt's "reconnection" pattern)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

import aiomqtt

from tracking.config import MqttEndpoint

Session = Callable[[aiomqtt.Client], Awaitable[None]]


def client_for(endpoint: MqttEndpoint, client_id: str, *, clean_session: bool = True) -> aiomqtt.Client:
    return aiomqtt.Client(
        endpoint.host,
        endpoint.port,
        username=endpoint.username,
        password=endpoint.password,
        identifier=client_id,
        clean_session=clean_session,
        keepalive=30,
    )


async def keep_connected(
    endpoint: MqttEndpoint, client_id: str, session: Session, log: logging.Logger, what: str
) -> None:
    """Run `session(client)` for ever, reconnecting after every broker failure; never returns
    unless cancelled (or the session returns)."""
    delay = 0.5
    while True:
        try:
            async with client_for(endpoint, client_id) as client:
                delay = 0.5
                log.info("%s connected to %s:%d", what, endpoint.host, endpoint.port)
                await session(client)
                return
        except aiomqtt.MqttError as exc:
            wait = delay * random.uniform(0.5, 1.5)
            log.warning("%s lost the broker (%s); reconnecting in %.1f s", what, exc, wait)
            await asyncio.sleep(wait)
            delay = min(delay * 2, 30.0)
