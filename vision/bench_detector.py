"""`vigil bench detector`: what `OnnxDetector` costs on top of ONNX Runtime, on real street frames.

Measured on frames of `../shared/data/video/street_crowd.mp4` (640x360, a crowded crossing):

- raw: `session.run` on a pre-made input tensor (one real frame, letterboxed once), the detector's own
  session (same options: threads, sequential, all graph optimisations);
- detect: `OnnxDetector.detect(frame)` end to end (letterbox, run, decode, NMS, scale back);
- raw and detect are timed alternately in one loop, so load from other work on the machine hits both alike;
  on a loaded machine the run time itself still wanders by several ms, so the detector's own counters also
  give the pre/post cost per call (call time minus that call's session.run) and its share of the raw run;
- batch throughput: images/s through `detect` one at a time vs `detect_batch` of B frames;
- ultralytics: `YOLO(path).predict` on the same file and frames, for v8-layout files (ultralytics cannot
  decode a YOLOv5-layout (N, A, 5+nc) output: its NMS fails on it, so that comparison is reported as null).
"""
from __future__ import annotations

import contextlib
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from vigil.models.catalogue import shared_dir
from vigil.models.cpu import cpu_info
from vigil.models.precision import choose
from vigil.vision.onnx_detector import OnnxDetector, fill_input

STREET_CROWD = ("data", "video", "street_crowd.mp4")


def video_frames(n: int, path: Path | None = None) -> list[np.ndarray]:
    """n BGR frames spread evenly over the clip (default: the shared street_crowd.mp4)."""
    import cv2

    path = Path(path or shared_dir().joinpath(*STREET_CROWD))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: benchmark video missing (set VIGIL_SHARED or place shared/ beside the repo)")
    cap = cv2.VideoCapture(str(path))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or n
    wanted = set(np.linspace(0, total - 1, n).astype(int).tolist())
    frames, i = [], 0
    while len(frames) < len(wanted):
        ok, frame = cap.read()
        if not ok:
            break
        if i in wanted:
            frames.append(frame)
        i += 1
    cap.release()
    if not frames:
        raise RuntimeError(f"{path}: no frame could be read")
    return [frames[k % len(frames)] for k in range(n)]  # repeats only if the clip is shorter than n


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


def _throughput(det: OnnxDetector, frames: list[np.ndarray], batch: int) -> float:
    """Images per second through detect (batch 1) or detect_batch (batch > 1) over all frames."""
    t = time.perf_counter()
    if batch == 1:
        for f in frames:
            det.detect(f)
    else:
        for i in range(0, len(frames), batch):
            det.detect_batch(frames[i:i + batch])
    return round(len(frames) / (time.perf_counter() - t), 2)


def _ultralytics_ms(path: Path, imgsz: int, frames: list[np.ndarray], confidence: float) -> float:
    from vigil.models.ultralytics_env import logs_to_stderr

    logs_to_stderr()
    from ultralytics import YOLO

    with contextlib.redirect_stdout(sys.stderr):
        model = YOLO(str(path), task="detect")
        for f in frames[:3]:  # warm-up
            model.predict(f, imgsz=imgsz, conf=confidence, device="cpu", verbose=False)
        samples = []
        for f in frames:
            t = time.perf_counter()
            model.predict(f, imgsz=imgsz, conf=confidence, device="cpu", verbose=False)
            samples.append(time.perf_counter() - t)
    return _median_ms(samples)


def bench_detector(path: Path, imgsz: int | None = None, threads: int | None = None, batch: int = 8, n: int = 50,
                   confidence: float = 0.25, ultralytics: bool = True, video: Path | None = None) -> dict:
    """Measure one ONNX file; returns a JSON-able dict (times in ms, medians over n frames)."""
    import onnxruntime

    path = Path(path)
    det = OnnxDetector(path, imgsz=imgsz, confidence=confidence, threads=threads)
    frames = video_frames(max(n, batch), video)
    x = np.empty((det.fixed_batch or 1, 3, *det.input_hw), np.float32)
    for i in range(len(x)):
        fill_input(frames[0], x[i])
    feed = {det.input_name: x.astype(det.input_dtype, copy=False)}
    for f in frames[:3]:  # warm-up of both paths
        det.session.run(None, feed)
        det.detect(f)
    raw, end_to_end, pre_post, boxes = [], [], [], []
    det.reset_counters()
    for f in frames[:n]:
        t = time.perf_counter()
        det.session.run(None, feed)
        raw.append(time.perf_counter() - t)
        t = time.perf_counter()
        boxes.append(len(det.detect(f)))
        end_to_end.append(time.perf_counter() - t)
        pre_post.append((det.last_ms - det.last_run_ms) / 1000)  # this call's own run excluded
    raw_ms, detect_ms = _median_ms(raw), _median_ms(end_to_end)
    run_share = det.run_ms_total / det.total_ms if det.total_ms else None
    ips1 = _throughput(det, frames, 1)
    ipsb = _throughput(det, frames, batch) if batch > 1 else ips1
    result = {
        "model": str(path), "layout": det.layout, "classes": det.nc, "input": list(det.input_hw),
        "dynamic_batch": det.dynamic_batch, "threads": det.threads, "n": n, "batch": batch,
        "frames": f"{len(frames)} frames of {'/'.join(STREET_CROWD) if video is None else video}, "
                  f"{frames[0].shape[1]}x{frames[0].shape[0]}",
        "raw_run_ms_median": raw_ms, "detect_ms_median": detect_ms,
        "overhead_pct": round((detect_ms / raw_ms - 1) * 100, 1),
        # per detect() call, its time minus its own session.run: the pre/post cost, robust to load drift
        "pre_post_ms_median": _median_ms(pre_post),
        "pre_post_pct_of_run": round(statistics.median(pre_post) / statistics.median(raw) * 100, 1),
        "run_share_of_detect": round(run_share, 3) if run_share else None,  # from the detector's counters
        "boxes_per_frame_median": statistics.median(boxes),
        "images_per_s_batch1": ips1, f"images_per_s_batch{batch}": ipsb,
        "batch_speedup": round(ipsb / ips1, 2),
        "onnxruntime": onnxruntime.__version__,
        "machine": cpu_info().as_dict(),
        # the file as given is timed; a camera asking for it runs this (an untrusted int8 file: its float twin)
        "service_runs": {k: v for k, v in choose(path).as_dict().items() if k in ("used_name", "precision", "kernel", "reason")},
    }
    if ultralytics and det.layout == "v8":
        result["ultralytics_predict_ms_median"] = _ultralytics_ms(path, det.imgsz, frames[:n], confidence)
        result["ultralytics_vs_detect"] = round(result["ultralytics_predict_ms_median"] / detect_ms, 2)
    else:
        result["ultralytics_predict_ms_median"] = None
        result["ultralytics_note"] = ("skipped (--no-ultralytics)" if not ultralytics else
                                      "ultralytics cannot decode a YOLOv5-layout (N, A, 5+nc) output")
    return result


def human_lines(r: dict) -> list[str]:
    b = r["batch"]
    lines = [
        f"CPU: {r['machine']['label']}; int8 kernel {r['machine']['int8_kernel']}",
        f"{Path(r['model']).name}: {r['layout']} layout, {r['classes']} classes, input {r['input'][0]}x{r['input'][1]}, "
        f"{'dynamic' if r['dynamic_batch'] else 'fixed'} batch, {r['threads']} threads; {r['frames']}",
        f"session.run {r['raw_run_ms_median']:.2f} ms, detect() {r['detect_ms_median']:.2f} ms "
        f"(overhead {r['overhead_pct']:+.1f} %; pre/post {r['pre_post_ms_median']:.2f} ms per call = "
        f"{r['pre_post_pct_of_run']:.1f} % of the run), medians of {r['n']}",
        f"throughput: {r['images_per_s_batch1']:.1f} images/s at batch 1, {r[f'images_per_s_batch{b}']:.1f} at batch {b} "
        f"(x{r['batch_speedup']:.2f})",
    ]
    if r.get("ultralytics_predict_ms_median") is not None:
        lines.append(f"ultralytics YOLO.predict on the same file: {r['ultralytics_predict_ms_median']:.2f} ms "
                     f"({r['ultralytics_vs_detect']:.2f}x detect())")
    else:
        lines.append(f"ultralytics: {r.get('ultralytics_note')}")
    s = r["service_runs"]
    lines.append(f"a camera asking for this file runs {s['used_name']} ({s['precision']}, {s['kernel']}): {s['reason']}")
    return lines
