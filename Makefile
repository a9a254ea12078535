# coursekit — the commands a student, an instructor and a developer need.
# `make help` lists them.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.coursekit-installed
ASSIGNMENTS ?=
SUBMISSIONS ?= autograder/demo_class
OUT    ?= autograder/out
WORKERS ?=
PYTEST_ARGS ?=
# MNIST for tests and the demo: ../shared/data when it exists (CI has no internet).
COURSEKIT_DATA ?= $(abspath $(wildcard ../shared/data))
export COURSEKIT_DATA

.PHONY: help setup system-deps deps-demo deps-test demo test test-fast test-browser lab hub release autograde bench lint format clean

help:
	@echo "make system-deps the Debian packages (bubblewrap, chromium, postgresql...) when missing"
	@echo "make demo        set up, release the notebooks, grade the bundled demo class"
	@echo "make test        set up, then run the whole test suite"
	@echo "make lab         JupyterLab on the course (students start here)"
	@echo "make hub         a classroom: JupyterHub for autograder/roster.csv on 127.0.0.1 [HUB_ARGS=...]"
	@echo "make release     regenerate notebooks/ from solutions/ (instructors)"
	@echo "make autograde SUBMISSIONS=folder-or.zip [OUT=dir] [WORKERS=n]"
	@echo "make bench       run the benchmarks in bench/"

# One virtual environment, created when missing. torch is pinned to the CPU wheel
# this project is tested with (a looser range pulls a multi-GB CUDA build).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

setup: $(STAMP)

# System packages (tools/system-deps.sh): installed with apt-get as root, through `sudo -n` when
# that works, else one line naming the command. `make demo` stops there without bubblewrap;
# `make test` goes on and skips the tests that need what is missing (naming the package).
system-deps:
	@tools/system-deps.sh test

deps-demo:
	@tools/system-deps.sh demo

deps-test:
	@tools/system-deps.sh --soft test

demo: deps-demo setup
	$(BIN)/coursekit release
	$(BIN)/coursekit autograde $(SUBMISSIONS) --out $(OUT) $(if $(WORKERS),--workers $(WORKERS))

test: deps-test setup
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/python -m pytest -n auto --dist loadgroup $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -n auto -m "not slow and not browser" $(PYTEST_ARGS)

test-browser: setup
	$(BIN)/python -m pytest -m browser $(PYTEST_ARGS)

# A student's Lab (nbgrader's assignment list and Validate; no instructor tools, no news
# prompt): the role's settings live in a temporary config folder for this run only.
lab: setup
	$(BIN)/coursekit lab

# JupyterHub for the course (README: Instructor: running a class); needs the test profile's
# configurable-http-proxy (make system-deps).
HUB_ARGS ?=
hub: setup
	@tools/system-deps.sh hub
	$(BIN)/coursekit hub $(HUB_ARGS)

release: setup
	$(BIN)/coursekit release $(ASSIGNMENTS)

autograde: setup
	$(BIN)/coursekit autograde $(SUBMISSIONS) --out $(OUT) $(if $(WORKERS),--workers $(WORKERS))

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: setup
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

format: setup
	$(BIN)/ruff format src tests bench tools
	$(BIN)/ruff check --fix src tests bench tools

clean:
	rm -rf autograder/submitted autograder/autograded autograder/feedback autograder/gradebook.db autograder/out autograder/.work artifacts
