#!/usr/bin/env bash
# Creates the virtual environment and installs vigil with its test dependencies.
# torch 2.14.1 / torchvision 0.29.1 go in first: with torch 2.13.0 ultralytics' torchvision breaks
# (`operator torchvision::nms does not exist`).
set -euo pipefail
export YOLO_CONFIG_DIR="${YOLO_CONFIG_DIR:-$PWD/.yolo}"
PY=${1:-python3.11}
VENV=${2:-.venv}
if ! command -v "$PY" >/dev/null 2>&1; then echo "ERROR: $PY not found (vigil needs Python 3.11)" >&2; exit 1; fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip setuptools wheel
$PIP install -q "torch==2.14.1" "torchvision==0.29.1"
$PIP install -q -e ".[test,cluster]"
# ultralytics pulls opencv-python; keep exactly one OpenCV build.
echo "venv: ready ($($VENV/bin/python -c 'import torch, ultralytics, cv2; print("torch", torch.__version__, "ultralytics", ultralytics.__version__, "opencv", cv2.__version__)'))"
