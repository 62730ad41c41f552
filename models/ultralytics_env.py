"""Process-wide ultralytics settings that vigil's model tools share."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path


def ensure_env() -> None:
    """Settings under the project (never $HOME) and no network look-ups; set before ultralytics is imported."""
    root = Path(__file__).resolve().parent.parent
    os.environ.setdefault("YOLO_CONFIG_DIR", str(root / ".yolo"))
    os.environ.setdefault("YOLO_OFFLINE", "1")


def logs_to_stderr() -> None:
    """ultralytics binds its log handler to stdout at import; our commands keep stdout for their own output."""
    ensure_env()
    import ultralytics  # noqa: F401  (creates the handler)

    for handler in logging.getLogger("ultralytics").handlers:
        if isinstance(handler, logging.StreamHandler) and getattr(handler, "stream", None) in (sys.stdout, sys.__stdout__):
            handler.setStream(sys.stderr)


def cpu_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads when `threads` is given; return the number in force.

    ultralytics' select_device() sets torch to cpu_count - 1 threads on every CPU train/val/predict setup
    (1 thread on a 2-core machine); call this after that setup to override it. Left alone by default: on a
    2-core machine shared with other work, 2 threads measured 8x (training) to 60x (inference) slower than 1."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()
