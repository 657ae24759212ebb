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

# The local reference backend runs beside the bot for as long as the bot runs; both get the same
# development key unless GRIDBOT_API_KEY is already set.
run: model
	@mkdir -p var
	@port=$$($(PY) -m bot.devport --config $(CONFIG)) || exit 1; \
	export GRIDBOT_API_KEY="$${GRIDBOT_API_KEY:-local-dev-key}"; export GRIDBOT_API_KEYS="$$GRIDBOT_API_KEY"; \
	$(PY) -m backend --host 127.0.0.1 --port $$port --db var/backend.db > var/backend.log 2>&1 & backend=$$!; \
	trap 'kill $$backend 2>/dev/null' EXIT INT TERM; \
	echo "ledger (台账): http://127.0.0.1:$$port/   backend log: var/backend.log"; \
	$(PY) -m bot run --config $(CONFIG)

# The WeChat gateway that the tests start (Node.js 18+), exactly as package-lock.json pins it.
.PHONY: gateway-deps
gateway-deps:
	cd tests/gateway && npm ci --ignore-scripts --no-audit --no-fund

test: model gateway-deps
	$(PY) -m pytest -q

bench: model
	$(PY) -m bench

clean:
	rm -rf $(VENV) var reports
