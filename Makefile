# The two README commands: `make run` (the tour) and `make test` (the whole suite).
# Both create .venv and install what they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup run test lint docs bench

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,torch]'
	touch $@

setup: $(VENV)/.installed

run: setup
	$(BIN)/leechkit info

lint: setup
	$(BIN)/ruff check .

docs: setup
	$(BIN)/mkdocs build --strict -q -d site

test: lint docs
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/bench_core.py
