"""Two rules on real CCTV footage: `python -m vigil.vision.bench_rules staffing|left-object [--json]`.

Both run the real rule code on real frames from the shared folder (`../shared`, or $VIGIL_SHARED) with the
project's default objects model (the catalogue's `objects` default, run at 320 px like the service).

**staffing** (`unattended_room`, issue #18): sequences assembled from the ceiling CCTV frames of
`data/care_ward/valid`. A recording is a camera or numbered room (`models.datasets.source_group`, split further
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

**left-object** (`blocked_exit`, left-object mode): the real street footage `data/video/street_crowd.mp4`
(a crowded crossing, 640x360, 28.6 s), looped and sampled at 1 Hz with a phase that moves every loop. A real
bag, cut by its label box from a CCTV frame of `data/cctv_intelligence` (about 50 px), is put down at a fixed
place from `--put-at` seconds on; where a passer-by is in front of it (the pixel differs from the clip's median
picture) the passer-by stays in front. The event must start within dwell_s + 5 s of the bag's arrival; the
unmodified footage, looped for `--minutes`, must raise none.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from vigil.config import parse_config
from vigil.models.catalogue import model_imgsz, resolve_model, shared_dir
from vigil.models.class_sets import PEOPLE, label_boxes, paint_out
from vigil.models.datasets import data_names
from vigil.vision.detections import Detections
from vigil.vision.pipeline import CameraPipeline
from vigil.vision.rules import FrameContext
from vigil.vision.rules.staffing import UnattendedRoom

CARE_WARD = ("data", "care_ward", "valid")
STREET = ("data", "video", "street_crowd.mp4")
BAG_FRAME = ("data", "cctv_intelligence", "images", "-C102302_004-_3480_jpg.rf.081f35958c1bd9bb202a6a948f61ef95.jpg")
BAG_WIDTH = 50
WALL = datetime(2026, 11, 24, 10, 0)


def objects_detector(model: str | None = None):
    from vigil.vision.detector import load_detector

    return load_detector(resolve_model(model, "objects"), model_imgsz(model, 320), 0.25)


def val_rooms() -> set[str]:
    """The care_ward rooms on the val side of `vigil models splits` (read from its split.json)."""
    from vigil.models.splits import SPLITS_DIR

    path = SPLITS_DIR / "care_ward" / "split.json"
    if not path.is_file():
        raise SystemExit(f"{path}: missing; run `vigil models splits` first")
    return set(json.loads(path.read_text())["val_groups"])


class Sink:
    """Collects events (the pipeline's sink)."""

    def __init__(self):
        self.events: list = []

    def started(self, ev, jpeg):
        self.events.append(ev)

    def updated(self, ev, jpeg):
        pass

    def ended(self, ev):
        pass


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


# -- staffing -------------------------------------------------------------------------------------------
def _iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter + 1e-9)


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


def _inside(small, big) -> float:
    iw = max(0.0, min(small[2], big[2]) - max(small[0], big[0]))
    ih = max(0.0, min(small[3], big[3]) - max(small[1], big[1]))
    return iw * ih / ((small[2] - small[0]) * (small[3] - small[1]) + 1e-9)


def labelled_people(label: Path, w: int, h: int) -> list[list[float]]:
    """The labelled people of a care-ward frame (pixel xyxy), largest first, duplicates merged: boxes overlapping at
    IoU >= 0.5, and a role box (patient, person) and a posture box (lie, sit, ...) one of which lies >= 80 % inside
    the other, which the set uses for one person boxed twice (a resident in bed: `patient` on the head and
    shoulders, `lie` on the body; 19 such pairs in the 402 frames)."""
    lines = [line.split() for line in label.read_text(encoding="utf-8").splitlines()]
    people, roles = care_ward_people(), care_ward_ids(ROLES)
    boxes = [(b, int(float(r[0])) in roles) for r in lines for b in label_boxes([r], people, w, h)]
    keep: list[tuple[list[float], bool]] = []
    for b, role in sorted(boxes, key=lambda x: -(x[0][2] - x[0][0]) * (x[0][3] - x[0][1])):
        same = any(_iou(b, k) >= 0.5 or (role != k_role and _inside(b, k) >= INSIDE) for k, k_role in keep)
        if not same:
            keep.append((b, role))
    return [b for b, _ in keep]


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


# -- left object ----------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def street_clip() -> tuple[tuple[np.ndarray, ...], float]:
    """Every frame of the street clip, and its frame rate."""
    cap = cv2.VideoCapture(str(shared_dir().joinpath(*STREET)))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    if not frames:
        raise FileNotFoundError(f"cannot read {shared_dir().joinpath(*STREET)}")
    return tuple(frames), fps


@lru_cache(maxsize=1)
def street_median() -> np.ndarray:
    frames, _ = street_clip()
    return np.median(np.stack(frames[::10]), axis=0).astype(np.uint8)


def bag_crop(width: int = BAG_WIDTH) -> np.ndarray:
    """The bag of a real CCTV frame, cut by its label box, cleaned of the set's salt-and-pepper noise, scaled to `width`."""
    path = shared_dir().joinpath(*BAG_FRAME)
    im = cv2.imread(str(path))
    if im is None:
        raise FileNotFoundError(path)
    h, w = im.shape[:2]
    label = Path(str(path).replace("/images/", "/labels/")).with_suffix(".txt")
    row = next(ln.split() for ln in label.read_text(encoding="utf-8").splitlines() if ln.split()[:1] == ["0"])
    x, y, bw, bh = (float(v) for v in row[1:5])
    crop = cv2.medianBlur(im[int((y - bh / 2) * h):int((y + bh / 2) * h), int((x - bw / 2) * w):int((x + bw / 2) * w)], 3)
    return cv2.resize(crop, (width, round(crop.shape[0] * width / crop.shape[1])), interpolation=cv2.INTER_AREA)


def street_frame(t: float, bag: np.ndarray | None = None, at: tuple[int, int] = (0, 0), rng=None) -> np.ndarray:
    """The street clip at stream time t (looped); with `bag`, the bag at `at` (top left), behind passers-by."""
    frames, fps = street_clip()
    img = frames[int(round(t * fps)) % len(frames)]
    if bag is None:
        return img
    img = img.copy()
    x, y = at
    h, w = bag.shape[:2]
    region = img[y:y + h, x:x + w]
    blur = lambda a: cv2.blur(a, (9, 9)).astype(np.int16)  # noqa: E731 - edges of the stripes move a little
    passer = (np.abs(blur(region) - blur(street_median()[y:y + h, x:x + w])).max(axis=2) > 30).astype(np.uint8)
    passer = cv2.dilate(cv2.morphologyEx(passer, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8)), np.ones((5, 5), np.uint8)) > 0
    noisy = bag.astype(np.int16) + (rng.normal(0, 2.0, bag.shape).astype(np.int16) if rng is not None else 0)
    region[~passer] = np.clip(noisy, 0, 255).astype(np.uint8)[~passer]
    return img


def left_object_camera(dwell_s: float, zone: list[tuple[float, float]], **rule):
    return camera("corridor", {"type": "blocked_exit", "dwell_s": dwell_s, **rule}, zone)


def run_street(seconds: float, dwell_s: float, zone, *, bag_at: tuple[int, int] | None = None, put_at: float | None = None,
               fps: float = 1.0, detector=None, **rule) -> list:
    """The blocked_exit rule over the looped street clip for `seconds` (stream time), optionally with the bag put
    down at `put_at`; returns the started events."""
    return run_street_many(seconds, [(dwell_s, zone, rule)], bag_at=bag_at, put_at=put_at, fps=fps, detector=detector)[0]


def run_street_many(seconds: float, setups: list[tuple[float, list, dict]], *, bag_at: tuple[int, int] | None = None,
                    put_at: float | None = None, fps: float = 1.0, detector=None) -> list[list]:
    """Like `run_street` for several (dwell_s, zone, rule parameters) at once, one detector call per frame."""
    det = detector or objects_detector()
    bag = bag_crop() if bag_at is not None else None
    rng = np.random.default_rng(0)

    def frames():
        for i in range(int(seconds * fps)):
            t = i / fps
            show = bag is not None and put_at is not None and t >= put_at
            img = street_frame(t, bag if show else None, bag_at or (0, 0), rng)
            yield t, img, det.detect(img)

    return run_setups(setups, frames(), det)


def run_setups(setups: list[tuple[float, list, dict]], frames, detector) -> list[list]:
    """The blocked_exit rule of each (dwell_s, zone, rule parameters) over `frames`, (t, image, detections) in
    order, each frame's detections shared; returns each setup's started events."""
    sinks = [Sink() for _ in setups]
    pipes = [CameraPipeline(left_object_camera(d, z, **r), detector, k) for (d, z, r), k in zip(setups, sinks)]
    for t, img, dets in frames:
        for pipe in pipes:
            pipe.process(img, t, WALL, precomputed=True, objects=dets, objects_fresh=True)
    return [k.events for k in sinks]


# where the bag is put down: on the crossing, where people walk in front of it (640x360 frame)
BAG_AT = (250, 290)
BAG_ZONE = [(0.3, 0.72), (0.55, 0.72), (0.55, 0.98), (0.3, 0.98)]  # the lane round it
CROSSING_ZONE = [(0.0, 0.7), (1.0, 0.7), (1.0, 1.0), (0.0, 1.0)]  # the whole crossing at the bottom of the picture


def bag_views(t0: float, t1: float, fps: float = 1.0, share: float = 0.5) -> list[float]:
    """Detection frames in [t0, t1] on which at least `share` of the bag's pixels show (not behind a passer-by)."""
    bag = bag_crop()
    h, w = bag.shape[:2]
    x, y = BAG_AT
    seen = []
    for i in range(int(math.ceil(t0 * fps)), int(t1 * fps) + 1):
        region = street_frame(i / fps, bag, BAG_AT)[y:y + h, x:x + w].astype(np.int16)
        if (np.abs(region - bag.astype(np.int16)).max(axis=2) < 8).mean() >= share:
            seen.append(i / fps)
    return seen


def bench_left_object(args) -> dict:
    det = objects_detector()
    bag = bag_crop()
    out = {"model": str(resolve_model(None, "objects").name), "bag_px": [bag.shape[1], bag.shape[0]], "bag_at": BAG_AT,
           "bag_zone": BAG_ZONE, "fps": 1.0, "put_down": [], "unmodified": []}
    for put in args.put_at:
        t0 = time.monotonic()
        runs = run_street_many(put + max(args.dwell) + 30, [(d, BAG_ZONE, {}) for d in args.dwell], bag_at=BAG_AT,
                               put_at=put, detector=det)
        for dwell, events in zip(args.dwell, runs):
            after = [e for e in events if e.started_t >= put]
            first = after[0] if after else None
            # frames showing the bag, up to the event (or 30 s past the dwell) and at least to dwell_s + 5 s
            views = bag_views(put, max(put + dwell + 5, first.started_t if first else put + dwell + 30))
            out["put_down"].append({
                "put_at_s": put, "clip_phase_s": round(put % (len(street_clip()[0]) / street_clip()[1]), 1),
                "dwell_s": dwell, "events_before": [e.started_t for e in events if e.started_t < put],
                "delay_s": first.started_t - put if first else None, "events_after": len(after),
                "within_dwell_plus_5": bool(first) and first.started_t - put <= dwell + 5,
                # how much of that time the bag could be seen at all (passers-by in front of it hide it), and
                # the event's delay from the first frame that showed it
                "bag_visible_s": sum(v <= put + dwell + 5 for v in views),
                "delay_from_first_view_s": first.started_t - views[0] if first and views else None,
                "reason": first.detail.get("reason") if first else None,
                "left_objects": first.detail.get("left_objects") if first else None})
        out["put_down"][-1]["wall_s"] = round(time.monotonic() - t0, 1)
    t0 = time.monotonic()
    zones = (("bag lane", BAG_ZONE), ("whole crossing", CROSSING_ZONE))
    setups = [(d, z, {}) for d in args.dwell for _, z in zones]
    runs = run_street_many(args.minutes * 60, setups, detector=det)
    for (dwell, zone, _), events in zip(setups, runs):
        out["unmodified"].append({"minutes": args.minutes, "zone": next(n for n, z in zones if z is zone), "dwell_s": dwell,
                                  "events": [(e.started_t, e.detail.get("reason"), e.detail.get("left_objects")) for e in events]})
    out["unmodified_wall_s"] = round(time.monotonic() - t0, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vigil.vision.bench_rules", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    st = sub.add_parser("staffing", help="unattended_room decisions per 10 s window on assembled ceiling-CCTV sequences")
    st.add_argument("--hold", type=int, nargs="+", default=[1, 3], help="detection frames (1 Hz) each care-ward frame is shown")
    st.add_argument("--window", type=float, nargs="+", default=[10.0])
    st.add_argument("--min-confidence", type=float, nargs="+", default=[0.3, 0.4, 0.5])
    st.add_argument("--model", default=None, help="catalogue name or path of the person model (default: the objects default)")
    st.add_argument("--rooms", choices=("all", "val"), default="all",
                    help="val: only the care_ward rooms on the val side of `vigil models splits` (fair to a model trained on the others)")
    lo = sub.add_parser("left-object", help="blocked_exit left-object mode on the looped street clip")
    lo.add_argument("--dwell", type=float, nargs="+", default=[10.0, 30.0])
    lo.add_argument("--put-at", type=float, nargs="+", default=[30.0 + 4 * k for k in range(8)],
                    help="stream seconds the bag is put down at (one run each; the clip loops every 28.6 s)")
    lo.add_argument("--minutes", type=float, default=30.0)
    for p in (st, lo):
        p.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    res = bench_staffing(args) if args.what == "staffing" else bench_left_object(args)
    res["wall_s"] = round(time.monotonic() - t0, 1)
    print(json.dumps(res, ensure_ascii=False, indent=None if args.json else 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
