"""Small helpers shared by the tests (import as `from helpers import ...`)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_root() -> Path:
    """The workplace's shared data folder: $VIGIL_SHARED, else `../shared` beside the checkout."""
    env = os.environ.get("VIGIL_SHARED")
    return Path(env).expanduser() if env else REPO.parent / "shared"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require(reason: str | None) -> None:
    """Skip the test because of `reason` (fail instead in CI, where everything must be present)."""
    if reason:
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)


def shared_path(*parts: str) -> Path:
    """Path of a file under the shared folder; skips the test when it is missing (fails in CI)."""
    path = shared_root().joinpath(*parts)
    if not path.exists():
        require(f"shared data missing: {path} (set VIGIL_SHARED or place shared/ beside the repo)")
    return path


def wait_until(pred: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    """Poll `pred` until it returns something truthy or `timeout` seconds pass; returns the outcome."""
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return bool(pred())
        time.sleep(interval)


def run_vigil(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """`python -m vigil.cli ARGS` from the repository root, settings kept inside the project."""
    env = {**os.environ, "YOLO_CONFIG_DIR": str(REPO / ".yolo"), "YOLO_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "vigil.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=REPO)


def replay(*args: str) -> tuple[list[dict], subprocess.CompletedProcess]:
    """`vigil replay ARGS` (pass --json): the events printed on stdout, and the finished process."""
    proc = run_vigil("replay", *args)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return events, proc
