# labkit: two commands do everything on a fresh clone, `make lab` and `make test`.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
LAB_PORT ?= 8888
LAB_ARGS ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.labkit-installed
# Jupyter refuses to run as root unless told; CI and containers run as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)
NBVAL := --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: install lab test lint format notebooks sweep bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Installs once; re-runs only when pyproject.toml changes (or the stamp is removed).
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev,ray]"
	touch $@

install: $(STAMP)

lab: $(STAMP)
	@echo "Starting JupyterLab on notebooks/ at http://127.0.0.1:$(LAB_PORT)/lab (stop with Ctrl-C)"
	$(BIN)/jupyter lab --notebook-dir=notebooks --ServerApp.ip=127.0.0.1 \
		--ServerApp.port=$(LAB_PORT) --ServerApp.port_retries=0 --no-browser $(ROOT_FLAG) $(LAB_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check labkit tests bench
	$(BIN)/ruff format --check labkit tests bench

format: $(STAMP)
	$(BIN)/ruff check --fix labkit tests bench
	$(BIN)/ruff format labkit tests bench

# pytest exits non-zero (5) when it collects nothing, so an empty run fails here too.
test: lint
	$(BIN)/pytest tests notebooks $(NBVAL)

# Re-execute every notebook in place so the stored outputs (shown by GitHub and the book) are fresh.
notebooks: $(STAMP)
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=600 notebooks/*.ipynb

# An example sweep over notebook 03 into runs/sweep/ (re-running it skips finished runs).
SWEEP_ARGS ?= -p lr 0.001 0.003 0.01 -p optimizer sgd adam -p epochs 5 -p demos False --jobs 2
sweep: $(STAMP)
	$(BIN)/labkit sweep notebooks/03_training_pipeline.ipynb $(SWEEP_ARGS) --out runs/sweep

bench: $(STAMP)
	$(BIN)/python bench/train_loop.py
	$(BIN)/python bench/dashboard.py
	$(BIN)/python bench/sweep.py

clean:
	rm -rf runs .pytest_cache book/_build
