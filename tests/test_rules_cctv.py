"""Rules that survive missed detections (issue #18 item 4).

* `unattended_room` counts the most people seen on one frame of its window: a detector that misses people on
  most frames (ceiling CCTV) does not make a staffed room unattended, a truly empty room raises one event per
  empty stretch, on time, and a stray person (an empty chair) neither hides the absence nor ends the event.
  Pure logic: a scripted detector.
* `blocked_exit`'s left-object mode on real footage from `../shared`: a real bag (cut from a CCTV frame of
  `cctv_intelligence` by its label box, about 50 px) put down on the real street clip raises the event with
  its box within dwell_s + 5 s, and the unmodified busy footage, looped, raises none. The longer runs (30 min
  loop, several put-down times, the default dwell) are `python -m vigil.vision.bench_rules left-object`.
  A crowd held still for 60 s (`python -m vigil.vision.bench_held_still`) gives no left object on a person the
  detector sees.
"""
from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from helpers import shared_path
from vigil.config import parse_config
from vigil.vision.detections import Detections
from vigil.vision.bench_harness import Sink
from vigil.vision.pipeline import CameraPipeline

from test_rule_logic import ScriptedDetector

NAMES = {0: "person", 56: "chair"}
WALL = datetime(2026, 11, 24, 10, 0)
A = (0, 0.9, 10, 10, 60, 150)  # two people on duty, at their desks
B = (0, 0.8, 100, 10, 150, 150)


def dets(*rows) -> Detections:
    """rows of (class_id, conf, x0, y0, x1, y1)"""
    if not rows:
        return Detections.empty(NAMES)
    a = np.array(rows, np.float32)
    return Detections(a[:, 2:6], a[:, 1], a[:, 0].astype(np.int32), NAMES)


def duty_room(**rule):
    return parse_config({"institutions": [{"id": "a", "name": "A", "region": "X"}], "cameras": [{
        "id": "c", "name": "c", "url": "x.mp4", "institution": "a", "site_kind": "control_room",
        "zones": [{"name": "room", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
                   "rules": [dict(type="unattended_room", **rule)]}]}]}).cameras[0]


def run(script, seconds: int, **rule) -> list:
    log = Sink()
    pipe = CameraPipeline(duty_room(**rule), ScriptedDetector(script), log)
    img = np.zeros((180, 320, 3), np.uint8)
    for i in range(seconds):
        pipe.process(img, float(i), WALL)
    return [(e.started_t, e.ended_t) for e in log.events]


def test_defaults_are_the_measured_ones():
    rule = duty_room().zones[0].rules[0]
    assert (rule.window_s, rule.min_confidence, rule.absence_s, rule.restore_s) == (10.0, 0.5, 120.0, 10.0)


def test_staffed_room_seen_on_few_frames_raises_nothing():
    """Both people on one frame in six, one of them on two more, nobody on the rest (what a ceiling camera gives):
    staffed all along. (The old rule judged each frame alone and let understaffed frames bridge the staffed ones
    shorter than grace_s: it raised an event after absence_s.) Gaps of 30 s between sightings do not either."""
    def script(i):
        return dets(A, B) if i % 6 == 0 else dets(A) if i % 6 in (2, 4) else dets()
    assert run(script, 400) == []
    assert run(lambda i: dets(A, B) if i % 30 == 0 else dets(), 400) == []


def test_room_that_empties_twice_raises_one_event_per_empty_stretch_on_time():
    """Staffed (seen on one frame in three) 0-59 s, empty 60-249 s, staffed 250-319 s, empty from 320 s. A chair
    taken for a person (0.9, once, inside the first event) does not end it. Each event starts absence_s after
    the room emptied (at most absence_s + window_s), the first ends once the staff are seen again over restore_s."""
    def script(i):
        if i < 60 or 250 <= i < 320:
            return dets(A, B) if i % 3 == 0 else dets()
        return dets((0, 0.9, 200, 20, 240, 120), B) if i == 200 else dets()
    events = run(script, 480)
    assert [s for s, _ in events] == [178.0, 439.0]  # absence counted from the frame after the last sighting (57, 318)
    assert all(s - e0 <= 120 + 10 for s, e0 in zip([s for s, _ in events], (60, 320)))
    assert events[0][1] == 264.0  # seen again at 252, 255, ... 264: over restore_s
    assert events[1][1] is None


def test_empty_chair_below_the_rule_threshold_does_not_staff_the_room():
    """An empty office chair read as a person at 0.49 on every frame (the meeting room of the issue): with the
    default min_confidence 0.5 the empty room raises its event; at the old default 0.3 it never did."""
    chair = dets((0, 0.49, 200, 60, 260, 170))
    assert run(lambda i: chair, 200, min_persons=1) == [(120.0, None)]
    assert run(lambda i: chair, 200, min_persons=1, min_confidence=0.3) == []


def test_heightened_alert_period_shrinks_absence_and_window():
    sched = {"windows": [{"start": "00:00", "end": "24:00"}],
             "alert_periods": [{"name": "国庆", "start": "2026-10-01", "end": "2026-10-07", "dwell_scale": 0.25}]}
    log = Sink()
    pipe = CameraPipeline(duty_room(schedule=sched), ScriptedDetector(lambda i: dets()), log)
    img = np.zeros((90, 160, 3), np.uint8)
    for i in range(60):
        pipe.process(img, float(i), datetime(2026, 10, 3, 3, 0, i))
    assert [e.started_t for e in log.events] == [30.0]  # 120 s * 0.25
    assert log.events[0].detail["condition_since_s"] == 0.0 and log.events[0].detail["window_s"] == 10.0


# -- left objects on real footage -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def street():
    """The bench's street clip helpers and the project's default objects model (needs ../shared)."""
    shared_path("data", "video", "street_crowd.mp4")
    shared_path("data", "cctv_intelligence", "images")
    from vigil.vision import bench_left_object
    from vigil_fixtures import default_objects_detector

    return bench_left_object, default_objects_detector()


def test_bag_left_on_the_street_raises_the_event_with_its_box(street):
    b, det = street
    bag = b.bag_crop()
    assert 45 <= bag.shape[1] <= 55 and 45 <= bag.shape[0] <= 60  # about 50 px
    put, dwell = 30.0, 10.0
    (events,) = b.run_street_many(put + dwell + 8, [(dwell, b.BAG_ZONE, {})], bag_at=b.BAG_AT, put_at=put, detector=det)
    assert len(events) == 1, [(e.started_t, e.detail) for e in events]
    ev = events[0]
    assert put + dwell <= ev.started_t <= put + dwell + 5
    assert "left_object" in ev.detail["reason"]
    (x0, y0, x1, y1), = [o["box"] for o in ev.detail["left_objects"]]
    bx, by, bw, bh = *b.BAG_AT, bag.shape[1], bag.shape[0]
    # the box lies on the bag (the mask works at a quarter of the frame's width: 4 px steps)
    assert bx - 8 <= x0 < x1 <= bx + bw + 8 and by - 8 <= y0 < y1 <= by + bh + 8, ev.detail["left_objects"]
    assert (x1 - x0) * (y1 - y0) >= 0.2 * bw * bh


def test_bag_put_down_behind_passers_by_counts_from_when_it_first_shows_through(street):
    """Put down at 38 s, the bag is behind people's boxes until about 59 s (their legs hide it from 46 to 55 s) but
    shows between them from 38 s on: with dwell 30 the event comes within dwell_s + 5 s of the put-down (without
    looking back at those views it came 52 s after)."""
    b, det = street
    put, dwell = 38.0, 30.0
    (events,) = b.run_street_many(put + dwell + 8, [(dwell, b.BAG_ZONE, {})], bag_at=b.BAG_AT, put_at=put, detector=det)
    assert len(events) == 1, [(e.started_t, e.detail) for e in events]
    assert put + dwell <= events[0].started_t <= put + dwell + 5
    assert "left_object" in events[0].detail["reason"]


def test_busy_street_looped_raises_no_left_object(street):
    """Three passes of the crowded crossing (86 s) at the detection rate: nothing is left, nothing is raised, in the
    lane round the bag's place nor over the whole crossing (the 30-minute loop is the bench's)."""
    b, det = street
    setups = [(10.0, b.BAG_ZONE, {}), (10.0, b.CROSSING_ZONE, {}), (10.0, b.CROSSING_ZONE, {"area_ratio": None})]
    got = b.run_street_many(3 * 28.6, setups, detector=det)
    assert got == [[], [], []], [[(e.started_t, e.detail) for e in evs] for evs in got]


def test_people_the_detector_sees_standing_still_are_never_left_objects(street):
    """`vision/bench_held_still.py`: the clip played 30 s (background learned as in the service), then one frame held
    60 s, a crowd standing perfectly still; six frames. Pixels under person boxes are frozen, so no left object
    lies on a detected person (those it raises are people it misses at the picture's edge, a bag hanging below its
    carrier's box, a post the background learned elsewhere: the bench's report)."""
    _, det = street
    from vigil.vision.bench_held_still import held_still
    from vigil.vision.boxes import covered_share

    rows = held_still(10.0, every=120, detector=det)
    assert len(rows) == 6 and max(r["persons"] for r in rows) >= 8  # crowds, seen
    for r in rows:
        for ev in r["whole frame"]:
            for obj in ev["left_objects"] or []:
                inside = float(covered_share(np.array([obj["box"]], np.float32), np.array(r["person_boxes"], np.float32).reshape(-1, 4))[0])
                assert inside < 0.5, (r["frame"], obj, r["person_boxes"])


def test_two_or_more_people_counts_single_frames_at_the_threshold():
    """The staffing bench's `two_or_more_people`: of the frames with >= 2 labelled people, those where the model
    reports >= 2 people on that frame alone at the threshold; frames with one labelled person do not count."""
    from test_rule_logic import dets
    from vigil.vision.bench_staffing import WardFrame, seen_as_two

    two = dets((0, 0.9, 0, 0, 10, 10), (0, 0.6, 20, 0, 30, 10))
    one_sure = dets((0, 0.9, 0, 0, 10, 10), (0, 0.3, 20, 0, 30, 10))
    groups = {"a": [WardFrame("f1", 2, two, None, dets()), WardFrame("f2", 3, one_sure, None, dets())],
              "b": [WardFrame("f3", 1, two, None, dets())]}
    assert seen_as_two(groups, 0.5) == {"frames": 2, "seen_as_2_or_more": 1, "share": 0.5}
    assert seen_as_two(groups, 0.2) == {"frames": 2, "seen_as_2_or_more": 2, "share": 1.0}


def test_one_resident_boxed_twice_counts_once_two_residents_count_twice():
    """The staffing bench's label reading (real care_ward labels): a `patient` box on the head and shoulders inside
    the `lie` box on the body is one person (cam_6: one resident in bed); two residents side by side in the day room
    stay two; a frame of one `patient` box is one."""
    from vigil.vision.bench_staffing import labelled_people

    labels = shared_path("data", "care_ward", "valid", "labels")

    def count(prefix: str) -> int:
        (label,) = sorted(labels.glob(f"{prefix}*.txt"))[:1]
        return len(labelled_people(label, 640, 640))

    assert count("cam_6_202309220645-avi_100006_") == 1  # patient inside lie: one resident
    assert count("cam_12_202309200946-avi_100002_") == 2  # two residents at the far end of the day room
    # over the whole set, the new merge joins exactly the 19 role-inside-posture pairs (patient in lie 11, in sit 8)
    # beyond what the IoU >= 0.5 merge alone leaves
    from vigil.models.class_sets import label_boxes
    from vigil.vision.bench_staffing import care_ward_people
    from vigil.vision.boxes import iou_matrix

    joined = 0
    for label in labels.glob("*.txt"):
        rows = [ln.split() for ln in label.read_text(encoding="utf-8").splitlines() if ln.split()]
        by_iou: list[list[float]] = []
        for box in sorted(label_boxes(rows, set(care_ward_people()), 640, 640), key=lambda b: -(b[2] - b[0]) * (b[3] - b[1])):
            if not (iou_matrix([box], by_iou) >= 0.5).any():
                by_iou.append(box)
        joined += len(by_iou) - len(labelled_people(label, 640, 640))
    assert joined == 19
