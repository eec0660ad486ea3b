"""The project's message engine keeps its promise on its own: a device's QoS 1 publish is PUBACKed
only once a queue holds it durably, a message no queue takes is parked rather than dropped, and
the ingest queue survives a broker restart (the fault suite, `make faults`, does the same under
load with the whole pipeline)."""

from __future__ import annotations

import aiomqtt
import pytest

from tests.services import Broker, wait_for

pytestmark = pytest.mark.slow
BURST = 2_000


async def test_a_burst_is_queued_durably_and_survives_a_broker_restart(
    tmp_path_factory: pytest.TempPathFactory, unique: str
) -> None:
    broker = Broker(tmp_path_factory.mktemp("own-broker")).start()
    try:
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier=f"burst-{unique}") as device:
            device.pending_calls_threshold = 1000
            for i in range(BURST):
                await device.publish(f"trackers/burst-{unique}/position", str(i), qos=1)
        # Every publish was PUBACKed: the quorum queue holds them all (no gateway consumes here).
        assert broker.queue_depth() == BURST
        broker.stop()
        broker.start()
        wait_for(lambda: broker.queue_depth() == BURST, 30, f"{BURST} messages after the restart")
    finally:
        broker.stop()


async def test_a_message_no_queue_takes_is_parked_not_dropped(broker: Broker, unique: str) -> None:
    before = broker.queue_depth("amb.unrouted")
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier=f"stray-{unique}") as client:
        await client.publish(f"elsewhere/{unique}", b"x", qos=1)
    wait_for(lambda: broker.queue_depth("amb.unrouted") == before + 1, 10, "the stray message parked")
