"""What the rule benches share (`vision/bench_rules.py`): the project's objects model, an event sink, a detector
that replays detections computed earlier, and a one-zone camera configuration."""
from __future__ import annotations

from datetime import datetime

from vigil.config import parse_config
from vigil.models.catalogue import model_imgsz, resolve_model
from vigil.replay import CollectingSink as Sink  # the pipeline's sink that keeps the events

__all__ = ["WALL", "Replay", "Sink", "camera", "objects_detector"]

WALL = datetime(2026, 11, 24, 10, 0)


def objects_detector(model: str | None = None):
    from vigil.vision.detector import load_detector

    return load_detector(resolve_model(model, "objects"), model_imgsz(model, 320), 0.25)


class Replay:
    """Stands in for the detector: hands out detections computed earlier, in order."""

    def __init__(self, names):
        self.names, self.queue = names, []

    def detect(self, image):
        return self.queue.pop(0)


def camera(kind: str, rule: dict, polygon=((0, 0), (1, 0), (1, 1), (0, 1))):
    return parse_config({"institutions": [{"id": "a", "name": "A", "region": "X"}], "cameras": [{
        "id": "c", "name": "c", "url": "x.mp4", "institution": "a", "site_kind": kind,
        "zones": [{"name": "z", "polygon": [list(p) for p in polygon], "rules": [rule]}]}]}).cameras[0]
