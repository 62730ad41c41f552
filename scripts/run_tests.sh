#!/usr/bin/env bash
# The whole default test suite (long soak/benchmark runs are marked `slow` and left out).
set -uo pipefail
cd "$(dirname "$0")/.."
export YOLO_CONFIG_DIR="$PWD/.yolo" YOLO_OFFLINE=1 PYTHONUNBUFFERED=1
VPY=.venv/bin/python
if [ ! -e ../shared/README.md ] && [ -z "${VIGIL_SHARED:-}" ]; then
  echo "WARNING: ../shared is missing; tests that need it fail under CI=true and skip otherwise" >&2
fi
$VPY sample_videos/make_samples.py || { echo "ERROR: could not make the sample clips" >&2; exit 1; }
MARK="not slow"
if [ "${1:-}" = "-m" ]; then MARK="$2"; shift 2; fi
# every test's time stays in .test-results/junit.xml (to see where the suite's minutes go)
$VPY -m pytest -m "$MARK" -p no:cacheprovider --durations=25 --junitxml=.test-results/junit.xml "$@"
rc=$?
if [ $rc -eq 5 ]; then echo "ERROR: pytest collected no tests" >&2; exit 1; fi
exit $rc
