"""Evidence images: the zone and the boxes that caused an event, drawn on the frame."""
from __future__ import annotations

import cv2
import numpy as np

from vigil.vision.detections import Detections

RULE_COLOURS = {
    "blocked_exit": (0, 140, 255),
    "ebike_indoor": (255, 0, 200),
    "unattended_room": (0, 0, 255),
    "fire_smoke": (0, 0, 230),
    "camera_offline": (128, 128, 128),
}


def annotate(image: np.ndarray, *, polygon_px: np.ndarray | None, rule: str, title: str,
             boxes: Detections | None = None, mask: np.ndarray | None = None) -> np.ndarray:
    """A copy of `image` with the zone outline, the evidence boxes, an optional mask outline and a title bar."""
    out = image.copy()
    colour = RULE_COLOURS.get(rule, (0, 255, 255))
    h, w = out.shape[:2]
    if polygon_px is not None:
        overlay = out.copy()
        pts = np.round(polygon_px).astype(np.int32)
        cv2.fillPoly(overlay, [pts], colour)
        cv2.addWeighted(overlay, 0.18, out, 0.82, 0, dst=out)
        cv2.polylines(out, [pts], True, colour, 2, cv2.LINE_AA)
    if mask is not None and mask.any():
        m = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, (0, 255, 255), 2, cv2.LINE_AA)
    if boxes is not None:
        for (x0, y0, x1, y1), name, conf in zip(boxes.xyxy, boxes.class_names, boxes.confidence):
            p0, p1 = (int(x0), int(y0)), (int(x1), int(y1))
            cv2.rectangle(out, p0, p1, colour, 2, cv2.LINE_AA)
            label = f"{name} {conf:.2f}"
            (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
            cv2.rectangle(out, (p0[0], max(0, p0[1] - th - 6)), (p0[0] + tw + 4, p0[1]), colour, -1)
            cv2.putText(out, label, (p0[0] + 2, max(th, p0[1] - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.rectangle(out, (0, 0), (w, 24), (0, 0, 0), -1)
    cv2.putText(out, title, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def encode_jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
