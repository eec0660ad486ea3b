"""What every service process does the same way: logging set-up, and running until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from runtime.config import CommonSettings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging() -> CommonSettings:
    """Log to stderr at AMB_LOG_LEVEL; returns the common settings it read."""
    common = CommonSettings()
    logging.basicConfig(level=common.log_level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    return common


def run_until_signalled(main: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
    """Run `main()` until it ends or SIGINT/SIGTERM cancels it (its cleanup runs either way)."""

    async def supervised() -> None:
        task = asyncio.create_task(main(), name=name)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            logging.getLogger(name).info("stopped")

    asyncio.run(supervised())
