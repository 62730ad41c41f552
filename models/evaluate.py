"""Evaluate a detector on a data YAML's val split: ultralytics val metrics plus a CPU timing.

`evaluate()` returns one flat dict (the JSON line of `vigil models eval`):
map50, map50_95, ap50 {class name: AP50 or null when the split has no box of that class}, precision, recall,
ms_per_image (median wall time of one `predict()` call, batch 1, pre- and post-processing included, after
warm-up, on the CPU unless another device is asked for), ms_inference (median of the network part alone),
imgsz, model, format, images (val images scored), timing_images, torch_threads (.pt only), device, data, val.
"""
from __future__ import annotations

import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

from vigil.models.datasets import data_names, load_data_yaml, split_image_files, val_subset_yaml
from vigil.models.ultralytics_env import cpu_threads, logs_to_stderr


def metrics_summary(metrics, names: dict[int, str]) -> dict:
    """map50, map50_95, ap50 per class name, precision, recall from an ultralytics DetMetrics."""
    box = metrics.box
    per_class = {name: None for name in names.values()}
    for i, cls in enumerate(box.ap_class_index):
        name = names.get(int(cls), str(int(cls)))
        per_class[name] = round(float(box.ap50[i]), 4)
    nt = getattr(metrics, "nt_per_class", None)
    counts = {names.get(i, str(i)): int(n) for i, n in enumerate(nt)} if nt is not None else None
    return {
        "map50": round(float(box.map50), 4),
        "map50_95": round(float(box.map), 4),
        "ap50": per_class,
        "precision": round(float(box.mp), 4),
        "recall": round(float(box.mr), 4),
        "boxes_per_class": counts,
    }


def time_predict(model, images: list[Path], imgsz: int, device: str = "cpu", warmup: int = 3,
                 threads: int | None = None) -> dict:
    """Median ms per image (whole predict call and network only), batch 1, images read beforehand, with
    `threads` torch CPU threads (default: ultralytics' cpu_count - 1; ONNX Runtime keeps its own)."""
    import cv2

    frames = [im for im in (cv2.imread(str(p)) for p in images) if im is not None]
    if not frames:
        raise ValueError("no readable image to time")
    for i in range(warmup):
        model.predict(frames[i % len(frames)], imgsz=imgsz, device=device, verbose=False)
    n_threads = cpu_threads(threads)  # after the predictor's setup, which resets them
    total, infer = [], []
    for frame in frames:
        t = time.perf_counter()
        result = model.predict(frame, imgsz=imgsz, device=device, verbose=False)[0]
        total.append((time.perf_counter() - t) * 1000)
        infer.append(float(result.speed.get("inference", 0.0)))
    return {"ms_per_image": round(statistics.median(total), 2), "ms_inference": round(statistics.median(infer), 2),
            "timing_images": len(frames), "torch_threads": n_threads}


def evaluate(model: str | Path, data: Path, imgsz: int = 320, images: int | None = None, timing_images: int = 50,
             device: str = "cpu", batch: int = 8, seed: int = 0, workers: int = 0, threads: int | None = None,
             bootstrap: int = 0) -> dict:
    """ultralytics val on `data`'s val split (a seeded subset of `images` images when given) plus timing, and
    with `bootstrap` > 0 a resampled 90 % interval of each class's AP50 (models/bootstrap.py).

    `model` is a file path (.pt, .onnx, OpenVINO folder, ...); resolve catalogue names before calling."""
    from ultralytics import YOLO

    logs_to_stderr()
    data = Path(data).resolve()
    names = data_names(data)
    with tempfile.TemporaryDirectory(prefix="vigil-eval-") as tmp, contextlib.redirect_stdout(sys.stderr):
        val_yaml = val_subset_yaml(data, Path(tmp) / "data", images, seed) if images else data
        val_files = split_image_files(val_yaml, "val")
        yolo = YOLO(str(model), task="detect")
        # exported formats without dynamic shapes run batch 1 (ultralytics enforces it and warns)
        metrics = yolo.val(data=str(val_yaml), imgsz=imgsz, batch=batch, device=device, split="val", plots=False,
                           verbose=False, save_json=False, project=tmp, name="val", exist_ok=True, workers=workers)
        names = names or dict(metrics.names)
        out = metrics_summary(metrics, names)
        timing = time_predict(yolo, val_files[:timing_images], imgsz, device=device, threads=threads)
        if bootstrap:
            from vigil.models.bootstrap import bootstrap_ap50
            out.update(bootstrap_ap50(Path(model), val_files, names, imgsz, rounds=bootstrap, seed=seed))
    out.update(timing)
    fmt = Path(model).suffix.lstrip(".") or "dir"
    from vigil.models.cpu import cpu_info

    out.update({"imgsz": imgsz, "model": str(model), "format": fmt, "images": len(val_files), "device": device,
                "data": str(data), "val": str(load_data_yaml(data).get("val")), "machine": cpu_info().label()})
    if fmt != "pt":
        out.pop("torch_threads", None)  # the runtime (ONNX Runtime, OpenVINO, ...) keeps its own threads
    return out


def human_lines(result: dict) -> list[str]:
    ap = ", ".join(f"{k} {'n/a' if v is None else f'{v:.3f}'}" for k, v in result["ap50"].items())
    return [
        f"model      {result['model']}",
        f"data       {result['val']} ({result['images']} images)",
        f"mAP50      {result['map50']:.3f}   mAP50-95 {result['map50_95']:.3f}",
        f"AP50       {ap}",
        f"P / R      {result['precision']:.3f} / {result['recall']:.3f}",
        f"speed      {result['ms_per_image']:.1f} ms per image ({result['ms_inference']:.1f} ms network) at "
        f"{result['imgsz']} px, batch 1, {result['device']}"
        f"{' (%d torch threads)' % result['torch_threads'] if 'torch_threads' in result else ''}, "
        f"median of {result['timing_images']}; CPU {result.get('machine', '?')}",
    ] + (["AP50 90 %  " + ", ".join(f"{k} {lo:.3f}-{hi:.3f}" for k, (lo, hi) in result["ap50_interval90"].items())
          + f" ({result['bootstrap_rounds']} resamples of the images)"] if "ap50_interval90" in result else [])
