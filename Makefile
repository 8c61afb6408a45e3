# The two README commands: `make run` (the tour: lattices, then a short CPU training run) and
# `make test` (the whole suite).
# Both create .venv and install what they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup run test lint docs bench

export NO_MKDOCS_2_WARNING := 1

# zpaq (Debian package) is the second classical-compressor reference beside xz; where it
# cannot be installed its tests are skipped with that reason.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,torch]'
	command -v zpaq >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		(apt-get install -y -q zpaq >/dev/null || (apt-get update -q >/dev/null && apt-get install -y -q zpaq >/dev/null)); } || \
		echo "zpaq not installed: its reference figures and tests are skipped"
	touch $@

setup: $(VENV)/.installed

run: setup
	$(BIN)/leechkit tour

lint: setup
	$(BIN)/ruff check .

docs: setup
	$(BIN)/mkdocs build --strict -q -d site

test: lint docs
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/bench_core.py
