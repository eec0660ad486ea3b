"""The standing check: schemathesis generates requests from the running API's own OpenAPI document,
for every operation, as each role (an API key per role); no answer may be a server error or break
the documented schema. Bounded: a few examples per operation, positive and negative (invalid) data, a fixed seed (the same
requests each run: a failure reproduces). Findings so far: subnormal coordinates (5e-324) made
PostGIS underflow (500), and domain 422s broke the documented validation-error schema.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.api.conftest import ROLES

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 10  # per role and generation mode: ~60 operations x 4 roles x 2 modes
# Operations that take a second or more per answer get fewer, so the check stays within its time:
# the monthly PDF (matplotlib draws 4 pages; rendered and looked at in tests/analytics/test_api.py),
# the stations' reach (one pgRouting search up to the asked minutes) and the analytics summary.
FEWER_EXAMPLES = {
    "/api/v1/analytics/report.pdf": 1,
    "/api/v1/analytics/reach": 4,
    "/api/v1/analytics/summary": 8,
}
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def fuzz_operation(operation: Any, base_url: str, headers: dict[str, str], mode: GenerationMode) -> list[str]:
    """What went wrong for one operation (empty: nothing)."""
    failures: list[str] = []

    @settings(
        max_examples=FEWER_EXAMPLES.get(operation.path, EXAMPLES_PER_OPERATION),
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=20)
        try:
            case.validate_response(response, checks=CHECKS)
        except BaseException as exc:  # schemathesis raises failure groups: one line per request
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            failures.append(
                f"{case.method} {case.formatted_path} -> {response.status_code}: {first}"
                f" {response.text[:200]!r}"
            )

    with contextlib.suppress(Unsatisfiable):  # nothing to make invalid (no parameters, no body)
        run()
    return failures


@pytest.mark.parametrize("role", ROLES)
def test_no_server_error_and_no_schema_violation(api_server: str, keys: dict[str, str], role: str) -> None:
    started = time.monotonic()
    schema = schemathesis.openapi.from_url(f"{api_server}/openapi.json")
    headers = {"Authorization": f"Bearer {keys[role]}"}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += fuzz_operation(operation, api_server, headers, mode)
    assert operations >= 30
    assert failures == [], "\n".join(sorted(set(failures))[:40])
    assert time.monotonic() - started < 60, "the fuzz check takes too long for the suite"
