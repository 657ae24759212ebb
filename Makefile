# gridbot: `make run` starts the assistant, `make test` runs the tests. Both set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DATA := $(wildcard classifier/data/*.jsonl classifier/data/*.txt)
CONFIG ?= config.yaml

.PHONY: install model run test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The default model is built from the shipped corpus when none is live yet.
model: $(STAMP)
	@test -f models/CURRENT || $(PY) -m classifier train --out models

run: model
	$(PY) -m bot run --config $(CONFIG)

test: model
	$(PY) -m pytest -q

bench: model
	$(PY) -m bench

clean:
	rm -rf $(VENV) var reports
