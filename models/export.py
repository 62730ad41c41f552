"""Export a trained fire/smoke checkpoint to ONNX and prove ONNX Runtime runs it.

Needs the packages `onnx`, `onnxslim` (graph simplification, `simplify=True`) and `onnxruntime`
(declared in pyproject.toml); ultralytics would otherwise try to pip-install them at export time, which
fails here. Nothing is downloaded.
"""
from __future__ import annotations

import contextlib
import shutil
import sys
from pathlib import Path

import numpy as np

from vigil.models.catalogue import sha256_file
from vigil.models.ultralytics_env import logs_to_stderr


def export_onnx(weights: Path, imgsz: int = 320, out: Path | None = None, simplify: bool = True,
                opset: int | None = None, dynamic: bool = False) -> dict:
    """Export `weights` (.pt) to ONNX (FP32; batch 1 and imgsz x imgsz, or with `dynamic` both axes free: the
    catalogue's imgsz then sets the input), load it back through ultralytics' ONNX Runtime backend and compare its
    boxes with the .pt model's on one image. Returns a report."""
    from ultralytics import YOLO

    logs_to_stderr()
    weights = Path(weights)
    with contextlib.redirect_stdout(sys.stderr):
        pt = YOLO(str(weights), task="detect")
        kwargs = {"format": "onnx", "imgsz": imgsz, "simplify": simplify, "dynamic": dynamic, "half": False,
                  "device": "cpu", "verbose": False}
        if opset:
            kwargs["opset"] = opset
        produced = Path(pt.export(**kwargs))
    target = Path(out) if out else produced
    if target.resolve() != produced.resolve():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(produced), target)
    check = check_onnx(target, imgsz, reference=weights)
    return {"onnx": str(target), "sha256": sha256_file(target), "bytes": target.stat().st_size, "imgsz": imgsz,
            "dynamic": dynamic,
            "source": str(weights), "source_sha256": sha256_file(weights), **check}


def check_onnx(onnx_path: Path, imgsz: int, reference: Path | None = None, image: np.ndarray | None = None) -> dict:
    """Load `onnx_path` with ultralytics.YOLO (ONNX Runtime underneath) and run one prediction; with a
    reference .pt, also report the largest score difference between the two on the same image."""
    import onnxruntime
    from ultralytics import YOLO

    if image is None:
        rng = np.random.default_rng(0)
        image = rng.integers(0, 255, (imgsz, imgsz, 3), dtype=np.uint8)
    with contextlib.redirect_stdout(sys.stderr):
        model = YOLO(str(onnx_path), task="detect")
        res = model.predict(image, imgsz=imgsz, device="cpu", conf=0.001, verbose=False)[0]
        names = dict(model.names)
        report = {"onnxruntime": onnxruntime.__version__, "providers": onnxruntime.get_available_providers(),
                  "names": names, "boxes_on_check_image": len(res.boxes)}
        if reference is not None:
            ref = YOLO(str(reference), task="detect").predict(image, imgsz=imgsz, device="cpu", conf=0.001,
                                                               verbose=False)[0]
            a = np.sort(res.boxes.conf.numpy())[::-1][:20]
            b = np.sort(ref.boxes.conf.numpy())[::-1][:20]
            n = min(len(a), len(b))
            report["top_scores_max_abs_diff_vs_pt"] = float(np.abs(a[:n] - b[:n]).max()) if n else 0.0
    return report
