# The two commands of the README, and a few for developers.
.PHONY: run test lint format bench bench-scale faults

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

HISTORY_DAYS ?= 365
bench-scale:  ## scale benchmarks (issue 14): alarms under ETA load, fan-out to 500 screens, a year of history
	bash scripts/setup.sh --test && .venv/bin/python bench/pipeline.py --scenario latency --scenario alarms --no-baseline \
		&& .venv/bin/python bench/fanout.py \
		&& .venv/bin/python bench/history.py --days $(HISTORY_DAYS) \
		&& .venv/bin/python bench/history_queries.py --retention

faults:  ## the fault suite: acknowledged fixes under kills, restarts, outages and poison (docs/reliability.md)
	bash scripts/setup.sh --test && .venv/bin/python bench/faults.py
