# Two commands on a fresh machine:  make demo   and   make test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format test-slow bench notebooks install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-install when the project metadata changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The main job: paper I Fig. 1 (OILE map, Eq. 8 and the same encounters as Qiskit circuits),
# then a fast subset of the other studies (about 1-2 minutes in all).
demo: $(STAMP)
	$(BIN)/oile-q study paper1_fig1 poster_two_group encounter_channel closed_vs_traced
	@echo
	@echo "figure: comparisons/out/paper1_fig1/fig1.png"
	@echo "table:  comparisons/out/paper1_fig1/deviations.md (and metrics.md: the circuit runs)"
	@echo "report: comparisons/out/paper1_fig1/report.md"
	@echo "other reports: comparisons/out/{poster_two_group,encounter_channel,closed_vs_traced}/report.md"
	@echo "all studies, published figures and numbers: comparisons/README.md"

# Two pytest worker processes (pytest-xdist), one test file per worker at a time: the suite
# takes about half the wall time on two cores. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2

test: lint
	$(BIN)/python -m pytest -q $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

# ruff (configured in pyproject.toml): the linter and the formatter, checked by `make test`.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Format the tree and apply the linter's safe fixes.
format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_oile.py
	$(BIN)/python benchmarks/bench_circuits.py
	$(BIN)/python benchmarks/bench_exact.py

# The teaching notebooks (notebooks/NN_*.py, Jupytext) executed at full size into notebooks/_build/
# (.ipynb with outputs, figures as PNG); tests/test_notebooks.py runs them in quick mode.
notebooks: $(STAMP)
	$(BIN)/python notebooks/render.py

clean:
	rm -rf $(VENV) comparisons/out .pytest_cache
