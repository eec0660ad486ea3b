"""The TCP listener's guarantees, with a toy line protocol: replies after commit, and limits that
close a misbehaving connection without touching the others."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest

from gateway.decoded import FixFields
from gateway.transports.stream import Connection, FrameError, StreamLimits, StreamListener
from tests.gateway.harness import IngestHarness, recent_utc
from tests.services import free_port


class LineSplitter:
    def split(self, buffer: bytearray) -> list[bytes]:
        frames = []
        while (end := buffer.find(b"\n")) >= 0:
            frames.append(bytes(buffer[:end]))
            del buffer[: end + 1]
        if len(buffer) > 100:
            raise FrameError("line longer than 100 bytes")
        return frames


class ToySession:
    """LOGIN <device> -> OK | NO;  FIX <lat> <lon> -> ACK (after commit);  BOOM -> a bug."""

    def __init__(self, protocol: ToyProtocol, conn: Connection) -> None:
        self.splitter = LineSplitter()
        self._ingest = protocol.harness.ingest
        self._conn = conn
        self._device = None

    async def on_frame(self, frame: bytes) -> None:
        word, *args = frame.decode().split()
        if word == "LOGIN":
            # The toy speaks for devices registered as mqtt_json (the `vehicle` fixture's).
            self._device = await self._ingest.device(args[0], "mqtt_json", self._conn.peer)
            if self._device is not None:
                self._conn.device_id = args[0]
            self._conn.reply(b"OK\n" if self._device else b"NO\n")
        elif word == "FIX":
            fix = FixFields(recent_utc(), float(args[0]), float(args[1]))
            await self._ingest.submit("toy", self._device, [fix], lambda: self._conn.reply(b"ACK\n"))
        elif word == "BOOM":
            raise RuntimeError("a bug in a session")

    async def on_close(self) -> None:
        pass


class ToyProtocol:
    name = "toy"

    def __init__(self, harness: IngestHarness) -> None:
        self.harness = harness

    def new_session(self, conn: Connection) -> ToySession:
        return ToySession(self, conn)


@pytest.fixture
async def toy(db: psycopg.Connection, database_url: str) -> AsyncIterator[tuple[IngestHarness, int]]:
    async with IngestHarness(database_url, flush_interval_ms=200) as harness:
        port = free_port()
        limits = StreamLimits(idle_timeout_s=5, frame_timeout_s=0.5, frames_per_second=20, frame_burst=20)
        task = asyncio.create_task(StreamListener(ToyProtocol(harness), "127.0.0.1", port, limits).serve())
        await asyncio.sleep(0.1)
        yield harness, port
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def open_(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def closed(reader: asyncio.StreamReader) -> bool:
    """True once the server has closed the connection (whatever it said before)."""
    async with asyncio.timeout(3):
        await reader.read()
    return reader.at_eof()


async def test_fix_is_acknowledged_after_its_commit(
    toy: tuple[IngestHarness, int], vehicle: tuple[int, str]
) -> None:
    harness, port = toy
    _, device = vehicle
    reader, writer = await open_(port)
    writer.write(f"LOGIN {device}\nFIX 16.05 108.2\n".encode())
    assert await reader.readline() == b"OK\n"
    # The batch interval is 200 ms: nothing is acknowledged before the commit.
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await reader.readline()
    assert await reader.readline() == b"ACK\n"
    assert len(harness.stored(device)) == 1
    writer.close()


async def test_unknown_device_is_refused(toy: tuple[IngestHarness, int]) -> None:
    _, port = toy
    reader, writer = await open_(port)
    writer.write(b"LOGIN nobody\n")
    assert await reader.readline() == b"NO\n"
    writer.close()


async def test_a_trickling_client_is_closed_and_others_are_served(
    toy: tuple[IngestHarness, int], vehicle: tuple[int, str]
) -> None:
    _, port = toy
    _, device = vehicle
    slow_reader, slow = await open_(port)
    for byte in b"LOGIN":
        slow.write(bytes([byte]))
        await asyncio.sleep(0.15)
    reader, writer = await open_(port)
    writer.write(f"LOGIN {device}\n".encode())
    assert await reader.readline() == b"OK\n"
    assert await closed(slow_reader)  # 0.5 s to finish a frame
    writer.close()


async def test_absurd_frame_and_rate_flood_close_the_connection(toy: tuple[IngestHarness, int]) -> None:
    _, port = toy
    reader, writer = await open_(port)
    writer.write(b"X" * 500)
    assert await closed(reader)
    reader, writer = await open_(port)
    writer.write(b"LOGIN nobody\n" * 200)  # 200 frames at once; the burst is 20
    assert await closed(reader)


async def test_a_session_bug_closes_only_its_connection(
    toy: tuple[IngestHarness, int], vehicle: tuple[int, str]
) -> None:
    _, port = toy
    _, device = vehicle
    bad_reader, bad = await open_(port)
    reader, writer = await open_(port)
    bad.write(b"BOOM\n")
    assert await closed(bad_reader)
    writer.write(f"LOGIN {device}\n".encode())
    assert await reader.readline() == b"OK\n"
    writer.close()


async def test_garbage_never_crashes_the_listener(
    toy: tuple[IngestHarness, int], vehicle: tuple[int, str]
) -> None:
    _, port = toy
    _, device = vehicle
    for payload in (b"\x00\xff" * 40 + b"\n", b"\n\n\n", bytes(range(256))):
        _, w = await open_(port)
        w.write(payload)
        await w.drain()
        w.close()
    reader, writer = await open_(port)
    writer.write(f"LOGIN {device}\n".encode())
    assert await reader.readline() == b"OK\n"
    writer.close()
