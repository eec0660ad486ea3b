#!/usr/bin/env bash
# `make test`: the same set-up as `make run` (with the test database and Chromium), lint, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export AMB_ENV=test
export AMB_TEST_DATABASE_URL=${AMB_TEST_DATABASE_URL:-postgresql://amb:amb@127.0.0.1:${AMB_PG_PORT:-5488}/ambulance_test}
# Where the tests may act as a superuser (creating roles): the project server's socket.
AMB_TEST_PG_SOCKET=${AMB_TEST_PG_SOCKET:-$(bash scripts/postgres.sh socket)}
export AMB_TEST_PG_SOCKET
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports
exec .venv/bin/pytest "$@"
