# whisper-tune: two commands on a new machine.
#   make demo   set up .venv/ if needed, then run the whole pipeline on the embedded tiny.en
#   make test   set up .venv/ if needed, then run the whole test suite
#   make lint   set up .venv/ if needed, then run ruff and mypy (configured in pyproject.toml)
#
# TORCH_SPEC picks the PyTorch build. The default is the CPU build this project is tested
# with; a CUDA user can run e.g. `make TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu124" demo`
# (any torch >= 2.1 works) before anything else installs it.

PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN        := $(VENV)/bin
STAMP      := $(VENV)/.whisper-tune-installed
DEMO_OUT   ?= demo-out
PYTEST_ARGS ?=

.PHONY: demo test lint venv clean help

help:
	@echo "make demo   - set up $(VENV)/ and run the end-to-end demo (offline, embedded tiny.en)"
	@echo "make test   - set up $(VENV)/ and run the whole test suite"
	@echo "make lint   - set up $(VENV)/ and run ruff and mypy (zero findings expected)"

# The stamp depends on pyproject.toml so a changed dependency list reinstalls.
# openai-whisper is installed for its data only (whisper/assets/multilingual.tiktoken, from
# which the tests build Whisper's real multilingual tokenizer); --no-deps skips numba and triton.
$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps "openai-whisper==20250625"
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/whisper-tune demo --out $(DEMO_OUT)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Paths and rules come from pyproject.toml ([tool.ruff], [tool.mypy]).
lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .mypy_cache .ruff_cache
