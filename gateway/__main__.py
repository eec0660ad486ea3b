"""`amb-gateway`: run the gateway process until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from gateway.app import run_gateway
from gateway.settings import GatewaySettings
from tracking.config import CommonSettings, DatabaseSettings, MqttSettings


async def _main() -> None:
    task = asyncio.create_task(
        run_gateway(GatewaySettings(), DatabaseSettings(), MqttSettings()), name="gateway"
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        logging.getLogger("gateway").info("stopped")


def main() -> None:
    common = CommonSettings()
    logging.basicConfig(
        level=common.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    asyncio.run(_main())


if __name__ == "__main__":
    main()
