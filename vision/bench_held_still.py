"""People standing perfectly still and the left-object mode: `python -m vigil.vision.bench_held_still [--json]`.

What the frozen-under-person-boxes design leaves to the detector. The street clip (`data/video/street_crowd.mp4`,
see `vision/bench_left_object.py`) played at 1 Hz for `--learn` seconds (the background is learned from what the
passers-by leave free, as in the service), then one frame of it held for 60 s (a crowd that stops and stands
perfectly still, or a stream stuck on one frame), through `blocked_exit` with its left-object mode at dwell
`--dwell` (detections of the objects default). A left-object event there is a person the detector missed (cut by
the picture's edge, behind others), something a still person holds outside their box (a handbag), or street the
background never saw free; the report lists the boxes for drawing."""
from __future__ import annotations

import argparse
import json
import sys
import time

from vigil.vision.bench_harness import objects_detector
from vigil.vision.bench_left_object import CROSSING_ZONE, run_setups, street_clip, street_frame

ZONES = {"whole crossing": CROSSING_ZONE, "whole frame": [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]}


def held_still(dwell_s: float, every: int, learn_s: int = 30, hold_s: int = 60, detector=None) -> list[dict]:
    det = detector or objects_detector()
    frames, _ = street_clip()
    learning = [(t, img, det.detect(img)) for t, img in ((float(i), street_frame(float(i))) for i in range(learn_s))]
    setups = [(dwell_s, zone, {}) for zone in ZONES.values()]
    rows = []
    for idx in range(0, len(frames), every):
        still = frames[idx]
        d_still = det.detect(still)
        people = d_still.of_classes(["person"]).xyxy.tolist()
        row = {"frame": idx, "persons": len(people), "person_boxes": [[round(v, 1) for v in b] for b in people]}
        held = [(float(i), still, d_still) for i in range(learn_s, learn_s + hold_s)]
        for name, events in zip(ZONES, run_setups(setups, learning + held, det)):
            row[name] = [{"t": e.started_t, "reason": e.detail.get("reason"), "left_objects": e.detail.get("left_objects")}
                         for e in events]
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vigil.vision.bench_held_still", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dwell", type=float, default=10.0)
    ap.add_argument("--every", type=int, default=60, help="hold every N-th frame of the clip (25 fps)")
    ap.add_argument("--learn", type=int, default=30, help="seconds of the clip played (1 Hz) before the frame is held")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    rows = held_still(args.dwell, args.every, args.learn)
    res = {"dwell_s": args.dwell, "learn_s": args.learn, "held": rows, "wall_s": round(time.monotonic() - t0, 1),
           "frames_with_left_object": {z: sum(any("left_object" in (e["reason"] or "") for e in r[z]) for r in rows)
                                       for z in ZONES}}
    print(json.dumps(res, ensure_ascii=False, indent=None if args.json else 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
