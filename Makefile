# Everything bootstraps itself: a fresh clone needs only `make run` or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench i18n migrate clean trials

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m bot run

migrate: $(STAMP)
	$(BIN)/python -m bot migrate

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# Long trials at full size (tests/trials/, marker `trial`); `make test` runs a short sample of each.
trials: $(STAMP)
	TRIALS_FULL=1 $(BIN)/python -m pytest -q -s -m trial

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# Extract msgids from code and programme data, merge them into the vi and en catalogs.
i18n: $(STAMP)
	$(BIN)/python -m bot.catalogs

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
