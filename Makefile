# Lodestone's two commands: `make run` starts the daemon, `make check` runs every check.
# Both create the virtualenv in .venv and install what they need first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run check setup setup-dev lint typecheck test fuzz bench clean java-check js-check game-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

setup: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

setup-dev: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'

run: setup
	$(BIN)/lodestone serve $(ARGS)

lint: setup-dev
	$(BIN)/ruff check .

typecheck: setup-dev
	$(BIN)/mypy

test: setup-dev
	$(BIN)/pytest

check: lint typecheck test java-check js-check game-check

# The wire fuzzer (tests/adversarial/) with many more examples than `make test` runs, drawn afresh each time.
FUZZ_EXAMPLES ?= 5000
fuzz: setup-dev
	LODESTONE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/adversarial -p no:cacheprovider --timeout=3600

java-check: setup-dev
	cd bridge/java && mvn -q -B verify -Dlodestone.python=$(abspath $(BIN)/python)

# The TypeScript client: strict typecheck, build, unit tests, end-to-end tests against a real daemon and gateway,
# under Node and again under Bun (the lockfile's bun package). Its browser tests (through an import map, and
# bundled by the lockfile's esbuild) are in tests/js_client (pytest).
js-check: setup-dev
	cd bridge/js && npm ci --no-audit --no-fund && LODESTONE_BIN=$(abspath $(BIN)/lodestone) npm test

# The mineflayer plugin on real Minecraft traffic (flying-squid and mineflayer bots on 127.0.0.1).
game-check: js-check
	cd bridge/js/test/game && npm ci --no-audit --no-fund && LODESTONE_BIN=$(abspath $(BIN)/lodestone) npm test

bench: setup-dev
	$(BIN)/python bench/core.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis bridge/js/node_modules bridge/js/dist bridge/js/build bridge/js/test/game/node_modules
