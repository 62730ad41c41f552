"""vigil's class vocabulary (issue #18 item 2: the default models expose `ebike`): COCO's bicycle and motorcycle are
one class, `ebike`, in the detectors' names, the rules' configuration and `vigil models eval`. Real parts: the
default objects model (ONNX Runtime) and the shared COCO TFLite model (ultralytics) on a real indoor photograph of
a motorcycle (scikit-image's Middlebury stereo pair), labelled by the outline sample_videos/sprites.py cuts it by."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers import run_vigil, shared_path

from vigil.rules_config import BlockedExitRule, EbikeIndoorRule
from vigil.vision.detections import Detections
from vigil.vision.detector import merged_names
from vigil.vision.vocabulary import canonical_ids, vigil_class_list, vigil_names

REPO = Path(__file__).resolve().parent.parent


def motorcycle_photo() -> tuple[np.ndarray, list[float]]:
    """The left view of scikit-image's stereo motorcycle (BGR) and the box of the motorcycle's outline in it."""
    from skimage import data

    spec = importlib.util.spec_from_file_location("vigil_sample_sprites", REPO / "sample_videos" / "sprites.py")
    sprites = sys.modules.setdefault(spec.name, importlib.util.module_from_spec(spec))
    spec.loader.exec_module(sprites)
    source, outline = sprites.OUTLINES["motorcycle"]
    assert source == "motorcycle"
    xs, ys = [p[0] for p in outline], [p[1] for p in outline]
    left = data.stereo_motorcycle()[0]
    return cv2.cvtColor(left, cv2.COLOR_RGB2BGR), [min(xs), min(ys), max(xs), max(ys)]


def iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_names_in_vigils_vocabulary():
    coco = {0: "person", 1: "bicycle", 2: "car", 3: "motorcycle", 56: "chair"}
    assert vigil_names(coco) == {0: "person", 1: "ebike", 2: "car", 3: "ebike", 56: "chair"}
    table = canonical_ids(vigil_names(coco))
    assert table[1] == 1 and table[3] == 1 and table[0] == 0 and table[56] == 56
    assert canonical_ids({0: "fire", 1: "smoke"}) is None  # nothing shares a name: nothing to merge
    assert vigil_class_list(["motorcycle", "chair", "bicycle", "ebike"]) == ["ebike", "chair"]
    assert vigil_class_list(["handbag", "umbrella", "suitcase", "backpack"]) == ["bag", "umbrella"]


def test_configuration_reads_bicycle_and_motorcycle_as_ebike():
    assert EbikeIndoorRule(type="ebike_indoor").classes == ["ebike"]
    assert EbikeIndoorRule(type="ebike_indoor", classes=["motorcycle", "bicycle"]).classes == ["ebike"]
    rule = BlockedExitRule(type="blocked_exit", classes=["chair", "motorcycle", "bicycle"])
    assert rule.classes == ["chair", "ebike"]
    assert "ebike" in BlockedExitRule(type="blocked_exit").classes
    assert not {"bicycle", "motorcycle"} & set(BlockedExitRule(type="blocked_exit").classes)
    assert BlockedExitRule(type="blocked_exit").carried_classes == ["bag", "umbrella"]
    assert BlockedExitRule(type="blocked_exit", carried_classes=["handbag", "suitcase"]).carried_classes == ["bag"]
    with pytest.raises(ValueError, match="'person' cannot be a blocking class"):
        BlockedExitRule(type="blocked_exit", classes=["person", "chair"])


def test_rules_pick_boxes_by_either_name():
    boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]], np.float32)
    raw = Detections(boxes, np.array([0.9, 0.8, 0.7], np.float32), np.array([1, 3, 56], np.int32),
                     {1: "bicycle", 3: "motorcycle", 56: "chair"})
    assert raw.of_classes(["ebike"]).class_names == ["bicycle", "motorcycle"]
    named = Detections(boxes, raw.confidence, raw.class_id, vigil_names(raw.names))
    assert named.of_classes(["motorcycle"]).class_names == ["ebike", "ebike"]
    assert named.of_classes(["chair"]).class_names == ["chair"] and not len(named.of_classes(["car"]))


def test_one_object_scored_as_two_merged_classes_is_one_box():
    names = vigil_names({0: "person", 1: "bicycle", 3: "motorcycle"})
    # one e-bike scored motorcycle 0.8 and bicycle 0.6 on nearly the same box; a second bicycle elsewhere; a person
    # standing over the first (never merged with it: another class)
    boxes = np.array([[10, 10, 110, 80], [12, 10, 110, 82], [200, 10, 260, 60], [20, 0, 60, 90]], np.float32)
    dets = Detections(boxes, np.array([0.6, 0.8, 0.5, 0.9], np.float32), np.array([1, 3, 1, 0], np.int32), names)
    out = merged_names(dets, names, canonical_ids(names), iou=0.7)
    assert sorted(zip(out.class_names, [round(float(c), 2) for c in out.confidence])) == [("ebike", 0.5), ("ebike", 0.8),
                                                                                 ("person", 0.9)]
    assert set(out.class_id.tolist()) == {0, 1}


@pytest.mark.parametrize("model", ["yolov5n-coco-320", "yolov8n-coco-int8"])
def test_default_and_shared_coco_models_report_the_motorcycle_as_ebike(model):
    """ONNX Runtime (the default objects model) and ultralytics (the shared TFLite file) alike."""
    from vigil.models.catalogue import model_imgsz, resolve_model
    from vigil.vision.detector import load_detector

    if model == "yolov8n-coco-int8":
        shared_path("models", "yolov8n_coco_int8.tflite")
    else:
        shared_path("models", "yolov5n_coco_official.pt")
        from vigil.models.catalogue import catalogue
        from vigil.models.yolov5_coco import ensure_built

        ensure_built(catalogue()[model].path)
    det = load_detector(resolve_model(model), imgsz=model_imgsz(model, 640), confidence=0.25)
    names = set(det.names.values())
    assert {"person", "ebike", "chair", "bag"} <= names
    assert not {"bicycle", "motorcycle", "backpack", "handbag", "suitcase"} & names
    image, truth = motorcycle_photo()
    found = det.detect(image).of_classes(["ebike"]).above(0.35)
    assert len(found) >= 1, det.detect(image).to_list()
    best = max(iou(b, truth) for b in found.xyxy)
    assert best >= 0.8, (found.to_list(), truth)
    for i in range(len(found)):  # no object reported twice under the one name
        for j in range(i + 1, len(found)):
            assert iou(found.xyxy[i], found.xyxy[j]) <= 0.7, found.to_list()


def test_eval_by_name_finds_ebike_in_the_default_model(tmp_path):
    """A set labelling `ebike`, and one labelling the same box `motorcycle` (read as ebike), evaluated by name on
    the default objects model through the CLI."""
    shared_path("models", "yolov5n_coco_official.pt")
    image, (x0, y0, x1, y1) = motorcycle_photo()
    h, w = image.shape[:2]
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "motorcycle.jpg"), image)
    (tmp_path / "labels" / "motorcycle.txt").write_text(
        f"0 {(x0 + x1) / 2 / w} {(y0 + y1) / 2 / h} {(x1 - x0) / w} {(y1 - y0) / h}\n", encoding="utf-8")
    for set_name in ("ebike", "motorcycle"):
        (tmp_path / "data.yaml").write_text(f"val: {tmp_path / 'images'}\nnames: ['{set_name}']\n", encoding="utf-8")
        proc = run_vigil("models", "eval", "--model", "yolov5n-coco-320", "--data", str(tmp_path / "data.yaml"),
                         "--classes", "ebike", "--frame-level", "--threads", "2", "--json")
        assert proc.returncode == 0, proc.stderr[-3000:]
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        assert r["match"] == "by_name" and r["evaluated"] == ["ebike"] and r["not_evaluated"] == {}, r
        ebike = r["classes"]["ebike"]
        assert (ebike["boxes"], ebike["tp"], ebike["recall"]) == (1, 1, 1.0), ebike
        assert ebike["frames"]["alarmed"] == 1 and r["model_classes_dropped"] == 78  # 80 COCO ids, two are ebike


def test_every_class_a_rule_names_has_a_chinese_name_here_and_in_the_web_app():
    """Evidence labels (vision/annotate.py) and the web app (locales cls.*) speak Chinese for every class the rules'
    defaults name; the web app's two locales hold the same classes as ZH_NAMES, the Chinese ones the same words."""
    import re

    from vigil.rules_config import BLOCKING_CLASSES, EBIKE_CLASSES, BlockedExitRule
    from vigil.vision.rules.objects import LEFT_OBJECT
    from vigil.vision.vocabulary import ZH_NAMES, zh_name

    named = {*BLOCKING_CLASSES, *EBIKE_CLASSES, *BlockedExitRule.model_fields["carried_classes"].default,
             "person", "fire", "smoke", *LEFT_OBJECT.values()}
    assert named <= set(ZH_NAMES), named - set(ZH_NAMES)
    assert zh_name("motorcycle") == "电动车" and zh_name("giraffe") == "giraffe"
    for lang in ("zh", "en"):
        text = (REPO / "review_ui" / "src" / "locales" / f"{lang}.js").read_text(encoding="utf-8")
        cls = dict(re.findall(r'"cls\.([^"]+)": "([^"]+)"', text))
        assert set(cls) == set(ZH_NAMES), set(cls) ^ set(ZH_NAMES)
        if lang == "zh":
            assert cls == ZH_NAMES


def test_rule_names_in_evidence_match_the_web_app():
    """The evidence title strip names the rule in Chinese (vision/vocabulary.RULE_ZH), with the words the web app's
    zh locale uses (rule.*), for every rule type the configuration knows and camera_offline."""
    import re

    from vigil.rules_config import RULE_TYPES
    from vigil.vision.vocabulary import RULE_ZH, rule_zh

    web = dict(re.findall(r'"rule\.([a-z_]+)": "([^"]+)"', (REPO / "review_ui" / "src" / "locales" / "zh.js")
                          .read_text(encoding="utf-8")))
    assert set(RULE_ZH) == {*RULE_TYPES, "camera_offline"}, set(RULE_ZH) ^ {*RULE_TYPES, "camera_offline"}
    assert RULE_ZH == {k: web[k] for k in RULE_ZH}
    assert rule_zh("unattended_room") == "消防控制室脱岗" and rule_zh("no_such_rule") == "no_such_rule"
