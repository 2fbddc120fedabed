# labkit: two commands do everything on a fresh clone, `make lab` and `make test`.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
LAB_PORT ?= 8888
LAB_ARGS ?=
BIN := $(VENV)/bin
LAB_STAMP := $(VENV)/.labkit-lab
STAMP := $(VENV)/.labkit-installed
# uv installs into the venv, seconds where pip takes a minute. It reads pip's find-links
# too, where a machine keeps a local CPU build of torch. --compile-bytecode writes the .pyc
# files once: where PYTHONDONTWRITEBYTECODE is set, every process would otherwise compile
# torch from source on import (measured: 11.9 s of CPU for a kernel's imports, 4.5 s with).
UV = $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python $(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS))
# Jupyter refuses to run as root unless told; CI and containers run as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)
# Notebooks run on the `labkit` kernel (forked from a warm parent: about a second to start, not several).
NBVAL := --nbval-lax --nbval-kernel-name labkit --nbval-sanitize-with tests/nbval_sanitize.cfg
TEST_JOBS ?= 2

.PHONY: install lab test check lint format notebooks sweep bench serve book clean

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv

# What the notebooks need, for `make lab`; re-installed only when pyproject.toml changes.
$(LAB_STAMP): $(BIN)/uv pyproject.toml
	$(UV) "$(TORCH_SPEC)" -e .
	touch $@

# Plus the test tools and the extras the suite covers (Ray, Optuna, LiteRT, the book), for `make test`.
$(STAMP): $(LAB_STAMP)
	$(UV) "$(TORCH_SPEC)" -e ".[dev,ray,optuna,litert,book]"
	touch $@

install: $(STAMP)

lab: $(LAB_STAMP)
	@echo "Starting JupyterLab on notebooks/ at http://127.0.0.1:$(LAB_PORT)/lab (stop with Ctrl-C)"
	$(BIN)/jupyter lab --notebook-dir=notebooks --ServerApp.ip=127.0.0.1 \
		--ServerApp.port=$(LAB_PORT) --ServerApp.port_retries=0 --no-browser $(ROOT_FLAG) $(LAB_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check labkit tests bench book
	$(BIN)/ruff format --check labkit tests bench book

format: $(STAMP)
	$(BIN)/ruff check --fix labkit tests bench book
	$(BIN)/ruff format labkit tests bench book

# The whole suite, on TEST_JOBS workers (each test module, and each notebook under nbval,
# stays on one). pytest exits non-zero (5) when it collects nothing, so an empty run fails.
test: lint
	$(BIN)/pytest -n $(TEST_JOBS) --dist loadscope --durations=15 tests notebooks $(NBVAL)

# The edit-test loop: lint and the unit tests, no notebooks, kernels, browsers or servers.
check: lint
	$(BIN)/pytest -m "not slow" tests

# Re-execute every notebook in place so the stored outputs (shown by GitHub and the book) are fresh.
notebooks: $(STAMP)
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=600 --ExecutePreprocessor.kernel_name=labkit notebooks/*.ipynb

# An example sweep over notebook 03 into runs/sweep/ (re-running it skips finished runs).
SWEEP_ARGS ?= -p lr 0.001 0.003 0.01 -p optimizer sgd adam -p epochs 5 -p demos False --jobs 2
sweep: $(STAMP)
	$(BIN)/labkit sweep notebooks/03_training_pipeline.ipynb $(SWEEP_ARGS) --out runs/sweep

bench: $(STAMP)
	$(BIN)/python bench/train_loop.py
	$(BIN)/python bench/dashboard.py
	$(BIN)/python bench/sweep.py
	$(BIN)/python bench/compress.py
	$(BIN)/python bench/export.py
	$(BIN)/python bench/serve.py
	$(BIN)/python bench/gpt.py

# Serve an exported model on 127.0.0.1:8000: make serve MODEL=path/to/model.onnx
# [SERVE_ARGS="--batching --port 8080"] (labkit serve --help lists the options).
serve: $(LAB_STAMP)
	@test -n "$(MODEL)" || { echo "make serve needs MODEL=path/to/model.onnx"; exit 2; }
	$(BIN)/labkit serve $(MODEL) $(SERVE_ARGS)

# The course website from the notebooks' stored outputs, into book/_build/html/ (open
# index.html, or publish the folder; .github/workflows/book.yml does that on GitHub Pages).
book: $(STAMP)
	$(BIN)/python book/build.py

clean:
	rm -rf runs .pytest_cache book/_build book/_static/vendor test-artifacts
