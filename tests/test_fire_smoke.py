"""The shipped fire/smoke model and the fire_smoke rule on real pictures and footage.

- the catalogue's default fire model loads and finds fire on real indoor fire photos (../shared valid split,
  never used for training) and nothing on photos without fire;
- the temporal check turns down a perfectly still picture of a fire (a static orange thing the model does
  call fire), while the same rule confirms the real handheld car-fire video within 3 s;
- a video made from real care-ward CCTV frames and the real street footage raise no fire event.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers import replay, run_vigil, shared_path

FIRE_VALID = ("data", "fire_smoke_indoor", "valid")


def labelled(kind: int, limit: int) -> list[Path]:
    """Valid-split images with at least one box of class `kind` (0 fire, 1 smoke) whose box covers >= 2 %."""
    root = shared_path(*FIRE_VALID)
    out = []
    for lab in sorted((root / "labels").glob("*.txt")):
        rows = [ln.split() for ln in lab.read_text().splitlines() if ln.strip()]
        if any(int(r[0]) == kind and float(r[3]) * float(r[4]) >= 0.02 for r in rows):
            img = root / "images" / (lab.stem + ".jpg")
            if img.is_file():
                out.append(img)
        if len(out) >= limit:
            break
    return out


@pytest.fixture(scope="module")
def fire_detector():
    from vigil.models.catalogue import default_model, resolve_model
    from vigil.vision.detector import load_detector

    entry = default_model("fire")
    assert entry is not None, "the catalogue names no default fire model"
    assert entry.verify(), f"{entry.path}: sha256 differs from the catalogue"
    return load_detector(resolve_model(None, purpose="fire"), imgsz=entry.imgsz or 320, confidence=0.25)


def test_shipped_model_finds_fire_on_real_photos(fire_detector):
    assert set(fire_detector.names.values()) == {"fire", "smoke"}
    images = labelled(0, 40)
    assert len(images) == 40
    found = sum(1 for p in images if len(fire_detector.detect(cv2.imread(str(p))).of_classes(["fire"]).above(0.4)) > 0)
    assert found / len(images) >= 0.8, f"fire found on {found}/{len(images)} fire photos"


def held_out_ward_frames() -> list[Path]:
    """The care-ward frames no model of vigil's was trained on (`care_ward_split()["held_out"]`: 201 frames from
    15 of the 30 cameras/recordings; the other half may be used as training background, `--negatives care-ward`)."""
    from vigil.models.datasets import care_ward_split

    shared_path("data", "care_ward", "valid", "images")
    return care_ward_split()["held_out"]


def test_shipped_model_rarely_fires_on_pictures_without_fire(fire_detector):
    """The 201 held-out real care-ward CCTV frames and the ultralytics photos: a score >= 0.4 on at most 2 % of
    single frames (see the model card for the measured count); the rule's k-of-n and temporal check must
    absorb those (see test_care_ward_video_raises_no_fire)."""
    from vigil_fixtures import ultralytics_asset

    paths = [ultralytics_asset(n) for n in ("bus.jpg", "zidane.jpg")] + held_out_ward_frames()
    assert len(paths) == 203
    hits = sum(1 for p in paths if len(fire_detector.detect(cv2.imread(str(p))).above(0.4)) > 0)
    assert hits / len(paths) <= 0.02, f"fire/smoke reported on {hits}/{len(paths)} pictures without fire"


class NoPersons:
    """The object model of a fire-only camera, which runs only for the smoke person check: it sees no one."""

    names = {0: "person"}

    def detect(self, image):
        from vigil.vision.detections import Detections
        return Detections.empty(self.names)


def _fire_pipeline(fire_detector, **rule):
    from vigil.config import Camera
    from vigil.replay import CollectingSink
    from vigil.vision.pipeline import CameraPipeline

    sink = CollectingSink()
    cam = Camera.model_validate({"id": "c", "name": "c", "url": "x.mp4", "institution": "i", "site_kind": "lobby",
                                 "detect_fps": 2, "zones": [{"name": "z", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
                                                              "rules": [{"type": "fire_smoke", **rule}]}]})
    return CameraPipeline(cam, NoPersons(), sink, fire_detector), sink.events


def test_temporal_check_rejects_a_still_picture_of_fire(fire_detector):
    """A real fire photo held perfectly still (with sensor noise), 10 s at 2 Hz: the model calls it fire on
    every frame, the rule raises nothing because nothing inside the box moves. With the temporal check off
    the same frames do raise an event: the check is what rejects it."""
    photo = cv2.imread(str(labelled(0, 1)[0]))
    rng = np.random.default_rng(0)
    frames = [np.clip(photo + rng.normal(0, 2.0, photo.shape), 0, 255).astype(np.uint8) for _ in range(20)]
    t0 = datetime(2026, 11, 24, 12, 0)
    assert len(fire_detector.detect(frames[0]).of_classes(["fire"]).above(0.4)) > 0  # the model does see fire

    pipe, events = _fire_pipeline(fire_detector)
    for i, f in enumerate(frames):
        pipe.process(f, i * 0.5, t0 + timedelta(seconds=i * 0.5))
    rule = pipe.monitors[0].rule
    assert events == [] and rule.rejected_static >= 15  # measured: 20 of 20 frames
    assert pipe.person_checks <= len(frames)  # at most one on-demand object-model call per frame

    pipe, events = _fire_pipeline(fire_detector, min_motion=None)
    for i, f in enumerate(frames):
        pipe.process(f, i * 0.5, t0 + timedelta(seconds=i * 0.5))
    assert [e.rule for e in events] == ["fire_smoke"]


def test_fire_zones_of_one_camera_share_one_frame_difference(fire_detector, monkeypatch):
    """Two fire zones with different motion levels on one camera: the frame difference is made once per
    frame (not once per zone), and each zone judges exactly as it would alone."""
    from vigil.replay import iter_video
    from vigil.vision.rules.fire import FlickerMeter

    frames = list(islice(iter_video(shared_path("data", "video", "car_fire_handheld.mp4"), 2.0, realtime=False), 12))
    assert len(frames) == 12
    t0 = datetime(2026, 11, 24, 12, 0)
    zones = [{"name": "all", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]], "rules": [{"type": "fire_smoke"}]},
             {"name": "left", "polygon": [[0, 0], [0.6, 0], [0.6, 1], [0, 1]],
              "rules": [{"type": "fire_smoke", "motion_level": 60, "min_motion": 0.5}]}]

    def run(zone_list):
        from vigil.config import Camera
        from vigil.replay import CollectingSink
        from vigil.vision.pipeline import CameraPipeline

        cam = Camera.model_validate({"id": "c", "name": "c", "url": "x.mp4", "institution": "i", "site_kind": "lobby",
                                     "detect_fps": 2, "zones": zone_list})
        sink = CollectingSink()
        pipe = CameraPipeline(cam, NoPersons(), sink, fire_detector)
        for f, t in frames:
            pipe.process(f, t, t0 + timedelta(seconds=t))
        return [(m.rule.zone_name, m.rule.rejected_static) for m in pipe.monitors], [(e.zone, e.started_t) for e in sink.events]

    calls = []
    update = FlickerMeter.update
    monkeypatch.setattr(FlickerMeter, "update", lambda self, image: (calls.append(1), update(self, image))[1])
    both = run(zones)
    assert len(calls) == len(frames)  # one difference per frame for both zones
    alone = run(zones[:1]), run(zones[1:])
    assert both[0] == alone[0][0] + alone[1][0]  # the same static rejections per zone
    assert sorted(both[1]) == sorted(alone[0][1] + alone[1][1])  # the same events
    assert both[0][1][1] > both[0][0][1], both  # the stricter zone turned boxes down: its level is its own


def test_real_car_fire_video_raises_fire_within_3s():
    """Handheld footage of a burning car (fire visible from the first frame): an event within 3 s."""
    video = shared_path("data", "video", "car_fire_handheld.mp4")
    events, proc = replay(str(video), "--kind", "lobby", "--rule", "fire_smoke", "--fast", "--json")
    assert proc.returncode == 0, proc.stderr
    fire = [e for e in events if e["rule"] == "fire_smoke"]
    assert len(fire) == 1 and fire[0]["start_s"] <= 3.0, events
    assert fire[0]["confidence"] >= 0.4


def test_real_street_footage_raises_no_fire():
    """Real street crossing (686 frames, crowds in grey and pale clothes), the whole frame watched for flame and
    smoke: no event, with the person check and without it (`--param person_overlap=null`)."""
    video = shared_path("data", "video", "street_crowd.mp4")
    for extra in ([], ["--param", "person_overlap=null"]):
        events, proc = replay(str(video), "--kind", "lobby", "--rule", "fire_smoke", *extra, "--fast", "--json")
        assert proc.returncode == 0, proc.stderr
        assert events == [], extra


def test_person_check_drops_smoke_on_people_and_keeps_real_smoke(fire_detector):
    """Every frame of the two real videos through the rule's person check, with the real object model: the few
    smoke boxes >= 0.4 the model reports on the street crossing lie on passers-by and are dropped (measured: 2 of
    686 frames); the smoke of the burning car lies on no one and is kept (measured: 8 boxes)."""
    from vigil.rules_config import FireSmokeRule
    from vigil.models.catalogue import resolve_model
    from vigil.replay import iter_video
    from vigil.vision.detector import load_detector
    from vigil.vision.rules.base import FrameContext
    from vigil.vision.rules.fire import FireSmoke

    objects = load_detector(resolve_model(None), 320, 0.25)
    t0 = datetime(2026, 11, 24, 12, 0)
    counts = {}
    for name in ("street_crowd.mp4", "car_fire_handheld.mp4"):
        rule = FireSmoke(FireSmokeRule(type="fire_smoke"), "all", [(0, 0), (1, 0), (1, 1), (0, 1)], model_available=True)
        smoke = 0
        for image, t in iter_video(shared_path("data", "video", name), 1000.0, realtime=False):  # every frame
            d = fire_detector.detect(image).of_classes(["smoke"]).above(0.4)
            if len(d):
                smoke += len(d)
                ctx = FrameContext("c", "lobby", image, t, t0, objects.detect(image), objects_fresh=True)
                rule.without_persons(ctx, d)
        counts[name] = (smoke, rule.rejected_person)
    street, car = counts["street_crowd.mp4"], counts["car_fire_handheld.mp4"]
    assert street[0] >= 1 and street[1] == street[0], counts
    assert car[0] >= 4 and car[1] == 0, counts


def test_person_check_rarely_covers_labelled_smoke():
    """What the person check costs on real smoke: of the 198 labelled smoke boxes in the shared train and valid
    photos, how many a person found by the default object model covers by the rule's `person_overlap` (measured:
    1, someone standing in smoke)."""
    from vigil.rules_config import FireSmokeRule
    from vigil.models.bootstrap import read_labels
    from vigil.models.catalogue import resolve_model
    from vigil.models.datasets import classes_in
    from vigil.vision.boxes import covered_share
    from vigil.vision.detector import load_detector

    rule = FireSmokeRule(type="fire_smoke")
    objects = load_detector(resolve_model(None), 320, 0.25)
    boxes = covered = 0
    for split in ("train", "valid"):
        root = shared_path("data", "fire_smoke_indoor", split, "images")
        for path in sorted(root.iterdir()):
            if 1 not in classes_in(path):
                continue
            image = cv2.imread(str(path))
            cls, xyxy = read_labels(path, image.shape[1], image.shape[0])
            smoke = xyxy[cls == 1]
            persons = objects.detect(image).of_classes(["person"]).above(rule.person_confidence)
            boxes += len(smoke)
            covered += int((covered_share(smoke, persons.xyxy) >= rule.person_overlap).sum())
    assert boxes == 198
    assert covered <= 2, covered


@pytest.fixture(scope="module")
def care_ward_video(tmp_path_factory) -> Path:
    """120 real held-out care-ward CCTV frames, each held 0.5 s (10 fps), as an mp4: a minute of ward footage."""
    frames = held_out_ward_frames()[:120]
    out = tmp_path_factory.mktemp("ward") / "care_ward.mp4"
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 640))
    for p in frames:
        img = cv2.resize(cv2.imread(str(p)), (640, 640))
        for _ in range(5):
            writer.write(img)
    writer.release()
    return out


def test_care_ward_video_raises_no_fire(care_ward_video):
    events, proc = replay(str(care_ward_video), "--kind", "lobby", "--rule", "fire_smoke", "--fast", "--json")
    assert proc.returncode == 0, proc.stderr
    assert events == []


def test_bootstrap_matching_is_per_class_one_to_one_in_score_order():
    from vigil.models.bootstrap import match

    gt_cls = np.array([0, 1])
    gt = np.array([[0, 0, 10, 10], [20, 20, 40, 40]], np.float64)
    det = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 40, 40], [50, 50, 60, 60]], np.float32)
    conf = np.array([0.5, 0.9, 0.8, 0.7], np.float32)
    cls = np.array([0, 0, 0, 1])
    # the 0.9 box takes the fire label first (score order), the exact 0.5 box is then a duplicate; the box on the
    # smoke label is of the wrong class; the last box lies on nothing
    assert match(det, conf, cls, gt_cls, gt).tolist() == [False, True, False, False]


def test_shipped_model_meets_fire_and_smoke_targets_on_valid_split():
    """`vigil models eval` of the shipped ONNX on the whole valid split reaches the issue's targets (fire AP50
    >= 0.80, smoke AP50 >= 0.50; with 25 smoke boxes the smoke figure is coarse, see the model card; speed is
    measured by the same command and reported in the README, not asserted here). No label cache is written into
    the shared folder."""
    import json

    from vigil.models.catalogue import default_model

    root = shared_path(*FIRE_VALID).parent
    proc = run_vigil("models", "eval", "--model", default_model("fire").name, "--imgsz", "320", "--timing-images", "20",
                     "--bootstrap", "300", "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["images"] == 262 and result["boxes_per_class"] == {"fire": 263, "smoke": 25}
    assert result["ap50"]["fire"] >= 0.80, result
    assert result["ap50"]["smoke"] >= 0.50, result  # measured 0.511 (the earlier YOLOv5n default: 0.161)
    # the bootstrap's own scoring (vigil's detector, its own matching) agrees with ultralytics' val, and its
    # interval says how coarse 25 smoke boxes are (measured, 1000 resamples: fire 0.869-0.937, smoke 0.373-0.680)
    for name, (lo, hi) in result["ap50_interval90"].items():
        assert abs(result["ap50_recomputed"][name] - result["ap50"][name]) <= 0.02, result
        assert lo < result["ap50"][name] < hi, result
    width = {k: hi - lo for k, (lo, hi) in result["ap50_interval90"].items()}
    assert width["smoke"] > 3 * width["fire"], width
    assert not list(root.rglob("*.cache")), "ultralytics wrote a label cache into the shared folder"
