"""A TCP relay in front of the test database: a database outage a test can cause and end
without touching the server other tests use."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from tests.services import free_port


class Relay:
    """A TCP relay to PostgreSQL: `up()` forwards, `down()` refuses connections and cuts the open
    ones, `hang()` accepts connections and never answers (a database that stopped responding)."""

    def __init__(self, database_url: str) -> None:
        params = psycopg.conninfo.conninfo_to_dict(database_url)
        self._target = (str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))
        self.port = free_port()
        self.url = make_conninfo(database_url, host="127.0.0.1", port=self.port, connect_timeout=30)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._forward = True

    async def up(self) -> None:
        await self._serve(forward=True)

    async def hang(self) -> None:
        await self._serve(forward=False)

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in self._tasks:
            task.cancel()
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def _serve(self, forward: bool) -> None:
        await self.down()
        self._forward = forward
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        if not self._forward:
            return  # keep the socket open, answer nothing
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers.add(up_writer)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        dst.close()


@pytest.fixture
async def relay(database_url: str) -> AsyncIterator[Relay]:
    r = Relay(database_url)
    await r.up()
    yield r
    await r.down()
