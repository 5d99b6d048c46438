# Everything starts from a fresh clone: each target makes .venv and installs the pinned
# dependencies first (torch==2.13.0 is a CPU wheel; see README).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CLM := $(BIN)/clm
DEMO_CUSTOMERS ?= 2000
export HF_HUB_OFFLINE := 1
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test test-spark team-test check ui bench browser compiler clean

# A fresh clone's install, fast (docs/decisions/0015-install-with-current-pip-compiled-on-every-core.md):
# a current pip instead of the one a venv starts with, and the bytecode compiled afterwards on
# every core instead of one file at a time by pip, test folders aside (nothing imports them; a
# file only a newer Python compiles is skipped, as pip skips it). The same packages either way.
# -qq: errors only, not the build backend's notes on editable installs.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --disable-pip-version-check pip==26.3
	$(BIN)/pip install -qq --disable-pip-version-check --no-compile -e '.[test,spark,team]'
	$(BIN)/python -c 'import compileall, re; compileall.compile_dir("$(VENV)/lib", quiet=2, workers=0, rx=re.compile(r"/tests?/"))'
	touch $@

# The demo gives the transformer 2.5 minutes and the review classifier 30 s of training so
# that it ends within minutes;
# a real shop keeps the defaults (TrainConfig: 15 and 3 minutes on a CPU).
demo: $(VENV)/.installed
	$(CLM) generate --customers $(DEMO_CUSTOMERS) --seed 42 --out .clm/demo_shop
	$(CLM) ingest folder .clm/demo_shop
	echo '{"max_train_minutes": 2.5, "sentiment_train_minutes": 0.5}' > .clm/demo_train.json
	CLM_TRAIN_CONFIG=$(CURDIR)/.clm/demo_train.json $(CLM) run

test: $(VENV)/.installed
	$(BIN)/pytest -m "not spark and not team"

# The spark engine against DuckDB on the same shop (Spark local mode; Java 17 on PATH).
test-spark: $(VENV)/.installed
	$(BIN)/pytest -m spark

# docker-compose.yml's team deployment run for real, without Docker: a private PostgreSQL
# cluster (PostgreSQL 15's initdb and pg_ctl on PATH), Airflow's four services and MLflow's server.
team-test: $(VENV)/.installed
	$(BIN)/pytest -m team

# Fast feedback (under a minute): lint, then the tests that need no warehouse build, no
# Airflow run and no training.
check: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest -q -m "not e2e and not slow and not spark and not team"

# The DAGs start unpaused: the scheduler runs the latest day and week at once. After `make demo`
# its training keeps the demo's short budgets.
ui: $(VENV)/.installed
	$(if $(wildcard .clm/demo_train.json),CLM_TRAIN_CONFIG=$(CURDIR)/.clm/demo_train.json) $(CLM) ui

bench: $(VENV)/.installed
	$(BIN)/python bench/features.py
	$(BIN)/python bench/dbt_tasks.py
	$(BIN)/python bench/scoring.py
	$(BIN)/python bench/recommendations.py
	$(BIN)/python bench/engines.py
	$(BIN)/python bench/dashboard.py
	$(BIN)/python bench/serve.py

# tests/test_ui.py opens the UIs in Debian's chromium (skipped without it, and failed in CI,
# where CI=true). A fresh Debian machine has no package lists yet, so apt-get update runs first,
# and only when chromium is missing; sudo where make does not run as root.
SUDO = $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

# clm serve compiles its classifiers with torch.compile, which builds C++ kernels with g++ (without
# one they run as loaded, and tests/test_serve.py fails, as it checks they were compiled).
compiler:
	command -v g++ >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends g++; }

clean:
	rm -rf .clm
