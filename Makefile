# vdla: `make demo` and `make test` are the whole set-up (README.md).
# Each target creates .venv if needed and installs the project and its dependencies from PyPI.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.vdla-installed
PYTEST_ARGS ?=
# The simulator's matrix products are small; BLAS threads only contend with the test workers.
SIMENV := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

.PHONY: all demo test test-all bench lint clean venv
all: test

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "vdla needs Python >= 3.11; set PYTHON=python3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/gemm_demo.py
	$(BIN)/python examples/digits.py
	$(BIN)/python examples/resnet18.py

test: $(STAMP)
	$(SIMENV) $(BIN)/python -m pytest -m "not slow" -q $(PYTEST_ARGS)

test-all: $(STAMP)
	$(SIMENV) $(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/gemm.py
	$(BIN)/python bench/sim_throughput.py
	$(BIN)/python bench/cpu_ops.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
