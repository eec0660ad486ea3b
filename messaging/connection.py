"""An AMQP connection kept open: a session runs on a connected broker; a lost connection is
retried with jittered exponential backoff. Credentials are passed apart from the address, so no
password ever appears in a URL or a log line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable

import aio_pika
import aiormq
from aio_pika.abc import AbstractConnection

from runtime.config import AmqpEndpoint

Session = Callable[[AbstractConnection], Awaitable[None]]
# What a lost or refused connection raises (aiormq's errors, and the socket's).
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    aiormq.exceptions.AMQPError,
    aio_pika.exceptions.AMQPException,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)
# ...and what closing or publishing on an already-closed channel raises besides.
CLOSING_ERRORS: tuple[type[BaseException], ...] = (*CONNECTION_ERRORS, RuntimeError)


async def connect(endpoint: AmqpEndpoint, name: str) -> AbstractConnection:
    """One connection, named in the broker's management view (e.g. `amb-gateway@host:pid`)."""
    return await aio_pika.connect(
        host=endpoint.host,
        port=endpoint.port,
        login=endpoint.username,
        password=endpoint.password,
        virtualhost=endpoint.vhost,
        ssl=endpoint.tls,
        timeout=10,
        client_properties={"connection_name": name},
    )


async def until_closed(connection: AbstractConnection) -> None:
    """Return when the connection closes (raising what closed it, if anything did)."""
    closed: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

    def on_close(_sender: object, exc: BaseException | None = None) -> None:
        if not closed.done():
            closed.set_result(exc)

    connection.close_callbacks.add(on_close)
    if connection.is_closed:
        on_close(connection)
    exc = await closed
    raise ConnectionError(f"broker connection closed: {exc!r}")


async def keep_connected(
    endpoint: AmqpEndpoint, name: str, session: Session, log: logging.Logger, what: str
) -> None:
    """Run `session(connection)` for ever, reconnecting after every broker failure; returns only
    when the session returns (or is cancelled)."""
    delay = 0.5
    while True:
        connection: AbstractConnection | None = None
        try:
            connection = await connect(endpoint, name)
            delay = 0.5
            log.info("%s connected to %s:%d as %s", what, endpoint.host, endpoint.port, endpoint.username)
            await session(connection)
            return
        except CONNECTION_ERRORS as exc:
            wait = delay * random.uniform(0.5, 1.5)
            log.warning("%s lost the broker (%s); reconnecting in %.1f s", what, _describe(exc), wait)
            await asyncio.sleep(wait)
            delay = min(delay * 2, 15.0)
        finally:
            if connection is not None and not connection.is_closed:
                await asyncio.shield(_close_quietly(connection))


async def _close_quietly(connection: AbstractConnection) -> None:
    with contextlib.suppress(*CLOSING_ERRORS):
        await asyncio.wait_for(connection.close(), 5)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]
