"""The left-object bench (`blocked_exit`, left-object mode): `python -m vigil.vision.bench_rules left-object [--json]`.

The real street footage `data/video/street_crowd.mp4` (a crowded crossing, 640x360, 28.6 s), looped and
sampled at 1 Hz with a phase that moves every loop. A real
bag, cut by its label box from a CCTV frame of `data/cctv_intelligence` (about 50 px), is put down at a fixed
place from `--put-at` seconds on; where a passer-by is in front of it (the pixel differs from the clip's median
picture) the passer-by stays in front. The event must start within dwell_s + 5 s of the bag's arrival; the
unmodified footage, looped for `--minutes`, must raise none.
"""
from __future__ import annotations

import math
import time
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from vigil.models.catalogue import resolve_model, shared_dir
from vigil.vision.bench_harness import WALL, Sink, camera, objects_detector
from vigil.vision.pipeline import CameraPipeline

STREET = ("data", "video", "street_crowd.mp4")
BAG_FRAME = ("data", "cctv_intelligence", "images", "-C102302_004-_3480_jpg.rf.081f35958c1bd9bb202a6a948f61ef95.jpg")
BAG_WIDTH = 50


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
