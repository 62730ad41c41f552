"""`OnnxDetector`: ONNX detection models run by ONNX Runtime directly, with vigil's own pre/post-processing.

Why not ultralytics' ONNX backend: each `predict` call goes through its predictor machinery (settings,
torch tensors, result objects), which costs more than the model itself on a 2-core CPU at input 320. This
class does only what the model needs:

- pre-processing: letterbox exactly like ultralytics' `LetterBox` (keep aspect, cv2 INTER_LINEAR, pad 114,
  centred, same rounding), BGR->RGB, /255, NCHW float32, written straight into one batch array (the padding
  strips are filled, the resized pixels converted plane by plane into place; no padded uint8 copy, no blob);
- one `session.run` per batch when the model's batch axis is dynamic (a loop when it is fixed);
- post-processing for both output layouts: ultralytics v8-style exports (N, 4+nc, A) and YOLOv5-style
  (N, A, 5+nc, score = objectness * class score); confidence filter first (vectorised), then class-aware
  greedy NMS in numpy (the class-offset trick ultralytics uses), max 300 boxes, boxes back to the original
  image's pixels (ultralytics' `scale_boxes` rounding) and clipped.

Defaults match what `UltralyticsDetector` gets from ultralytics' predict (conf 0.25, IoU 0.7, max_det 300,
best class only), so switching a `.onnx` file from one to the other keeps the results (tests check it). The
YOLOv5 repository's own default IoU was 0.45; pass `iou=0.45` for that behaviour.
"""
from __future__ import annotations

import ast
import logging
import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from vigil.vision.detections import Detections
from vigil.vision.vocabulary import canonical_ids, vigil_names

log = logging.getLogger("vigil.vision")

PAD_VALUE = 114
MAX_WH = 7680.0  # class offset for class-aware NMS in one pass (larger than any box coordinate)
MAX_NMS = 30000  # candidates kept for NMS, highest scores first (as ultralytics)
NMS_MATRIX_MAX = 1000  # up to this many candidates NMS uses an n x n overlap matrix (4 MB of float32)


def _size(imgsz: int | tuple[int, int]) -> tuple[int, int]:
    return (imgsz, imgsz) if isinstance(imgsz, int) else (int(imgsz[0]), int(imgsz[1]))


def letterbox_params(shape: tuple[int, int], imgsz: int | tuple[int, int]) -> tuple[int, int, int, int]:
    """(new_w, new_h, left, top) that ultralytics' LetterBox uses for an image of `shape` (h, w)."""
    th, tw = _size(imgsz)
    h, w = shape[:2]
    r = min(th / h, tw / w)
    new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
    return new_w, new_h, round((tw - new_w) / 2 - 0.1), round((th - new_h) / 2 - 0.1)


def _resized(image: np.ndarray, new_w: int, new_h: int) -> np.ndarray:
    if image.shape[1::-1] == (new_w, new_h):
        return image  # already the right size: no copy
    return cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)


def letterbox(image: np.ndarray, imgsz: int | tuple[int, int]) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The padded uint8 BGR image (imgsz, pad 114) and its (new_w, new_h, left, top); for tools and tests."""
    th, tw = _size(imgsz)
    new_w, new_h, left, top = p = letterbox_params(image.shape, (th, tw))
    resized = _resized(image, new_w, new_h)
    canvas = np.full((th, tw, 3), PAD_VALUE, np.uint8)
    canvas[top:top + new_h, left:left + new_w] = resized
    return canvas, p


def fill_input(image: np.ndarray, out: np.ndarray) -> tuple[int, int, int, int]:
    """Letterbox a BGR uint8 image into `out` (3, H, W) float32 as RGB 0..1; returns the letterbox params.
    Grey or BGRA images are converted to BGR first."""
    if image.ndim == 2 or image.shape[2] != 3:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR if image.ndim == 2 or image.shape[2] == 1 else cv2.COLOR_BGRA2BGR)
    _, th, tw = out.shape
    new_w, new_h, left, top = p = letterbox_params(image.shape, (th, tw))
    resized = _resized(image, new_w, new_h)
    pad = np.float32(PAD_VALUE) / np.float32(255)
    out[:, :top] = pad
    out[:, top + new_h:] = pad
    out[:, top:top + new_h, :left] = pad
    out[:, top:top + new_h, left + new_w:] = pad
    # BGR HWC uint8 -> RGB CHW float32: cv2.split gives contiguous planes (faster than a strided transpose),
    # each divided straight into its place; float32 division gives the values torch's `/ 255` gives
    for c, plane in enumerate(cv2.split(resized)[::-1]):
        np.divide(plane, np.float32(255), out=out[c, top:top + new_h, left:left + new_w], dtype=np.float32)
    return p


def input_tensor(image: np.ndarray, imgsz: int | tuple[int, int]) -> np.ndarray:
    """(1, 3, H, W) float32 RGB 0..1: the image letterboxed exactly as `OnnxDetector` feeds its session
    (for calibration and export checks)."""
    th, tw = _size(imgsz)
    x = np.empty((1, 3, th, tw), np.float32)
    fill_input(image, x[0])
    return x


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy NMS (indices kept, best first): a box goes when its IoU with a kept, higher-scored box > iou
    (torchvision's rule). Up to NMS_MATRIX_MAX boxes: one pairwise overlap matrix, then a cheap sequential
    pass (about half the time of the loop below at ~100 boxes); beyond that the loop, whose memory is linear."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind="stable")
    if len(order) <= NMS_MATRIX_MAX:
        b, a = boxes[order], areas[order]
        w = np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0])
        h = np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1])
        inter = np.clip(w, 0, None) * np.clip(h, 0, None)
        over = inter > iou * (a[:, None] + a[None, :] - inter)  # IoU > iou, without a division
        kept = np.ones(len(order), bool)
        for i in range(len(order)):
            if kept[i]:
                kept[i + 1:] &= ~over[i, i + 1:]
        return order[kept]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest])
        h = np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest])
        inter = np.clip(w, 0, None) * np.clip(h, 0, None)
        order = rest[inter <= iou * (areas[i] + areas[rest] - inter)]  # IoU <= iou, without a division
    return np.asarray(keep, np.intp)


def parse_names(meta: dict[str, str]) -> dict[int, str] | None:
    """Class names from ONNX metadata `names` (ultralytics writes str(dict)); None when absent/unreadable."""
    raw = meta.get("names")
    if raw:
        try:
            value = ast.literal_eval(raw)
            if isinstance(value, (list, tuple)):
                value = dict(enumerate(value))
            return {int(k): str(v) for k, v in value.items()}
        except (ValueError, SyntaxError, AttributeError):
            log.warning("unreadable 'names' in ONNX metadata: %.80s", raw)
    return None


def detect_layout(shape: tuple[int, ...], nc: int | None, declared: str | None = None) -> tuple[str, int]:
    """('v8', nc) for (N, 4+nc, A) or ('yolov5', nc) for (N, A, 5+nc); from metadata `layout` if declared,
    else from the shape and the number of names, else from which axis is the long (anchor) one."""
    _, d1, d2 = shape
    if declared in ("v8", "yolov5"):
        return declared, (d1 - 4 if declared == "v8" else d2 - 5)
    if nc is not None:
        if d1 == 4 + nc and d2 != 5 + nc:
            return "v8", nc
        if d2 == 5 + nc:
            return "yolov5", nc
        raise ValueError(f"output {shape} fits neither (N, 4+{nc}, A) nor (N, A, 5+{nc})")
    return ("v8", d1 - 4) if d1 < d2 else ("yolov5", d2 - 5)


def candidates(out: np.ndarray, layout: str, conf: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xywh boxes, score, best class) scoring above `conf` in one image's raw output (best class only)."""
    if layout == "v8":  # (4+nc, A)
        cls = out[4:]
        best = cls.max(0)
        idx = np.flatnonzero(best > conf)
        return out[:4, idx].T, best[idx], cls[:, idx].argmax(0)
    cand = out[out[:, 4] > conf]  # yolov5: (A, 5+nc); objectness filter first, as YOLOv5's NMS does
    scores = cand[:, 5:] * cand[:, 4:5]  # score = objectness * class score
    j = scores.argmax(1)
    s = scores[np.arange(len(j)), j]
    keep = s > conf
    return cand[keep, :4], s[keep], j[keep]


class OnnxDetector:
    """ONNX Runtime detector with the `Detector` interface; thread-safe (one inference at a time).

    Counters since load (warm-up excluded): `calls` (images), `total_ms` and `last_ms` (whole detect /
    detect_batch calls, pre- and post-processing included), `run_ms_total` and `last_run_ms` (session.run
    alone, so the overhead is total_ms / run_ms_total - 1) and `runs` (session.run calls)."""

    def __init__(self, model_path: str | Path, imgsz: int | None = None, confidence: float = 0.25,
                 iou: float = 0.7, max_det: int = 300, threads: int | None = None):
        import onnxruntime as ort

        self.path = Path(model_path)
        self.confidence, self.iou, self.max_det = confidence, iou, max_det
        self.threads = int(threads or os.cpu_count() or 1)
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session_options = so
        self.session = ort.InferenceSession(str(self.path), so, providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_dtype = np.float16 if "float16" in inp.type else np.float32
        batch, _, h, w = inp.shape
        self.fixed_batch = batch if isinstance(batch, int) and batch > 0 else None
        if isinstance(h, int) and isinstance(w, int):
            if imgsz and (imgsz, imgsz) != (h, w):
                log.warning("%s: input fixed at %dx%d, imgsz %s ignored", self.path.name, h, w, imgsz)
            self.input_hw = (h, w)
        else:
            self.input_hw = _size(imgsz or 640)
        self.imgsz = self.input_hw[0]
        meta = self.session.get_modelmeta().custom_metadata_map
        names = parse_names(meta)
        self._lock = threading.Lock()
        self.reset_counters()
        warm = self.session.run(None, {self.input_name: self._blank(self.fixed_batch or 1)})[0]
        self.layout, nc = detect_layout(warm.shape, len(names) if names else None, meta.get("layout"))
        # in vigil's vocabulary (vision/vocabulary.py): COCO's bicycle and motorcycle are both `ebike`, and NMS runs
        # over the classes that share a name as over one
        self.names: dict[int, str] = vigil_names(names or {i: f"class{i}" for i in range(nc)})
        self._canonical = canonical_ids(self.names)
        self.nc = nc
        self.detect(np.zeros((*self.input_hw, 3), np.uint8))  # warm-up of the whole path
        self.reset_counters()
        log.info("onnx detector %s loaded (%s layout, %d classes, input %dx%d, %s batch, %d threads)",
                 self.path.name, self.layout, nc, *self.input_hw,
                 f"fixed {self.fixed_batch}" if self.fixed_batch else "dynamic", self.threads)

    def reset_counters(self) -> None:
        self.calls, self.runs, self.total_ms, self.last_ms, self.run_ms_total, self.last_run_ms = 0, 0, 0.0, 0.0, 0.0, 0.0

    @property
    def dynamic_batch(self) -> bool:
        return self.fixed_batch is None

    def _blank(self, n: int) -> np.ndarray:
        return np.zeros((n, 3, *self.input_hw), self.input_dtype)

    def detect(self, image: np.ndarray) -> Detections:
        """Boxes in `image`'s own pixel coordinates (BGR uint8 HxWx3)."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: list[np.ndarray]) -> list[Detections]:
        """One Detections per image; one session.run for the whole list when the batch axis is dynamic."""
        if not images:
            return []
        # ONNX Runtime sessions accept concurrent run() calls: only the counters are locked, so a
        # scheduler may run several single-threaded calls side by side (one per core)
        t0 = time.perf_counter()
        step = self.fixed_batch or len(images)
        results, run_s, runs = [], 0.0, 0
        for start in range(0, len(images), step):
            chunk = images[start:start + step]
            x = np.empty((step, 3, *self.input_hw), np.float32)
            params = [fill_input(img, x[i]) for i, img in enumerate(chunk)]
            if len(chunk) < step:  # fixed batch larger than what is left: pad with blanks
                x[len(chunk):] = 0
            t_run = time.perf_counter()
            out = self.session.run(None, {self.input_name: x.astype(self.input_dtype, copy=False)})[0]
            run_s += time.perf_counter() - t_run
            runs += 1
            results += [self._postprocess(out[i], img.shape, p) for i, (img, p) in enumerate(zip(chunk, params))]
        with self._lock:
            self.last_ms = (time.perf_counter() - t0) * 1000
            self.calls += len(images)
            self.runs += runs
            self.total_ms += self.last_ms
            self.last_run_ms = run_s * 1000
            self.run_ms_total += self.last_run_ms
        return results

    def _postprocess(self, out: np.ndarray, shape: tuple[int, ...], params: tuple[int, int, int, int]) -> Detections:
        xywh, score, cls = candidates(out.astype(np.float32, copy=False), self.layout, self.confidence)
        if not len(score):
            return Detections.empty(self.names)
        if len(score) > MAX_NMS:
            top = np.argsort(-score, kind="stable")[:MAX_NMS]
            xywh, score, cls = xywh[top], score[top], cls[top]
        if self._canonical is not None:
            cls = self._canonical[cls]
        xyxy = np.empty((len(score), 4), np.float32)
        half = xywh[:, 2:4] / 2
        xyxy[:, :2] = xywh[:, :2] - half
        xyxy[:, 2:] = xywh[:, :2] + half
        keep = nms(xyxy + (cls[:, None] * MAX_WH).astype(np.float32), score, self.iou)[:self.max_det]
        xyxy, score, cls = xyxy[keep], score[keep], cls[keep]
        new_w, new_h, left, top = params
        h, w = shape[:2]
        xyxy -= np.array([left, top, left, top], np.float32)
        xyxy /= np.array([new_w / w, new_h / h, new_w / w, new_h / h], np.float32)
        np.clip(xyxy, 0, np.array([w, h, w, h], np.float32), out=xyxy)
        return Detections(xyxy, score.astype(np.float32), cls.astype(np.int32), self.names)
