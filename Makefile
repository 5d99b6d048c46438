# Everything starts from a fresh clone: each target makes .venv and installs the pinned
# dependencies first (torch==2.13.0 is a CPU wheel; see README).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CLM := $(BIN)/clm
DEMO_CUSTOMERS ?= 2000
export HF_HUB_OFFLINE := 1
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test check ui bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

# The demo gives the transformer a 3-minute training budget so that it ends within minutes;
# a real shop keeps the default (TrainConfig.max_train_minutes, 15 on a CPU).
demo: $(VENV)/.installed
	$(CLM) generate --customers $(DEMO_CUSTOMERS) --seed 42 --out .clm/demo_shop
	$(CLM) ingest folder .clm/demo_shop
	echo '{"max_train_minutes": 3}' > .clm/demo_train.json
	CLM_TRAIN_CONFIG=$(CURDIR)/.clm/demo_train.json $(CLM) run

test: $(VENV)/.installed
	$(BIN)/pytest

# Fast feedback (under a minute): lint, then the tests that need no warehouse build, no
# Airflow run and no training.
check: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/pytest -q -m "not e2e and not slow"

ui: $(VENV)/.installed
	$(CLM) ui

bench: $(VENV)/.installed
	$(BIN)/python bench/features.py

clean:
	rm -rf .clm
