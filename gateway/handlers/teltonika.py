"""Teltonika FM trackers (Codec 8, 8 Extended, 16) on one port: TCP sessions and UDP datagrams.

TCP: the IMEI handshake binds the connection to one registered device (reply 01, or 00 and close);
each AVL data packet is acknowledged with its record count once its fixes are committed. A packet
with a wrong CRC (strict mode) or an undecodable one gets no reply, so the device sends it again.
UDP: every datagram carries the IMEI; an unknown one gets no reply.
"""

from __future__ import annotations

import logging
from datetime import datetime

from gateway import metrics
from gateway.ingest import FixIngest
from gateway.protocols.teltonika import (
    DataPacket,
    Handshake,
    Ping,
    TeltonikaSplitter,
    decode_datagram,
    decode_frame,
    encode_imei_reply,
    encode_record_count,
    encode_udp_ack,
)
from gateway.protocols.teltonika_avl import AvlData, AvlError, decode_avl, fixes_of
from gateway.refusals import Reason, Refusal
from gateway.settings import GatewaySettings
from gateway.transports.datagram import Reply
from gateway.transports.stream import Connection, Splitter

log = logging.getLogger(__name__)

PROTOCOL = "teltonika"


def _count_garbage(skipped: int) -> None:
    metrics.GARBAGE_BYTES.labels(PROTOCOL).inc(skipped)


class TeltonikaSession:
    """One TCP connection: the IMEI handshake, then AVL data packets."""

    def __init__(self, ingest: FixIngest, settings: GatewaySettings, conn: Connection) -> None:
        self.splitter: Splitter = TeltonikaSplitter(on_skip=_count_garbage)
        self._ingest = ingest
        self._settings = settings
        self._conn = conn
        self._imei: str | None = None

    async def on_frame(self, frame: bytes) -> None:
        received_at = self._ingest.clock()
        message = decode_frame(frame)
        if isinstance(message, Refusal):
            self._ingest.refuse(message, PROTOCOL, str(self._conn))
        elif isinstance(message, Handshake):
            await self._handshake(message.imei)
        elif isinstance(message, DataPacket):
            await self._data(message, received_at)
        elif isinstance(message, Ping):
            pass  # keep-alive: no reply expected

    async def on_close(self) -> None:
        self._ingest.sessions.release(self._imei, self._conn)

    async def _handshake(self, imei: str) -> None:
        conn, ingest = self._conn, self._ingest
        device = await ingest.open_session(
            PROTOCOL, imei, self._imei, conn.peer, conn.address, lambda i: ingest.sessions.claim(i, conn)
        )
        if isinstance(device, str):
            if device != "identity change":
                conn.reply(encode_imei_reply(False))
            conn.close(device)
            return
        self._imei = conn.device_id = imei
        conn.reply(encode_imei_reply(True))  # at once: the device sends nothing before it

    async def _data(self, packet: DataPacket, received_at: datetime) -> None:
        conn, ingest = self._conn, self._ingest
        if self._imei is None:
            refusal = Refusal(Reason.UNKNOWN_DEVICE, "AVL data before the IMEI handshake")
            ingest.refuse(refusal, PROTOCOL, str(conn))
            conn.close("no handshake")
            return
        if not packet.checksum_ok:
            detail = f"CRC {packet.crc_sent:04x}, computed {packet.crc_computed:04x}"
            if not ingest.decode_despite_checksum(PROTOCOL, self._settings.checksum_mode, detail, str(conn)):
                return
        data = _decode(packet.avl, ingest, str(conn))
        if data is None:
            return
        device = await ingest.device(self._imei, PROTOCOL, conn.peer, conn.address)
        if device is None:  # disabled or removed since the handshake
            conn.close("device no longer registered")
            return
        reply = encode_record_count(data.count)
        # Records refused by the checks are acknowledged too, else the device resends them forever.
        await ingest.submit(PROTOCOL, device, fixes_of(data), lambda: conn.reply(reply), received_at)


class TeltonikaProtocol:
    """The TCP side: a StreamProtocol for StreamListener."""

    name = PROTOCOL

    def __init__(self, ingest: FixIngest, settings: GatewaySettings) -> None:
        self._ingest = ingest
        self._settings = settings

    def new_session(self, conn: Connection) -> TeltonikaSession:
        return TeltonikaSession(self._ingest, self._settings, conn)


class TeltonikaDatagramHandler:
    """The UDP side: a DatagramHandler for DatagramListener."""

    name = PROTOCOL

    def __init__(self, ingest: FixIngest, settings: GatewaySettings) -> None:
        self._ingest = ingest
        self._settings = settings

    async def on_datagram(self, data: bytes, peer: str, reply: Reply) -> None:
        ingest = self._ingest
        received_at = ingest.clock()
        packet = decode_datagram(data)
        if isinstance(packet, Refusal):
            ingest.refuse(packet, PROTOCOL, peer)
            return
        device = await ingest.device(packet.imei, PROTOCOL, peer, peer.rsplit(":", 1)[0])
        if device is None:  # no reply
            return
        avl = _decode(packet.avl, ingest, f"{packet.imei}@{peer}")
        if avl is None:
            return
        ack = encode_udp_ack(packet.packet_id, packet.avl_packet_id, avl.count)
        await ingest.submit(PROTOCOL, device, fixes_of(avl), lambda: reply(ack), received_at)


def _decode(avl: bytes, ingest: FixIngest, source: str) -> AvlData | None:
    try:
        return decode_avl(avl)
    except AvlError as exc:
        ingest.refuse(Refusal(Reason.BAD_FRAME, str(exc)), PROTOCOL, source)
        return None
