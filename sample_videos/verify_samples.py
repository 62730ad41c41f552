"""`make_samples.py --verify`: detector statistics on the clips and a replay through the vigil pipeline."""
from __future__ import annotations

import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from scenes import Corridor
from sprites import CLOCK0, FPS, H, W

if TYPE_CHECKING:
    from make_samples import ClipSpec

HERE = Path(__file__).resolve().parent
BLOCKING = ("chair", "couch", "bed", "dining table", "bench", "bicycle", "motorcycle", "suitcase", "backpack",
            "handbag", "potted plant", "refrigerator", "tv")


def _longest_run(flags: list[bool]) -> int:
    best = run = 0
    for f in flags:
        run = run + 1 if f else 0
        best = max(best, run)
    return best


def verify(out: Path, specs: list[ClipSpec], model_path: str, config_path: Path) -> bool:
    import cv2

    os.environ.setdefault("YOLO_CONFIG_DIR", str(HERE.parent / ".yolo"))
    os.environ.setdefault("YOLO_OFFLINE", "1")
    sys.path.insert(0, str(HERE.parent))
    from ultralytics import YOLO

    from vigil.config import load_config
    from vigil.vision.detections import Detections
    from vigil.vision.zones import ZoneGeometry

    cfg = load_config(config_path)
    cams = {Path(c.url).name: c for c in cfg.cameras}
    model = YOLO(model_path, task="detect")
    ok = True
    scene = Corridor()
    drawn_zone = scene.exit_zone()
    for spec in specs:
        path = out / spec.name
        cam = cams.get(spec.name)
        print(f"\n== {spec.name} ({spec.seconds:.0f} s): {spec.about}")
        if cam is None:
            print(f"   FAIL no camera in {config_path.name} plays {spec.name}")
            ok = False
            continue
        zones = {z.name: ZoneGeometry(z.name, z.polygon, W, H) for z in cam.zones}
        if spec.name.startswith("corridor"):
            zpoly = cam.zones[0].polygon
            err = max(abs(a - b) for p, q in zip(zpoly, drawn_zone) for a, b in zip(p, q)) if len(zpoly) == len(drawn_zone) else 1
            print(f"   exit zone in {config_path.name} {'matches' if err < 0.006 else 'DOES NOT match'} the drawn exit area (max diff {err:.3f})")
            ok &= err < 0.006
        # replay through the real pipeline (same zones and rules) with the detections computed here
        pipeline = events = None
        try:
            from vigil.vision.pipeline import CameraPipeline

            class _Sink:
                def __init__(self) -> None:
                    self.log: list[tuple[str, object]] = []

                def started(self, ev, snapshot_jpeg) -> None:
                    self.log.append(("start", ev))

                def updated(self, ev, snapshot_jpeg) -> None:
                    pass

                def ended(self, ev) -> None:
                    self.log.append(("end", ev))

            class _Replay:
                names: dict[int, str] = {}
                current = None

                def detect(self, image):
                    return self.current

            replay, events = _Replay(), _Sink()
            pipeline = CameraPipeline(cam, replay, events)
        except Exception as exc:  # the verification numbers below do not need it
            print(f"   (pipeline replay unavailable: {exc!r})")
        cap = cv2.VideoCapture(str(path))
        rows = []
        i = 0
        t_det = 0.0
        while True:
            okf, frame = cap.read()
            if not okf:
                break
            if i % 5 == 0:
                t = i / FPS
                t1 = time.perf_counter()
                res = model.predict(frame, imgsz=640, conf=0.25, verbose=False)[0]
                t_det += time.perf_counter() - t1
                dets = Detections.from_ultralytics(res)
                row = {"t": t}
                if spec.name.startswith("corridor"):
                    exit_zone = next(iter(zones.values()))
                    bikes = exit_zone.select(dets.of_classes(["motorcycle", "bicycle"]).above(0.35), 0.3)
                    row["bike"] = len(bikes) > 0
                    row["bike_conf"] = bikes.max_confidence()
                    blk = dets.of_classes(BLOCKING).above(0.35)
                    row["blocking"] = blk.class_names
                    row["blocking_in_zone"] = exit_zone.select(blk, 0.3).class_names
                    if spec.name == "corridor_boxes.mp4":
                        bx = scene.bbox(-1.12, 0.62, 1.32, 4.8, 5.45)
                        on = [bool(_overlap_share(b, bx) >= 0.5) for b in blk.xyxy]
                        row["blocking_off_boxes"] = [n for n, o in zip(blk.class_names, on) if not o]
                else:
                    room = next(iter(zones.values()))
                    row["persons"] = len(room.select(dets.of_classes(["person"]).above(0.3), 0.5))
                if pipeline is not None:
                    replay.current = dets
                    pipeline.process(frame, t, CLOCK0 + timedelta(seconds=t))
                    bg = pipeline.background
                    if bg is not None and spec.name.startswith("corridor"):
                        m = bg.stationary_mask(t, 0.0 if t < 1 else _dwell(cam))
                        row["covered"] = next(iter(zones.values())).covered_ratio(m) if m is not None else 0.0
                rows.append(row)
            i += 1
        cap.release()
        print(f"   {i} frames, {len(rows)} sampled (every 5th), detector {1000 * t_det / max(len(rows), 1):.0f} ms/frame")
        ok &= _report(spec, rows)
        if events is not None:
            if not events.log:
                print("   pipeline events: none")
            for kind, ev in events.log:
                t_ev = ev.started_t if kind == "start" else ev.ended_t
                print(f"   pipeline event {kind:5s} t={t_ev:5.1f} s  {ev.rule:16s} zone={ev.zone}  conf={ev.peak_confidence:.2f}  "
                      f"{ev.detail.get('reason', '')}")
            ok &= _check_events(spec, [(k, e) for k, e in events.log])
    print(f"\nverify: {'all targets met' if ok else 'SOME TARGETS MISSED'}")
    return ok


def _dwell(cam) -> float:
    for z in cam.zones:
        for r in z.rules:
            if r.type == "blocked_exit":
                return r.dwell_s
    return 10.0


def _overlap_share(box, region) -> float:
    x0, y0, x1, y1 = box
    ix = max(0.0, min(x1, region[2]) - max(x0, region[0]))
    iy = max(0.0, min(y1, region[3]) - max(y0, region[1]))
    return ix * iy / max((x1 - x0) * (y1 - y0), 1e-6)


def _frac(rows: list[dict], pred) -> float:
    return sum(1 for r in rows if pred(r)) / max(len(rows), 1)


def _target(name: str, value: float, goal: float, at_least: bool = True) -> bool:
    good = value >= goal if at_least else value <= goal
    print(f"   {'PASS' if good else 'FAIL'} {name}: {value:.3f} ({'>=' if at_least else '<='} {goal})")
    return good


def _report(spec: ClipSpec, rows: list[dict]) -> bool:
    ok = True
    n = spec.name
    if n.startswith("corridor"):
        ev = spec.event_t if spec.event_t is not None else spec.seconds
        segs = [("before", [r for r in rows if r["t"] < ev]), ("after", [r for r in rows if r["t"] >= ev])]
        for label, rs in segs:
            if not rs:
                continue
            counts: dict[str, int] = {}
            for r in rs:
                for c in set(r["blocking"]):
                    counts[c] = counts.get(c, 0) + 1
            cov = [r["covered"] for r in rs if "covered" in r]
            print(f"   {label:6s} {rs[0]['t']:4.1f}-{rs[-1]['t']:4.1f} s ({len(rs)} samples): motorcycle/bicycle in exit zone "
                  f"{_frac(rs, lambda r: r['bike']):.2f}; any blocking class {_frac(rs, lambda r: bool(r['blocking'])):.2f} "
                  f"(in zone {_frac(rs, lambda r: bool(r['blocking_in_zone'])):.2f}, longest run {_longest_run([bool(r['blocking_in_zone']) for r in rs])} samples) "
                  f"{counts or ''}" + (f"; stationary cover of zone max {max(cov):.2f}" if cov else ""))
        before, after = segs[0][1], segs[1][1]
        if n == "corridor_motorcycle.mp4":
            ok &= _target("motorcycle in exit zone after 8 s (conf>=0.35)", _frac(after, lambda r: r["bike"]), 0.90)
            confs = [r["bike_conf"] for r in after if r["bike"]]
            if confs:
                print(f"        motorcycle confidence after 8 s: min {min(confs):.2f} mean {np.mean(confs):.2f}")
            ok &= _target("motorcycle in exit zone before 8 s", _frac(before, lambda r: r["bike"]), 0.0, at_least=False)
        elif n == "corridor_boxes.mp4":
            late = [r for r in after if r["t"] >= ev + 11 and "covered" in r]
            if late:
                cov = [r["covered"] for r in late]
                print(f"        stationary-foreground cover of the exit zone from {ev + 11:.0f} s: min {min(cov):.2f} mean {np.mean(cov):.2f}")
                ok &= _target("share of samples from 19 s with cover >= 0.4", _frac(late, lambda r: r["covered"] >= 0.4), 0.9)
            ok &= _target("blocking class away from the boxes (share of samples)",
                          _frac(rows, lambda r: bool(r["blocking_off_boxes"])), 0.05, at_least=False)
            ok &= _target("blocking class in exit zone before 8 s (longest run)",
                          _longest_run([bool(r["blocking_in_zone"]) for r in before]), 2, at_least=False)
        else:
            ok &= _target("blocking class in exit zone (longest run, samples)",
                          _longest_run([bool(r["blocking_in_zone"]) for r in rows]), 2, at_least=False)
            ok &= _target("blocking class anywhere (share of samples)", _frac(rows, lambda r: bool(r["blocking"])), 0.05, at_least=False)
            cov = [r["covered"] for r in rows if "covered" in r]
            if cov:
                ok &= _target("max stationary-foreground cover of exit zone", max(cov), 0.4, at_least=False)
    else:
        if n == "control_room.mp4":
            segs = [("0-15 s", 0, 15), ("15-17 s", 15, 17), ("17-60 s", 17, spec.seconds + 1)]
        else:
            segs = [("all", 0, spec.seconds + 1)]
        parts = {}
        for label, a, b in segs:
            rs = [r for r in rows if a <= r["t"] < b]
            parts[label] = rs
            ps = [r["persons"] for r in rs]
            print(f"   {label:8s} ({len(rs)} samples): persons in room zone min {min(ps)} mean {np.mean(ps):.2f} max {max(ps)}; "
                  f">=2 in {_frac(rs, lambda r: r['persons'] >= 2):.2f}, 0 in {_frac(rs, lambda r: r['persons'] == 0):.2f}")
        if n == "control_room.mp4":
            ok &= _target("0-15 s: >= 2 persons", _frac(parts["0-15 s"], lambda r: r["persons"] >= 2), 0.90)
            ok &= _target("after 17 s: 0 persons", _frac(parts["17-60 s"], lambda r: r["persons"] == 0), 0.95)
        else:
            ok &= _target(">= 2 persons all the time", _frac(parts["all"], lambda r: r["persons"] >= 2), 0.95)
    return ok


def _check_events(spec: ClipSpec, log: list) -> bool:
    starts = [(e.rule, e.started_t) for k, e in log if k == "start"]
    rules = {r for r, _ in starts}
    want = {"corridor_motorcycle.mp4": {"ebike_indoor", "blocked_exit"}, "corridor_boxes.mp4": {"blocked_exit"},
            "control_room.mp4": {"unattended_room"}}.get(spec.name, set())
    good = rules == want
    print(f"   {'PASS' if good else 'FAIL'} pipeline events: {sorted(rules) or 'none'} (expected {sorted(want) or 'none'})")
    early = [r for r, t in starts if spec.event_t is not None and t < spec.event_t]
    if early:
        print(f"   FAIL events before the scripted event at {spec.event_t} s: {early}")
        good = False
    return good


