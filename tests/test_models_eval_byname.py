"""`vigil models eval` matches classes by name (issue #18 item 3) and `vigil models splits` keeps viewpoints apart
(item 1): name matching and the box / frame figures on a tiny synthetic set with a stub detector (hand-computed), the
COCO model on 40 real care-ward frames through the CLI, and the splits of the shared sets."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers import run_vigil, shared_path

from vigil.models import evaluate_byname as eb
from vigil.vision.detections import Detections

CARE_WARD = ("data", "care_ward", "valid", "images")


def test_match_classes_by_name():
    coco = {i: f"coco{i}" for i in range(80)} | {0: "person", 2: "car", 59: "bed"}  # the COCO ids that matter here
    cctv = dict(enumerate(["bag", "fall", "fire", "person", "smoke", "trash", "violence"]))
    m = eb.match_classes(cctv, coco)
    assert m.evaluated == ["person"] and m.data_to_eval == {3: 0} and m.model_to_eval == {0: 0}
    assert set(m.not_evaluated) == {"bag", "fall", "fire", "smoke", "trash", "violence"}
    assert len(m.model_dropped) == 79 and "person" not in m.model_dropped
    fire_model = {0: "fire", 1: "smoke"}
    m = eb.match_classes(cctv, fire_model)
    assert m.evaluated == ["fire", "smoke"] and m.data_to_eval == {2: 0, 4: 1} and m.model_to_eval == {0: 0, 1: 1}
    # aliases rename the set's classes (two may become one), --classes keeps a subset
    ward = dict(enumerate(["bed", "patient", "person"]))
    m = eb.match_classes(ward, coco, aliases={"patient": "person"})
    assert m.evaluated == ["bed", "person"] and m.data_to_eval == {0: 0, 1: 1, 2: 1}
    m = eb.match_classes(ward, coco, classes=["person"])
    assert m.evaluated == ["person"] and m.not_evaluated == {"bed": "left out by --classes",
                                                             "patient": "the model has no class 'patient'"}
    with pytest.raises(ValueError, match="no class in common"):
        eb.match_classes(dict(enumerate(["fire", "smoke"])), coco)
    with pytest.raises(ValueError, match="--classes: neither the set nor the model has class 'fire'"):
        eb.match_classes(ward, coco, classes=["fire"])
    # a model class the set never labels, asked for by name: evaluated with no label box (false alarms only)
    m = eb.match_classes(ward, coco, classes=["person", "car"])
    assert m.evaluated == ["person", "car"] and m.data_to_eval == {2: 0} and m.model_to_eval == {0: 0, 2: 1}
    with pytest.raises(ValueError, match="--map: the set has no class 'nurse'"):
        eb.match_classes(ward, coco, aliases={"nurse": "person"})


# The synthetic set: set classes 0 person, 1 fire, 2 smoke; the model's 0 smoke, 1 person, 2 car (other ids, and
# a car the set lacks; no fire). Frames are 100 x 100 px; boxes xyxy; predictions (model class, score, box).
SET_NAMES = {0: "person", 1: "fire", 2: "smoke"}
MODEL_NAMES = {0: "smoke", 1: "person", 2: "car"}
FRAMES = [
    # A: a person found (0.9), a fire the model cannot see, a car (dropped, never a false positive)
    ([(0, [10, 10, 30, 50]), (1, [60, 60, 80, 80])], [(1, 0.9, [10, 10, 30, 50]), (2, 0.99, [40, 0, 90, 30])]),
    # B: smoke found (0.5); a person box below the person threshold 0.3
    ([(2, [0, 0, 50, 50])], [(0, 0.5, [0, 0, 50, 50]), (1, 0.2, [60, 60, 90, 90])]),
    # C: no label at all; smoke reported at 0.45 (>= 0.4: a false alarm), a person at 0.25 (below)
    ([], [(0, 0.45, [10, 10, 20, 20]), (1, 0.25, [50, 50, 70, 70])]),
    # D: two persons; both found (0.8, and 0.35 on a slightly shifted box), one false person at 0.6
    ([(0, [10, 10, 40, 40]), (0, [50, 50, 90, 90])],
     [(1, 0.8, [10, 10, 40, 40]), (1, 0.35, [52, 50, 90, 92]), (1, 0.6, [0, 60, 20, 80])]),
    # E: only a fire label (not evaluated: a frame without evaluated labels); a car and a person at 0.29
    ([(1, [20, 20, 60, 60])], [(2, 0.9, [0, 0, 30, 30]), (1, 0.29, [20, 20, 60, 60])]),
]


class StubDetector:
    """Returns FRAMES' predictions for an image whose pixels hold 10 * its frame index."""
    names = MODEL_NAMES
    imgsz = 100
    dynamic_batch = True

    def detect_batch(self, images):
        out = []
        for im in images:
            preds = FRAMES[int(im[0, 0, 0]) // 10][1]
            out.append(Detections(np.array([b for _, _, b in preds], np.float32).reshape(-1, 4),
                                  np.array([s for _, s, _ in preds], np.float32),
                                  np.array([c for c, _, _ in preds], np.int32), MODEL_NAMES))
        return out


@pytest.fixture
def synthetic_set(tmp_path, monkeypatch) -> Path:
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    for i, (labels, _) in enumerate(FRAMES):
        cv2.imwrite(str(tmp_path / "images" / f"f{i}.png"), np.full((100, 100, 3), 10 * i, np.uint8))
        lines = [f"{c} {(b[0] + b[2]) / 200} {(b[1] + b[3]) / 200} {(b[2] - b[0]) / 100} {(b[3] - b[1]) / 100}"
                 for c, b in labels]
        (tmp_path / "labels" / f"f{i}.txt").write_text("\n".join(lines), encoding="utf-8")
    (tmp_path / "data.yaml").write_text(f"val: {tmp_path / 'images'}\nnames: {SET_NAMES}\n", encoding="utf-8")
    monkeypatch.setattr(eb, "_model_names_and_detector", lambda model, imgsz, threads: (MODEL_NAMES, StubDetector()))
    return tmp_path / "data.yaml"


def test_synthetic_set_by_name_hand_computed(synthetic_set):
    from ultralytics.utils.metrics import compute_ap

    r = eb.evaluate_by_name("stub.onnx", synthetic_set, conf={"person": 0.3, "smoke": 0.4}, frame_level=True)
    assert r["evaluated"] == ["person", "smoke"] and r["not_evaluated"] == {"fire": "the model has no class 'fire'"}
    assert r["model_classes_dropped"] == 1 and r["images"] == 5 and r["conf"] == {"person": 0.3, "smoke": 0.4}
    person, smoke = r["classes"]["person"], r["classes"]["smoke"]
    # person at >= 0.3: 0.9 (A), 0.8 and 0.35 (D) match label boxes, 0.6 (D) does not; 3 label boxes
    assert (person["tp"], person["fp"], person["boxes"], person["images"]) == (3, 1, 3, 2)
    assert person["precision"] == 0.75 and person["recall"] == 1.0
    # AP over all scores: 0.9 T, 0.8 T, 0.6 F, 0.35 T, 0.29 F, 0.25 F, 0.2 F -> ultralytics' compute_ap
    tp = np.array([1, 1, 0, 1, 0, 0, 0])
    want, _, _ = compute_ap(np.cumsum(tp) / 3, np.cumsum(tp) / np.arange(1, 8))
    assert person["ap50"] == pytest.approx(want, abs=1e-4) and 0.90 < want < 0.92
    # smoke at >= 0.4: 0.5 (B) matches, 0.45 (C) is a false positive
    assert (smoke["tp"], smoke["fp"], smoke["precision"], smoke["recall"]) == (1, 1, 0.5, 1.0)
    want, _, _ = compute_ap(np.array([1.0, 1.0]), np.array([1.0, 0.5]))
    assert smoke["ap50"] == pytest.approx(want, abs=1e-4)
    # frames: person in A, D (both alarmed), absent from B, C, E (none reaches 0.3); smoke in B (alarmed),
    # absent from A, C, D, E (C alarms); frames without any evaluated label: C, E, of which C alarms
    assert person["frames"] == {"with": 2, "alarmed": 2, "alarm_share": 1.0, "without": 3, "false_alarms": 0,
                                "false_alarm_share": 0.0}
    assert smoke["frames"] == {"with": 1, "alarmed": 1, "alarm_share": 1.0, "without": 4, "false_alarms": 1,
                               "false_alarm_share": 0.25}
    assert r["frame_level"] == {"frames": 5, "frames_without_labels": 2, "false_alarm_frames": 1,
                                "false_alarm_share": 0.5, "alarm_share": {"person": 1.0, "smoke": 1.0}}


def test_default_thresholds_are_the_rules():
    from vigil.rules_config import FireSmokeRule, RuleBase, UnattendedRoomRule

    assert eb.threshold_for("fire") == FireSmokeRule.model_fields["fire_confidence"].default
    assert eb.threshold_for("smoke") == FireSmokeRule.model_fields["smoke_confidence"].default
    assert eb.threshold_for("person") == UnattendedRoomRule.model_fields["min_confidence"].default
    assert eb.threshold_for("car") == RuleBase.model_fields["min_confidence"].default
    assert eb.threshold_for("person", 0.7) == 0.7 and eb.threshold_for("car", {"person": 0.7}) == eb.threshold_for("car")


def test_synthetic_set_one_threshold_and_subset(synthetic_set):
    r = eb.evaluate_by_name("stub.onnx", synthetic_set, conf=0.5, frame_level=True)
    person, smoke = r["classes"]["person"], r["classes"]["smoke"]
    assert (person["tp"], person["fp"]) == (2, 1) and person["recall"] == pytest.approx(0.6667, abs=1e-4)
    assert (smoke["tp"], smoke["fp"]) == (1, 0) and smoke["frames"]["false_alarms"] == 0
    assert r["frame_level"]["false_alarm_frames"] == 0 and person["frames"]["alarmed"] == 2
    # only person: smoke is left out, and its predictions no longer count anywhere
    r = eb.evaluate_by_name("stub.onnx", synthetic_set, conf=0.3, classes=["person"], frame_level=True)
    assert r["evaluated"] == ["person"] and r["not_evaluated"]["smoke"] == "left out by --classes"
    assert r["frame_level"]["frames_without_labels"] == 3 and r["frame_level"]["false_alarm_frames"] == 0
    # a set class renamed onto a model class: fire boxes evaluated as smoke (A's and E's fire are then missed)
    r = eb.evaluate_by_name("stub.onnx", synthetic_set, conf=0.4, aliases={"fire": "smoke"}, frame_level=True)
    assert r["classes"]["smoke"]["boxes"] == 3 and r["classes"]["smoke"]["frames"]["with"] == 3
    assert r["not_evaluated"] == {}
    # the model's car, which the set never labels, asked for: its two reports are false alarms in 2 of 5 frames
    r = eb.evaluate_by_name("stub.onnx", synthetic_set, conf=0.35, classes=["car"], frame_level=True)
    car = r["classes"]["car"]
    assert r["evaluated"] == ["car"] and car["ap50"] is None and car["recall"] is None
    assert (car["tp"], car["fp"], car["precision"]) == (0, 2, 0.0)
    assert car["frames"] == {"with": 0, "alarmed": 0, "alarm_share": None, "without": 5, "false_alarms": 2,
                             "false_alarm_share": 0.4}
    assert r["frame_level"]["frames_without_labels"] == 5 and r["frame_level"]["false_alarm_frames"] == 2


@pytest.fixture(scope="module")
def coco_onnx() -> Path:
    from vigil.models.catalogue import catalogue
    from vigil.models.yolov5_coco import ensure_built

    shared_path("models", "yolov5n_coco_official.pt")
    return ensure_built(catalogue()["yolov5n-coco-320"].path)


def test_cli_coco_on_40_care_ward_frames(coco_onnx, tmp_path):
    """The default object model on 40 real care-ward frames, only `person` evaluated: figures in [0, 1], the 10 other
    care-ward classes reported as not evaluated; the COCO model's other 79 classes dropped."""
    images = sorted(shared_path(*CARE_WARD).glob("*.jpg"))[::10][:40]
    assert len(images) == 40
    (tmp_path / "val.txt").write_text("".join(f"{p}\n" for p in images), encoding="utf-8")
    names = ["bed", "danger", "fall", "lie", "move", "patient", "person", "sit", "stand", "walker", "wheelchair"]
    (tmp_path / "data.yaml").write_text(f"val: {tmp_path / 'val.txt'}\nnames: {names}\n", encoding="utf-8")
    proc = run_vigil("models", "eval", "--model", "yolov5n-coco-320", "--data", str(tmp_path / "data.yaml"),
                     "--classes", "person", "--frame-level", "--threads", "2", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    r = json.loads(lines[0])
    assert r["match"] == "by_name" and r["evaluated"] == ["person"] and r["images"] == 40
    assert set(r["not_evaluated"]) == set(names) - {"person"} and r["model_classes_dropped"] == 79
    assert r["not_evaluated"]["bed"] == "left out by --classes"
    person = r["classes"]["person"]
    for key in ("ap50", "precision", "recall"):
        assert 0.0 <= person[key] <= 1.0
    assert person["conf"] == eb.threshold_for("person") and person["boxes"] > 0
    assert 0.0 <= person["frames"]["alarm_share"] <= 1.0 and r["frame_level"]["frames"] == 40


def test_cli_rejects_sets_without_common_class(coco_onnx, tmp_path):
    (tmp_path / "data.yaml").write_text(f"val: {tmp_path}\nnames: [fire, smoke]\n", encoding="utf-8")
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((32, 32, 3), np.uint8))
    proc = run_vigil("models", "eval", "--model", "yolov5n-coco-320", "--data", str(tmp_path / "data.yaml"))
    assert proc.returncode == 2 and "no class in common" in proc.stderr, proc.stderr[-2000:]
    proc = run_vigil("models", "eval", "--model", "yolov5n-coco-320", "--data", str(tmp_path / "data.yaml"),
                     "--map", "fire")
    assert proc.returncode == 2 and "not SET_CLASS=NAME" in proc.stderr, proc.stderr[-2000:]


def test_splits_keep_viewpoints_apart(tmp_path):
    """cctv_intelligence: every source frame (all three augmented copies), clip and site on one side; care_ward: every
    room on one side; fire_smoke_indoor: its own folders. Lists of absolute paths into the shared folder, nothing
    copied; the same seed gives the same split."""
    from vigil.models.splits import care_ward_room, cctv_group, write_splits

    root = shared_path("data", "cctv_intelligence")
    shared_path(*CARE_WARD)
    shared_path("data", "fire_smoke_indoor", "valid", "images")
    proc = run_vigil("models", "splits", "--out", str(tmp_path / "a"), "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(info) == {"cctv_intelligence", "care_ward", "fire_smoke_indoor"}

    def listed(name: str, key: str) -> list[Path]:
        return [Path(ln) for ln in (tmp_path / "a" / name / f"{key}.txt").read_text(encoding="utf-8").splitlines()]

    source = {}
    with open(root / "lists" / "source_frame_groups.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            source[(root / row["image"]).resolve()] = row["source_frame"]
    train, val = listed("cctv_intelligence", "train"), listed("cctv_intelligence", "val")
    assert len(train) + len(val) == 2073 and not set(train) & set(val)
    assert all(p.is_absolute() and p.is_file() and p.resolve().is_relative_to(root.resolve()) for p in train + val)
    for level in ("source-frame", "clip", "site"):
        sides = [{cctv_group(source[p.resolve()], level) for p in side} for side in (train, val)]
        assert not sides[0] & sides[1], level
    assert 0.15 <= len(val) / 2073 <= 0.35
    val_counts = info["cctv_intelligence"]["val_frames_per_class"]
    assert all(val_counts[c] > 0 for c in ("person", "fire", "smoke", "bag", "trash"))  # every class on both sides

    train, val = listed("care_ward", "train"), listed("care_ward", "val")
    assert len(train) + len(val) == 402 and not {care_ward_room(p) for p in train} & {care_ward_room(p) for p in val}
    assert info["care_ward"]["unmapped_recordings"] == []
    data = (tmp_path / "a" / "care_ward" / "data.yaml").read_text(encoding="utf-8")
    assert "vigil_aliases:\n  patient: person" in data
    assert len(listed("fire_smoke_indoor", "val")) == 262 and len(listed("fire_smoke_indoor", "train")) == 918
    # nothing but lists, YAMLs and manifests was written
    assert {p.suffix for p in (tmp_path / "a").rglob("*") if p.is_file()} == {".txt", ".yaml", ".json"}
    # deterministic: the same seed again gives the same lists
    write_splits(tmp_path / "b", sets=("cctv_intelligence", "care_ward"))
    for name in ("cctv_intelligence", "care_ward"):
        assert (tmp_path / "b" / name / "val.txt").read_text() == (tmp_path / "a" / name / "val.txt").read_text()


def test_class_sets_map_classes_by_name_and_link_the_images(tmp_path):
    """`vigil models class-set`: person = the splits' people (cctv `person`; care_ward `person` and `patient`) as
    class 0; fire-smoke-cctv = the photos' fire/smoke and cctv's fire (id 2) and smoke (id 4) as 0 and 1. Boxes
    unchanged, every other class dropped, frames without a box kept as background; images are links into the shared
    folder, never copies; train and val stay the splits' sides."""
    from vigil.models.class_sets import write_set
    from vigil.models.datasets import label_for
    from vigil.models.splits import write_splits

    shared_path("data", "cctv_intelligence")
    shared_path(*CARE_WARD)
    shared_path("data", "fire_smoke_indoor", "valid", "images")
    write_splits(tmp_path / "splits")
    manifest = write_set("person", tmp_path / "person", tmp_path / "splits")
    src = manifest["sources"]
    assert (src["cctv_intelligence/train"]["images"] + src["cctv_intelligence/val"]["images"]) == 2073
    assert (src["care_ward/train"]["images"] + src["care_ward/val"]["images"]) == 402

    def lines_of(split: str, side: str, ids: tuple[str, ...]) -> int:
        """Label lines of these source class ids, counted by hand from the split's list."""
        images = (tmp_path / "splits" / split / f"{side}.txt").read_text().split()
        return sum(1 for p in images for ln in label_for(Path(p)).read_text().splitlines()
                   if ln.split() and ln.split()[0] in ids)

    assert src["care_ward/val"]["boxes"] == lines_of("care_ward", "val", ("5", "6")) == 199
    train_links = sorted((tmp_path / "person" / "train" / "images").iterdir())
    val_links = sorted((tmp_path / "person" / "val" / "images").iterdir())
    assert all(p.is_symlink() and p.resolve().is_relative_to(shared_path("data").resolve()) for p in train_links + val_links)
    assert not {p.resolve() for p in train_links} & {p.resolve() for p in val_links}
    lines = [ln.split() for f in (tmp_path / "person").rglob("labels/*.txt") for ln in f.read_text().splitlines()]
    assert lines and all(ln[0] == "0" and len(ln) == 5 for ln in lines)
    assert sum(v["boxes"] for v in src.values()) == len(lines)
    assert src["cctv_intelligence/train"]["background"] > 0  # fire, smoke, bags, empty corridors stay as background

    fire = write_set("fire-smoke-cctv", tmp_path / "fire", tmp_path / "splits")["sources"]
    assert fire["cctv_intelligence/val"]["boxes"] == lines_of("cctv_intelligence", "val", ("2", "4"))
    assert fire["fire_smoke_indoor/val"]["images"] == 262
    val_lines = [ln.split()[0] for f in (tmp_path / "fire" / "val" / "labels").glob("cctv_intelligence__*.txt")
                 for ln in f.read_text().splitlines()]
    assert val_lines.count("1") == lines_of("cctv_intelligence", "val", ("4",))  # smoke -> 1
    assert set(val_lines) == {"0", "1"}
    bag = write_set("bag", tmp_path / "bag", tmp_path / "splits")["sources"]  # cctv's bag (id 0) as 0
    assert bag["cctv_intelligence/val"]["boxes"] == lines_of("cctv_intelligence", "val", ("0",)) == 126
    assert bag["cctv_intelligence/train"]["boxes"] == lines_of("cctv_intelligence", "train", ("0",))
    proc = run_vigil("models", "train", "person", "--data", str(tmp_path / "nowhere.yaml"))
    assert proc.returncode == 2 and "nowhere.yaml" in proc.stderr
    # options that only shape the generated fire/smoke set are refused with a class set, not silently ignored
    proc = run_vigil("models", "train", "bag", "--data", str(tmp_path / "bag" / "data.yaml"), "--oversample", "bag=3")
    assert proc.returncode == 2 and "--oversample apply to the generated fire/smoke data" in proc.stderr, proc.stderr
    proc = run_vigil("models", "class-set", "cats")
    assert proc.returncode == 2 and "unknown set 'cats'" in proc.stderr
    proc = run_vigil("models", "class-set", "person", "--repeat", "care_ward=x")
    assert proc.returncode == 2 and "SOURCE=N" in proc.stderr
    proc = run_vigil("models", "class-set", "person", "--painted", "fire_smoke_indoor")
    assert proc.returncode == 2 and "'fire_smoke_indoor' is not a source of 'person'" in proc.stderr


def test_class_set_repeats_a_source_and_paints_its_people_out(tmp_path):
    """`--repeat care_ward=3 --painted care_ward`: each care_ward train frame linked three times with its label, and
    each one holding people once more as a written copy with every labelled person (posture classes too) inpainted
    and an empty label; val untouched. Ten train frames of the split, to keep it quick."""
    import cv2
    import numpy as np

    from vigil.models.class_sets import write_set
    from vigil.models.datasets import label_for
    from vigil.models.splits import write_splits

    shared_path(*CARE_WARD)
    write_splits(tmp_path / "splits", sets=("care_ward", "cctv_intelligence"))
    train = tmp_path / "splits" / "care_ward" / "train.txt"
    ten = train.read_text().split()[:10]
    train.write_text("\n".join(ten) + "\n")
    manifest = write_set("person", tmp_path / "p", tmp_path / "splits", repeat={"care_ward": 3}, painted=("care_ward",))
    care = manifest["sources"]["care_ward/train"]
    with_people = [p for p in ten if any(ln.split()[0] in {"2", "3", "4", "5", "6", "7", "8"}
                                         for ln in label_for(Path(p)).read_text().splitlines() if ln.strip())]
    assert care["images"] == 30 and manifest["painted"] == {"care_ward": len(with_people)} and with_people
    assert manifest["sources"]["care_ward/val"]["images"] == 145  # val neither repeated nor painted
    images = tmp_path / "p" / "train" / "images"
    first = Path(ten[0])
    copies = sorted(p for p in images.glob(f"*{first.name}") if p.is_symlink())
    assert len(copies) == 3 and all(c.resolve() == first.resolve() for c in copies)
    assert len({(tmp_path / "p" / "train" / "labels" / f"{c.stem}.txt").read_text() for c in copies}) == 1
    painted = sorted(images.glob("painted__care_ward__*.jpg"))
    assert len(painted) == len(with_people) and not any(p.is_symlink() for p in painted)
    assert all((tmp_path / "p" / "train" / "labels" / f"{p.stem}.txt").read_text() == "" for p in painted)
    src = Path(with_people[0])
    orig, done = cv2.imread(str(src)), cv2.imread(str(images / f"painted__care_ward__{src.stem}.jpg"))
    h, w = orig.shape[:2]
    inside = np.zeros((h, w), bool)
    for ln in label_for(src).read_text().splitlines():
        c, x, y, bw, bh = ln.split()[:5]
        if c in {"2", "3", "4", "5", "6", "7", "8"}:
            x, y, bw, bh = float(x) * w, float(y) * h, float(bw) * w, float(bh) * h
            inside[int(y - bh / 2):int(y + bh / 2), int(x - bw / 2):int(x + bw / 2)] = True
    diff = np.abs(orig.astype(int) - done.astype(int)).mean(axis=2)
    assert diff[inside].mean() > 3 * diff[~inside].mean()  # the people changed; the room only by JPEG noise
