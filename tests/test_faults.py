"""The quick cases of the fault suite (`make faults` runs them all, longer and at 1,000 fixes/s):
trackers with their own credentials publish through the project's broker to a gateway storing in
the project's own PostgreSQL server, a fault strikes mid-stream, and every fix the broker
acknowledged must be stored exactly once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.faults import Suite, scenario
from tests.services import free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    s = Suite(tmp_path_factory.mktemp("faults"), devices=20, rate=100.0, scale=0.3, pg_port=free_port())
    with s.up():
        yield s


@pytest.mark.parametrize("name", ["gateway-kill", "broker-kill", "broker-restart", "pg-restart", "poison"])
async def test_every_acknowledged_fix_is_stored_once(suite: Suite, name: str) -> None:
    row = await suite.run(scenario(name))
    print(row.markdown())
    assert row.acked > 0 and row.acked >= row.published - row.unacked
    assert row.acked_missing == 0, row
    assert row.duplicates == 0, row
    assert "died" not in row.note, row
    if name == "poison":
        assert "decode_error" in row.note or "bad_json" in row.note, row.note
