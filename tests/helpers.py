"""Small helpers shared by the tests (import as `from helpers import ...`)."""
from __future__ import annotations

import os
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
