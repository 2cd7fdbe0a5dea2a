# The two commands a newcomer runs (see README.md):
#   make demo   set everything up and train a tiny model locally (no account, no GPU, no Hub)
#   make test   set everything up and run the whole test suite (what CI runs: .ci/run)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup clean sync-scripts

setup: $(STAMP)

# torch first and pinned: an unpinned torch makes pip fetch a multi-GB CUDA build.
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[train,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hf-trainer demo

test: $(STAMP)
	$(BIN)/python -m pytest

# Re-copy the package modules that scripts/ inline (scripts must be single files for HF Jobs).
sync-scripts: $(STAMP)
	$(BIN)/python -m hf_trainer.script_blocks

clean:
	rm -rf $(VENV) .pytest_cache
