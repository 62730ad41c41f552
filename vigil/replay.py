"""`vigil replay`: the full pipeline over a video file on the video's own clock."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from vigil.config import Camera, VigilConfig, INDOOR_PASSAGE_KINDS, PASSAGE_KINDS, STAFFED_KINDS
from vigil.vision.events import Crossing, EventRecord


def default_rules_for(kind: str) -> list[dict]:
    rules: list[dict] = []
    if kind in PASSAGE_KINDS:
        rules.append({"type": "blocked_exit"})
    if kind in INDOOR_PASSAGE_KINDS:
        rules.append({"type": "ebike_indoor"})
    if kind in STAFFED_KINDS:
        rules.append({"type": "unattended_room"})
    rules.append({"type": "fire_smoke"})
    return rules


def adhoc_camera(video: Path, kind: str, zone: list[tuple[float, float]] | None, rules: list[str] | None,
                 params: dict[str, float], detect_fps: float) -> Camera:
    wanted = default_rules_for(kind)
    if rules:
        wanted = [{"type": r} for r in rules]
    from vigil.rules_config import BlockedExitRule, EbikeIndoorRule, FireSmokeRule, GateRule, UnattendedRoomRule
    fields = {m.model_fields["type"].annotation.__args__[0]: set(m.model_fields)
              for m in (BlockedExitRule, EbikeIndoorRule, FireSmokeRule, UnattendedRoomRule, GateRule)}
    for key in params:
        if not any(key in fields[r["type"]] for r in wanted):
            raise ValueError(f"--param {key}: no selected rule has this parameter")
    for r in wanted:
        r.update({k: v for k, v in params.items() if k in fields[r["type"]]})
    return Camera.model_validate({
        "id": "replay", "name": video.name, "url": str(video), "institution": "replay", "site_kind": kind,
        "detect_fps": detect_fps, "zones": [{"name": "zone", "polygon": zone or [(0, 0), (1, 0), (1, 1), (0, 1)], "rules": wanted}],
    })


class VideoError(ValueError):
    """The video cannot be read to its end: not a video, damaged or truncated."""


def iter_video(path: Path, detect_fps: float, realtime: bool) -> Iterator[tuple[np.ndarray, float]]:
    """Frames sampled at `detect_fps` on the video's own clock (seconds from its start). VideoError when
    the file does not open, or ends well before the frame count its header declares (truncated)."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise VideoError(f"{path}: not a video OpenCV can open (damaged, truncated or another kind of file)")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    declared = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
    interval = 1.0 / detect_fps
    next_t = 0.0
    index = 0
    t0 = time.monotonic()
    try:
        while True:
            ok = cap.grab()
            if not ok:
                if declared and index < declared - max(2, declared // 50):
                    raise VideoError(f"{path}: the video ends at frame {index} of the {declared} its header declares "
                                     "(truncated or damaged file)")
                return
            t = index / fps
            index += 1
            if t + 1e-6 < next_t:
                continue
            ok, img = cap.retrieve()
            if not ok:
                return
            while next_t <= t + 1e-6:
                next_t += interval
            if realtime:
                wait = t0 + t - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            yield img, t
    finally:
        cap.release()


@dataclass
class CollectingSink:
    """Keeps events in order of start; optionally prints each as a JSON line when it is known."""

    stream: object = None
    events: list[EventRecord] = field(default_factory=list)
    crossings: list[Crossing] = field(default_factory=list)  # a gate rule's people in and out

    def started(self, event, snapshot_jpeg):
        self.events.append(event)

    def updated(self, event, snapshot_jpeg):
        pass

    def ended(self, event):
        pass

    def crossed(self, crossing):
        self.crossings.append(crossing)


def event_json(ev: EventRecord) -> dict:
    return {"rule": ev.rule, "zone": ev.zone, "start_s": round(ev.started_t, 2),
            "end_s": None if ev.ended_t is None else round(ev.ended_t, 2), "confidence": round(ev.peak_confidence, 3)}


def run_replay(video: Path, camera: Camera, cfg: VigilConfig | None, *, fast: bool, as_json: bool,
               model: str | None = None, fire_model: str | None = None, out=sys.stdout) -> list[dict]:
    from vigil.models.catalogue import ModelNotFound, resolve_fire_model, resolve_model
    from vigil.cli_errors import model_file
    from vigil.vision.detector import load_detector
    from vigil.vision.pipeline import CameraPipeline

    det_cfg = cfg.detector if cfg else None
    conf = det_cfg.confidence if det_cfg else 0.25
    path = model_file(resolve_model(model or (det_cfg.model if det_cfg else None)),
                      "--model" if model else "detector.model" if det_cfg and det_cfg.model else None)
    detector = load_detector(path, object_imgsz(path, det_cfg), conf)
    fire = None
    fire_ref = fire_model or (det_cfg.fire_model if det_cfg else "auto")
    fire_path, fire_imgsz, fire_reason = resolve_fire_model(fire_ref,
                                                            det_cfg.fire_imgsz if det_cfg else None)
    if fire_model and fire_path is None:  # asked for by name: an error, not a rule quietly switched off
        raise ModelNotFound(f"--fire-model {fire_model}: {fire_reason}")
    if camera.has_fire_rule and fire_path is not None:
        fire = load_detector(model_file(fire_path, "--fire-model" if fire_model else None), fire_imgsz, conf)
    sink = CollectingSink()
    pipe = CameraPipeline(camera, detector, sink, fire, fire_reason)
    for st in pipe.rule_status():
        if st["status"] == "disabled":
            print(f"note: rule {st['rule']} in zone {st['zone']!r} is disabled: {st['reason']}", file=sys.stderr)
    start_wall = datetime.now().astimezone()
    n = 0
    for img, t in iter_video(video, camera.effective_detect_fps, realtime=not fast):
        pipe.process(img, t, start_wall + timedelta(seconds=t))
        n += 1
    results = [event_json(e) for e in sink.events]
    for r in results:
        if as_json:
            print(json.dumps(r, ensure_ascii=False), file=out)
        else:
            end = "open" if r["end_s"] is None else f"{r['end_s']:.1f}s"
            print(f"{r['rule']:<16} zone={r['zone']!s:<12} start={r['start_s']:.1f}s end={end} confidence={r['confidence']:.2f}", file=out)
    print(f"replay: {n} frames analysed at {camera.effective_detect_fps:g} Hz, {len(results)} event(s)", file=sys.stderr)
    if camera.has_gate_rule:
        went = [c.direction for c in sink.crossings]
        print(f"replay: gate counted {went.count('in')} in, {went.count('out')} out", file=sys.stderr)
    return results


def object_imgsz(path: Path, det_cfg) -> int | None:
    """The object model's input size: the config's `detector.imgsz` when the config sets it, else the size
    the catalogue entry was made for, else for an ONNX file None (its fixed input size; 640 if it has none),
    else the config's default (320) or, without a config, 640. A fixed-size model thus runs at its own size
    without the `imgsz ... ignored` warning, which stays for a size the user asked for."""
    from vigil.models.catalogue import catalogue

    if det_cfg is not None and "imgsz" in det_cfg.model_fields_set:
        return det_cfg.imgsz
    resolved = Path(path).resolve()
    for entry in catalogue().values():
        if entry.imgsz and entry.path.resolve() == resolved:
            return entry.imgsz
    if Path(path).suffix.lower() == ".onnx":
        return None
    return det_cfg.imgsz if det_cfg is not None else 640


def parse_zone(text: str) -> list[tuple[float, float]]:
    vals = [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    if len(vals) % 2:
        raise ValueError("--zone needs pairs x,y,x,y,...")
    return list(zip(vals[::2], vals[1::2]))


def pick_camera(cfg: VigilConfig, video: Path, camera_id: str | None) -> Camera:
    if camera_id:
        return cfg.camera(camera_id)
    matches = [c for c in cfg.cameras if Path(c.url).name == video.name]
    if len(matches) == 1:
        return matches[0]
    if len(cfg.cameras) == 1:
        return cfg.cameras[0]
    raise ValueError(f"config has {len(cfg.cameras)} cameras and none uses {video.name}: pass --camera ID")


