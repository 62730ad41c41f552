"""The staffing bench (`unattended_room`, issue #18): `python -m vigil.vision.bench_rules staffing [--json]`.

Sequences assembled from the ceiling CCTV frames of `data/care_ward/valid`. A recording is a camera or numbered room (`models.datasets.source_group`, split further
by recording date for `cam_*`); its frames are played in frame-number order, each held `--hold` detection
frames at 1 Hz, and a sequence is looped to at least 30 s. Labels: the people are the boxes of the classes
patient, person, fall, lie, move, sit and stand, duplicates (IoU >= 0.5, or a patient/person box inside a posture box)
merged.

* staffed: the frames with at least `min_persons` labelled people, unmodified;
* one on duty (`min_persons` 2 only): the same frames with every labelled person but the largest painted out
  (OpenCV inpainting of the box, padded by 15 %);
* empty: the frames with every labelled person painted out.

The labels miss some people (a few frames show unlabelled people), who stay in the "one on duty" and
"empty" frames; the report lists the frames where the model still finds a person there. A decision is taken
every 10 s (at the last frame of each 10 s window of the sequence): staffed when the rule's count (the most
people seen on one frame of its window) reaches `min_persons`. The event figures replay recordings that empty
and fill again (staffed 60 s, empty 150 s, twice) through the camera pipeline with `absence_s` 120.
"""
from __future__ import annotations

import json
import math
import re
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from vigil.models.catalogue import resolve_model, shared_dir
from vigil.models.class_sets import PEOPLE, label_boxes, paint_out
from vigil.models.datasets import data_names
from vigil.vision.bench_harness import WALL, Replay, Sink, camera, objects_detector
from vigil.vision.boxes import covered_share, iou_matrix
from vigil.vision.detections import Detections
from vigil.vision.pipeline import CameraPipeline
from vigil.vision.rules import FrameContext
from vigil.vision.rules.staffing import UnattendedRoom

CARE_WARD = ("data", "care_ward", "valid")


def val_rooms() -> set[str]:
    """The care_ward rooms on the val side of `vigil models splits` (read from its split.json)."""
    from vigil.models.splits import SPLITS_DIR

    path = SPLITS_DIR / "care_ward" / "split.json"
    if not path.is_file():
        raise SystemExit(f"{path}: missing; run `vigil models splits` first")
    return set(json.loads(path.read_text())["val_groups"])


ROLES = ("patient", "person")  # care_ward's who-classes; the others (lie, sit, stand, fall, move) are postures
INSIDE = 0.8  # a role box this much inside a posture box is the same person boxed twice


@lru_cache(maxsize=2)
def care_ward_ids(classes: tuple[str, ...]) -> frozenset[int]:
    """The care-ward class ids of these class names."""
    names = data_names(shared_dir().joinpath(*CARE_WARD).parent / "data.yaml")
    return frozenset(i for i, n in names.items() if n in classes)


def care_ward_people() -> frozenset[int]:
    """The care-ward class ids that box a person (class_sets.PEOPLE: patient, person and the posture classes)."""
    return care_ward_ids(PEOPLE["care_ward"])


def labelled_people(label: Path, w: int, h: int) -> list[list[float]]:
    """The labelled people of a care-ward frame (pixel xyxy), largest first, duplicates merged: boxes overlapping at
    IoU >= 0.5, and a role box (patient, person) and a posture box (lie, sit, ...) one of which lies >= 80 % inside
    the other, which the set uses for one person boxed twice (a resident in bed: `patient` on the head and
    shoulders, `lie` on the body; 19 such pairs in the 402 frames)."""
    lines = [line.split() for line in label.read_text(encoding="utf-8").splitlines()]
    people, roles = care_ward_people(), care_ward_ids(ROLES)
    boxes = [(b, int(float(r[0])) in roles) for r in lines for b in label_boxes([r], people, w, h)]
    keep: list[list[float]] = []
    keep_roles: list[bool] = []
    for b, role in sorted(boxes, key=lambda x: -(x[0][2] - x[0][0]) * (x[0][3] - x[0][1])):
        kept = np.asarray(keep, np.float64).reshape(-1, 4)
        other_kind = kept[np.asarray(keep_roles, bool) != role]
        if (iou_matrix([b], kept) >= 0.5).any() or covered_share([b], other_kind)[0] >= INSIDE:
            continue
        keep.append(b)
        keep_roles.append(role)
    return keep


def recording(name: str) -> tuple[str, int]:
    """(recording, frame number) of a care-ward file: `cam_3_202309220645-avi_100004_png...` -> ('cam_3_202309220645', 100004)."""
    m = re.match(r"(cam_\d+_\d+|k?\d+)[-_].*?(\d{6})_png", name)
    if not m:
        raise ValueError(f"unexpected care-ward file name {name}")
    return m.group(1), int(m.group(2))


@dataclass
class WardFrame:
    name: str
    people: int
    orig: Detections
    one: Detections | None  # every labelled person but the largest painted out (>= 2 labelled)
    empty: Detections  # every labelled person painted out


def ward_frames(detector, log=print, rooms: set[str] | None = None) -> dict[str, list[WardFrame]]:
    """Every care-ward frame (of `rooms` only, when given), detected as it is and with people painted out, grouped by
    recording in order."""
    from vigil.models.splits import care_ward_room

    root = shared_dir().joinpath(*CARE_WARD)
    groups: dict[str, list[tuple[int, WardFrame]]] = {}
    images = sorted(p for p in (root / "images").iterdir() if rooms is None or care_ward_room(p) in rooms)
    t0 = time.monotonic()
    for i, img in enumerate(images):
        im = cv2.imread(str(img))
        h, w = im.shape[:2]
        people = labelled_people(root / "labels" / (img.stem + ".txt"), w, h)
        fr = WardFrame(img.name, len(people), detector.detect(im),
                       detector.detect(paint_out(im, people[1:])) if len(people) >= 2 else None,
                       detector.detect(paint_out(im, people)))
        rec, num = recording(img.name)
        groups.setdefault(rec, []).append((num, fr))
        if (i + 1) % 100 == 0:
            log(f"staffing: {i + 1}/{len(images)} frames detected ({time.monotonic() - t0:.0f} s)")
    return {k: [f for _, f in sorted(v, key=lambda x: x[0])] for k, v in sorted(groups.items())}


def window_decisions(frames: list[Detections], min_persons: int, window_s: float, min_confidence: float,
                     hold: int, every_s: int = 10, min_s: int = 30) -> list[bool]:
    """Staffed (True) / not, decided every `every_s` s by the rule on a sequence of detections (each held `hold`
    frames at 1 Hz, looped to at least `min_s` s)."""
    ticks = [d for d in frames for _ in range(hold)]
    length = max(min_s, math.ceil(len(ticks) / every_s) * every_s)
    ticks = (ticks * math.ceil(length / len(ticks)))[:length]
    cam = camera("control_room", {"type": "unattended_room", "min_persons": min_persons, "window_s": window_s,
                                  "min_confidence": min_confidence, "absence_s": 3600})
    rule = UnattendedRoom(cam.zones[0].rules[0], "z", cam.zones[0].polygon)
    img = np.zeros((640, 640, 3), np.uint8)
    out = []
    for t, d in enumerate(ticks):
        obs = rule.observe(FrameContext("c", "control_room", img, float(t), WALL, d))
        if t % every_s == every_s - 1:
            out.append(obs.detail["persons"] >= min_persons)
    return out


def staffing_accuracy(groups: dict[str, list[WardFrame]], min_persons: int, window_s: float, min_confidence: float,
                      hold: int) -> dict:
    res = {}
    kinds = {"staffed": (True, lambda f: f.orig if f.people >= min_persons else None),
             "empty": (False, lambda f: f.empty if f.people >= 1 else None)}
    if min_persons == 2:
        kinds["one_on_duty"] = (False, lambda f: f.one)
    for kind, (truth, pick) in kinds.items():
        ok = total = 0
        for frames in groups.values():
            seq = [d for d in (pick(f) for f in frames) if d is not None]
            if seq:
                dec = window_decisions(seq, min_persons, window_s, min_confidence, hold)
                ok += sum(d == truth for d in dec)
                total += len(dec)
        res[kind] = {"windows": total, "correct": ok, "accuracy": round(ok / max(total, 1), 4)}
    return res


def staffing_events(groups: dict[str, list[WardFrame]], min_persons: int, window_s: float, min_confidence: float,
                    hold: int, absence_s: float = 120.0) -> dict:
    """Recordings that empty and fill again (staffed 60 s, empty 150 s, staffed 60 s, empty 150 s) through the
    camera pipeline: events per empty stretch, their delay, and events that start while staffed."""
    plan = [("staffed", 60), ("empty", 150), ("staffed", 60), ("empty", 150)]
    stretches = delays = late = staffed_events = covered = open_while_staffed = staffed_stretches = 0
    per_stretch = []
    for frames in groups.values():
        staffed = [f.orig for f in frames if f.people >= min_persons]
        empty = [f.empty for f in frames if f.people >= 1]
        if not staffed or not empty:
            continue
        cam = camera("control_room", {"type": "unattended_room", "min_persons": min_persons, "window_s": window_s,
                                      "min_confidence": min_confidence, "absence_s": absence_s})
        det = Replay(staffed[0].names)
        sink = Sink()
        pipe = CameraPipeline(cam, det, sink)
        img = np.zeros((640, 640, 3), np.uint8)
        t, spans = 0, []
        for kind, secs in plan:
            seq = [d for d in (staffed if kind == "staffed" else empty) for _ in range(hold)]
            seq = (seq * math.ceil(secs / len(seq)))[:secs]
            spans.append((kind, t, t + secs))
            for d in seq:
                det.queue.append(d)
                pipe.process(img, float(t), WALL)
                t += 1
        for kind, a, b in spans:
            starts = [e.started_t for e in sink.events if a <= e.started_t < b]
            if kind == "staffed":
                staffed_events += len(starts)
                # an event still open when the staffed stretch ends: the staff were not recognised as back
                open_while_staffed += any(e.started_t < b and (e.ended_t is None or e.ended_t >= b) for e in sink.events)
                staffed_stretches += 1
                continue
            stretches += 1
            per_stretch.append(len(starts))
            if starts:
                delays = max(delays, starts[0] - a)
                late += starts[0] - a > absence_s + 10
            else:
                covered += any(e.started_t < a and (e.ended_t is None or e.ended_t >= b) for e in sink.events)
    return {"empty_stretches": stretches, "stretches_with_one_event": sum(n == 1 for n in per_stretch),
            "stretches_with_more_events": sum(n > 1 for n in per_stretch),
            "stretches_inside_an_earlier_event": covered, "max_delay_s": delays, "late_events": late,
            "staffed_stretches": staffed_stretches, "events_started_while_staffed": staffed_events,
            "staffed_stretches_ending_in_an_open_event": open_while_staffed}


def unlabelled_people(groups: dict[str, list[WardFrame]], min_confidence: float) -> list[str]:
    """Painted-out frames where the model still finds a person: people the labels miss (or what it takes for one)."""
    return sorted(f.name for frames in groups.values() for f in frames
                  if len(f.empty.of_classes(["person"]).above(min_confidence)) > 0)


def seen_as_two(groups: dict[str, list[WardFrame]], min_confidence: float) -> dict:
    """Frames with >= 2 labelled people (as they are) where the model reports >= 2 people, on one frame alone (the
    issue's per-frame figure; the rule's window counts the most seen over its frames)."""
    frames = [f for fs in groups.values() for f in fs if f.people >= 2]
    seen = sum(len(f.orig.of_classes(["person"]).above(min_confidence)) >= 2 for f in frames)
    return {"frames": len(frames), "seen_as_2_or_more": seen, "share": round(seen / max(len(frames), 1), 4)}


def bench_staffing(args) -> dict:
    det = objects_detector(args.model)
    rooms = val_rooms() if args.rooms == "val" else None
    groups = ward_frames(det, log=lambda m: print(m, file=sys.stderr), rooms=rooms)
    out = {"model": str(resolve_model(args.model, "objects").name), "rooms": sorted(rooms) if rooms else "all",
           "recordings": len(groups),
           "frames": sum(len(v) for v in groups.values()), "runs": []}
    for min_persons in (2, 1):
        for hold in args.hold:
            for window_s, conf in [(0.0, 0.3)] + [(w, c) for w in args.window for c in args.min_confidence]:
                run = {"min_persons": min_persons, "hold": hold, "window_s": window_s, "min_confidence": conf,
                       "windows": staffing_accuracy(groups, min_persons, window_s, conf, hold)}
                if window_s and hold == args.hold[0]:
                    run["events"] = staffing_events(groups, min_persons, window_s, conf, hold)
                out["runs"].append(run)
    out["painted_out_frames_with_a_person"] = {str(c): unlabelled_people(groups, c) for c in args.min_confidence}
    out["two_or_more_people"] = {str(c): seen_as_two(groups, c) for c in args.min_confidence}
    return out
