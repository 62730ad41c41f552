# vigil: make demo | make test
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
COCO_ONNX := .vigil-data/models/yolov5n_coco_320.onnx
COCO_INT8 := .vigil-data/models/yolov5n_coco_320_int8.onnx
export YOLO_CONFIG_DIR := $(CURDIR)/.yolo
export YOLO_OFFLINE := 1

.PHONY: demo test test-all bench soak setup system venv samples models web clean

system:
	@bash scripts/setup_system.sh

$(STAMP): pyproject.toml scripts/setup_venv.sh
	@bash scripts/setup_venv.sh $(PY) $(VENV)
	@touch $(STAMP)

venv: $(STAMP)

setup: system venv

samples: setup
	@$(VPY) sample_videos/make_samples.py

# the COCO YOLOv5n ONNX generated from ../shared (never committed) and its int8 twin; skipped when present
models: setup
	@if [ -f $(COCO_ONNX) ]; then echo "$(COCO_ONNX): present"; \
	else $(VPY) -m vigil.cli models build-coco --imgsz 320 --out $(COCO_ONNX); fi
	@if [ -f $(COCO_INT8) ]; then echo "$(COCO_INT8): present"; \
	else $(VPY) -m vigil.cli models quantize --model $(COCO_ONNX) --out $(COCO_INT8) --weights s8; fi

# the web app (review_ui/ -> review_ui/dist, served at /app/): npm ci + vite build, skipped when review_ui/dist is up to date
web: system
	@bash scripts/build_web.sh

demo: setup models web
	@$(VPY) -m vigil.cli demo

test: setup models web
	@bash scripts/run_tests.sh

test-all: setup models
	@bash scripts/run_tests.sh -m "slow or not slow"

# issue #4 numbers: 24 sub-stream cameras with the naive baseline, then the 720p/15 fps figure
bench: setup models
	@$(VPY) -m vigil.cli bench streams --cameras 24 --seconds 60 --baseline
	@$(VPY) -m vigil.cli bench streams --cameras 8 --seconds 60 --size 1280x720 --fps 15

# 16 cameras for VIGIL_SOAK_S seconds (default 3600); memory growth must stay < 5 %
soak: setup models
	@bash scripts/run_tests.sh -m slow -s tests/test_soak.py

clean:
	rm -rf $(VENV) .yolo .vigil-data .pytest_cache
