# condgan — common commands. `make help` lists them.
VENV ?= .venv
PYTHON := $(if $(wildcard $(VENV)/bin/python),$(VENV)/bin/python,python3)
CKPT ?=
ARGS ?=

.PHONY: help install train test test-all lint format pin-experiments eval bench leaderboard tensorboard clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

install:  ## create .venv and install condgan (editable) with the dev extras
	python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install --upgrade pip
	$(VENV)/bin/python -m pip install -e ".[dev]"

train:  ## train with the default config; pass Hydra overrides in ARGS="model=cgan data=emnist"
	$(PYTHON) train.py $(ARGS)

test:  ## the fast tests (CPU, offline; every test but those marked slow), one worker per core, the 10 slowest listed
	$(PYTHON) -m pytest -n auto --dist worksteal -m "not slow" --durations=10

test-all:  ## every test, the slow ones too (what CI runs)
	$(PYTHON) -m pytest -n auto --dist worksteal --durations=10

lint:  ## check the code style without changing anything (ruff; settings in pyproject.toml; also a test)
	$(PYTHON) -m ruff format --check && $(PYTHON) -m ruff check

format:  ## rewrite the code in the pinned style (ruff format, then the fixable lint rules)
	$(PYTHON) -m ruff format && $(PYTHON) -m ruff check --fix

pin-experiments:  ## write tests/pinned_experiments.yaml again after an intended change to an experiment or a base config
	$(PYTHON) -m tests.pinned_experiments

eval:  ## report on a checkpoint, a run or a multirun folder: make eval CKPT=logs/train/runs/<run>
	@test -n "$(CKPT)" || { echo "make eval: set CKPT=<a .ckpt file, a run folder or a multirun folder>"; exit 2; }
	$(PYTHON) evaluate.py ckpt_path=$(CKPT) $(ARGS)

bench:  ## condgan vs a plain PyTorch loop: images/s, s/epoch, memory, domain FID time (ARGS="device=cpu steps=20")
	$(PYTHON) -m condgan.pipelines.bench $(ARGS)

leaderboard:  ## train conf/leaderboard's entries for the same time each and rank them (ARGS="leaderboard.budget_s=105")
	$(PYTHON) evaluate.py task=leaderboard $(ARGS)

tensorboard:  ## serve the TensorBoard dashboards of every run under logs/
	$(PYTHON) -m tensorboard.main --logdir logs

clean:  ## remove caches (runs under logs/ and datasets under data/ are kept)
	rm -rf .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
