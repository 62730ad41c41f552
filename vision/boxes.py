"""Pairwise box geometry on (n, 4) xyxy arrays: intersections, IoU, and how much of a box another covers."""
from __future__ import annotations

import numpy as np


def intersections(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection areas."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0]); y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2]); y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    return np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)


def areas(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64).reshape(-1, 4)
    return np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)), np.float32)
    inter = intersections(a, b)
    return (inter / np.maximum(areas(a)[:, None] + areas(b)[None, :] - inter, 1e-6)).astype(np.float32)


def covered_share(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per box of `a`: the largest share of its area that one box of `b` covers (0 when `b` is empty)."""
    if not len(a) or not len(b):
        return np.zeros(len(a), np.float32)
    return (intersections(a, b) / np.maximum(areas(a)[:, None], 1e-6)).max(1).astype(np.float32)
