"""A minimal MQTT 3.1.1 publisher for load generation: CONNECT, PUBLISH with QoS 1 and its PUBACK,
DISCONNECT, as an asyncio protocol.

Why not aiomqtt/paho: they cost ~100 us of CPU per QoS 1 publish (paho's packet objects, and a
writer registered and unregistered on the event loop per message); this costs a tenth of that. On a
two-core machine the load generator shares the cores with the system it measures, so every
microsecond it spends is taken from the broker, the gateway or PostgreSQL.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import cast

CONNECT, CONNACK, PUBLISH_QOS1, PUBACK, DISCONNECT = 0x10, 0x20, 0x32, 0x40, 0xE0
KEEPALIVE_S = 60  # the emulated devices publish far more often than this: no PINGREQ needed

OnAck = Callable[[], None]


class MqttWireError(ConnectionError):
    """The broker refused the connection or closed it."""


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, byte = divmod(n, 128)
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("!H", len(raw)) + raw


def connect_packet(client_id: str, username: str, password: str, keepalive_s: int = KEEPALIVE_S) -> bytes:
    flags = 0x80 | 0x40 | 0x02  # user name, password, clean session
    header = _utf8("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive_s)
    body = header + _utf8(client_id) + _utf8(username) + _utf8(password)
    return bytes([CONNECT]) + _remaining_length(len(body)) + body


def publish_packet(topic: bytes, packet_id: int, payload: bytes) -> bytes:
    body_length = 2 + len(topic) + 2 + len(payload)
    return b"".join(
        (
            bytes([PUBLISH_QOS1]),
            _remaining_length(body_length),
            _utf8(topic),
            struct.pack("!H", packet_id),
            payload,
        )
    )


class MqttPublisher(asyncio.Protocol):
    """One client connection; `publish` calls `on_ack` when the broker acknowledges the message."""

    def __init__(self, client_id: str, username: str, password: str) -> None:
        self._client_id = client_id
        self._credentials = (username, password)
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._connack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._in_flight: dict[int, OnAck] = {}
        self._all_acked = asyncio.Event()
        self._all_acked.set()
        self._next_id = 0
        self.lost: Exception | None = None

    @classmethod
    async def connect(
        cls, host: str, port: int, client_id: str, username: str, password: str, timeout_s: float = 30
    ) -> MqttPublisher:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout_s):
            _, protocol = await loop.create_connection(lambda: cls(client_id, username, password), host, port)
            await protocol._connack
        return protocol

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def all_acked(self) -> None:
        """Wait until every message published so far is acknowledged (or the connection is lost)."""
        await self._all_acked.wait()

    def publish(self, topic: bytes, payload: bytes, on_ack: OnAck) -> None:
        if self._transport is None or self.lost is not None:
            raise MqttWireError(f"{self._client_id}: not connected")
        self._next_id = self._next_id % 65535 + 1
        self._in_flight[self._next_id] = on_ack
        self._all_acked.clear()
        self._transport.write(publish_packet(topic, self._next_id, payload))

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(bytes([DISCONNECT, 0]))
            self._transport.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        self._transport.write(connect_packet(self._client_id, *self._credentials))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or MqttWireError(f"{self._client_id}: connection closed")
        self._all_acked.set()
        if not self._connack.done():
            self._connack.set_exception(self.lost)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while len(buffer) >= 2:
            length, shift, pos = 0, 0, 1
            while True:  # the remaining length: 1-4 bytes of 7 bits, least significant first
                if pos >= len(buffer):
                    return
                byte = buffer[pos]
                length |= (byte & 0x7F) << shift
                shift += 7
                pos += 1
                if not byte & 0x80:
                    break
            if len(buffer) < pos + length:
                return
            self._handle(buffer[0] & 0xF0, bytes(buffer[pos : pos + length]))
            del buffer[: pos + length]

    def _handle(self, kind: int, body: bytes) -> None:
        if kind == PUBACK:
            on_ack = self._in_flight.pop(struct.unpack("!H", body[:2])[0], None)
            if on_ack is not None:
                on_ack()
            if not self._in_flight:
                self._all_acked.set()
        elif kind == CONNACK and not self._connack.done():
            if body[1] == 0:
                self._connack.set_result(None)
            else:
                self._connack.set_exception(
                    MqttWireError(f"{self._client_id}: CONNACK return code {body[1]}")
                )
