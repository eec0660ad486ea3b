"""Teltonika FM framing over TCP and UDP: splitter, frame and datagram decoding, CRC, replies. Pure.

TCP (one device per connection):
    IMEI handshake   00 0F | 15 ASCII digits                 -> reply 01 (accepted) or 00 (refused)
    AVL data packet  00 00 00 00 | DATA_LEN(4) | CODEC .. N2 | CRC(4)  -> reply N1 as 4 bytes
    keep-alive       FF                                        -> no reply
UDP (connectionless, no CRC):
    LEN(2) | PACKET_ID(2) | 01 | AVL_PACKET_ID(1) | IMEI_LEN(2) | IMEI | CODEC .. N2
    -> reply 00 05 | PACKET_ID | 01 | AVL_PACKET_ID | N_ACCEPTED

DATA_LEN counts CODEC..N2; the CRC is CRC-16/ARC over the same bytes, in the low 2 bytes of its field.
Sources: Teltonika wiki "Teltonika Data Sending Protocols", Traccar TeltonikaFrameDecoder and
TeltonikaProtocolDecoder (PROTOCOLS.md section 2). The records themselves: teltonika_avl.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.protocols.teltonika_avl import CODEC_NAMES
from gateway.refusals import Reason, Refusal
from gateway.transports.stream import FrameError

PING = 0xFF
PREAMBLE = b"\x00\x00\x00\x00"
MIN_DATA_LENGTH = 3  # CODEC, N1, N2 and no record
# The vendor caps an AVL packet at 1280 bytes (512 on FMB6xx); anything far beyond is not Teltonika.
MAX_DATA_LENGTH = 16_384
MAX_IMEI_LENGTH = 20
KNOWN_CODECS = frozenset(CODEC_NAMES)
IMEI_ACCEPTED = b"\x01"
IMEI_REFUSED = b"\x00"
UDP_HEADER = 8  # LEN, PACKET_ID, packet type, AVL_PACKET_ID, IMEI_LEN


def crc16_arc(data: bytes) -> int:
    """CRC-16/ARC (Teltonika's "CRC-16/IBM"): poly 0x8005 reflected, init 0, no final xor."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


@dataclass(frozen=True, slots=True)
class Handshake:
    imei: str


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class DataPacket:
    """A TCP AVL data packet: `avl` is CODEC..N2 (decode with teltonika_avl.decode_avl)."""

    avl: bytes
    checksum_ok: bool
    crc_sent: int
    crc_computed: int


@dataclass(frozen=True, slots=True)
class Datagram:
    """A UDP packet: `avl` is CODEC..N2."""

    packet_id: int
    avl_packet_id: int
    imei: str
    avl: bytes


class TeltonikaSplitter:
    """Cuts a TCP stream into IMEI handshakes, AVL data packets and FF pings.

    Bytes that cannot start a frame are skipped up to the next 00 or FF and reported to `on_skip`
    (and summed in `skipped`). A data packet declaring more than `max_data_length` bytes where a
    frame should start raises FrameError, as no Teltonika device sends one; while resynchronising
    after garbage, such a candidate is only more garbage.
    """

    def __init__(
        self, on_skip: Callable[[int], None] | None = None, max_data_length: int = MAX_DATA_LENGTH
    ) -> None:
        self._on_skip = on_skip
        self._max_data_length = max_data_length
        self._resyncing = False
        self.skipped = 0

    def split(self, buffer: bytearray) -> list[bytes]:
        frames: list[bytes] = []
        while buffer:
            size = self._frame_size(buffer)
            if size is None or size > len(buffer):
                break  # a plausible frame, not complete yet
            if size == 0:
                self._resyncing = True
                self._skip(buffer)
                continue
            self._resyncing = False
            frames.append(bytes(buffer[:size]))
            del buffer[:size]
        return frames

    def _skip(self, buffer: bytearray) -> None:
        end = next((i for i in range(1, len(buffer)) if buffer[i] in (0x00, PING)), len(buffer))
        del buffer[:end]
        self.skipped += end
        if self._on_skip is not None:
            self._on_skip(end)

    def _frame_size(self, buf: bytearray) -> int | None:
        """The size of the frame starting the buffer; 0 if it cannot start a frame; None if more
        bytes are needed to tell."""
        if buf[0] == PING:
            return 1
        if buf[0] != 0x00:
            return 0
        if len(buf) < 2:
            return None
        if buf[1] != 0x00:  # 00 LL: IMEI handshake of LL digits
            length = buf[1]
            if length > MAX_IMEI_LENGTH or not _all_digits(buf[2 : 2 + length]):
                return 0
            return 2 + length
        if any(buf[2:4]):
            return 0
        if len(buf) < 8:
            return None
        data_length = int.from_bytes(buf[4:8], "big")
        if data_length > self._max_data_length:
            if self._resyncing:
                return 0
            raise FrameError(f"AVL data length {data_length} > {self._max_data_length}")
        if data_length < MIN_DATA_LENGTH:
            return 0
        if len(buf) < 9:
            return None
        if buf[8] not in KNOWN_CODECS:
            return 0
        return 12 + data_length


def _all_digits(data: bytes | bytearray) -> bool:
    return all(0x30 <= c <= 0x39 for c in data)


def decode_frame(frame: bytes) -> Handshake | Ping | DataPacket | Refusal:
    """One frame cut by TeltonikaSplitter."""
    if frame == bytes([PING]):
        return Ping()
    if len(frame) >= 2 and frame[0] == 0 and frame[1] != 0:
        imei = frame[2:]
        if len(imei) != frame[1] or not _all_digits(imei):
            return Refusal(Reason.BAD_FRAME, f"bad IMEI handshake {frame[:24].hex()}")
        return Handshake(imei.decode("ascii"))
    if len(frame) < 12 + MIN_DATA_LENGTH or frame[:4] != PREAMBLE:
        return Refusal(Reason.BAD_FRAME, f"not a Teltonika frame: {frame[:16].hex()}")
    data_length = int.from_bytes(frame[4:8], "big")
    if len(frame) != 12 + data_length:
        return Refusal(Reason.BAD_FRAME, f"data length {data_length} in a frame of {len(frame)} bytes")
    avl = frame[8 : 8 + data_length]
    crc_sent = int.from_bytes(frame[-4:], "big") & 0xFFFF  # the CRC sits in the low 2 bytes
    crc_computed = crc16_arc(avl)
    return DataPacket(avl, crc_sent == crc_computed, crc_sent, crc_computed)


def decode_datagram(data: bytes) -> Datagram | Refusal:
    """One UDP datagram."""
    if len(data) < UDP_HEADER + MIN_DATA_LENGTH:
        return Refusal(Reason.BAD_FRAME, f"UDP packet of {len(data)} bytes")
    length = int.from_bytes(data[0:2], "big")
    if length != len(data) - 2:
        return Refusal(Reason.BAD_FRAME, f"UDP length {length} in a datagram of {len(data)} bytes")
    packet_id = int.from_bytes(data[2:4], "big")
    avl_packet_id = data[5]
    imei_length = int.from_bytes(data[6:8], "big")
    imei = data[UDP_HEADER : UDP_HEADER + imei_length]
    if not 0 < imei_length <= MAX_IMEI_LENGTH or not _all_digits(imei):
        return Refusal(Reason.BAD_FRAME, f"bad IMEI in UDP packet {data[6:28].hex()}")
    avl = data[UDP_HEADER + imei_length :]
    if len(avl) < MIN_DATA_LENGTH:
        return Refusal(Reason.BAD_FRAME, f"UDP packet of {len(data)} bytes has no AVL data")
    return Datagram(packet_id, avl_packet_id, imei.decode("ascii"), avl)


def encode_imei_reply(accepted: bool) -> bytes:
    return IMEI_ACCEPTED if accepted else IMEI_REFUSED


def encode_record_count(count: int) -> bytes:
    """The TCP acknowledgement: how many records the server took, 4 bytes big-endian."""
    return count.to_bytes(4, "big")


def encode_udp_ack(packet_id: int, avl_packet_id: int, count: int) -> bytes:
    """The UDP acknowledgement, echoing the packet id as the vendor documents it (Traccar sends 0000)."""
    return b"\x00\x05" + packet_id.to_bytes(2, "big") + b"\x01" + bytes([avl_packet_id, count])
