# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser run test test-fast lint typecheck bench reliability clean

# Creates .venv once and reinstalls only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet -e '.[dev,airflow]'
	@touch $(STAMP)

install: $(STAMP)

# The report test opens the report in Debian's Chromium; installed once per machine (needs root or sudo).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		echo "installing Debian's chromium and chromium-driver for the report test"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null \
		|| { $(SUDO) apt-get update -q >/dev/null && \
		     $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null; }; }

run: $(STAMP)
	$(BIN)/journeys run

# The whole suite CI runs: lint, types, unit, integration (real broker, DuckDB, PostgreSQL), e2e,
# Airflow, on two workers (one test file each at a time), then the bounded fault matrix on its own:
# it restarts PostgreSQL and freezes brokers, which must not hit another worker's tests.
test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 --dist loadfile --ignore=tests/reliability
	$(BIN)/python -m pytest tests/reliability

# Without the slow volume and fault-injection runs.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow" --ignore=tests/reliability

# The fault matrix at full size (1M events, 10 SIGKILLs, a 20 s broker pause); `make test` runs it
# bounded. It restarts the local PostgreSQL cluster once (docs/reliability.md).
reliability: $(STAMP)
	JOURNEYS_RELIABILITY_SCALE=full $(BIN)/python -m pytest tests/reliability

bench: $(STAMP)
	$(BIN)/python -m bench.ingest_throughput
	$(BIN)/python -m bench.loader_memory
	$(BIN)/python -m bench.simulator_speed
	$(BIN)/python -m bench.dbt_incremental
	$(BIN)/python -m bench.run_wall_time

clean:
	rm -rf $(VENV) *.egg-info warehouse.duckdb warehouse.duckdb.wal
