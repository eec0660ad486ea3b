# The two commands of the README, and a few for developers.
.PHONY: run test lint format bench faults

run:  ## everything: services, schema, Da Nang data, gateway, API, emulator
	bash scripts/run.sh

test:  ## set-up, lint, the whole test suite
	bash scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy && .venv/bin/lint-imports

format:
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .

bench:  ## pipeline benchmark (see docs/benchmarks.md)
	bash scripts/setup.sh --test && .venv/bin/python bench/pipeline.py

faults:  ## the fault suite: acknowledged fixes under kills, restarts, outages and poison (docs/reliability.md)
	bash scripts/setup.sh --test && .venv/bin/python bench/faults.py
