"""`amb-gateway`: run the gateway process until SIGINT or SIGTERM."""

from __future__ import annotations

from gateway.app import run_gateway
from gateway.settings import GatewaySettings
from runtime.config import BrokerSettings, DatabaseSettings
from runtime.process import configure_logging, run_until_signalled


def main() -> None:
    configure_logging()
    run_until_signalled(
        lambda: run_gateway(GatewaySettings(), DatabaseSettings(), BrokerSettings()), "gateway"
    )


if __name__ == "__main__":
    main()
