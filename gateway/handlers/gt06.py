"""GT06 (Concox/Jimi) trackers over TCP: login, then locations, heartbeats and time requests.

The login (IMEI) binds the connection to one registered gt06 device and is acknowledged at once,
as the device sends nothing before that acknowledgement; an unknown, disabled or other-protocol
IMEI, one outside the device's allowed networks, or one that already has a live session from
another address (gateway.sessions) gets no reply and the connection is closed. A frame before a successful login is refused
and closes the connection. Locations and alarms are acknowledged (5-byte echo) only once their
fix is committed; heartbeats and time requests after the fixes received before them. A heartbeat
carrying an alarm is stored as a fix without GPS at the device's last known position
(`position_from_last_known`), so the alarm is raised like any other. With
`checksum_mode=strict` a frame with a wrong CRC is refused without a reply (the device sends it
again); `lenient` counts it and decodes it anyway. A login that states a time zone (extended
login) makes the GPS times of the connection local to it, as in Traccar; other devices are
expected to send UTC (Concox `GMT,E,0,0#`).
"""

from __future__ import annotations

import logging
from datetime import UTC

from gateway import metrics
from gateway.ingest import FixIngest
from gateway.protocols.gt06 import (
    COMMAND_TYPES,
    Gt06Frame,
    Gt06Splitter,
    Location,
    Login,
    Status,
    TimeRequest,
    Unsupported,
    decode,
    encode_reply,
    encode_time_reply,
    parse_frame,
)
from gateway.refusals import Reason, Refusal
from gateway.settings import GatewaySettings
from gateway.transports.stream import Connection

log = logging.getLogger(__name__)

PROTOCOL = "gt06"


def _count_garbage(skipped: int) -> None:
    metrics.GARBAGE_BYTES.labels(PROTOCOL).inc(skipped)


class Gt06Session:
    """One TCP connection of one GT06 device."""

    def __init__(self, ingest: FixIngest, settings: GatewaySettings, conn: Connection) -> None:
        self.splitter = Gt06Splitter(on_skip=_count_garbage)
        self._ingest = ingest
        self._settings = settings
        self._conn = conn
        self._imei: str | None = None
        self._utc_offset_min = 0

    async def on_frame(self, data: bytes) -> None:
        received_at = self._ingest.clock()
        conn, ingest = self._conn, self._ingest
        frame = parse_frame(data)
        if isinstance(frame, Refusal):
            self._refuse(frame)
            return
        if not frame.checksum_ok:
            detail = f"0x{frame.protocol:02x} CRC {frame.crc_sent:04x}, computed {frame.crc_computed:04x}"
            if not ingest.decode_despite_checksum(PROTOCOL, self._settings.checksum_mode, detail, str(conn)):
                if self._imei is None:
                    conn.close("no login")
                return
        message = decode(frame, self._utc_offset_min)
        if isinstance(message, Login):
            await self._login(message, frame)
            return
        if self._imei is None:
            self._refuse(Refusal(Reason.UNKNOWN_DEVICE, f"0x{frame.protocol:02x} before login"))
            return
        if isinstance(message, Refusal):
            self._refuse(message)
            return
        device = await ingest.device(self._imei, PROTOCOL, conn.peer, conn.address)
        if device is None:  # disabled or removed since the login
            conn.close("device no longer registered")
            return
        ack = encode_reply(frame.protocol, frame.serial, extended=frame.extended)
        if isinstance(message, Location):
            # A fix refused by the checks is acknowledged too, else the device resends it forever.
            await ingest.submit(PROTOCOL, device, [message.item], lambda: conn.reply(ack), received_at)
        elif isinstance(message, Status):
            self._log_status(message)
            if isinstance(message.attributes.get("alarm"), str):  # raised at the last known position
                await ingest.submit_alarm(
                    PROTOCOL, device, message.attributes, lambda: conn.reply(ack), received_at
                )
            else:
                ingest.heard(device)
                await ingest.after_commit(lambda: conn.reply(ack), PROTOCOL)
        elif isinstance(message, TimeRequest):
            await ingest.after_commit(
                lambda: conn.reply(encode_time_reply(frame.serial, ingest.clock().astimezone(UTC))), PROTOCOL
            )
        elif isinstance(message, Unsupported):
            await self._unsupported(frame, ack)

    async def on_close(self) -> None:
        self._ingest.sessions.release(self._imei, self._conn)

    def _refuse(self, refusal: Refusal) -> None:
        """Count and log a refused frame; before a login, the connection is closed too."""
        self._ingest.refuse(refusal, PROTOCOL, str(self._conn))
        if self._imei is None:
            self._conn.close("no login")

    async def _login(self, login: Login, frame: Gt06Frame) -> None:
        conn, ingest = self._conn, self._ingest
        device = await ingest.open_session(
            PROTOCOL,
            login.imei,
            self._imei,
            conn.peer,
            conn.address,
            lambda i: ingest.sessions.claim(i, conn),
        )
        if isinstance(device, str):  # GT06 has no negative reply
            conn.close(device)
            return
        self._imei = conn.device_id = login.imei
        self._utc_offset_min = login.utc_offset_min or 0
        conn.reply(encode_reply(frame.protocol, frame.serial, extended=frame.extended))

    def _log_status(self, status: Status) -> None:
        alarm = status.attributes.get("alarm")
        if alarm is not None:
            log.warning("%s: heartbeat alarm %s %s", self._conn, alarm, status.attributes)
        else:
            log.debug("%s: heartbeat %s", self._conn, status.attributes)

    async def _unsupported(self, frame: Gt06Frame, ack: bytes) -> None:
        metrics.IGNORED_MESSAGES.labels(PROTOCOL, f"0x{frame.protocol:02x}").inc()
        log.debug("%s: message type 0x%02x not decoded: %s", self._conn, frame.protocol, frame.info.hex())
        if not frame.extended and frame.protocol not in COMMAND_TYPES:  # as Traccar: echo it
            conn = self._conn
            await self._ingest.after_commit(lambda: conn.reply(ack), PROTOCOL)


class Gt06Protocol:
    """A StreamProtocol for StreamListener (GT06 is TCP only)."""

    name = PROTOCOL

    def __init__(self, ingest: FixIngest, settings: GatewaySettings) -> None:
        self._ingest = ingest
        self._settings = settings

    def new_session(self, conn: Connection) -> Gt06Session:
        return Gt06Session(self._ingest, self._settings, conn)
