# Two commands on a fresh machine with Python 3.11 and pip:
#   make run    the default pipeline (creates .venv on first use)
#   make test   the test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all

.PHONY: run test report lint clean

$(BIN)/snakemake: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

run: $(BIN)/snakemake
	$(BIN)/snakemake --cores $(CORES)

test: $(BIN)/snakemake
	$(BIN)/python -m pytest -q

report: $(BIN)/snakemake
	$(BIN)/snakemake --cores $(CORES) --report report.html

lint: $(BIN)/snakemake
	$(BIN)/snakemake --lint

clean:
	rm -rf results .snakemake report.html
