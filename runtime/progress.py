"""Progress of a long admin job on the terminal: a bar redrawn in place on a terminal, a line
every tenth of the way otherwise (logs, CI), and a last line with the elapsed time (Progress); for
a step that cannot count its work, the elapsed time while it runs (Heartbeat)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import TextIO

BAR_WIDTH = 30


class Progress:
    """`Progress("back-fill", total, "days")`, then `advance(n, note)` as work gets done and
    `done(note)` at the end. Writes to stderr (stdout stays the command's result)."""

    def __init__(self, label: str, total: int, unit: str = "", stream: TextIO | None = None) -> None:
        self.label = label
        self.total = max(total, 0)
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.count = 0
        self.started = time.monotonic()
        self._tty = self.stream.isatty()
        self._last_tenth = -1

    def advance(self, n: int = 1, note: str = "") -> None:
        self.count = min(self.count + n, self.total) if self.total else self.count + n
        fraction = self.count / self.total if self.total else 1.0
        elapsed = time.monotonic() - self.started
        eta = elapsed / fraction - elapsed if fraction > 0 else 0.0
        head = f"{self.label}: {self.count}/{self.total} {self.unit}".rstrip()
        tail = f"{fraction:4.0%}  {elapsed:.0f} s, ~{eta:.0f} s left" + (f"  {note}" if note else "")
        if self._tty:
            filled = round(BAR_WIDTH * fraction)
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            self.stream.write(f"\r\x1b[K{head} [{bar}] {tail}")
            self.stream.flush()
            return
        tenth = int(fraction * 10)
        if tenth != self._last_tenth:
            self._last_tenth = tenth
            self.stream.write(f"{head}  {tail}\n")
            self.stream.flush()

    def done(self, note: str = "") -> None:
        elapsed = time.monotonic() - self.started
        end = "\n" if self._tty else ""
        self.stream.write(
            f"{end}{self.label}: done in {elapsed:.1f} s" + (f" ({note})" if note else "") + "\n"
        )
        self.stream.flush()


class Heartbeat:
    """For one long step that cannot count its work (a single SQL statement): says it is still
    working, with the elapsed time, every `every_s` (redrawn in place on a terminal).

    `async with Heartbeat("learn-speeds", "learning from the stored fixes"):` around the step."""

    def __init__(
        self, label: str, what: str, stream: TextIO | None = None, every_s: float | None = None
    ) -> None:
        self.label = label
        self.what = what
        self.stream = stream if stream is not None else sys.stderr
        self._tty = self.stream.isatty()
        self.every_s = every_s if every_s is not None else (1.0 if self._tty else 15.0)
        self.started = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def _say(self) -> None:
        elapsed = time.monotonic() - self.started
        line = f"{self.label}: {self.what}… {elapsed:.0f} s"
        self.stream.write(f"\r\x1b[K{line}" if self._tty else f"{line}\n")
        self.stream.flush()

    async def _beat(self) -> None:
        while True:
            self._say()
            await asyncio.sleep(self.every_s)

    async def __aenter__(self) -> Heartbeat:
        self.started = time.monotonic()
        self._task = asyncio.create_task(self._beat(), name=f"{self.label}-heartbeat")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        elapsed = time.monotonic() - self.started
        end = "\n" if self._tty else ""
        self.stream.write(f"{end}{self.label}: {self.what}: done in {elapsed:.1f} s\n")
        self.stream.flush()
