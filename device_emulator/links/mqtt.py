"""MQTT device links: the project's JSON on trackers/<id>/position, and OwnTracks phones.

Each tracker is its own MQTT client (client id and username = its device id) publishing with
QoS 1; the gateway's PUBACK comes only after the fixes are committed, so a PUBACK acknowledges.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Self

import aiomqtt

from device_emulator.config import MqttEndpoint, device_position_topic
from device_emulator.fixes import encode_backlog, encode_fix
from device_emulator.links.base import LinkError
from device_emulator.outbox import MAX_FIXES_PER_MESSAGE, PendingBatch
from device_emulator.protocols import owntracks

# An OwnTracks backlog goes out as this many messages in flight at once (the app has no batch form).
OWNTRACKS_IN_FLIGHT = 50


class _MqttLink:
    """An aiomqtt client entered once per connection; subclasses say what a batch publishes."""

    max_fixes = 1

    def __init__(
        self, device_id: str, endpoint: MqttEndpoint, password: str | None, ack_timeout_s: float = 10.0
    ) -> None:
        self.device_id = device_id
        self._ack_timeout_s = ack_timeout_s
        self._client = aiomqtt.Client(
            endpoint.host,
            endpoint.port,
            identifier=device_id,
            # Without a password the device connects anonymously (a test broker only): a user name
            # alone would be refused as a failed login.
            username=device_id if password is not None else None,
            password=password,
            timeout=ack_timeout_s,
        )

    async def __aenter__(self) -> Self:
        try:
            await self._client.__aenter__()
        except aiomqtt.MqttError as exc:
            raise LinkError(f"MQTT connect: {exc}") from exc
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # A connection already gone fails to disconnect: what matters is the error that ended it.
        with contextlib.suppress(aiomqtt.MqttError):
            await self._client.__aexit__(exc_type, exc, traceback)

    async def _publish(self, topic: str, payload: bytes) -> None:
        """QoS 1: returns once the PUBACK arrived."""
        try:
            await self._client.publish(topic, payload, qos=1, timeout=self._ack_timeout_s)
        except aiomqtt.MqttError as exc:
            raise LinkError(f"MQTT publish: {exc}") from exc


class MqttJsonLink(_MqttLink):
    """The project's JSON: one object per live fix, a backlog as arrays (README "Tracker payload")."""

    max_fixes = MAX_FIXES_PER_MESSAGE

    async def send(self, batch: PendingBatch) -> bool:
        payload = encode_backlog(batch.fixes) if batch.backlog else encode_fix(batch.fixes[0])
        await self._publish(device_position_topic(self.device_id), payload)
        return True


class OwnTracksLink(_MqttLink):
    """An OwnTracks phone registered as `<user>.<device>`, publishing to owntracks/<user>/<device>;
    fixes it could not send at once go out as messages built offline (`conn: "o"`)."""

    max_fixes = OWNTRACKS_IN_FLIGHT

    def __init__(
        self, device_id: str, endpoint: MqttEndpoint, password: str | None, ack_timeout_s: float = 10.0
    ) -> None:
        super().__init__(device_id, endpoint, password, ack_timeout_s)
        user, _, device = device_id.partition(".")
        self.topic = owntracks.topic(user, device)
        self._tid = device[-2:]  # the tracker id shown on the app's map: the last two characters

    async def send(self, batch: PendingBatch) -> bool:
        payloads = [owntracks.location_payload(fix, self._tid, offline=batch.backlog) for fix in batch.fixes]
        results = await asyncio.gather(
            *(self._publish(self.topic, payload) for payload in payloads), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return True
