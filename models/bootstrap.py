"""How far a per-class AP50 could move on another sample of the same kind of pictures: a bootstrap over the
val images (`vigil models eval --bootstrap N`).

With 25 smoke boxes in the shared valid split one box moves smoke AP50 by about 4 points, so a single AP figure
says little about whether one model beats another. Each image is scored once (vigil's own detector for the file:
`OnnxDetector` for .onnx, ultralytics otherwise, confidence 0.001), every detection matched greedily in score
order to an unmatched label box of its class at IoU >= 0.5; then the images are drawn with replacement `rounds`
times and AP50 recomputed each time with ultralytics' `ap_per_class` (the interpolation its val uses). The
recomputed full-split AP50 is reported too: it differs from ultralytics' val only by pre/post-processing."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vigil.models.datasets import label_for
from vigil.vision.boxes import iou_matrix


@dataclass(frozen=True)
class ScoredImage:
    tp: np.ndarray  # (n,) bool: the detection matched a label box of its class at IoU >= 0.5
    confidence: np.ndarray  # (n,)
    class_id: np.ndarray  # (n,)
    target_classes: np.ndarray  # (m,) class of every label box


def read_labels(image: Path, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(classes, xyxy pixel boxes) of an image's YOLO label file (none when it has no file)."""
    path = label_for(image)
    rows = [ln.split() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()] if path.is_file() else []
    a = np.array([[float(v) for v in r[:5]] for r in rows], np.float64).reshape(-1, 5)
    cx, cy, w, h = a[:, 1] * width, a[:, 2] * height, a[:, 3] * width, a[:, 4] * height
    return a[:, 0].astype(int), np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)


def match(xyxy: np.ndarray, confidence: np.ndarray, class_id: np.ndarray, gt_cls: np.ndarray,
          gt_xyxy: np.ndarray, iou: float = 0.5) -> np.ndarray:
    """Greedy matching in score order; each label box takes at most one detection."""
    tp = np.zeros(len(xyxy), bool)
    if not len(xyxy) or not len(gt_cls):
        return tp
    m = iou_matrix(xyxy, gt_xyxy)
    m[class_id[:, None] != gt_cls[None, :]] = 0.0
    free = np.ones(len(gt_cls), bool)
    for i in np.argsort(-confidence, kind="stable"):
        cand = np.where(free & (m[i] >= iou))[0]
        if len(cand):
            free[cand[np.argmax(m[i, cand])]] = False
            tp[i] = True
    return tp


def score_images(model: Path, images: list[Path], imgsz: int) -> list[ScoredImage]:
    import cv2

    from vigil.vision.detector import load_detector

    detector = load_detector(model, imgsz, 0.001)
    out = []
    for path in images:
        image = cv2.imread(str(path))
        if image is None:
            raise ValueError(f"unreadable image {path}")
        gt_cls, gt_xyxy = read_labels(path, image.shape[1], image.shape[0])
        d = detector.detect(image)
        out.append(ScoredImage(match(d.xyxy, d.confidence, d.class_id, gt_cls, gt_xyxy), d.confidence,
                               d.class_id.astype(int), gt_cls))
    return out


def ap50(scored: list[ScoredImage], idx) -> dict[int, float]:
    """AP50 per class over the images `idx` (repeats allowed); classes without a label box are left out."""
    from ultralytics.utils.metrics import ap_per_class

    picked = [scored[i] for i in idx]
    tp = np.concatenate([s.tp for s in picked])
    if not len(tp):
        return {}
    result = ap_per_class(tp[:, None], np.concatenate([s.confidence for s in picked]),
                          np.concatenate([s.class_id for s in picked]),
                          np.concatenate([s.target_classes for s in picked]), plot=False)
    ap, classes = result[5], result[6]
    return {int(c): float(ap[j, 0]) for j, c in enumerate(classes)}


def bootstrap_ap50(model: Path, images: list[Path], names: dict[int, str], imgsz: int, rounds: int = 1000,
                   seed: int = 0) -> dict:
    """`ap50_recomputed` (full split) and `ap50_interval90` (5th and 95th percentile over `rounds` resamples)
    per class name."""
    scored = score_images(model, images, imgsz)
    full = ap50(scored, range(len(scored)))
    rng = np.random.default_rng(seed)
    draws: dict[int, list[float]] = {c: [] for c in full}
    for _ in range(rounds):
        got = ap50(scored, rng.integers(0, len(scored), len(scored)))
        for c in draws:
            if c in got:  # a resample without any box of the class has no AP for it
                draws[c].append(got[c])
    return {"ap50_recomputed": {names.get(c, str(c)): round(v, 4) for c, v in full.items()},
            "ap50_interval90": {names.get(c, str(c)): [round(float(np.percentile(v, 5)), 3),
                                                       round(float(np.percentile(v, 95)), 3)]
                                for c, v in draws.items() if v},
            "bootstrap_rounds": rounds, "bootstrap_seed": seed}
