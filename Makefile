# Everything starts from a fresh clone: each target makes .venv and installs the pinned
# dependencies first (torch==2.13.0 is a CPU wheel; see README).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CLM := $(BIN)/clm
DEMO_CUSTOMERS ?= 2000
export HF_HUB_OFFLINE := 1
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test ui bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(CLM) generate --customers $(DEMO_CUSTOMERS) --seed 42 --out .clm/demo_shop
	$(CLM) ingest folder .clm/demo_shop
	$(CLM) run

test: $(VENV)/.installed
	$(BIN)/pytest

ui: $(VENV)/.installed
	$(CLM) ui

bench: $(VENV)/.installed
	$(BIN)/python bench/features.py

clean:
	rm -rf .clm
