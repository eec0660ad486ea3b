"""H02 trackers over TCP and UDP (one port): text sentences and binary `$` reports.

H02 has no login, no checksum and no authentication: every frame names its device, and that id
is all the gateway can check. Each frame's id is looked up; an unknown, disabled or other-protocol
id is refused without a reply (over TCP the connection is closed). A TCP connection is bound to
the first id it used, a datagram to the id of its first frame; a frame naming another id is
refused (and closes the TCP connection). Replies: V1 gets `*HQ,<id>,V4,V1,<UTC time>#` once its
fix is committed; NBR its V4 reply and HTBT/V0 their echo after the fixes received before them;
other reports (V2, V5, V19, binary...) get none, as with Traccar.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from gateway import metrics
from gateway.ingest import FixIngest
from gateway.protocols.h02 import (
    CellReport,
    H02Splitter,
    Heartbeat,
    Message,
    Other,
    Report,
    decode,
    encode_heartbeat_reply,
    encode_v4_reply,
)
from gateway.refusals import Reason, Refusal
from gateway.registry import DeviceEntry
from gateway.settings import GatewaySettings
from gateway.transports.datagram import Reply
from gateway.transports.stream import Connection, FrameError

log = logging.getLogger(__name__)

PROTOCOL = "h02"
# Command labels for the ignored-messages metric; anything else is counted as "other".
KNOWN_COMMANDS = frozenset({"LINK", "V3", "VP1", "SMS", "XT", "BASE", "BS", "X", "V4"})


def _count_garbage(skipped: int) -> None:
    metrics.GARBAGE_BYTES.labels(PROTOCOL).inc(skipped)


@dataclass(slots=True)
class _Link:
    """What a frame needs from its transport: where it came from, the id it is bound to, replies."""

    source: str
    reply: Reply
    close: Callable[[str], None] | None = None  # None for UDP
    device_id: str | None = None
    claim: Callable[[str], bool] | None = None  # TCP: bind the device to this session (gateway.sessions)

    @property
    def address(self) -> str:
        return self.source.rsplit(":", 1)[0]

    def drop(self, reason: str) -> None:
        if self.close is not None:
            self.close(reason)


class H02Frames:
    """Handles one decoded frame for either transport."""

    def __init__(self, ingest: FixIngest) -> None:
        self._ingest = ingest

    async def handle(self, frame: bytes, link: _Link, received_at: datetime) -> None:
        ingest = self._ingest
        message = decode(frame)
        if isinstance(message, Refusal):
            ingest.refuse(message, PROTOCOL, link.source)
            return
        device = await self._device(message, link)
        if device is None:
            return
        if isinstance(message, Report):
            await self._report(message, device, link, received_at)
        elif isinstance(message, Heartbeat):
            ingest.heard(device)
            reply = encode_heartbeat_reply(message.prefix)
            await ingest.after_commit(lambda: link.reply(reply), PROTOCOL)
        elif isinstance(message, CellReport):
            device_id = message.device_id
            await ingest.after_commit(
                lambda: link.reply(encode_v4_reply(device_id, "NBR", ingest.clock())), PROTOCOL
            )
        elif isinstance(message, Other):
            label = message.command if message.command in KNOWN_COMMANDS else "other"
            metrics.IGNORED_MESSAGES.labels(PROTOCOL, label).inc()
            log.debug("%s: H02 %s not decoded: %r", link.source, message.command, frame[:120])

    async def _device(self, message: Message, link: _Link) -> DeviceEntry | None:
        """The registered h02 device the frame names, if it may speak on this link."""
        ingest = self._ingest
        device_id = message.device_id
        if device_id is None:  # an X frame: nothing tells whose it is
            metrics.IGNORED_MESSAGES.labels(PROTOCOL, "X").inc()
            return None
        claim = link.claim if link.device_id is None else None
        device = await ingest.open_session(
            PROTOCOL, device_id, link.device_id, link.source, link.address, claim
        )
        if isinstance(device, str):
            link.drop(device)
            return None
        link.device_id = device_id
        return device

    async def _report(self, report: Report, device: DeviceEntry, link: _Link, received_at: datetime) -> None:
        ingest = self._ingest
        if report.command == "V1":
            device_id = report.device_id

            def ack() -> None:  # the time is the server's, when the fix is committed (as Traccar)
                link.reply(encode_v4_reply(device_id, "V1", ingest.clock()))

        else:

            def ack() -> None:
                pass

        await ingest.submit(PROTOCOL, device, [report.item], ack, received_at)


class H02Session:
    """One TCP connection."""

    def __init__(self, frames: H02Frames, ingest: FixIngest, conn: Connection, message_length: int | None):
        self.splitter = H02Splitter(message_length, on_skip=_count_garbage)
        self._frames = frames
        self._ingest = ingest
        self._conn = conn
        self._link = _Link(conn.peer, conn.reply, conn.close, claim=self._claim)

    def _claim(self, device_id: str) -> bool:
        return self._ingest.sessions.claim(device_id, self._conn)

    async def on_frame(self, frame: bytes) -> None:
        await self._frames.handle(frame, self._link, self._ingest.clock())
        self._conn.device_id = self._link.device_id

    async def on_close(self) -> None:
        self._ingest.sessions.release(self._link.device_id, self._conn)


class _H02Transport:
    """What the TCP and the UDP side of H02 hold alike."""

    name = PROTOCOL

    def __init__(
        self, ingest: FixIngest, settings: GatewaySettings, message_length: int | None = None
    ) -> None:
        self._ingest = ingest
        self._settings = settings
        self._frames = H02Frames(ingest)
        self._message_length = message_length


class H02Protocol(_H02Transport):
    """The TCP side: a StreamProtocol for StreamListener.

    `message_length` fixes the length of binary `$` frames (32 or 45...); None learns it per
    connection from the first one."""

    def new_session(self, conn: Connection) -> H02Session:
        return H02Session(self._frames, self._ingest, conn, self._message_length)


class H02DatagramHandler(_H02Transport):
    """The UDP side: a DatagramHandler for DatagramListener. A datagram holds one or more frames."""

    async def on_datagram(self, data: bytes, peer: str, reply: Reply) -> None:
        received_at = self._ingest.clock()
        splitter = H02Splitter(self._message_length, on_skip=_count_garbage)
        buffer = bytearray(data)
        try:
            frames = splitter.split(buffer)
        except FrameError as exc:
            metrics.FRAME_ERRORS.labels(PROTOCOL).inc()
            self._ingest.refuse(Refusal(Reason.BAD_FRAME, str(exc)), PROTOCOL, peer)
            return
        if buffer:  # an incomplete frame at the end of a datagram will never be completed
            _count_garbage(len(buffer))
        link = _Link(peer, reply)
        for frame in frames:
            await self._frames.handle(frame, link, received_at)
