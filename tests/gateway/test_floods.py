"""Issue 10, item 6 (the device side), written as the attacks: anonymous floods of the device ports.

- sockets that never log in used to be kept 600 s: now closed after the login timeout, however
  they trickle bytes;
- TCP connections are capped per source address and per listener: the surplus is closed at once
  and counted;
- UDP garbage cannot fill memory: the datagram queue is bounded in count and bytes, drops counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
import pytest
from prometheus_client import REGISTRY

from device_emulator.protocols import gt06
from gateway.handlers.gt06 import Gt06Protocol
from gateway.settings import GatewaySettings
from gateway.transports.datagram import DatagramListener, DatagramQueue, Reply
from gateway.transports.stream import StreamLimits, StreamListener
from tests.gateway.harness import IngestHarness
from tests.services import free_port
from tracking.fleet import register_device, register_vehicle

IMEI = "359710049095095"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@asynccontextmanager
async def gt06_listener(database_url: str, limits: StreamLimits) -> AsyncIterator[int]:
    async with IngestHarness(database_url, flush_interval_ms=20) as harness:
        port = free_port()
        listener = StreamListener(Gt06Protocol(harness.ingest, harness.settings), "127.0.0.1", port, limits)
        task = asyncio.create_task(listener.serve())
        await asyncio.sleep(0.05)
        try:
            yield port
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            while await reader.read(100):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


def test_defaults_are_short_and_bounded() -> None:
    s = GatewaySettings()
    assert s.login_timeout_s == 15 and s.idle_timeout_s == 600
    assert s.max_connections_per_address < s.max_connections
    assert s.udp_queue_datagrams * 65_507 > s.udp_queue_bytes  # the bytes bound is the binding one


async def test_a_socket_that_never_logs_in_is_closed_after_the_login_timeout(database_url: str) -> None:
    limits = StreamLimits(idle_timeout_s=60, login_timeout_s=0.4)
    async with gt06_listener(database_url, limits) as port:
        before = sample("amb_gateway_connections_closed_total", protocol="gt06", reason="login timeout")
        started = time.monotonic()
        silent, _ = await asyncio.open_connection("127.0.0.1", port)
        trickle_reader, trickle = await asyncio.open_connection("127.0.0.1", port)

        async def drip() -> None:  # keeps the socket busy (no idle timeout), never logs in
            with contextlib.suppress(ConnectionError):
                for _ in range(40):
                    trickle.write(b"\x78")  # one byte of a frame start at a time
                    await asyncio.sleep(0.05)

        dripping = asyncio.create_task(drip())
        assert await closed_within(silent, 2) and await closed_within(trickle_reader, 2)
        assert time.monotonic() - started < 1.5
        dripping.cancel()
        after = sample("amb_gateway_connections_closed_total", protocol="gt06", reason="login timeout")
        # The trickle may instead be closed as a frame begun and never completed: both are bounded.
        assert after >= before + 1


async def test_a_logged_in_device_is_not_subject_to_the_login_timeout(
    db: psycopg.Connection, database_url: str
) -> None:
    register_vehicle(db, "43A30002", "115-F2")
    register_device(db, IMEI, "gt06", "43A30002")
    async with gt06_listener(database_url, StreamLimits(idle_timeout_s=60, login_timeout_s=0.3)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(gt06.login_packet(IMEI, 1))
        await reader.readexactly(10)
        assert not await closed_within(reader, 0.8)
        writer.close()


async def test_connections_are_capped_per_address_and_in_total(database_url: str) -> None:
    limits = StreamLimits(max_connections=4, max_connections_per_address=2, login_timeout_s=30)
    async with gt06_listener(database_url, limits) as port:
        per_address = sample("amb_gateway_connections_refused_total", protocol="gt06", reason="per_address")
        total = sample("amb_gateway_connections_refused_total", protocol="gt06", reason="total")
        refused = sample("amb_gateway_refused_total", reason="too_many_connections")
        kept = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        third, _ = await asyncio.open_connection("127.0.0.1", port)
        assert await closed_within(third, 2)
        assert (
            sample("amb_gateway_connections_refused_total", protocol="gt06", reason="per_address")
            == per_address + 1
        )
        # Another address still gets in, up to the listener's total.
        kept += [
            await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0)) for _ in range(2)
        ]
        for reader, _ in kept:
            assert not await closed_within(reader, 0.05)
        fifth, _ = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.3", 0))
        assert await closed_within(fifth, 2)
        assert sample("amb_gateway_connections_refused_total", protocol="gt06", reason="total") == total + 1
        assert sample("amb_gateway_refused_total", reason="too_many_connections") == refused + 2
        # A closed connection frees its place.
        kept[0][1].close()
        await asyncio.sleep(0.2)
        again, _ = await asyncio.open_connection("127.0.0.1", port)
        assert not await closed_within(again, 0.2)


def test_the_datagram_queue_is_bounded_in_count_and_bytes() -> None:
    queue = DatagramQueue(max_datagrams=3, max_bytes=1000)
    addr = ("127.0.0.1", 1)
    assert [queue.put(b"x" * 400, addr) for _ in range(3)] == [True, True, False]  # bytes
    assert queue.put(b"x" * 100, addr) and not queue.put(b"x", addr)  # count
    assert queue.bytes == 900


class _Stuck:
    """A handler that blocks on its first datagram, as a slow database would."""

    name = "teltonika"

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.handled = 0

    async def on_datagram(self, data: bytes, peer: str, reply: Reply) -> None:
        await self.release.wait()
        self.handled += 1


async def test_a_udp_flood_is_dropped_past_the_queue_bound_and_counted() -> None:
    handler = _Stuck()
    port = free_port()
    listener = DatagramListener(handler, "127.0.0.1", port, queue_size=10, queue_bytes=1_000_000)
    task = asyncio.create_task(listener.serve())
    await asyncio.sleep(0.05)
    before = sample("amb_gateway_datagrams_dropped_total", protocol="teltonika")
    refused = sample("amb_gateway_refused_total", reason="queue_full")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i in range(100):
            sock.sendto(b"garbage %d" % i, ("127.0.0.1", port))
    await asyncio.sleep(0.3)
    dropped = sample("amb_gateway_datagrams_dropped_total", protocol="teltonika") - before
    assert dropped == 100 - 10 - 1  # one in the stuck handler, ten waiting
    assert sample("amb_gateway_refused_total", reason="queue_full") - refused == dropped
    handler.release.set()
    await asyncio.sleep(0.1)
    assert handler.handled == 11
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize("size", [60_000])
async def test_big_datagrams_are_bounded_by_bytes(size: int) -> None:
    handler = _Stuck()
    port = free_port()
    listener = DatagramListener(handler, "127.0.0.1", port, queue_size=1000, queue_bytes=size * 4)
    task = asyncio.create_task(listener.serve())
    await asyncio.sleep(0.05)
    before = sample("amb_gateway_datagrams_dropped_total", protocol="teltonika")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
        for _ in range(20):
            sock.sendto(b"z" * size, ("127.0.0.1", port))
            await asyncio.sleep(0.005)
    await asyncio.sleep(0.3)
    assert sample("amb_gateway_datagrams_dropped_total", protocol="teltonika") - before == 20 - 4 - 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
