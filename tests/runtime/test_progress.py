"""Progress of long admin jobs: a bar redrawn in place on a terminal, a line per tenth elsewhere,
and the elapsed time of a step that cannot count its work."""

from __future__ import annotations

import asyncio
import io

from runtime.progress import Heartbeat, Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_in_a_log_prints_a_line_per_tenth() -> None:
    out = io.StringIO()
    progress = Progress("back-fill", 100, "days", stream=out)
    for _ in range(100):
        progress.advance(1, "x")
    progress.done("100 journeys")
    lines = out.getvalue().splitlines()
    assert len(lines) == 12 and lines[0].startswith("back-fill: 1/100 days") and "100%" in lines[-2]
    assert lines[-1].startswith("back-fill: done in") and lines[-1].endswith("(100 journeys)")
    assert "\r" not in out.getvalue()


def test_progress_on_a_terminal_redraws_one_bar() -> None:
    out = Terminal()
    progress = Progress("import-roads", 4, "steps", stream=out)
    for _ in range(4):
        progress.advance()
    progress.done()
    text = out.getvalue()
    assert text.count("\r\x1b[K") == 4 and "[" + "#" * 30 + "]" in text and text.count("\n") == 2


async def test_heartbeat_shows_the_elapsed_time_while_a_step_runs() -> None:
    out = io.StringIO()
    async with Heartbeat("learn-speeds", "learning", stream=out, every_s=0.05):
        await asyncio.sleep(0.18)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 3 and all(line.startswith("learn-speeds: learning… ") for line in lines[:-1])
    assert lines[-1].startswith("learn-speeds: learning: done in")
