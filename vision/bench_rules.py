"""Two rules on real CCTV footage: `python -m vigil.vision.bench_rules staffing|left-object [--json]`.

Both run the real rule code on real frames from the shared folder (`../shared`, or $VIGIL_SHARED) with the
project's default objects model (the catalogue's `objects` default, run at 320 px like the service).

The benches live in `vision/bench_staffing.py` and `vision/bench_left_object.py`; their docstrings say how each
is assembled.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from vigil.vision.bench_left_object import bench_left_object
from vigil.vision.bench_staffing import bench_staffing


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
