# Every target does its own set-up: a fresh clone needs only `make run` or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run demo test lint bench bench-1m eval clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the project definition changes. Twice --quiet keeps
# pip to errors: this machine's index settings make it warn about every package.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --quiet -e '.[test]'
	touch $(STAMP)

# Byte-compile our own (editable) package as pip does for installed ones: this
# environment sets PYTHONDONTWRITEBYTECODE, so every `voice` start would
# otherwise recompile it. Quick when nothing changed.
install: $(STAMP)
	$(BIN)/python -m compileall -q aggregator

run: install
	mkdir -p db
	$(BIN)/voice run

demo: install
	$(BIN)/voice demo

test: install
	$(BIN)/ruff check aggregator tests plugins bench examples
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check aggregator tests plugins bench examples

bench: install
	$(BIN)/python bench/run.py
	$(BIN)/python bench/instructions.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/tagging.py
	$(BIN)/python bench/release.py

# Issue 13's maintenance lines at a million posts: `voice retag` and `voice
# dedupe --rebuild` as a user runs them. Not part of `make bench` (which
# prints this run's last figures): on 2 shared cores retag took 6 minutes
# and the rebuild about 20,000 posts a minute (bench/README.md), after a
# 30-minute build the first time (kept in bench/output/scale-1m/). Then the
# pages and researchers' JSON at a million posts, and search's SQL floor,
# on bench/load.py's million-post database (33 minutes to build once).
bench-1m: install
	$(BIN)/python bench/scale.py --posts 1000000 --maintenance-only
	$(BIN)/python bench/pages.py --posts 1000000
	$(BIN)/python bench/search_floor.py --posts 1000000

eval: install
	$(BIN)/python bench/eval.py

clean:
	rm -rf $(VENV) bench/.venv-reader bench/output .pytest_cache
