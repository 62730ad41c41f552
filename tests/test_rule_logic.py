"""The building blocks under the rules: debouncing timer, stationary object memory, zone geometry and
the stationary-foreground model (on synthetic frames where the truth is known exactly)."""
from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from vigil.config import parse_config
from vigil.vision.background import StationaryForeground
from vigil.vision.detections import Detections
from vigil.vision.events import EventRecord
from vigil.vision.pipeline import CameraPipeline
from vigil.vision.rules import ConditionTimer
from vigil.vision.tracking import StationaryObjects
from vigil.vision.zones import ZoneGeometry

NAMES = {0: "person", 1: "bicycle", 3: "motorcycle", 24: "backpack", 26: "handbag", 56: "chair"}


def dets(*rows) -> Detections:
    """rows of (class_id, conf, x0, y0, x1, y1)"""
    if not rows:
        return Detections.empty(NAMES)
    a = np.array(rows, np.float32)
    return Detections(a[:, 2:6], a[:, 1], a[:, 0].astype(np.int32), NAMES)


def run_timer(timer: ConditionTimer, seq: list[tuple[float, bool]]) -> list[tuple[float, str]]:
    return [(t, c) for t, cond in seq if (c := timer.update(t, cond))]


def test_timer_dwell_grace_and_clear():
    tm = ConditionTimer(on_s=10, off_s=5, grace_s=2)
    seq = [(t, True) for t in range(0, 6)] + [(6, False)] + [(t, True) for t in range(7, 12)]
    assert run_timer(tm, seq) == [(10, "start")]  # a 1 s miss did not restart the dwell
    seq = [(12, False), (13, True)] + [(t, False) for t in range(14, 20)]
    assert run_timer(tm, seq) == [(17, "end")]  # the blip at 13 is inside grace: clear counts from 12


def test_timer_gap_longer_than_grace_restarts():
    tm = ConditionTimer(on_s=5, off_s=0, grace_s=1)
    seq = [(0, True), (1, True), (2, True), (3, False), (4, False), (5, True), (6, True), (7, True), (8, True), (9, True), (10, True)]
    assert run_timer(tm, seq) == [(10, "start")]


def test_stationary_objects_ignore_moving_and_keep_standing():
    mem = StationaryObjects(iou=0.5, grace_s=2)
    for t in range(0, 12):
        moving = (26, 0.8, 10 + 30 * t, 100, 50 + 30 * t, 160)  # a handbag carried across
        standing = (56, 0.7, 300, 200, 360, 280)  # a chair that stays
        mem.update(dets(moving, standing) if t != 5 else dets(moving), float(t))  # chair missed once
    p = mem.persistent(11.0, 10.0, NAMES)
    assert p.class_names == ["chair"]
    assert mem.persistent(11.0, 12.0, NAMES).class_names == []


def test_zone_overlap_and_anchor():
    z = ZoneGeometry("z", [(0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)], 200, 100)
    d = dets((56, 0.9, 120, 10, 180, 90), (56, 0.9, 10, 10, 60, 90), (56, 0.9, 70, 10, 120, 90))
    np.testing.assert_allclose(z.overlap(d), [1.0, 0.0, 0.4], atol=0.03)
    assert z.select(d, 0.6).xyxy[:, 0].tolist() == [120]
    assert z.area == pytest.approx(100 * 100, rel=0.03)


def scene(h=180, w=320, seed=0):
    rng = np.random.default_rng(seed)
    base = np.full((h, w, 3), 120, np.uint8)
    base[h // 2:] = 90
    return base, rng


def noisy(img, rng):
    return np.clip(img.astype(np.int16) + rng.integers(-4, 5, img.shape), 0, 255).astype(np.uint8)


def exit_zone() -> ZoneGeometry:
    """The lower middle of the 320x180 scene, where the box stands."""
    return ZoneGeometry("exit", [(0.25, 0.45), (0.75, 0.45), (0.75, 1.0), (0.25, 1.0)], 320, 180)


def test_background_finds_left_box_but_not_passing_person():
    base, rng = scene()
    bg = StationaryForeground()
    box = (slice(90, 170), slice(100, 220))
    person_box = (40, 40, 90, 170)  # x0,y0,x1,y1 of a person standing in front of part of the box
    for i in range(60):
        t = i * 0.5
        img = base.copy()
        if t >= 5:
            img[box] = (40, 70, 140)  # brown box appears at 5 s and stays
        persons = Detections.empty(NAMES)
        if 10 <= t < 14:  # a person walks past, in front of the box
            x = int(60 + (t - 10) * 40)
            img[40:170, x:x + 50] = (200, 200, 200)
            persons = dets((0, 0.9, x, 40, x + 50, 170))
        bg.update(noisy(img, rng), t, persons)
    m = bg.stationary_mask(29.5, settle_s=20)
    assert m is not None
    z = exit_zone()
    assert z.covered_ratio(m) > 0.6  # the box has stood for ~24 s although a person passed in front
    assert bg.stationary_mask(29.5, settle_s=26).sum() == 0  # and not longer than it has been there
    assert person_box  # documented geometry


def _bag_behind_a_person(bg: StationaryForeground, *, legs_hide_all: bool, until: float) -> None:
    """A box is put down at 5 s behind a person standing in front of its place from 4 s to 20 s (their box covers
    it); between their legs the box shows through, or with `legs_hide_all` it never shows."""
    base, rng = scene()
    box = (slice(90, 170), slice(100, 220))
    for i in range(int(until * 2) + 1):
        t = i * 0.5
        img = base.copy()
        if t >= 5:
            img[box] = (40, 70, 140)
        persons = Detections.empty(NAMES)
        if 4 <= t < 20:
            img[40:90, 90:230] = (200, 200, 200)  # body
            if legs_hide_all:
                img[90:170, 90:230] = (60, 60, 60)
            else:
                img[90:170, 100:120] = img[90:170, 200:220] = (60, 60, 60)  # legs
            persons = dets((0, 0.9, 90, 40, 230, 170))
        bg.update(noisy(img, rng), t, persons)


def test_left_box_clock_starts_when_it_first_showed_between_a_persons_legs():
    """Its first person-free view is at 20 s, but it showed through from 5 s on: the clock starts at 5 s, so a
    20 s dwell is over at 25 s, not at 40 s. Without looking back (backdate_s 0) it starts at 20 s."""
    z = exit_zone()
    bg = StationaryForeground()
    _bag_behind_a_person(bg, legs_hide_all=False, until=27)
    assert z.covered_ratio(bg.stationary_mask(27, settle_s=20)) > 0.6
    assert bg.stationary_mask(27, settle_s=23).sum() == 0  # and not before it was put down
    bg = StationaryForeground(backdate_s=0)
    _bag_behind_a_person(bg, legs_hide_all=False, until=27)
    assert bg.stationary_mask(27, settle_s=20).sum() == 0


def test_left_box_never_seen_behind_a_person_starts_its_clock_at_its_first_view():
    """Hidden completely until the person leaves at 20 s: nothing showed it, so its clock starts at its first view."""
    z = exit_zone()
    bg = StationaryForeground()
    _bag_behind_a_person(bg, legs_hide_all=True, until=32)
    assert bg.stationary_mask(32, settle_s=13).sum() == 0
    assert z.covered_ratio(bg.stationary_mask(32, settle_s=10)) > 0.6


def test_background_relearns_on_light_change():
    base, rng = scene()
    bg = StationaryForeground()
    for i in range(40):
        t = i * 0.5
        img = base if t < 8 else (base * 0.5).astype(np.uint8)  # lights dimmed at 8 s
        bg.update(noisy(img, rng), t, Detections.empty(NAMES))
    assert bg.stationary_mask(19.5, 5).mean() < 0.01


def test_background_heals_the_ghost_of_an_object_there_when_it_started():
    """A box stands in the picture when the camera starts (learned as background) and is taken away at 10 s: the bare
    floor it leaves is not a left object (no edges where the box's outline was), while a box put down later is."""
    base, rng = scene()
    box = (slice(90, 170), slice(100, 220))
    bg = StationaryForeground()
    for i in range(60):
        t = i * 0.5
        img = base.copy()
        if t < 10:
            img[box] = (40, 70, 140)
        bg.update(noisy(img, rng), t, Detections.empty(NAMES))
    assert bg.stationary_mask(29.5, 5).sum() == 0
    for i in range(60, 100):
        t = i * 0.5
        img = base.copy()
        img[100:150, 20:80] = (150, 40, 40)  # another box put down at 30 s
        bg.update(noisy(img, rng), t, Detections.empty(NAMES))
    assert bg.stationary_mask(49.5, 15).sum() > 0

class ScriptedDetector:
    """Stands in for the model in this pure-logic test only: returns scripted Detections per call."""

    names = NAMES

    def __init__(self, script):
        self.script, self.i = script, 0

    def detect(self, image):
        d = self.script(self.i)
        self.i += 1
        return d


class ListSink:
    def __init__(self):
        self.log: list[tuple[str, EventRecord]] = []

    def started(self, ev, jpeg):
        assert jpeg[:2] == b"\xff\xd8"
        self.log.append(("start", ev))

    def updated(self, ev, jpeg):
        self.log.append(("update", ev))

    def ended(self, ev):
        self.log.append(("end", ev))


def control_room_camera(**rule):
    cfg = parse_config({"institutions": [{"id": "a", "name": "A", "region": "X"}], "cameras": [{
        "id": "c", "name": "c", "url": "x.mp4", "institution": "a", "site_kind": "control_room",
        "zones": [{"name": "room", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]], "rules": [dict(type="unattended_room", **rule)]}]}]})
    return cfg.cameras[0]


def test_unattended_room_needs_two_and_restores_after_10s():
    two = dets((0, 0.9, 10, 10, 60, 150), (0, 0.8, 100, 10, 150, 150))
    one = dets((0, 0.9, 10, 10, 60, 150))
    # 1 Hz: 0-19 two people, 20-159 one person, 160-179 two people again
    det = ScriptedDetector(lambda i: two if i < 20 or i >= 160 else one)
    sink = ListSink()
    pipe = CameraPipeline(control_room_camera(), det, sink)
    img = np.zeros((180, 320, 3), np.uint8)
    for i in range(180):
        pipe.process(img, float(i), datetime(2026, 11, 24, 10, 0))
    kinds = [(k, e.started_t, e.ended_t) for k, e in sink.log if k != "update"]
    assert kinds[0] == ("start", 140.0, None) or kinds[0][:2] == ("start", 140.0)
    assert sink.log[-1][0] == "end" and sink.log[-1][1].ended_t == 170.0
    assert sink.log[0][1].params["min_persons"] == 2 and sink.log[0][1].detail["persons"] == 1


def test_schedule_disarms_rule():
    sched = {"windows": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "20:00", "end": "07:00"}]}
    det = ScriptedDetector(lambda i: Detections.empty(NAMES))
    sink = ListSink()
    pipe = CameraPipeline(control_room_camera(absence_s=5, schedule=sched), det, sink)
    img = np.zeros((90, 160, 3), np.uint8)
    for i in range(20):  # daytime: unarmed, an empty room raises nothing
        pipe.process(img, float(i), datetime(2026, 11, 24, 12, 0, i))
    assert sink.log == [] and pipe.rule_status()[0]["status"] == "unarmed"
    for i in range(20, 40):  # night
        pipe.process(img, float(i), datetime(2026, 11, 24, 21, 0, i))
    assert [k for k, _ in sink.log] == ["start"] and sink.log[0][1].started_t == 25.0


def test_heightened_alert_period_arms_all_day_and_halves_the_absence():
    """Spring Festival: the night-only rule is armed at noon too, and raises after absence_s * 0.5; the day after the
    period it is unarmed again at noon."""
    sched = {"windows": [{"start": "20:00", "end": "07:00"}],
             "alert_periods": [{"name": "春节", "start": "2027-02-05", "end": "2027-02-11", "dwell_scale": 0.5}]}
    det = ScriptedDetector(lambda i: Detections.empty(NAMES))
    sink = ListSink()
    pipe = CameraPipeline(control_room_camera(absence_s=10, schedule=sched), det, sink)
    img = np.zeros((90, 160, 3), np.uint8)
    for i in range(20):  # noon on the festival's last day: armed, raised after 5 s (not 10)
        pipe.process(img, float(i), datetime(2027, 2, 11, 12, 0, i))
    assert [k for k, _ in sink.log] == ["start"] and sink.log[0][1].started_t == 5.0
    for i in range(20, 40):  # noon the next day: outside the period and the window, the event ends
        pipe.process(img, float(i), datetime(2027, 2, 12, 12, 0, i - 20))
    assert [k for k, _ in sink.log] == ["start", "end"] and pipe.rule_status()[0]["status"] == "unarmed"


FIRE_NAMES = {0: "fire", 1: "smoke"}


def fire_dets(*rows) -> Detections:
    """rows of (class_id 0 fire / 1 smoke, conf, x0, y0, x1, y1)"""
    a = np.array(rows, np.float32).reshape(-1, 6)
    return Detections(a[:, 2:6], a[:, 1], a[:, 0].astype(np.int32), FIRE_NAMES)


def fire_camera(**rule):
    cfg = parse_config({"institutions": [{"id": "a", "name": "A", "region": "X"}], "cameras": [{
        "id": "c", "name": "c", "url": "x.mp4", "institution": "a", "site_kind": "lobby", "detect_fps": 2,
        "zones": [{"name": "hall", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
                   "rules": [dict(type="fire_smoke", k=1, n=1, min_motion=None, **rule)]}]}]})
    return cfg.cameras[0]


PERSON = (0, 0.9, 100, 40, 220, 330)


@pytest.mark.parametrize("box,rule,fires,object_calls", [
    ((1, 0.8, 120, 90, 200, 200), {}, False, 3),  # smoke on a person's jacket: dropped; one person check per frame
    ((1, 0.8, 170, 90, 290, 200), {}, True, 3),  # smoke beside the person (covered 42 %): kept
    ((0, 0.8, 120, 90, 200, 200), {}, True, 0),  # flame on a person is a fire; no person check for flame
    ((1, 0.8, 120, 90, 200, 200), {"person_overlap": None}, True, 0),  # check switched off
    ((1, 0.8, 120, 90, 200, 200), {"person_confidence": 0.95}, True, 3),  # the person is not trusted
])
def test_fire_rule_person_check_on_a_fire_only_camera(box, rule, fires, object_calls):
    """A fire-only camera never runs the object model on its own; it runs on a frame only when the frame has a
    smoke box for the person check, and the rule drops smoke that a person covers by `person_overlap` (0.6)."""
    objects = ScriptedDetector(lambda i: dets(PERSON))
    sink = ListSink()
    pipe = CameraPipeline(fire_camera(**rule), objects, sink, ScriptedDetector(lambda i: fire_dets(box)))
    assert not pipe.needs_objects
    img = np.zeros((360, 640, 3), np.uint8)
    for i in range(3):
        pipe.process(img, i * 0.5, datetime(2026, 11, 24, 10, 0))
    assert ([k for k, _ in sink.log] == ["start"]) is fires, sink.log
    assert objects.i == pipe.person_checks == object_calls
    assert pipe.monitors[0].rule.rejected_person == (0 if fires else 3)


def test_fire_rule_person_check_uses_this_frames_objects_only():
    """In the scheduler's path: persons the object model found on this very frame are used as they are (no
    extra call); remembered persons from an earlier frame are not trusted, the object model runs again."""
    smoke = fire_dets((1, 0.8, 120, 90, 200, 200))
    objects = ScriptedDetector(lambda i: dets(PERSON))
    pipe = CameraPipeline(fire_camera(), objects, ListSink(), ScriptedDetector(lambda i: smoke))
    img = np.zeros((360, 640, 3), np.uint8)
    wall = datetime(2026, 11, 24, 10, 0)
    pipe.process(img, 0.0, wall, precomputed=True, objects=dets(PERSON), fire=smoke, objects_fresh=True)
    assert objects.i == 0 and pipe.monitors[0].rule.rejected_person == 1
    moved = dets((0, 0.9, 400, 40, 520, 330))  # remembered: the person stood elsewhere a second ago
    pipe.process(img, 0.5, wall, precomputed=True, objects=moved, fire=smoke, objects_fresh=False)
    assert objects.i == 1 and pipe.monitors[0].rule.rejected_person == 2


class SlotReader:
    """The part of a camera reader the scheduler's turn uses: its bounded frame slot."""

    def __init__(self):
        from vigil.streams.frames import LatestFrameSlot

        self.frames = LatestFrameSlot(maxsize=1)


@pytest.mark.parametrize("workers", [1, 2])
def test_scheduler_runs_the_object_model_for_a_smoke_person_check_before_the_rules(workers):
    """A fire-only camera whose fire result holds smoke: the scheduler sends the frame out once more, to the
    object model, and runs the rules when it is back (the pipeline then has fresh persons and calls nothing
    itself); a frame with flame only is not sent out again."""
    import time
    from zoneinfo import ZoneInfo

    from vigil.processor import CameraProcessor
    from vigil.scheduler import DetectionScheduler
    from vigil.streams.frames import Frame

    on_person, flame = fire_dets((1, 0.8, 120, 90, 200, 200)), fire_dets((0, 0.8, 120, 90, 200, 200))
    objects = ScriptedDetector(lambda i: dets(PERSON))
    fire = ScriptedDetector(lambda i: on_person if i < 4 else flame)
    cam, sink = fire_camera(), ListSink()
    pipe = CameraPipeline(cam, objects, sink, fire)
    reader = SlotReader()
    proc = CameraProcessor(cam, reader, pipe, sink, ZoneInfo("Asia/Shanghai"), still_recheck_s=0.5)
    sched = DetectionScheduler([proc], objects, fire, workers=workers)
    rng = np.random.default_rng(0)
    try:
        for i in range(6):
            reader.frames.put(Frame(rng.integers(0, 255, (360, 640, 3), np.uint8), i * 0.5, time.time(), i))
            deadline = time.monotonic() + 5
            while pipe.frames_processed < i + 1 and time.monotonic() < deadline:
                sched.turn()
                time.sleep(0.01)
    finally:
        sched.stop()
    rule = pipe.monitors[0].rule
    assert fire.i == 6 and pipe.frames_processed == 6
    assert objects.i == pipe.person_checks == proc.objects_count == 4  # the smoke frames only
    assert rule.rejected_person == 4
    assert [k for k, _ in sink.log] == ["start"] and sink.log[0][1].started_t == 2.0  # the flame at 2.0 s
