# vigil: make demo | make test
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export YOLO_CONFIG_DIR := $(CURDIR)/.yolo
export YOLO_OFFLINE := 1

.PHONY: demo test test-all setup system venv samples clean

system:
	@bash scripts/setup_system.sh

$(STAMP): pyproject.toml scripts/setup_venv.sh
	@bash scripts/setup_venv.sh $(PY) $(VENV)
	@touch $(STAMP)

venv: $(STAMP)

setup: system venv

samples: setup
	@$(VPY) sample_videos/make_samples.py

demo: setup
	@$(VPY) -m vigil.cli demo

test: setup
	@bash scripts/run_tests.sh

test-all: setup
	@bash scripts/run_tests.sh -m "slow or not slow"

clean:
	rm -rf $(VENV) .yolo .vigil-data .pytest_cache
