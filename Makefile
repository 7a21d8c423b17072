# Two commands on a fresh machine with Python 3.11 and pip:
#   make run    the default pipeline (creates .venv on first use)
#   make test   the test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all
# Test processes (pytest-xdist; whole test files per process, so module fixtures are built once).
TEST_WORKERS ?= 2

.PHONY: run test report lint bench clean

$(BIN)/snakemake: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

run: $(BIN)/snakemake
	$(BIN)/snakemake --cores $(CORES)

test: $(BIN)/snakemake
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15

report: $(BIN)/snakemake
	$(BIN)/snakemake --cores $(CORES) --report report.html

lint: $(BIN)/snakemake
	$(BIN)/snakemake --lint

# Engine throughput (README, Benchmarks): a table on stdout, rows in benchmarks/results/*.parquet.
# Pass options through BENCH_ARGS, e.g. make bench BENCH_ARGS="--paper --seeds 1 5".
bench: $(BIN)/snakemake
	$(BIN)/python benchmarks/bench_mlp.py $(BENCH_ARGS)

clean:
	rm -rf results .snakemake report.html
